//! A real OpenSSH server for tests: `sshd -D` on a free loopback port with its own
//! host key, trusting the test broker's user CA and reading the broker's KRL. It
//! needs `/usr/sbin/sshd` (Debian's openssh-server) and the local users
//! csdeploy, csapp and csother; `.ci/run` installs and creates them.

#![allow(dead_code)]

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{TestBroker, admin, fixture};

pub const SSHD: &str = "/usr/sbin/sshd";
pub const LOGINS: &[&str] = &["csdeploy", "csapp", "csother"];

/// The SSH test users: name, static roles, traits.
pub const SSH_USERS: &[(&str, &str, &[&str])] = &[
    ("rita", "ssh-requester", &["logins=csapp"]),
    ("mallory", "ssh-requester", &["logins=csother"]),
    ("abe", "ssh-approver", &[]),
    ("ada", "ssh-admin", &[]),
];

/// The test broker with the SSH roles and users applied.
pub fn ssh_broker() -> TestBroker {
    let mut broker = TestBroker::start();
    let applied = admin(
        broker.dir.path(),
        &[
            "roles",
            "apply",
            fixture("ssh_roles.yaml").to_str().unwrap(),
        ],
    );
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    for (name, roles, traits) in SSH_USERS {
        let mut args = vec!["users", "add", name, "--roles", roles];
        for t in *traits {
            args.extend(["--trait", t]);
        }
        let out = admin(broker.dir.path(), &args);
        assert!(
            out.status.success(),
            "users add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("token")
            .trim()
            .to_string();
        broker.tokens.insert(name.to_string(), token);
    }
    broker
}

/// Creates `roles` for rita and has abe approve them (narrowed to `subset` when
/// given); returns the request id and the request.
pub async fn approved(
    broker: &TestBroker,
    roles: &[&str],
    subset: &[&str],
    max_duration: Option<&str>,
) -> (String, Value) {
    let mut body = json!({"roles": roles, "reason": "deploy the fix for INC-7"});
    if let Some(d) = max_duration {
        body["max_duration"] = json!(d);
    }
    let (status, created) = broker.post("rita", "/v1/requests", body).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("id").to_string();
    let (status, reviewed) = broker
        .post(
            "abe",
            &format!("/v1/requests/{id}/reviews"),
            json!({"decision": "approve", "reason": "ok, INC-7", "roles": subset}),
        )
        .await;
    assert_eq!(status, 200, "{reviewed}");
    assert_eq!(reviewed["state"], "approved", "{reviewed}");
    (id, reviewed)
}

/// A new key made by ssh-keygen: `dir/name` and `dir/name.pub`.
pub fn keygen(dir: &Path, name: &str, kind: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", name])
        .args(kind)
        .arg("-f")
        .arg(&path)
        .output()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(
        out.status.success(),
        "ssh-keygen {kind:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

pub fn public_key(key: &Path) -> String {
    std::fs::read_to_string(key.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", key.display())))
        .expect("public key file")
}

/// Asks the broker for a certificate for `key` as `user`: (status, body).
pub async fn issue(broker: &TestBroker, user: &str, id: &str, key: &Path) -> (u16, Value) {
    broker
        .post(
            user,
            &format!("/v1/requests/{id}/certificate"),
            json!({"public_key": public_key(key)}),
        )
        .await
}

/// Issues a certificate and writes it to `<key>-cert.pub`, where ssh finds it.
pub async fn issue_to_file(broker: &TestBroker, id: &str, key: &Path) -> Value {
    let (status, cert) = issue(broker, "rita", id, key).await;
    assert_eq!(status, 201, "{cert}");
    std::fs::write(
        cert_path(key),
        format!("{}\n", cert["certificate"].as_str().expect("certificate")),
    )
    .expect("write cert");
    cert
}

pub fn cert_path(key: &Path) -> PathBuf {
    PathBuf::from(format!("{}-cert.pub", key.display()))
}

pub async fn fetch(broker: &TestBroker, path: &str) -> (u16, Vec<u8>) {
    let resp = reqwest::get(format!("{}{path}", broker.url))
        .await
        .expect("broker reachable");
    let status = resp.status().as_u16();
    (status, resp.bytes().await.expect("body").to_vec())
}

/// `ssh-keygen -L -f CERT` with times in UTC.
pub fn describe(cert: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .env("TZ", "UTC")
        .arg("-L")
        .arg("-f")
        .arg(cert)
        .output()
        .expect("ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// `ssh-keygen -Q -f KRL CERT`: whether the KRL revokes the certificate.
pub fn krl_revokes(krl: &Path, cert: &Path) -> bool {
    let out = Command::new("ssh-keygen")
        .arg("-Q")
        .arg("-f")
        .arg(krl)
        .arg(cert)
        .output()
        .expect("ssh-keygen");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("REVOKED") || text.contains(": ok"),
        "ssh-keygen -Q did not understand the KRL: {text}"
    );
    text.contains("REVOKED")
}

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub krl: PathBuf,
    child: Child,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Sshd {
    /// Starts sshd trusting the broker's CA and reading `krl` (fetched now).
    pub async fn start(broker: &TestBroker) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (bash .ci/run does)"
        );
        for login in LOGINS {
            let known = Command::new("id").arg(login).output().expect("id");
            assert!(
                known.status.success(),
                "the local user {login} is missing: useradd -M -s /bin/sh -p '*' {login} (bash .ci/run does)"
            );
        }
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd (run as root)");
        let dir = tempfile::tempdir().expect("tempdir");
        let host_key = keygen(dir.path(), "host_key", &["-t", "ed25519"]);
        let (status, ca) = fetch(broker, "/v1/ssh/ca").await;
        assert_eq!(status, 200);
        let ca_file = dir.path().join("ca.pub");
        std::fs::write(&ca_file, ca).expect("ca");
        let krl = dir.path().join("revoked.krl");
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\n\
                 TrustedUserCAKeys {}\nRevokedKeys {}\nAuthorizedKeysFile none\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n\
                 PermitRootLogin no\nLogLevel VERBOSE\n",
                host_key.display(),
                ca_file.display(),
                krl.display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.path().join("sshd.log")).expect("log");
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let mut sshd = Sshd {
            dir,
            port,
            krl,
            child,
        };
        sshd.refresh_krl(broker).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sshd.child.try_wait() {
                panic!("sshd exited with {status}: {}", sshd.log());
            }
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                sshd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Replaces sshd's KRL with the broker's current one.
    pub async fn refresh_krl(&self, broker: &TestBroker) {
        let (status, krl) = fetch(broker, "/v1/ssh/krl").await;
        assert_eq!(status, 200);
        let tmp = self.krl.with_extension("tmp");
        std::fs::write(&tmp, krl).expect("krl");
        std::fs::rename(&tmp, &self.krl).expect("krl");
    }

    /// Runs `id -un` over ssh as `login` with `key` (and its `-cert.pub`, if any):
    /// Ok(the remote user) or Err(what ssh said).
    pub fn login(&self, key: &Path, login: &str) -> Result<String, String> {
        let out = Command::new("ssh")
            .args(["-F", "/dev/null", "-i"])
            .arg(key)
            .args([
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                "-p",
            ])
            .arg(self.port.to_string())
            .arg(format!("{login}@127.0.0.1"))
            .arg("id -un")
            .stdin(Stdio::null())
            .output()
            .expect("ssh is installed (openssh-client)");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// Asserts that `key` logs in as `login` (and as nobody else it was not given).
    pub fn assert_login(&self, key: &Path, login: &str) {
        match self.login(key, login) {
            Ok(user) => assert_eq!(user, login),
            Err(why) => panic!("ssh as {login} failed: {why}\nsshd log:\n{}", self.log()),
        }
    }

    /// Asserts that sshd turns `key` away as `login` at authentication.
    pub fn assert_refused(&self, key: &Path, login: &str) {
        match self.login(key, login) {
            Ok(user) => panic!("ssh as {login} was let in as {user}"),
            Err(why) => assert!(
                why.contains("Permission denied"),
                "ssh as {login} failed for another reason: {why}\nsshd log:\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
