//! OpenSSH key revocation lists (PROTOCOL.krl): the serials of one CA's revoked
//! certificates, as singles and ranges, for sshd's `RevokedKeys` and `ssh-keygen -Q`.

const MAGIC: &[u8; 8] = b"SSHKRL\n\0";
const FORMAT_VERSION: u32 = 1;
const SECTION_CERTIFICATES: u8 = 1;
const CERT_SERIAL_LIST: u8 = 0x20;
const CERT_SERIAL_RANGE: u8 = 0x21;
/// Consecutive serials at least this many long are written as one range.
const MIN_RANGE: u64 = 3;

fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // Sections are bounded by what we put in them: far below 4 GiB.
    put_u32(out, bytes.len() as u32);
    out.extend_from_slice(bytes);
}

/// A KRL revoking `serials` (any order; serial 0 cannot be revoked and is
/// skipped) of the certificates signed by the CA whose public key blob is `ca_blob`.
pub fn encode(ca_blob: &[u8], serials: &[u64], version: u64, generated_at: u64) -> Vec<u8> {
    let mut sorted: Vec<u64> = serials.iter().copied().filter(|s| *s != 0).collect();
    sorted.sort_unstable();
    sorted.dedup();

    let mut singles = Vec::new();
    let mut ranges = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end + 1 {
            i += 1;
            end += 1;
        }
        if end - start + 1 >= MIN_RANGE {
            put_u64(&mut ranges, start);
            put_u64(&mut ranges, end);
        } else {
            for serial in start..=end {
                put_u64(&mut singles, serial);
            }
        }
        i += 1;
    }

    let mut section = Vec::with_capacity(ca_blob.len() + singles.len() + ranges.len() + 32);
    put_string(&mut section, ca_blob);
    put_string(&mut section, b"");
    if !singles.is_empty() {
        section.push(CERT_SERIAL_LIST);
        put_string(&mut section, &singles);
    }
    // Each range is its own subsection of two serials.
    for range in ranges.chunks(16) {
        section.push(CERT_SERIAL_RANGE);
        put_string(&mut section, range);
    }

    let mut out = Vec::with_capacity(section.len() + 64);
    out.extend_from_slice(MAGIC);
    put_u32(&mut out, FORMAT_VERSION);
    put_u64(&mut out, version);
    put_u64(&mut out, generated_at);
    put_u64(&mut out, 0);
    put_string(&mut out, b"");
    put_string(&mut out, b"countersign");
    out.push(SECTION_CERTIFICATES);
    put_string(&mut out, &section);
    out
}

/// Whether `bytes` start like a KRL (what `ssh krl` checks before replacing a file).
pub fn looks_like_krl(bytes: &[u8]) -> bool {
    bytes.len() >= 44 && bytes.starts_with(MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section_of(krl: &[u8]) -> &[u8] {
        // magic 8, version 4, krl_version 8, date 8, flags 8, reserved 4, comment 4+11
        let at = 8 + 4 + 8 + 8 + 8 + 4 + 4 + "countersign".len();
        assert_eq!(krl[at], SECTION_CERTIFICATES);
        &krl[at + 5..]
    }

    #[test]
    fn singles_and_ranges() {
        let krl = encode(b"CA", &[9, 1, 2, 5, 6, 7, 8, 0, 2], 3, 4);
        assert!(looks_like_krl(&krl));
        let section = section_of(&krl);
        let mut expected = Vec::new();
        put_string(&mut expected, b"CA");
        put_string(&mut expected, b"");
        expected.push(CERT_SERIAL_LIST);
        let mut singles = Vec::new();
        for s in [1u64, 2] {
            put_u64(&mut singles, s);
        }
        put_string(&mut expected, &singles);
        expected.push(CERT_SERIAL_RANGE);
        let mut range = Vec::new();
        put_u64(&mut range, 5);
        put_u64(&mut range, 9);
        put_string(&mut expected, &range);
        assert_eq!(section, expected.as_slice());
    }

    #[test]
    fn empty_list_is_still_a_krl() {
        let krl = encode(b"CA", &[], 1, 1);
        assert!(looks_like_krl(&krl));
        assert_eq!(section_of(&krl).len(), 4 + 2 + 4);
    }
}
