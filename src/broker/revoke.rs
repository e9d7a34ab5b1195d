//! Revoke (DESIGN §3): an administrator ends approved access early, with a reason.
//! The request's certificates go into the KRL because its state is `revoked`.

use crate::model::api::ErrorCode;
use crate::model::certificate::Revoke;
use crate::model::{EventType, Request, State, Time, User};
use crate::policy::{Resource, RoleSet, Verb};

use super::lifecycle::check_text;
use super::store::{EventDraft, Refusal, Verdict};

/// `approved` → `revoked` by a user with rule `access_request: update`; audited as
/// an `access_request.update` with action `revoke`.
pub fn revoke(
    roles: &RoleSet,
    admin: &User,
    body: &Revoke,
    now: Time,
    request: &mut Request,
) -> Verdict {
    if !roles.allows(admin, Resource::AccessRequest, Verb::Update) {
        return Refusal::new(
            ErrorCode::Forbidden,
            "revoking access needs rule access_request: update",
        )
        .into();
    }
    let reason = match check_text("reason", &body.reason) {
        Ok(Some(reason)) => reason,
        Ok(None) => {
            return Refusal::new(
                ErrorCode::ReasonRequired,
                "a reason is required to revoke access and cannot be blank",
            )
            .into();
        }
        Err(refusal) => return refusal.into(),
    };
    match (request.state, request.access.as_mut()) {
        (State::Approved, Some(access)) if access.ends_at > now => {
            access.returned_at = Some(now);
            request.state = State::Revoked;
            Verdict::Commit(
                EventDraft::new(EventType::Update, &admin.name, now)
                    .reason(reason)
                    .field("action", "revoke"),
            )
        }
        _ => Refusal::new(
            ErrorCode::NotApproved,
            format!(
                "only approved access can be revoked; this request is {}",
                request.state
            ),
        )
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Access;

    const ROLES: &str = "\
kind: role
version: v7
metadata: {name: admin}
spec:
  allow:
    rules: [{resources: [access_request], verbs: [list, read, update]}]
---
kind: role
version: v7
metadata: {name: dev}
spec: {}
";

    fn user(name: &str, role: &str) -> User {
        User {
            name: name.into(),
            roles: vec![role.into()],
            traits: Default::default(),
        }
    }

    fn approved(now: Time) -> Request {
        let body = r#"{"id":"01890000-0000-7000-8000-000000000001","user":"alice","roles":["dev"],
            "granted_roles":["dev"],"state":"approved","reason":"x","emergency":false,
            "created_at":"2026-01-01T00:00:00Z","pending_expires_at":"2026-01-02T00:00:00Z",
            "max_duration":null,"estimate":null,"access":null,"thresholds":[],
            "role_thresholds":{},"reviews":[],"resolve_reason":null,
            "suggested_reviewers":[],"annotations":{}}"#;
        let mut request: Request = serde_json::from_str(body).expect("request");
        request.access = Some(Access {
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            returned_at: None,
        });
        request
    }

    #[test]
    fn revoke_rules() {
        let roles = RoleSet::from_yaml(ROLES, "roles.yaml").unwrap();
        let now = chrono::Utc::now();
        let admin = user("vetinari", "admin");
        let dev = user("bob", "dev");
        let reason = Revoke {
            reason: "left the team".into(),
        };
        let blank = Revoke {
            reason: " \t ".into(),
        };
        let code = |verdict: Verdict| match verdict {
            Verdict::Commit(draft) => Ok(draft),
            Verdict::Refuse { refusal, .. } => Err(refusal.code),
        };

        let mut r = approved(now);
        assert_eq!(
            code(revoke(&roles, &dev, &reason, now, &mut r)).err(),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(revoke(&roles, &admin, &blank, now, &mut r)).err(),
            Some(ErrorCode::ReasonRequired)
        );
        assert_eq!(r.state, State::Approved);

        let draft = code(revoke(&roles, &admin, &reason, now, &mut r)).expect("revoked");
        assert_eq!(r.state, State::Revoked);
        assert_eq!(r.access.as_ref().and_then(|a| a.returned_at), Some(now));
        assert_eq!(draft.fields["action"], "revoke");
        assert_eq!(draft.reason.as_deref(), Some("left the team"));

        assert_eq!(
            code(revoke(&roles, &admin, &reason, now, &mut r)).err(),
            Some(ErrorCode::NotApproved)
        );
        let mut ended = approved(now - chrono::Duration::hours(2));
        assert_eq!(
            code(revoke(&roles, &admin, &reason, now, &mut ended)).err(),
            Some(ErrorCode::NotApproved)
        );
    }
}
