//! `request ls --help` lists the states `--state` takes, and a typo is refused with
//! them.

mod common;

use std::process::Command;

#[test]
fn state_lists_its_values_in_help_and_refuses_a_typo() {
    let help = Command::new(common::BIN)
        .args(["request", "ls", "--help"])
        .output()
        .expect("run request ls --help");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for state in [
        "pending",
        "approved",
        "denied",
        "expired",
        "withdrawn",
        "returned",
        "elapsed",
    ] {
        assert!(text.contains(state), "{state} missing from:\n{text}");
    }
    let typo = Command::new(common::BIN)
        .args(["request", "ls", "--state", "aproved"])
        .env("COUNTERSIGN_BROKER", "http://127.0.0.1:9")
        .env("COUNTERSIGN_TOKEN", "t")
        .output()
        .expect("run request ls --state aproved");
    assert!(!typo.status.success());
    let error = String::from_utf8_lossy(&typo.stderr);
    assert!(
        error.contains("aproved") && error.contains("approved"),
        "{error}"
    );
}
