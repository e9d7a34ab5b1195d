//! `countersign login --request ID`: turn approved access into an SSH certificate
//! beside the requester's key, where `ssh` looks for it (`<identity>-cert.pub`).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey, rand_core::OsRng};
use uuid::Uuid;

use crate::client::Client;
use crate::client::ClientArgs;
use crate::client::sanitize_inline;
use crate::model::Certificate;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The approved request (its id, or a unique prefix or suffix of it).
    #[arg(long)]
    pub request: String,
    /// The private key to certify (default ~/.ssh/id_ed25519; an Ed25519 key is
    /// created there when none exists).
    #[arg(long)]
    pub identity: Option<PathBuf>,
    #[command(flatten)]
    pub client: ClientArgs,
}

pub async fn run(args: LoginArgs) -> anyhow::Result<ExitCode> {
    let client = args.client.connect()?;
    let id = super::request::resolve_id(&client, &args.request).await?;
    let identity = match args.identity {
        Some(path) => path,
        None => default_identity()?,
    };
    login(&client, id, &identity).await?;
    Ok(ExitCode::SUCCESS)
}

/// `~/.ssh/id_ed25519`.
pub fn default_identity() -> anyhow::Result<PathBuf> {
    let home = directories::BaseDirs::new()
        .map(|dirs| dirs.home_dir().to_path_buf())
        .context("no home directory: give --identity PATH")?;
    Ok(home.join(".ssh").join("id_ed25519"))
}

/// Where the certificate for `identity` goes: `<identity>-cert.pub`.
pub fn cert_path(identity: &Path) -> PathBuf {
    let mut name = identity.as_os_str().to_owned();
    name.push("-cert.pub");
    PathBuf::from(name)
}

fn pub_path(identity: &Path) -> PathBuf {
    let mut name = identity.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Gets a certificate for request `id` and `identity`'s key, writes it beside the
/// key and tells the requester what it allows.
pub async fn login(client: &Client, id: Uuid, identity: &Path) -> anyhow::Result<Certificate> {
    let public = public_key_of(identity)?;
    let certificate = client
        .issue_certificate(id, &public)
        .await
        .map_err(|err| match err.code() {
            Some(crate::model::api::ErrorCode::NotApproved) => anyhow::anyhow!(
                "{err}\nA certificate is issued while the request is approved and its window is open: countersign request show {id}"
            ),
            _ => err.into(),
        })?;
    let path = cert_path(identity);
    write_atomically(
        &path,
        format!("{}\n", certificate.certificate).as_bytes(),
        0o644,
    )?;
    let logins = sanitize_inline(&certificate.principals.join(", ")).into_owned();
    println!("Certificate written to {}", path.display());
    println!("  logins:      {logins}");
    println!(
        "  valid until: {} ({})",
        certificate.valid_before.format("%Y-%m-%d %H:%M:%S UTC"),
        super::request::relative(certificate.valid_before, chrono::Utc::now())
    );
    println!("  serial:      {}", certificate.serial);
    let first = certificate
        .principals
        .first()
        .map(|p| sanitize_inline(p).into_owned())
        .unwrap_or_default();
    let flag = match default_identity() {
        Ok(default) if default == identity => String::new(),
        _ => format!("-i {} ", identity.display()),
    };
    println!("Connect with: ssh {flag}{first}@HOST");
    Ok(certificate)
}

/// The `.pub` line of `identity`, creating an Ed25519 key pair first when there is
/// no key at all (as `ssh-keygen -t ed25519` would: OpenSSH format, 0600 and .pub).
fn public_key_of(identity: &Path) -> anyhow::Result<String> {
    let pub_file = pub_path(identity);
    if !identity.exists() && !pub_file.exists() {
        create_key(identity, &pub_file)?;
    }
    if let Ok(text) = std::fs::read_to_string(&pub_file) {
        let line = text.lines().next().unwrap_or_default().trim().to_string();
        PublicKey::from_openssh(&line)
            .with_context(|| format!("{} is not an OpenSSH public key", pub_file.display()))?;
        return Ok(line);
    }
    // A private key without its .pub: derive the public half (unencrypted keys only).
    let key = PrivateKey::read_openssh_file(identity).map_err(|e| {
        anyhow::anyhow!(
            "cannot read {} as an OpenSSH private key ({e}) and there is no {}",
            identity.display(),
            pub_file.display()
        )
    })?;
    if key.is_encrypted() {
        anyhow::bail!(
            "{} is encrypted and has no {}: write it with ssh-keygen -y -f {} > {}",
            identity.display(),
            pub_file.display(),
            identity.display(),
            pub_file.display()
        );
    }
    key.public_key()
        .to_openssh()
        .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))
}

fn create_key(identity: &Path, pub_file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = identity.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", dir.display()))?;
    }
    let mut key = PrivateKey::random(&mut OsRng, Algorithm::Ed25519)
        .map_err(|e| anyhow::anyhow!("cannot create a key: {e}"))?;
    let comment = format!(
        "{}@countersign",
        std::env::var("USER").unwrap_or_else(|_| "user".into())
    );
    key.set_comment(&comment);
    let private = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the key: {e}"))?;
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| anyhow::anyhow!("cannot encode the public key: {e}"))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(identity)
        .with_context(|| format!("cannot create {}", identity.display()))?;
    file.write_all(private.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", identity.display()))?;
    write_atomically(pub_file, format!("{public}\n").as_bytes(), 0o644)?;
    eprintln!(
        "Created a new Ed25519 key {} (and {})",
        identity.display(),
        pub_file.display()
    );
    Ok(())
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`:
/// readers see the old file or the new one, never half of one.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".countersign-")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot replace {}: {}", path.display(), e.error))?;
    Ok(())
}
