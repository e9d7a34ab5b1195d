//! The runbook's flow as a person runs it, against a real broker and a real sshd:
//! request (waiting) → approval → certificate written by the CLI → ssh works →
//! return or revoke → the host's KRL, kept by `countersign ssh krl`, shuts it.

mod common;
mod ssh_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use ssh_common::*;

fn cli(broker: &common::TestBroker, user: &str, home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(common::BIN);
    command
        .args(args)
        .env("COUNTERSIGN_BROKER", &broker.url)
        .env("COUNTERSIGN_TOKEN", broker.token(user))
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("COUNTERSIGN_CONFIG");
    command
}

fn run(broker: &common::TestBroker, user: &str, home: &Path, args: &[&str]) -> Output {
    cli(broker, user, home, args)
        .output()
        .expect("run countersign")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runbook_flow_from_request_to_refused() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let home = tempfile::tempdir().unwrap();
    let identity = home.path().join("keys").join("id_ed25519");
    let identity_arg = identity.to_str().unwrap();

    // The requester asks and waits; the certificate arrives with the approval.
    let waiting = cli(
        &broker,
        "rita",
        home.path(),
        &[
            "request",
            "create",
            "--roles",
            "ssh-deploy",
            "--reason",
            "INC-7: deploy the fix",
            "--login",
            "--identity",
            identity_arg,
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut id = String::new();
    for _ in 0..100 {
        let (_, page) = broker.get("rita", "/v1/requests?scope=mine").await;
        if let Some(found) = page["requests"][0]["id"].as_str() {
            id = found.to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!id.is_empty(), "the request never appeared");
    let (status, body) = broker
        .post(
            "abe",
            &format!("/v1/requests/{id}/reviews"),
            json!({"decision": "approve", "reason": "ok INC-7"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = tokio::task::spawn_blocking(move || waiting.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("logins:      csdeploy"), "{said}");
    assert!(said.contains("valid until:"), "{said}");
    assert!(said.contains("Created a new Ed25519 key"), "{said}");

    // The key is what ssh-keygen would have made: OpenSSH format, 0600, and a .pub.
    let mode = std::fs::metadata(&identity).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let derived = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&identity)
        .output()
        .unwrap();
    assert!(derived.status.success(), "{}", text(&derived));
    let first_two = |s: &str| s.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    assert_eq!(
        first_two(&String::from_utf8_lossy(&derived.stdout)),
        first_two(&public_key(&identity))
    );
    sshd.assert_login(&identity, "csdeploy");
    sshd.assert_refused(&identity, "csapp");

    let shown = run(&broker, "rita", home.path(), &["request", "show", &id]);
    let shown = text(&shown);
    assert!(
        shown.contains("Certificates")
            && shown.contains("csdeploy")
            && shown.contains("valid, ends in"),
        "{shown}"
    );

    // Giving it back ends it on the host as soon as the KRL is refreshed.
    let out = run(&broker, "rita", home.path(), &["request", "return", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let krl_arg = sshd.krl.to_str().unwrap().to_string();
    let out = run(
        &broker,
        "rita",
        home.path(),
        &["ssh", "krl", "--out", &krl_arg],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(krl_revokes(&sshd.krl, &cert_path(&identity)));
    sshd.assert_refused(&identity, "csdeploy");
    let shown = text(&run(
        &broker,
        "rita",
        home.path(),
        &["request", "show", &id],
    ));
    assert!(shown.contains("revoked"), "{shown}");

    // And no new certificate for it.
    let out = run(
        &broker,
        "rita",
        home.path(),
        &["login", "--request", &id, "--identity", identity_arg],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("approved"), "{}", text(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn krl_watch_keeps_the_host_current_and_survives_an_outage() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let home = tempfile::tempdir().unwrap();
    // An existing key is used as it is.
    let identity = keygen(home.path(), "id_work", &["-t", "ecdsa"]);
    let before = std::fs::read(&identity).unwrap();
    let (id, _) = approved(&broker, &["ssh-deploy", "ssh-app"], &[], None).await;
    let out = run(
        &broker,
        "rita",
        home.path(),
        &[
            "login",
            "--request",
            &id[id.len() - 8..],
            "--identity",
            identity.to_str().unwrap(),
        ],
    );
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("logins:      csdeploy, csapp"), "{said}");
    assert!(!said.contains("Created"), "{said}");
    assert_eq!(std::fs::read(&identity).unwrap(), before);
    sshd.assert_login(&identity, "csapp");

    let krl_arg = sshd.krl.to_str().unwrap().to_string();
    let mut watcher = Command::new(common::BIN)
        .args([
            "ssh",
            "krl",
            "--watch",
            "--interval",
            "1s",
            "--out",
            &krl_arg,
            "--broker",
            &broker.url,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    sshd.assert_login(&identity, "csdeploy");
    let out = run(
        &broker,
        "ada",
        home.path(),
        &["request", "revoke", &id, "--reason", "INC-7 closed early"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("revoked"), "{}", text(&out));
    wait_for("the watched KRL to revoke the certificate", || {
        krl_revokes(&sshd.krl, &cert_path(&identity))
    });
    sshd.assert_refused(&identity, "csdeploy");
    let _ = watcher.kill();
    let _ = watcher.wait();

    // A broker that does not answer leaves the last good KRL in place.
    let good = std::fs::read(&sshd.krl).unwrap();
    let out = Command::new(common::BIN)
        .args([
            "ssh",
            "krl",
            "--out",
            &krl_arg,
            "--broker",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(std::fs::read(&sshd.krl).unwrap(), good);
    let out = Command::new(common::BIN)
        .args(["ssh", "krl", "--out", &krl_arg])
        .env_remove("COUNTERSIGN_BROKER")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--broker"), "{}", text(&out));

    // The CA a host trusts is one command away too.
    let out = Command::new(common::BIN)
        .args(["ssh", "ca", "--broker", &broker.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (_, served) = fetch(&broker, "/v1/ssh/ca").await;
    assert_eq!(out.stdout, served);
}
