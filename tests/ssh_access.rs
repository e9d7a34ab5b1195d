//! Approval becomes access (DESIGN §9), against a real broker and a real OpenSSH
//! sshd on a loopback port: certificates let the requester in as exactly the granted
//! logins for exactly the window, and return and revoke end it at once.

mod common;
mod ssh_common;

use std::process::Command;

use serde_json::{Value, json};
use ssh_common::*;

fn principals_in(listing: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in listing.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("Principals:") {
            inside = true;
            continue;
        }
        if inside {
            if trimmed.ends_with(':') || trimmed.contains(": ") {
                break;
            }
            out.push(trimmed.to_string());
        }
    }
    out
}

fn listing_field<'a>(listing: &'a str, name: &str) -> &'a str {
    listing
        .lines()
        .find_map(|l| l.trim().strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {listing}"))
        .trim()
}

fn seconds(time: &Value) -> String {
    let parsed =
        chrono::DateTime::parse_from_rfc3339(time.as_str().expect("time")).expect("rfc3339");
    parsed.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn fingerprint(key: &std::path::Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(format!("{}.pub", key.display()))
        .output()
        .expect("ssh-keygen");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(1)
        .expect("fingerprint")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn certificate_logs_in_as_each_granted_login_and_no_other() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let (id, request) = approved(&broker, &["ssh-deploy", "ssh-app"], &[], None).await;

    // Without a certificate the key is nobody here.
    sshd.assert_refused(&key, "csdeploy");

    let cert = issue_to_file(&broker, &id, &key).await;
    assert_eq!(cert["principals"], json!(["csdeploy", "csapp"]));
    assert_eq!(cert["key_id"], format!("countersign/rita/{id}"));
    sshd.assert_login(&key, "csdeploy");
    sshd.assert_login(&key, "csapp");
    sshd.assert_refused(&key, "csother");
    sshd.assert_refused(&key, "root");

    // The same key, copied where ssh finds no certificate beside it, is refused.
    let bare = keys.path().join("bare");
    std::fs::copy(&key, &bare).unwrap();
    std::fs::copy(
        format!("{}.pub", key.display()),
        format!("{}.pub", bare.display()),
    )
    .unwrap();
    sshd.assert_refused(&bare, "csdeploy");

    // What ssh-keygen reads in it is what §9 says.
    let listing = describe(&cert_path(&key));
    assert_eq!(
        principals_in(&listing),
        vec!["csdeploy", "csapp"],
        "{listing}"
    );
    assert_eq!(
        listing_field(&listing, "Key ID:"),
        format!("\"countersign/rita/{id}\"")
    );
    assert_eq!(
        listing_field(&listing, "Serial:"),
        cert["serial"].to_string()
    );
    assert!(
        listing_field(&listing, "Type:")
            .starts_with("ssh-ed25519-cert-v01@openssh.com user certificate")
    );
    let valid = listing_field(&listing, "Valid:");
    let ends_at = &request["access"]["ends_at"];
    assert_eq!(
        valid,
        format!(
            "from {} to {}",
            seconds(&cert["valid_after"]),
            seconds(ends_at)
        )
    );
    assert_eq!(seconds(&cert["valid_before"]), seconds(ends_at));
    let issued = chrono::DateTime::parse_from_rfc3339(cert["issued_at"].as_str().unwrap()).unwrap();
    let after =
        chrono::DateTime::parse_from_rfc3339(cert["valid_after"].as_str().unwrap()).unwrap();
    assert!((issued - after).num_seconds() >= 60 && (issued - after).num_seconds() <= 61);
    // ssh-deploy turns port forwarding off, but ssh-app leaves it on and allows agents.
    for extension in [
        "permit-pty",
        "permit-agent-forwarding",
        "permit-port-forwarding",
    ] {
        assert!(
            listing.contains(extension),
            "{extension} missing: {listing}"
        );
    }
    assert!(!listing.contains("permit-X11-forwarding"), "{listing}");

    // ECDSA and RSA keys are certified too; serials keep increasing.
    let mut last = cert["serial"].as_u64().unwrap();
    for (name, kind) in [
        ("id_ecdsa", &["-t", "ecdsa", "-b", "256"][..]),
        ("id_rsa", &["-t", "rsa", "-b", "3072"][..]),
    ] {
        let other = keygen(keys.path(), name, kind);
        let cert = issue_to_file(&broker, &id, &other).await;
        let serial = cert["serial"].as_u64().unwrap();
        assert!(serial > last, "serial {serial} after {last}");
        last = serial;
        sshd.assert_login(&other, "csapp");
    }

    // Every issue is on the record, naming the request, the serial and the key.
    let (status, events) = broker
        .get(
            "ada",
            &format!("/v1/audit/events?type=cert.create&request_id={id}"),
        )
        .await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    let first = &events[0];
    assert_eq!(first["code"], "TC000I");
    assert_eq!(first["request_id"], id.as_str());
    assert_eq!(first["user"], "rita");
    assert_eq!(first["serial"], cert["serial"]);
    assert_eq!(first["principals"], json!(["csdeploy", "csapp"]));
    assert_eq!(first["fingerprint"], fingerprint(&key));
    assert_eq!(
        first["valid_before"].as_str().map(|s| s[..19].to_string()),
        Some(seconds(ends_at))
    );
    let (ok, report) = broker.verify_offline();
    assert!(ok, "{report}");
    let (status, verify) = broker.get("ada", "/v1/audit/verify").await;
    assert_eq!(
        (status, verify["ok"].clone()),
        (200, json!(true)),
        "{verify}"
    );

    // The request lists its certificates.
    let (status, list) = broker
        .get("rita", &format!("/v1/requests/{id}/certificates"))
        .await;
    assert_eq!(status, 200, "{list}");
    let list = list["certificates"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(list.iter().all(|c| c["revoked"] == false));
}

async fn assert_ended(broker: &common::TestBroker, sshd: &Sshd, id: &str, key: &std::path::Path) {
    sshd.refresh_krl(broker).await;
    assert!(
        krl_revokes(&sshd.krl, &cert_path(key)),
        "ssh-keygen -Q does not see it revoked"
    );
    sshd.assert_refused(key, "csdeploy");
    let (status, again) = issue(broker, "rita", id, key).await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["error"]["code"], "not_approved");
    let (_, list) = broker
        .get("rita", &format!("/v1/requests/{id}/certificates"))
        .await;
    assert_eq!(list["certificates"][0]["revoked"], true, "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn return_and_revoke_end_access_at_once() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let keys = tempfile::tempdir().unwrap();

    // Returned by the requester.
    let key = keygen(keys.path(), "returned", &["-t", "ed25519"]);
    let (id, _) = approved(&broker, &["ssh-deploy"], &[], None).await;
    issue_to_file(&broker, &id, &key).await;
    // A KRL that does not name it leaves it working.
    sshd.refresh_krl(&broker).await;
    assert!(!krl_revokes(&sshd.krl, &cert_path(&key)));
    sshd.assert_login(&key, "csdeploy");
    let (status, body) = broker
        .post("rita", &format!("/v1/requests/{id}/return"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ended(&broker, &sshd, &id, &key).await;

    // Revoked by an admin: the rule and a reason are required.
    let key = keygen(keys.path(), "revoked", &["-t", "ed25519"]);
    let (id, _) = approved(&broker, &["ssh-deploy"], &[], None).await;
    issue_to_file(&broker, &id, &key).await;
    sshd.refresh_krl(&broker).await;
    sshd.assert_login(&key, "csdeploy");
    let path = format!("/v1/requests/{id}/revoke");
    let (status, body) = broker.post("abe", &path, json!({"reason": "no"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("forbidden")),
        "{body}"
    );
    let (status, body) = broker.post("ada", &path, json!({"reason": "  "})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("reason_required")),
        "{body}"
    );
    let (status, body) = broker.post("ada", &path, json!({})).await;
    assert_eq!(status, 400, "{body}");
    sshd.refresh_krl(&broker).await;
    sshd.assert_login(&key, "csdeploy");
    let (status, body) = broker
        .post("ada", &path, json!({"reason": "laptop stolen, INC-9"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "revoked");
    assert_ended(&broker, &sshd, &id, &key).await;
    let (status, body) = broker.post("ada", &path, json!({"reason": "again"})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("not_approved")),
        "{body}"
    );

    let (_, events) = broker
        .get(
            "ada",
            &format!("/v1/audit/events?type=access_request.update&request_id={id}"),
        )
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["action"], "revoke");
    assert_eq!(events[0]["reason"], "laptop stolen, INC-9");
    assert_eq!(events[0]["user"], "ada");
    assert_eq!(events[0]["state"], "revoked");
    let (ok, report) = broker.verify_offline();
    assert!(ok, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_short_window_stops_working_when_it_ends() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let (id, request) = approved(&broker, &["ssh-deploy"], &[], Some("8s")).await;
    let cert = issue_to_file(&broker, &id, &key).await;
    assert_eq!(
        seconds(&cert["valid_before"]),
        seconds(&request["access"]["ends_at"])
    );
    sshd.assert_login(&key, "csdeploy");
    let ends =
        chrono::DateTime::parse_from_rfc3339(cert["valid_before"].as_str().unwrap()).unwrap();
    let wait = ends.with_timezone(&chrono::Utc) - chrono::Utc::now() + chrono::Duration::seconds(2);
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    sshd.assert_refused(&key, "csdeploy");
    // Elapsed, not revoked: it expires on its own and stays out of the KRL.
    sshd.refresh_krl(&broker).await;
    assert!(!krl_revokes(&sshd.krl, &cert_path(&key)));
    let (status, again) = issue(&broker, "rita", &id, &key).await;
    assert_eq!(
        (status, again["error"]["code"].clone()),
        (409, json!("not_approved")),
        "{again}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_narrowed_grant_gives_only_its_roles_logins() {
    let broker = ssh_broker();
    let sshd = Sshd::start(&broker).await;
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let (id, request) = approved(&broker, &["ssh-deploy", "ssh-app"], &["ssh-app"], None).await;
    assert_eq!(request["granted_roles"], json!(["ssh-app"]));
    let cert = issue_to_file(&broker, &id, &key).await;
    // ssh-app's logins come from rita's trait: {{internal.logins}} = csapp.
    assert_eq!(cert["principals"], json!(["csapp"]));
    sshd.assert_login(&key, "csapp");
    sshd.assert_refused(&key, "csdeploy");
    let listing = describe(&cert_path(&key));
    assert_eq!(principals_in(&listing), vec!["csapp"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_refusal_has_its_code_and_leaves_nothing() {
    let broker = ssh_broker();
    let keys = tempfile::tempdir().unwrap();
    let key = keygen(keys.path(), "id_ed25519", &["-t", "ed25519"]);
    let (id, _) = approved(&broker, &["ssh-deploy"], &[], None).await;
    let path = format!("/v1/requests/{id}/certificate");
    let weak = keygen(keys.path(), "weak", &["-t", "rsa", "-b", "1024"]);
    let cases = [
        json!({"public_key": ""}),
        json!({"public_key": "ssh-ed25519 not-base64"}),
        json!({"public_key": "hello"}),
        json!({"public_key": public_key(&weak)}),
        json!({"public_key": format!("{}\n{}", public_key(&key).trim(), public_key(&key).trim())}),
    ];
    for body in cases {
        let (status, answer) = broker.post("rita", &path, body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(
            answer["error"]["code"], "invalid_public_key",
            "{body}: {answer}"
        );
    }
    let (status, answer) = broker
        .post(
            "rita",
            &path,
            json!({"public_key": public_key(&key), "x": 1}),
        )
        .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("invalid_request")),
        "{answer}"
    );
    // A certificate is not a key to certify.
    let cert = issue_to_file(&broker, &id, &key).await;
    let (status, answer) = broker
        .post("rita", &path, json!({"public_key": cert["certificate"]}))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (400, json!("invalid_public_key")),
        "{answer}"
    );

    // Someone else's request, even an admin's view of it, is not found.
    for user in ["mallory", "ada", "abe"] {
        let (status, answer) = issue(&broker, user, &id, &key).await;
        assert_eq!(
            (status, answer["error"]["code"].clone()),
            (404, json!("not_found")),
            "{user}: {answer}"
        );
    }
    let (status, _) = issue(
        &broker,
        "rita",
        "01890000-0000-7000-8000-000000000001",
        &key,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = issue(&broker, "rita", "not-an-id", &key).await;
    assert_eq!(status, 404);

    // Pending and denied requests get none.
    let (status, pending) = broker
        .post(
            "rita",
            "/v1/requests",
            json!({"roles": ["ssh-deploy"], "reason": "INC-8"}),
        )
        .await;
    assert_eq!(status, 201);
    let pending = pending["id"].as_str().unwrap().to_string();
    let (status, answer) = issue(&broker, "rita", &pending, &key).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (409, json!("not_approved")),
        "{answer}"
    );
    let (status, _) = broker
        .post(
            "abe",
            &format!("/v1/requests/{pending}/reviews"),
            json!({"decision": "deny", "reason": "not now"}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = issue(&broker, "rita", &pending, &key).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (409, json!("not_approved")),
        "{answer}"
    );

    // Withdrawn and expired requests get none either.
    let (_, withdrawn) = broker
        .post(
            "rita",
            "/v1/requests",
            json!({"roles": ["ssh-deploy"], "reason": "INC-8"}),
        )
        .await;
    let withdrawn = withdrawn["id"].as_str().unwrap().to_string();
    let (status, _) = broker
        .post(
            "rita",
            &format!("/v1/requests/{withdrawn}/withdraw"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, expired) = broker
        .post(
            "rita",
            "/v1/requests",
            json!({"roles": ["ssh-deploy"], "reason": "INC-8", "pending_ttl": "1s"}),
        )
        .await;
    let expired = expired["id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        let (_, now) = broker.get("rita", &format!("/v1/requests/{expired}")).await;
        if now["state"] == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for ended in [&withdrawn, &expired] {
        let (status, answer) = issue(&broker, "rita", ended, &key).await;
        assert_eq!(
            (status, answer["error"]["code"].clone()),
            (409, json!("not_approved")),
            "{answer}"
        );
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("withdrawn")
                || answer["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("expired")
        );
    }

    // A role with no logins grants nothing to log in as.
    let (nologins, _) = approved(&broker, &["ssh-nologins"], &[], None).await;
    let (status, answer) = issue(&broker, "rita", &nologins, &key).await;
    assert_eq!(
        (status, answer["error"]["code"].clone()),
        (409, json!("no_logins")),
        "{answer}"
    );

    // Only the one good certificate was made and recorded.
    for (request, count) in [(&id, 1), (&pending, 0), (&nologins, 0)] {
        let (_, list) = broker
            .get("rita", &format!("/v1/requests/{request}/certificates"))
            .await;
        assert_eq!(
            list["certificates"].as_array().map(Vec::len),
            Some(count),
            "{list}"
        );
    }
    let (_, events) = broker.get("ada", "/v1/audit/events?type=cert.create").await;
    assert_eq!(
        events["events"].as_array().map(Vec::len),
        Some(1),
        "{events}"
    );

    // Without a token: the host's two routes answer, the others say who is missing.
    for path in ["/v1/ssh/ca", "/v1/ssh/krl"] {
        assert_eq!(fetch(&broker, path).await.0, 200, "{path}");
    }
    for (method, path) in [
        (
            reqwest::Method::POST,
            format!("/v1/requests/{id}/certificate"),
        ),
        (reqwest::Method::POST, format!("/v1/requests/{id}/revoke")),
        (
            reqwest::Method::GET,
            format!("/v1/requests/{id}/certificates"),
        ),
    ] {
        let (status, answer) = broker.call(None, method, &path, Some(json!({}))).await;
        assert_eq!(
            (status, answer["error"]["code"].clone()),
            (401, json!("unauthenticated")),
            "{path}"
        );
    }
    let (status, answer) = broker
        .get("mallory", &format!("/v1/requests/{id}/certificates"))
        .await;
    assert_eq!(status, 404, "{answer}");

    // The schema documents all of it.
    let (_, doc) = broker
        .call(None, reqwest::Method::GET, "/v1/openapi.json", None)
        .await;
    for path in [
        "/v1/requests/{id}/certificate",
        "/v1/requests/{id}/certificates",
        "/v1/requests/{id}/revoke",
        "/v1/ssh/ca",
        "/v1/ssh/krl",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the schema"
        );
    }
    let codes = doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]
        ["enum"]
        .clone();
    for code in ["not_approved", "no_logins", "invalid_public_key"] {
        assert!(
            codes.as_array().unwrap().contains(&json!(code)),
            "{code} missing"
        );
    }
    assert!(
        doc["components"]["schemas"]["State"]["enum"]
            .as_array()
            .unwrap()
            .contains(&json!("revoked"))
    );
}

fn start_fails(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return err;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the broker started with {args:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_ca_is_made_once_and_a_bad_ca_key_stops_the_start() {
    let broker = ssh_broker();
    let ca_file = broker.dir.path().join("ssh_user_ca");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&ca_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let derived = Command::new("ssh-keygen")
        .arg("-y")
        .arg("-f")
        .arg(&ca_file)
        .output()
        .unwrap();
    assert!(
        derived.status.success(),
        "{}",
        String::from_utf8_lossy(&derived.stderr)
    );
    let derived = String::from_utf8_lossy(&derived.stdout);
    let (status, served) = fetch(&broker, "/v1/ssh/ca").await;
    assert_eq!(status, 200);
    let served = String::from_utf8(served).unwrap();
    let key_of = |line: &str| {
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(key_of(&served), key_of(&derived));
    // The admin CLI prints the same line from the data directory.
    let out = common::admin(broker.dir.path(), &["ssh", "ca"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), served);

    let keys = tempfile::tempdir().unwrap();
    let missing = keys.path().join("missing");
    let err = start_fails(&["--ssh-ca-key", missing.to_str().unwrap()]);
    assert!(err.contains("does not exist"), "{err}");
    let loose = keygen(keys.path(), "loose", &["-t", "ed25519"]);
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = start_fails(&["--ssh-ca-key", loose.to_str().unwrap()]);
    assert!(
        err.contains("mode 0644") && err.contains("chmod 600"),
        "{err}"
    );
    let rsa = keygen(keys.path(), "rsa", &["-t", "rsa", "-b", "2048"]);
    let err = start_fails(&["--ssh-ca-key", rsa.to_str().unwrap()]);
    assert!(err.contains("Ed25519"), "{err}");
    let not_a_key = keys.path().join("junk");
    std::fs::write(&not_a_key, "junk").unwrap();
    std::fs::set_permissions(&not_a_key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = start_fails(&["--ssh-ca-key", not_a_key.to_str().unwrap()]);
    assert!(err.contains("not an OpenSSH private key"), "{err}");
    // A good key of one's own is used as given.
    let own = keygen(keys.path(), "own", &["-t", "ed25519"]);
    let own_pub = std::fs::read_to_string(format!("{}.pub", own.display())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(common::BIN)
        .arg("broker")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--ssh-ca-key"])
        .arg(&own)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    let url = banner
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_string();
    let served = reqwest::get(format!("{url}/v1/ssh/ca"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(key_of(&served), key_of(&own_pub));
    assert!(!dir.path().join("ssh_user_ca").exists());
}
