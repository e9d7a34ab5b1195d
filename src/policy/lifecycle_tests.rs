//! The lifecycle decisions, case by case.

use super::*;
use crate::policy::testkit::{load_one, strings, user};

const ROLES: &str = r#"
kind: role
version: v7
metadata: {name: dev}
spec:
  allow:
    request:
      roles: [prod, db]
      max_duration: 2h
  options:
    request_access: reason
    request_prompt: Name the ticket
---
kind: role
version: v7
metadata: {name: casual}
spec:
  allow:
    request:
      roles: [prod]
---
kind: role
version: v7
metadata: {name: reviewer}
spec:
  allow:
    review_requests:
      roles: [prod, db]
---
kind: role
version: v7
metadata: {name: admin}
spec:
  allow:
    rules:
      - {resources: [access_request], verbs: [update]}
---
kind: role
version: v7
metadata: {name: reader}
spec:
  allow:
    rules:
      - {resources: [access_request], verbs: [read]}
---
kind: role
version: v7
metadata: {name: lister}
spec:
  allow:
    rules:
      - {resources: [access_request], verbs: [list]}
---
kind: role
version: v7
metadata: {name: frozen}
spec:
  deny:
    rules:
      - {resources: [access_request], verbs: [create]}
---
kind: role
version: v7
metadata: {name: prod}
spec:
  options: {max_session_ttl: 4h}
---
kind: role
version: v7
metadata: {name: db}
"#;

const SETTINGS: CreateSettings = CreateSettings {
    default_pending_ttl: Duration::from_hours(24),
    max_pending_ttl: Duration::from_hours(48),
};

fn now() -> Time {
    crate::policy::testkit::blank_request("x", &[], "").created_at
}

fn body(roles: &[&str], reason: &str) -> CreateRequest {
    CreateRequest {
        roles: strings(roles),
        reason: reason.to_string(),
        max_duration: None,
        estimate: None,
        pending_ttl: None,
        suggested_reviewers: Vec::new(),
        annotations: BTreeMap::new(),
    }
}

fn new(set: &RoleSet, who: &User, body: CreateRequest) -> Result<Request, Refusal> {
    create(set, who, body, SETTINGS, Uuid::nil(), now())
}

#[test]
fn create_decides() {
    let set = load_one(ROLES);
    let dev = user("alice", &["dev"]);
    let casual = user("bob", &["casual"]);
    let zed = user("zed", &["reviewer"]);
    let ice = user("ice", &["casual", "frozen"]);
    let long = "a".repeat(MAX_REASON_BYTES + 1);
    let limit = "a".repeat(MAX_REASON_BYTES);
    use ErrorCode::*;
    // (who, body, Ok(roles) or Err(code, part of the message))
    type Expected = Result<Vec<&'static str>, (ErrorCode, &'static str)>;
    let cases: Vec<(&User, CreateRequest, Expected)> = vec![
        (&dev, body(&["prod"], "#47"), Ok(vec!["prod"])),
        (
            &dev,
            body(&["prod", "prod", "db"], "#47"),
            Ok(vec!["prod", "db"]),
        ),
        (&dev, body(&["*"], "#47"), Ok(vec!["db", "prod"])),
        (
            &dev,
            body(&[], "#47"),
            Err((InvalidRequest, "at least one role")),
        ),
        (
            &dev,
            body(&["nope"], "#47"),
            Err((RoleNotRequestable, "does not exist")),
        ),
        (
            &dev,
            body(&["dev"], "#47"),
            Err((RoleNotRequestable, "already hold")),
        ),
        (
            &dev,
            body(&["prod"], ""),
            Err((ReasonRequired, "Name the ticket")),
        ),
        (
            &dev,
            body(&["prod"], " \t\n"),
            Err((ReasonRequired, "require a reason")),
        ),
        (
            &dev,
            body(&["prod"], "\u{200B}"),
            Err((ReasonRequired, "require a reason")),
        ),
        (
            &dev,
            body(&["prod"], "\u{FEFF}\u{2060}\0"),
            Err((ReasonRequired, "require a reason")),
        ),
        (
            &dev,
            body(&["prod"], &long),
            Err((InvalidRequest, "at most 4096")),
        ),
        (&dev, body(&["prod"], &limit), Ok(vec!["prod"])),
        (&casual, body(&["prod"], ""), Ok(vec!["prod"])),
        (
            &casual,
            body(&["db"], ""),
            Err((RoleNotRequestable, "may not request")),
        ),
        (
            &zed,
            body(&["*"], "x"),
            Err((RoleNotRequestable, "any role")),
        ),
        (
            &ice,
            body(&["prod"], "x"),
            Err((Forbidden, "deny rule access_request: create")),
        ),
        (
            &dev,
            body(&["\u{200B}"], "#47"),
            Err((InvalidRequest, "not a valid name")),
        ),
    ];
    for (who, body, expected) in cases {
        let asked = body.roles.clone();
        let got = new(&set, who, body);
        match (got, expected) {
            (Ok(request), Ok(roles)) => {
                assert_eq!(request.roles, strings(&roles), "{asked:?}");
                assert_eq!(request.granted_roles, strings(&roles), "{asked:?}");
                assert_eq!(request.state, State::Pending);
            }
            (Err(refusal), Err((code, message))) => {
                assert_eq!(refusal.code, code, "{asked:?}: {}", refusal.message);
                assert!(
                    refusal.message.contains(message),
                    "{asked:?}: {}",
                    refusal.message
                );
            }
            (got, expected) => panic!("{asked:?}: got {got:?}, expected {expected:?}"),
        }
    }
}

#[test]
fn create_shapes_the_request() {
    let set = load_one(ROLES);
    let dev = user("alice", &["dev"]);
    let mut asked = body(&["prod"], "EMERGENCY: db down");
    asked.max_duration = Some(Duration::from_hours(8));
    let request = new(&set, &dev, asked).unwrap();
    assert!(request.emergency);
    assert_eq!(request.max_duration, Some(Duration::from_hours(2)));
    assert_eq!(
        request.pending_expires_at,
        now() + chrono::TimeDelta::hours(24)
    );
    assert_eq!(request.request_prompt.as_deref(), Some("Name the ticket"));
    let mut asked = body(&["prod"], "x");
    asked.pending_ttl = Some(Duration::from_hours(49));
    assert_eq!(
        new(&set, &dev, asked).unwrap_err().code,
        ErrorCode::InvalidRequest
    );
    let record = created(&new(&set, &dev, body(&["prod"], "x")).unwrap());
    assert_eq!(record.kind, EventType::Create);
    assert_eq!(record.fields["max_duration"], "2h");
}

fn pending(set: &RoleSet) -> Request {
    new(set, &user("alice", &["dev"]), body(&["prod"], "#47")).unwrap()
}

fn approve(reason: &str) -> SubmitReview {
    SubmitReview {
        decision: Decision::Approve,
        reason: reason.to_string(),
        roles: Vec::new(),
    }
}

/// (code, whether recorded) of a refused step, or None for a commit.
type Outcome = Option<(ErrorCode, bool)>;

fn outcome(step: &Step) -> Outcome {
    match step {
        Step::Commit(_) => None,
        Step::Refuse { refusal, record } => Some((refusal.code, record.is_some())),
    }
}

#[test]
fn review_decides_and_records_refusals() {
    let set = load_one(ROLES);
    let carrot = user("carrot", &["reviewer"]);
    let mut reviewed = pending(&set);
    assert!(matches!(
        review(
            &set,
            &user("adora", &["reviewer"]),
            &approve("ok"),
            now(),
            &mut reviewed
        ),
        Step::Commit(_)
    ));
    // A review that matched no threshold: still pending, but adora has had her say.
    let mut twice = pending(&set);
    twice.reviews.push(Review {
        author: "adora".into(),
        decision: Decision::Approve,
        reason: "ok".into(),
        roles: Vec::new(),
        created_at: now(),
        threshold_indexes: Vec::new(),
    });
    let mut late = pending(&set);
    late.pending_expires_at = now();
    let mut expired = pending(&set);
    expired.state = State::Expired;
    use ErrorCode::*;
    let cases: Vec<(&str, User, SubmitReview, Request, Outcome)> = vec![
        (
            "self",
            user("alice", &["reviewer"]),
            approve("ok"),
            pending(&set),
            Some((SelfReview, true)),
        ),
        (
            "not permitted",
            user("bob", &["dev"]),
            approve("ok"),
            pending(&set),
            Some((Forbidden, true)),
        ),
        (
            "not pending",
            carrot.clone(),
            approve("ok"),
            expired,
            Some((NotPending, true)),
        ),
        (
            "deadline",
            carrot.clone(),
            approve("ok"),
            late,
            Some((NotPending, true)),
        ),
        (
            "twice",
            user("adora", &["reviewer"]),
            approve("ok"),
            twice,
            Some((AlreadyReviewed, true)),
        ),
        (
            "blank",
            carrot.clone(),
            approve("\u{200B} "),
            pending(&set),
            Some((ReasonRequired, false)),
        ),
        (
            "too long",
            carrot.clone(),
            approve(&"a".repeat(5000)),
            pending(&set),
            Some((InvalidRequest, false)),
        ),
        (
            "stranger subset",
            carrot.clone(),
            SubmitReview {
                roles: strings(&["db"]),
                ..approve("ok")
            },
            pending(&set),
            Some((InvalidRequest, false)),
        ),
        (
            "deny with subset",
            carrot.clone(),
            SubmitReview {
                decision: Decision::Deny,
                roles: strings(&["prod"]),
                reason: "no".into(),
            },
            pending(&set),
            Some((InvalidRequest, false)),
        ),
        (
            "approve",
            carrot.clone(),
            approve("ok"),
            pending(&set),
            None,
        ),
    ];
    for (name, who, body, mut request, expected) in cases {
        let before = request.clone();
        let step = review(&set, &who, &body, now(), &mut request);
        assert_eq!(outcome(&step), expected, "{name}");
        if expected.is_some() {
            assert_eq!(request, before, "{name}: a refusal changes nothing");
        }
    }
    // The approval settled the request and opened the window from now, capped at
    // the role's max_session_ttl and the request's max_duration.
    let access = reviewed.access.as_ref().unwrap();
    assert_eq!(reviewed.state, State::Approved);
    assert_eq!(access.starts_at, now());
    assert_eq!(access.ends_at, now() + chrono::TimeDelta::hours(2));
    // A refused attempt keeps a bounded excerpt of its reason.
    let mut request = pending(&set);
    let step = review(
        &set,
        &user("alice", &["reviewer"]),
        &approve(&"é".repeat(3000)),
        now(),
        &mut request,
    );
    let Step::Refuse {
        record: Some(record),
        ..
    } = step
    else {
        panic!("self-review must be recorded");
    };
    assert_eq!(record.kind, EventType::ReviewRefused);
    assert!(record.reason.unwrap().len() <= MAX_REASON_BYTES);
}

#[test]
fn override_decides_and_records_a_self_override() {
    let set = load_one(ROLES);
    let admin = user("vetinari", &["admin"]);
    let resolve_as = |state: State, reason: &str| Resolve {
        state,
        reason: reason.to_string(),
        roles: Vec::new(),
    };
    let mut own = new(
        &set,
        &user("vetinari", &["admin", "casual"]),
        body(&["prod"], ""),
    )
    .unwrap();
    use ErrorCode::*;
    let cases: Vec<(&str, User, Resolve, Request, Outcome)> = vec![
        (
            "no rule",
            user("carrot", &["reviewer"]),
            resolve_as(State::Approved, "ok"),
            pending(&set),
            Some((Forbidden, false)),
        ),
        (
            "own request",
            user("vetinari", &["admin", "casual"]),
            resolve_as(State::Approved, "ok"),
            own.clone(),
            Some((SelfReview, true)),
        ),
        (
            "bad state",
            admin.clone(),
            resolve_as(State::Expired, "ok"),
            pending(&set),
            Some((InvalidRequest, false)),
        ),
        (
            "blank",
            admin.clone(),
            resolve_as(State::Denied, "\0"),
            pending(&set),
            Some((ReasonRequired, false)),
        ),
        (
            "deny",
            admin.clone(),
            resolve_as(State::Denied, "no"),
            pending(&set),
            None,
        ),
        (
            "approve",
            admin.clone(),
            resolve_as(State::Approved, "ok"),
            pending(&set),
            None,
        ),
    ];
    for (name, who, body, mut request, expected) in cases {
        let step = resolve(&set, &who, &body, now(), &mut request);
        assert_eq!(outcome(&step), expected, "{name}");
        if let Step::Commit(record) = step {
            assert_eq!(record.fields["action"], "override", "{name}");
            assert_eq!(request.resolved_by.as_deref(), Some("vetinari"));
            assert_eq!(request.state, body.state);
        }
    }
    let step = resolve(
        &set,
        &user("vetinari", &["admin", "casual"]),
        &resolve_as(State::Approved, "mine"),
        now(),
        &mut own,
    );
    let Step::Refuse {
        record: Some(record),
        ..
    } = step
    else {
        panic!("a self-override must be recorded");
    };
    assert_eq!(
        (record.kind, record.fields["action"].as_str()),
        (EventType::ReviewRefused, Some("override"))
    );
    assert_eq!(own.state, State::Pending);
}

#[test]
fn requester_steps_and_the_sweeper() {
    let set = load_one(ROLES);
    let alice = user("alice", &["dev"]);
    let bob = user("bob", &["dev"]);
    let mut request = pending(&set);
    assert_eq!(
        outcome(&withdraw(&bob, now(), &mut request)),
        Some((ErrorCode::Forbidden, false))
    );
    assert_eq!(
        outcome(&give_back(&alice, now(), &mut request)),
        Some((ErrorCode::NotPending, false))
    );
    assert_eq!(outcome(&withdraw(&alice, now(), &mut request)), None);
    assert_eq!(request.state, State::Withdrawn);
    assert_eq!(
        outcome(&withdraw(&alice, now(), &mut request)),
        Some((ErrorCode::NotPending, false))
    );

    let mut request = pending(&set);
    assert_eq!(
        outcome(&sweep(now(), &mut request)),
        Some((ErrorCode::NotPending, false))
    );
    let due = request.pending_expires_at;
    assert_eq!(outcome(&sweep(due, &mut request)), None);
    assert_eq!(request.state, State::Expired);

    let mut request = pending(&set);
    review(
        &set,
        &user("carrot", &["reviewer"]),
        &approve("ok"),
        now(),
        &mut request,
    );
    let ends = request.access.as_ref().unwrap().ends_at;
    assert_eq!(
        outcome(&give_back(&bob, now(), &mut request)),
        Some((ErrorCode::Forbidden, false))
    );
    let mut elapsed = request.clone();
    assert_eq!(
        outcome(&give_back(&alice, ends, &mut request)),
        Some((ErrorCode::NotPending, false))
    );
    assert_eq!(outcome(&give_back(&alice, now(), &mut request)), None);
    assert_eq!(request.state, State::Returned);
    assert_eq!(outcome(&sweep(ends, &mut elapsed)), None);
    assert_eq!(elapsed.state, State::Elapsed);
}

#[test]
fn revoke_needs_the_rule_a_reason_and_open_access() {
    let set = load_one(ROLES);
    let admin = user("vetinari", &["admin"]);
    let mut request = pending(&set);
    assert_eq!(
        outcome(&revoke(&set, &admin, "left the team", now(), &mut request)),
        Some((ErrorCode::NotApproved, false)),
        "a pending request has no access to revoke"
    );
    review(
        &set,
        &user("carrot", &["reviewer"]),
        &approve("ok"),
        now(),
        &mut request,
    );
    let ends = request.access.as_ref().unwrap().ends_at;
    let cases = [
        (
            user("carrot", &["reviewer"]),
            "gone",
            Some((ErrorCode::Forbidden, false)),
        ),
        (
            user("alice", &["dev"]),
            "gone",
            Some((ErrorCode::Forbidden, false)),
        ),
        (
            admin.clone(),
            " \t\u{200B} ",
            Some((ErrorCode::ReasonRequired, false)),
        ),
    ];
    for (who, reason, want) in cases {
        assert_eq!(
            outcome(&revoke(&set, &who, reason, now(), &mut request)),
            want,
            "{}",
            who.name
        );
        assert_eq!(request.state, State::Approved);
    }
    let mut ended = request.clone();
    assert_eq!(
        outcome(&revoke(&set, &admin, "late", ends, &mut ended)),
        Some((ErrorCode::NotApproved, false)),
        "a window that has ended is not revoked"
    );
    let Step::Commit(record) = revoke(&set, &admin, "left the team", now(), &mut request) else {
        panic!("revoked");
    };
    assert_eq!(request.state, State::Revoked);
    assert_eq!(
        request.access.as_ref().and_then(|a| a.returned_at),
        Some(now())
    );
    assert_eq!(record.fields["action"], "revoke");
    assert_eq!(record.reason.as_deref(), Some("left the team"));
    assert_eq!(
        outcome(&revoke(&set, &admin, "again", now(), &mut request)),
        Some((ErrorCode::NotApproved, false))
    );
}

#[test]
fn who_sees_what() {
    let set = load_one(ROLES);
    let request = pending(&set);
    // (who, may list and stream it, may read it by id)
    let cases = [
        (user("alice", &["dev"]), true, true),
        (user("carrot", &["reviewer"]), true, true),
        (user("bob", &["dev"]), false, false),
        (user("ridcully", &["reader"]), false, true),
        (user("ponder", &["lister"]), true, true),
        (user("vetinari", &["admin"]), false, true),
    ];
    for (who, list, read) in cases {
        assert_eq!(may_list(&set, &who, &request), list, "{}", who.name);
        assert_eq!(may_read(&set, &who, &request), read, "{}", who.name);
    }
}
