//! The canonical JSON of an [`AuditEvent`], the bytes its chain hash covers: keys
//! sorted at every level, no whitespace, no `hash`. Written straight into a byte
//! buffer, field by field, instead of through a `serde_json::Value` copy of the
//! event: `audit verify` hashes a million events, and building and freeing that
//! tree was most of its time. Scalars go through serde_json's own serializer, so
//! strings and numbers are escaped and formatted exactly as before.

use std::cell::RefCell;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::event::AuditEvent;

/// One top-level key of the event and how its value is written.
#[derive(Clone, Copy)]
enum Fixed {
    Code,
    Id,
    Reason,
    RequestId,
    Roles,
    Seq,
    State,
    Time,
    Type,
    User,
}

/// The event's own fields by name, in sorted order (`hash` is never written).
const FIXED: [(&str, Fixed); 10] = [
    ("code", Fixed::Code),
    ("id", Fixed::Id),
    ("reason", Fixed::Reason),
    ("request_id", Fixed::RequestId),
    ("roles", Fixed::Roles),
    ("seq", Fixed::Seq),
    ("state", Fixed::State),
    ("time", Fixed::Time),
    ("type", Fixed::Type),
    ("user", Fixed::User),
];

thread_local! {
    /// One buffer per thread for hashing, grown to the largest event seen.
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl AuditEvent {
    /// Appends the event's canonical JSON to `out`. Should a value ever refuse to
    /// serialise (none is known to), the event's JSON is `null`, as the Value-tree
    /// form gave in that case.
    pub fn write_canonical_json(&self, out: &mut Vec<u8>) {
        let start = out.len();
        if self.write_object(out).is_err() {
            out.truncate(start);
            out.extend_from_slice(b"null");
        }
    }

    /// The chain hash of this event given the previous event's hash, in hex.
    pub fn chain_hash(&self, prev_hash: &str) -> String {
        hex::encode(self.chain_digest(prev_hash))
    }

    /// sha256(prev_hash ‖ canonical JSON), as bytes.
    pub fn chain_digest(&self, prev_hash: &str) -> [u8; 32] {
        BUFFER.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                self.write_canonical_json(&mut buffer);
                digest(prev_hash, &buffer)
            }
            // Only reached if hashing ever re-entered itself on one thread.
            Err(_) => digest(prev_hash, self.canonical_json().as_bytes()),
        })
    }

    fn write_object(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        // Merge the sorted fixed keys with the sorted extras; an extra that reuses
        // a fixed key's name takes its place, as it did when both went into one map.
        let mut extras = self
            .fields
            .iter()
            .filter(|(key, _)| key.as_str() != "hash")
            .peekable();
        let mut fixed = FIXED.iter().peekable();
        out.push(b'{');
        let mut first = true;
        loop {
            let take_extra = match (fixed.peek(), extras.peek()) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((name, _)), Some((key, _))) => key.as_str() <= *name,
            };
            if !first {
                out.push(b',');
            }
            first = false;
            if take_extra {
                if let Some((key, value)) = extras.next() {
                    if fixed.peek().is_some_and(|(name, _)| *name == key.as_str()) {
                        fixed.next();
                    }
                    serde_json::to_writer(&mut *out, key.as_str())?;
                    out.push(b':');
                    write_value(value, out)?;
                }
            } else if let Some((name, which)) = fixed.next() {
                serde_json::to_writer(&mut *out, *name)?;
                out.push(b':');
                self.write_fixed(*which, out)?;
            }
        }
        out.push(b'}');
        Ok(())
    }

    fn write_fixed(&self, which: Fixed, out: &mut Vec<u8>) -> serde_json::Result<()> {
        match which {
            Fixed::Code => scalar(&self.code, out),
            Fixed::Id => scalar(&self.id, out),
            Fixed::Reason => scalar(&self.reason, out),
            Fixed::RequestId => scalar(&self.request_id, out),
            Fixed::Roles => scalar(&self.roles, out),
            Fixed::Seq => scalar(&self.seq, out),
            Fixed::State => scalar(&self.state, out),
            Fixed::Time => scalar(&self.time, out),
            Fixed::Type => scalar(&self.kind, out),
            Fixed::User => scalar(&self.user, out),
        }
    }
}

fn scalar<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// A JSON value with the keys of every object in sorted order.
fn write_value(value: &Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let sorted = map
                .keys()
                .zip(map.keys().skip(1))
                .all(|(a, b)| a.as_str() <= b.as_str());
            if sorted {
                for (i, (key, item)) in map.iter().enumerate() {
                    entry(i, key, item, out)?;
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                for (i, (key, item)) in entries.into_iter().enumerate() {
                    entry(i, key, item, out)?;
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        other => scalar(other, out)?,
    }
    Ok(())
}

fn entry(i: usize, key: &str, value: &Value, out: &mut Vec<u8>) -> serde_json::Result<()> {
    if i > 0 {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, key)?;
    out.push(b':');
    write_value(value, out)
}

fn digest(prev_hash: &str, canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(canonical);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Map, Number};
    use uuid::Uuid;

    use super::*;
    use crate::model::{EventType, State};

    /// The canonical form as it was first written: the whole event turned into a
    /// `Value` tree, `hash` removed, the tree written with sorted keys. The writer
    /// above must give the same bytes for every event.
    fn through_value_tree(event: &AuditEvent) -> String {
        let mut value = serde_json::to_value(event).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut value {
            map.remove("hash");
        }
        let mut out = String::new();
        write_tree(&value, &mut out);
        out
    }

    fn write_tree(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    write_tree(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_tree(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// A small deterministic generator (xorshift64*), so a failure can be replayed.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }

        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }

        /// Hostile text: quotes, backslashes, every kind of control character,
        /// line separators, invisible and right-to-left marks, astral characters.
        fn text(&mut self) -> String {
            const PIECES: [&str; 24] = [
                "",
                "alice",
                "INC-4412 db failover",
                "\"",
                "\\",
                "\\\"",
                "/",
                "\u{0}",
                "\u{1}\u{1f}",
                "\u{7f}",
                "\n\r\t",
                "\u{8}\u{c}",
                "\u{2028}\u{2029}",
                "é",
                "日本語",
                "🦀",
                "\u{200b}",
                "\u{202e}",
                "</script><b>",
                "<!here> & <@U123>",
                "\u{feff}",
                "\u{10ffff}",
                "\u{85}\u{a0}",
                "%s{}$(rm -rf)",
            ];
            let pieces = self.below(5);
            (0..pieces).map(|_| *self.pick(&PIECES)).collect()
        }

        fn number(&mut self) -> Value {
            match self.below(6) {
                0 => Value::from(*self.pick(&[0u64, 1, 9, u64::MAX, 1 << 53, (1 << 53) + 1])),
                1 => Value::from(*self.pick(&[-1i64, i64::MIN, -9_007_199_254_740_993])),
                2 => Value::from(*self.pick(&[
                    0.1f64,
                    -0.0,
                    1.5,
                    1e300,
                    5e-324,
                    f64::MAX,
                    f64::MIN_POSITIVE,
                    123_456_789.0,
                    -2.5e-7,
                ])),
                3 => Value::from(self.next()),
                4 => Value::from(self.next() as i64),
                // Any finite double, from raw bits.
                _ => Number::from_f64(f64::from_bits(self.next()))
                    .map(Value::Number)
                    .unwrap_or(Value::Null),
            }
        }

        fn key(&mut self) -> String {
            const KEYS: [&str; 14] = [
                "action", "decision", "a", "B", "", "z", "é", "hash", "user", "seq", "type",
                "reason_", "roles", "\u{0}",
            ];
            if self.chance(4) {
                self.text()
            } else {
                self.pick(&KEYS).to_string()
            }
        }

        fn value(&mut self, depth: usize) -> Value {
            let kinds = if depth == 0 { 4 } else { 6 };
            match self.below(kinds) {
                0 => Value::Null,
                1 => Value::Bool(self.chance(2)),
                2 => self.number(),
                3 => Value::String(self.text()),
                4 => Value::Array((0..self.below(4)).map(|_| self.value(depth - 1)).collect()),
                // Keys inserted in whatever order they come: the map keeps it.
                _ => {
                    let mut map = Map::new();
                    for _ in 0..self.below(5) {
                        map.insert(self.key(), self.value(depth - 1));
                    }
                    Value::Object(map)
                }
            }
        }

        fn time(&mut self) -> crate::model::Time {
            let secs = match self.below(8) {
                0 => 0,
                1 => -62_167_219_200, // 0000-01-01
                2 => 253_402_300_799, // 9999-12-31T23:59:59
                3 => 253_402_300_800, // 10000-01-01: four digits no longer suffice
                4 => -62_167_219_201, // a year before 0
                _ => (self.next() % 4_102_444_800) as i64,
            };
            let nanos = *self.pick(&[0, 1, 123_000_000, 999_999_999, 500_000, 712_017_688]);
            chrono::DateTime::from_timestamp(secs, nanos).unwrap_or_default()
        }

        fn event(&mut self) -> AuditEvent {
            let mut fields = BTreeMap::new();
            for _ in 0..self.below(6) {
                fields.insert(self.key(), self.value(3));
            }
            let any = self.next();
            AuditEvent {
                seq: *self.pick(&[0, 1, 2, any, u64::MAX]),
                id: Uuid::from_u128(u128::from(self.next()) << 64 | u128::from(self.next())),
                kind: *self.pick(&EventType::ALL),
                code: self.text(),
                time: self.time(),
                user: self.text(),
                request_id: self
                    .chance(2)
                    .then(|| Uuid::from_u128(u128::from(self.next()))),
                roles: (0..self.below(4)).map(|_| self.text()).collect(),
                state: self.chance(3).then(|| *self.pick(&State::ALL)),
                reason: self.chance(3).then(|| self.text()),
                fields,
                hash: self.text(),
            }
        }
    }

    #[test]
    fn writes_what_the_value_tree_wrote() {
        let mut generator = Gen(0x9E37_79B9_7F4A_7C15);
        let mut shadowing = 0;
        for round in 0..20_000 {
            let event = generator.event();
            let old = through_value_tree(&event);
            shadowing += usize::from(
                event
                    .fields
                    .keys()
                    .any(|k| k == "hash" || FIXED.iter().any(|(name, _)| name == k)),
            );
            let mut new = Vec::new();
            event.write_canonical_json(&mut new);
            assert_eq!(
                String::from_utf8_lossy(&new),
                old,
                "event {round} differs: {event:?}"
            );
            assert_eq!(event.canonical_json(), old, "event {round}");
        }
        // Extras that shadow a fixed field, the case easiest to get wrong, were made.
        assert!(shadowing > 1000, "{shadowing}");
    }

    #[test]
    fn appends_to_what_the_buffer_holds() {
        let event = Gen(7).event();
        let mut out = b"prefix".to_vec();
        event.write_canonical_json(&mut out);
        assert_eq!(&out[..6], b"prefix");
        assert_eq!(
            String::from_utf8_lossy(&out[6..]),
            through_value_tree(&event)
        );
    }

    #[test]
    fn chain_hash_covers_the_previous_hash_and_the_canonical_bytes() {
        let mut generator = Gen(42);
        for _ in 0..200 {
            let event = generator.event();
            let prev = generator.text();
            let mut hasher = Sha256::new();
            hasher.update(prev.as_bytes());
            hasher.update(through_value_tree(&event).as_bytes());
            assert_eq!(event.chain_hash(&prev), hex::encode(hasher.finalize()));
        }
    }

    #[test]
    fn an_extra_named_like_a_fixed_field_takes_its_place() {
        let mut event = Gen(3).event();
        event.fields = BTreeMap::from([
            ("user".to_string(), Value::from(5)),
            ("hash".to_string(), Value::from("dropped")),
        ]);
        let json = event.canonical_json();
        assert!(json.ends_with(",\"user\":5}"), "{json}");
        assert!(!json.contains("dropped"), "{json}");
        assert_eq!(json, through_value_tree(&event));
    }
}
