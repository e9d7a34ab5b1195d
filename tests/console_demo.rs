//! `countersign demo --no-console`: the broker and the living queue without a
//! console, its environment written to a file a second terminal can `source`,
//! and nothing left behind when the terminal hangs up (SIGHUP).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The demo's process, killed if a failed assertion leaves it running.
struct Demo(std::process::Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn the_headless_demo_writes_its_environment_and_leaves_nothing_on_sighup() {
    let mut demo = Demo(
        Command::new(common::BIN)
            .args(["demo", "--no-console", "--still"])
            .env("HOME", std::env::temp_dir())
            .env("COUNTERSIGN_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the demo"),
    );
    let stdout = demo.0.stdout.take().expect("stdout");
    let mut env_file = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the demo's output");
        if let Some(rest) = line.strip_prefix("The environment is in ") {
            let path = rest.split(": `source`").next().unwrap_or_default();
            env_file = Some(std::path::PathBuf::from(path));
            break;
        }
    }
    let env_file = env_file.expect("the demo says where its environment is");
    let text = std::fs::read_to_string(&env_file).expect("the environment file");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "tokens are for the owner only: {mode:o}");
    }
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .map(|v| v.split_whitespace().next().unwrap_or_default().to_string())
            .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
    };
    let broker = value("COUNTERSIGN_BROKER");
    assert!(broker.starts_with("http://127.0.0.1:"), "{broker}");
    for user in ["CARROT", "VIMES", "ADORA_BELLE"] {
        assert!(!value(&format!("COUNTERSIGN_TOKEN_{user}")).is_empty());
    }
    // The file's values work: the CLI lists requests as carrot.
    let listed = Command::new(common::BIN)
        .args(["request", "ls"])
        .env("COUNTERSIGN_BROKER", &broker)
        .env("COUNTERSIGN_TOKEN", value("COUNTERSIGN_TOKEN"))
        .env("HOME", std::env::temp_dir())
        .env("XDG_CONFIG_HOME", std::env::temp_dir())
        .output()
        .expect("run request ls");
    assert!(
        listed.status.success(),
        "request ls with the demo's environment: {}",
        String::from_utf8_lossy(&listed.stderr)
    );

    let data_dir = env_file.parent().expect("the data dir").to_path_buf();
    let hup = Command::new("kill")
        .args(["-HUP", &demo.0.id().to_string()])
        .status()
        .expect("send SIGHUP");
    assert!(hup.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = demo.0.try_wait().expect("wait for the demo") {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the demo did not stop on SIGHUP"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(!data_dir.exists(), "{} was left behind", data_dir.display());
}
