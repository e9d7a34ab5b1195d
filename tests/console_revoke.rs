//! Revoking from the console, through its real link and a real broker: the Active
//! tab's detail lists the request's certificate, `x` opens the dialog (refused
//! blank), the broker revokes, and the certificate comes back revoked.

mod common;

use std::process::Command as Process;
use std::time::Duration;

use common::TestBroker;
use countersign::console::action::{Action, Effect};
use countersign::console::keymap::Command;
use countersign::console::state::{Certificates, NoteKind, State};
use countersign::console::update;
use countersign::model::State as RequestState;
use serde_json::json;
use tokio::sync::mpsc;

struct Console {
    state: State,
    actions: mpsc::UnboundedReceiver<Action>,
    effects: mpsc::UnboundedSender<Effect>,
}

impl Console {
    async fn open(broker: &TestBroker, user: &str) -> Console {
        let (state, actions, effects) = common::live_console(broker, user).await;
        Console {
            state,
            actions,
            effects,
        }
    }

    fn act(&mut self, action: Action) {
        for effect in update(&mut self.state, action, chrono::Utc::now()) {
            if !matches!(effect, Effect::Notify { .. } | Effect::Copy(_)) {
                self.effects.send(effect).expect("effects open");
            }
        }
    }

    fn press(&mut self, command: Command) {
        self.act(Action::Command(command));
    }

    fn type_text(&mut self, text: &str) {
        for c in text.chars() {
            self.act(Action::Editor(ratatui_textarea::Input {
                key: ratatui_textarea::Key::Char(c),
                ..Default::default()
            }));
        }
    }

    async fn until(&mut self, what: &str, done: impl Fn(&State) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&self.state) {
            let action = tokio::time::timeout_at(deadline, self.actions.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("link running");
            self.act(action);
        }
    }
}

fn certificates(state: &State, id: uuid::Uuid) -> Option<Vec<(u64, bool)>> {
    match state.certificates.get(&id) {
        Some(Certificates::Loaded(list)) => {
            Some(list.iter().map(|c| (c.serial, c.revoked)).collect())
        }
        _ => None,
    }
}

#[tokio::test]
async fn an_admin_revokes_from_the_active_tab_and_the_certificate_turns_revoked() {
    let broker = TestBroker::start();
    let id = broker
        .create(
            "bob",
            &["production-access"],
            "deploy the fix, incident #51",
        )
        .await;
    let (status, body) = broker.review("carrot", &id, "approve", "ok, #51").await;
    assert_eq!(status, 200, "{body}");
    let key = broker.dir.path().join("id_bob");
    let made = Process::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "bob", "-f"])
        .arg(&key)
        .output()
        .expect("ssh-keygen is installed (openssh-client)");
    assert!(made.status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).expect("public key");
    let (status, cert) = broker
        .post(
            "bob",
            &format!("/v1/requests/{id}/certificate"),
            json!({"public_key": public}),
        )
        .await;
    assert_eq!(status, 201, "{cert}");
    let serial = cert["serial"].as_u64().expect("serial");
    let id: uuid::Uuid = id.parse().expect("uuid");

    // A reviewer without the update rule is told why, and nothing is sent.
    let mut carrot = Console::open(&broker, "carrot").await;
    carrot.press(Command::Tab2);
    carrot.press(Command::Revoke);
    assert!(carrot.state.note().is_none());
    let notice = carrot
        .state
        .notice
        .clone()
        .map(|n| n.text)
        .unwrap_or_default();
    assert!(notice.contains("access_request: update"), "{notice}");

    let mut admin = Console::open(&broker, "vetinari").await;
    admin.press(Command::Tab2);
    assert_eq!(admin.state.selected, Some(id));
    admin
        .until("the certificate", |s| certificates(s, id).is_some())
        .await;
    assert_eq!(certificates(&admin.state, id), Some(vec![(serial, false)]));

    admin.press(Command::Revoke);
    assert_eq!(
        admin.state.note().map(|n| n.kind.clone()),
        Some(NoteKind::Revoke { id })
    );
    admin.type_text("   ");
    admin.press(Command::Submit);
    let refused = admin.state.note().and_then(|n| n.error.clone());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("a reason is required")),
        "{refused:?}"
    );
    admin.type_text("bob's laptop was stolen, INC-52");
    admin.press(Command::Submit);
    // The broker's answer closes the dialog; the stream may bring the change first.
    admin
        .until("the revocation", |s| {
            s.requests.get(&id).map(|r| r.state) == Some(RequestState::Revoked)
                && s.note().is_none()
        })
        .await;
    let notice = admin
        .state
        .notice
        .clone()
        .map(|n| n.text)
        .unwrap_or_default();
    assert!(notice.contains("revoked the access"), "{notice}");
    admin
        .until("the certificate revoked", |s| {
            certificates(s, id) == Some(vec![(serial, true)])
        })
        .await;

    // The broker recorded it, with the reason as typed.
    let (_, events) = broker
        .get("ponder", &format!("/v1/audit/events?request_id={id}"))
        .await;
    let revoke = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["action"] == "revoke")
        .cloned()
        .unwrap_or_default();
    assert_eq!(revoke["user"], "vetinari", "{events}");
    assert_eq!(
        revoke["reason"], "   bob's laptop was stolen, INC-52",
        "{revoke}"
    );
}
