//! The SSH user CA: an Ed25519 key created at first start in the data directory
//! (mode 0600), or read from the file `[ssh] ca_key` names.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::{Algorithm, HashAlg, LineEnding, PrivateKey, rand_core::OsRng};

/// The CA's file in the data directory when the config names none.
pub const CA_FILE: &str = "ssh_user_ca";

pub struct UserCa {
    key: PrivateKey,
    /// `ssh-ed25519 AAAA… countersign user CA`, for `TrustedUserCAKeys`.
    public_line: String,
    /// The CA's public key blob, as KRLs name it.
    public_blob: Vec<u8>,
    pub path: PathBuf,
}

impl UserCa {
    /// The configured key file, or `DATA_DIR/ssh_user_ca` created when absent.
    pub fn open(data_dir: &Path, configured: Option<&Path>) -> anyhow::Result<UserCa> {
        match configured {
            Some(path) => Self::load(path),
            None => {
                let path = data_dir.join(CA_FILE);
                if !path.exists() {
                    Self::create(&path)?;
                }
                Self::load(&path)
            }
        }
    }

    fn create(path: &Path) -> anyhow::Result<()> {
        let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
            .map_err(|e| anyhow::anyhow!("cannot create the SSH user CA key: {e}"))?;
        key.set_comment("countersign user CA");
        let text = key
            .to_openssh(LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("cannot encode the SSH user CA key: {e}"))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| {
                anyhow::anyhow!("cannot create the SSH user CA {}: {e}", path.display())
            })?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| anyhow::anyhow!("cannot write the SSH user CA {}: {e}", path.display()))?;
        tracing::info!("created the SSH user CA {}", path.display());
        Ok(())
    }

    /// Reads a CA key file, refusing one others could read or that is not an
    /// unencrypted Ed25519 OpenSSH private key.
    pub fn load(path: &Path) -> anyhow::Result<UserCa> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("the SSH user CA key {shown} does not exist ([ssh] ca_key)")
            }
            _ => anyhow::anyhow!("cannot read the SSH user CA key {shown}: {e}"),
        })?;
        if !meta.is_file() {
            anyhow::bail!("the SSH user CA key {shown} is not a regular file");
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            anyhow::bail!(
                "the SSH user CA key {shown} has mode {mode:04o}: others may read it; chmod 600 {shown}"
            );
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the SSH user CA key {shown}: {e}"))?;
        let key = PrivateKey::from_openssh(&text).map_err(|e| {
            anyhow::anyhow!("the SSH user CA key {shown} is not an OpenSSH private key: {e}")
        })?;
        if key.is_encrypted() {
            anyhow::bail!(
                "the SSH user CA key {shown} is encrypted; give the broker an unencrypted key"
            );
        }
        if key.algorithm() != Algorithm::Ed25519 {
            anyhow::bail!(
                "the SSH user CA key {shown} is {}; countersign signs with an Ed25519 CA",
                key.algorithm()
            );
        }
        let public = key.public_key();
        let mut shown_public = public.clone();
        shown_public.set_comment("countersign user CA");
        let public_line = shown_public
            .to_openssh()
            .map_err(|e| anyhow::anyhow!("cannot encode the SSH user CA's public key: {e}"))?;
        let public_blob = public
            .to_bytes()
            .map_err(|e| anyhow::anyhow!("cannot encode the SSH user CA's public key: {e}"))?;
        Ok(UserCa {
            key,
            public_line,
            public_blob,
            path: path.to_path_buf(),
        })
    }

    /// A fresh CA that lives only in memory, for benchmarks and unit tests.
    pub fn ephemeral() -> anyhow::Result<UserCa> {
        let dir = tempfile::tempdir()?;
        Self::open(dir.path(), None)
    }

    pub fn key(&self) -> &PrivateKey {
        &self.key
    }

    /// One `authorized_keys` line.
    pub fn public_line(&self) -> &str {
        &self.public_line
    }

    pub fn public_blob(&self) -> &[u8] {
        &self.public_blob
    }

    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let first = UserCa::open(dir.path(), None).unwrap();
        let path = dir.path().join(CA_FILE);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = UserCa::open(dir.path(), None).unwrap();
        assert_eq!(first.public_line(), again.public_line());
        assert!(first.public_line().starts_with("ssh-ed25519 AAAA"));
    }

    #[test]
    fn refuses_missing_loose_and_garbage_files() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = UserCa::open(dir.path(), Some(&missing)).err().unwrap();
        assert!(err.to_string().contains("does not exist"), "{err}");

        UserCa::open(dir.path(), None).unwrap();
        let path = dir.path().join(CA_FILE);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = UserCa::open(dir.path(), Some(&path)).err().unwrap();
        assert!(err.to_string().contains("mode 0644"), "{err}");

        let garbage = dir.path().join("garbage");
        std::fs::write(&garbage, "not a key").unwrap();
        std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = UserCa::open(dir.path(), Some(&garbage)).err().unwrap();
        assert!(
            err.to_string().contains("not an OpenSSH private key"),
            "{err}"
        );
    }
}
