//! What a notification says, before any medium shapes it. Pure: built from the
//! request, the event that raised it and the time.

use crate::model::{AuditEvent, Duration, Request, State, Time};

use super::Topic;

/// The content of one notification.
#[derive(Debug, Clone)]
pub struct Notice {
    pub topic: Topic,
    /// The same on every attempt: receivers deduplicate on it.
    pub key: String,
    pub request: Request,
    /// The event that raised it (none for a reminder).
    pub event: Option<AuditEvent>,
    /// Where the request can be read, when the broker knows its public address.
    pub link: Option<String>,
    pub now: Time,
}

impl Notice {
    /// Emergencies are urgent in every medium.
    pub fn urgent(&self) -> bool {
        self.request.emergency
    }

    /// One line saying what happened.
    pub fn headline(&self) -> String {
        let r = &self.request;
        let roles = r.roles.join(", ");
        let line = match self.topic {
            Topic::Created if r.emergency => format!("EMERGENCY: {} requests {roles}", r.user),
            Topic::Created => format!("{} requests {roles}", r.user),
            Topic::Outcome => format!("{}'s request for {roles}: {}", r.user, self.outcome_word()),
            Topic::ReviewDue => {
                format!(
                    "Post-incident review due: {}'s emergency access to {roles}",
                    r.user
                )
            }
        };
        single_line(&line)
    }

    /// The state the outcome reached, in words.
    pub fn outcome_word(&self) -> &'static str {
        match self.event_state() {
            State::Approved => "approved",
            State::Denied => "denied",
            State::Expired => "expired unreviewed",
            State::Withdrawn => "withdrawn",
            State::Revoked => "revoked",
            State::Returned => "returned",
            State::Elapsed => "ended",
            State::Pending => "pending",
        }
    }

    fn event_state(&self) -> State {
        self.event
            .as_ref()
            .and_then(|e| e.state)
            .unwrap_or(self.request.state)
    }

    /// Labelled facts, in the order every medium shows them.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let r = &self.request;
        let mut facts = vec![("Requester", r.user.clone()), ("Roles", r.roles.join(", "))];
        match self.topic {
            Topic::Created => {
                facts.push(("Review by", deadline(r.pending_expires_at, self.now)));
                if let Some(d) = r.max_duration {
                    facts.push(("Access wanted", d.to_string()));
                }
            }
            Topic::Outcome => {
                facts.push(("Outcome", self.outcome_word().to_string()));
                if let Some(event) = &self.event {
                    facts.push(("By", event.user.clone()));
                }
                if self.event_state() == State::Approved {
                    if !r.granted_roles.is_empty() && r.granted_roles != r.roles {
                        facts.push(("Granted", r.granted_roles.join(", ")));
                    }
                    if let Some(access) = &r.access {
                        facts.push(("Access until", deadline(access.ends_at, self.now)));
                    }
                }
            }
            Topic::ReviewDue => {
                if let Some(at) = r.resolved_at {
                    facts.push(("Approved", at.format("%Y-%m-%d %H:%M UTC").to_string()));
                }
            }
        }
        facts.push(("Request", r.id.to_string()));
        facts
            .into_iter()
            .map(|(k, v)| (k, single_line(&v)))
            .collect()
    }

    /// The requester's reason, made inert (line breaks kept).
    pub fn reason(&self) -> String {
        inert(&self.request.reason)
    }

    /// Why the outcome went as it did (the deciding review's or override's reason).
    pub fn outcome_reason(&self) -> Option<String> {
        match self.topic {
            Topic::Outcome => self.event.as_ref()?.reason.as_deref().map(inert),
            _ => None,
        }
    }

    /// The command that acts on this notice, when one is owed.
    pub fn command(&self) -> Option<String> {
        let id = self.request.id;
        match self.topic {
            Topic::Created => Some(format!(
                "countersign request review {id} --approve --reason \"…\"   (or --deny)"
            )),
            Topic::ReviewDue => Some(format!(
                "countersign request post-incident-review {id} --outcome justified --notes \"…\""
            )),
            Topic::Outcome => None,
        }
    }

    /// The webhook's event name.
    pub fn event_name(&self) -> String {
        match self.topic {
            Topic::Created => "request.created".into(),
            Topic::ReviewDue => "request.post_incident_review_due".into(),
            Topic::Outcome => format!("request.{}", self.event_state().as_str()),
        }
    }
}

/// "2026-12-01 14:00 UTC (in 3h20m)" or "(2m ago)".
fn deadline(at: Time, now: Time) -> String {
    let when = at.format("%Y-%m-%d %H:%M UTC");
    let delta = at - now;
    let minutes = |d: chrono::TimeDelta| {
        // Whole minutes read better than 3h19m59.734s.
        Duration::from_millis((d.num_minutes().max(0) as u64) * 60_000)
    };
    if delta >= chrono::TimeDelta::zero() {
        format!("{when} (in {})", minutes(delta))
    } else {
        format!("{when} ({} ago)", minutes(-delta))
    }
}

/// Characters that must not reach a reader as themselves: controls and the bidi
/// and zero-width ones that make text read other than it is.
fn hidden(c: char) -> bool {
    c.is_control() || crate::policy::text::is_invisible(c)
}

fn escaped(c: char) -> String {
    format!("\\u{{{:04X}}}", c as u32)
}

/// Text shown inert: hidden characters written out as `\u{…}`, line breaks kept.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if hidden(c) => out.push_str(&escaped(c)),
            c => out.push(c),
        }
    }
    out
}

/// Text for one line (a subject, a header): nothing hidden, no line breaks.
pub fn single_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '\n' || c == '\r' || c == '\t' {
            out.push(' ');
        } else if hidden(c) {
            out.push_str(&escaped(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `max` bytes, cut at a character boundary, with an ellipsis when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::EventType;

    pub(crate) fn request(reason: &str, emergency: bool) -> Request {
        let now = chrono::Utc::now();
        serde_json::from_value(serde_json::json!({
            "id": uuid::Uuid::now_v7(),
            "user": "alice",
            "roles": ["production-db"],
            "granted_roles": [],
            "state": "pending",
            "reason": reason,
            "emergency": emergency,
            "created_at": now,
            "pending_expires_at": now + chrono::TimeDelta::hours(2),
            "max_duration": null,
            "estimate": null,
            "access": null,
            "thresholds": [],
            "role_thresholds": {},
            "reviews": [],
            "post_incident_review": null,
        }))
        .expect("a request")
    }

    pub(crate) fn notice(topic: Topic, request: Request, state: State) -> Notice {
        let event = AuditEvent {
            seq: 7,
            id: uuid::Uuid::now_v7(),
            kind: EventType::Review,
            code: "T5002I".into(),
            time: request.created_at,
            user: "carrot".into(),
            request_id: Some(request.id),
            roles: request.roles.clone(),
            state: Some(state),
            reason: Some("ok <b>".into()),
            fields: Default::default(),
            hash: String::new(),
        };
        Notice {
            topic,
            key: format!("{}.{}.7", request.id, topic.as_str()),
            now: request.created_at,
            request,
            event: Some(event),
            link: None,
        }
    }

    #[test]
    fn hidden_characters_are_written_out() {
        assert_eq!(
            inert("a\u{202E}b\x1b[2Jc\nd"),
            "a\\u{202E}b\\u{001B}[2Jc\nd"
        );
        assert_eq!(single_line("x\r\nBcc: y"), "x  Bcc: y");
        assert_eq!(single_line("a\u{200B}"), "a\\u{200B}");
    }

    #[test]
    fn clip_cuts_at_a_boundary() {
        // At most 8 bytes, the ellipsis's three included.
        assert_eq!(clip("héllo wörld", 8), "héll…");
        assert_eq!(clip("ééééé", 7), "éé…");
        assert_eq!(clip("short", 10), "short");
    }

    #[test]
    fn headlines_and_facts() {
        let created = notice(Topic::Created, request("see #47", false), State::Pending);
        assert_eq!(created.headline(), "alice requests production-db");
        assert!(created.command().unwrap().contains("request review"));
        let facts = created.facts();
        assert_eq!(facts[0], ("Requester", "alice".to_string()));
        assert!(
            facts
                .iter()
                .any(|(k, v)| *k == "Review by" && v.contains("(in 2h)"))
        );

        let urgent = notice(
            Topic::Created,
            request("EMERGENCY: db down", true),
            State::Pending,
        );
        assert!(urgent.urgent());
        assert!(urgent.headline().starts_with("EMERGENCY: alice"));

        let denied = notice(Topic::Outcome, request("x", false), State::Denied);
        assert_eq!(
            denied.headline(),
            "alice's request for production-db: denied"
        );
        assert_eq!(denied.event_name(), "request.denied");
        assert_eq!(denied.outcome_reason().as_deref(), Some("ok <b>"));
        assert!(denied.command().is_none());
    }
}
