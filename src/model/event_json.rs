//! Reading an [`AuditEvent`] from JSON. The event's type-specific extras sit beside
//! its fixed fields; serde's `flatten` would buffer every key and value of every
//! event to find them. This reads the fixed fields straight into place and keeps
//! only the extras as JSON values, which matters when a weekly review reads
//! hundreds of thousands of events.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use uuid::Uuid;

use super::event::{AuditEvent, EventType};
use super::{State, Time};

/// A key of an event object: one of the fixed fields, or an extra.
enum Key {
    Seq,
    Id,
    Type,
    Code,
    Time,
    User,
    RequestId,
    Roles,
    State,
    Reason,
    Hash,
    Extra(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "seq" => Key::Seq,
                    "id" => Key::Id,
                    "type" => Key::Type,
                    "code" => Key::Code,
                    "time" => Key::Time,
                    "user" => Key::User,
                    "request_id" => Key::RequestId,
                    "roles" => Key::Roles,
                    "state" => Key::State,
                    "reason" => Key::Reason,
                    "hash" => Key::Hash,
                    other => Key::Extra(other.to_string()),
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[derive(Deserialize)]
struct WrappedTime(#[serde(deserialize_with = "super::time::deserialize")] Time);

/// Sets a fixed field once; a second occurrence is an error, as it is for structs.
fn once<'de, T: Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    name: &'static str,
    map: &mut A,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = AuditEvent;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an audit event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AuditEvent, A::Error> {
        let mut seq: Option<u64> = None;
        let mut id: Option<Uuid> = None;
        let mut kind: Option<EventType> = None;
        let mut code: Option<String> = None;
        let mut time: Option<WrappedTime> = None;
        let mut user: Option<String> = None;
        let mut request_id: Option<Option<Uuid>> = None;
        let mut roles: Option<Vec<String>> = None;
        let mut state: Option<Option<State>> = None;
        let mut reason: Option<Option<String>> = None;
        let mut hash: Option<String> = None;
        let mut fields = BTreeMap::new();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Seq => once(&mut seq, "seq", &mut map)?,
                Key::Id => once(&mut id, "id", &mut map)?,
                Key::Type => once(&mut kind, "type", &mut map)?,
                Key::Code => once(&mut code, "code", &mut map)?,
                Key::Time => once(&mut time, "time", &mut map)?,
                Key::User => once(&mut user, "user", &mut map)?,
                Key::RequestId => once(&mut request_id, "request_id", &mut map)?,
                Key::Roles => once(&mut roles, "roles", &mut map)?,
                Key::State => once(&mut state, "state", &mut map)?,
                Key::Reason => once(&mut reason, "reason", &mut map)?,
                Key::Hash => once(&mut hash, "hash", &mut map)?,
                Key::Extra(name) => {
                    fields.insert(name, map.next_value::<serde_json::Value>()?);
                }
            }
        }
        let required = |name: &'static str| de::Error::missing_field(name);
        Ok(AuditEvent {
            seq: seq.ok_or_else(|| required("seq"))?,
            id: id.ok_or_else(|| required("id"))?,
            kind: kind.ok_or_else(|| required("type"))?,
            code: code.ok_or_else(|| required("code"))?,
            time: time.ok_or_else(|| required("time"))?.0,
            user: user.ok_or_else(|| required("user"))?,
            request_id: request_id.flatten(),
            roles: roles.unwrap_or_default(),
            state: state.flatten(),
            reason: reason.flatten(),
            fields,
            hash: hash.unwrap_or_default(),
        })
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<AuditEvent, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

impl<'de> Deserialize<'de> for AuditEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<AuditEvent, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::GENESIS_HASH;

    /// What serde's own `flatten` reading gives, for comparison.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Flattened {
        seq: u64,
        id: Uuid,
        #[serde(rename = "type")]
        kind: EventType,
        code: String,
        time: Time,
        user: String,
        request_id: Option<Uuid>,
        #[serde(default)]
        roles: Vec<String>,
        state: Option<State>,
        reason: Option<String>,
        #[serde(flatten)]
        fields: BTreeMap<String, serde_json::Value>,
        #[serde(default)]
        hash: String,
    }

    fn both(json: &str) -> (Result<AuditEvent, String>, Result<Flattened, String>) {
        (
            serde_json::from_str::<AuditEvent>(json).map_err(|e| e.to_string()),
            serde_json::from_str::<Flattened>(json).map_err(|e| e.to_string()),
        )
    }

    #[test]
    fn reads_what_flatten_reads() {
        let cases = [
            r#"{"seq":137,"id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"access_request.update","code":"T5001I","time":"2026-11-14T14:55:50.227017688Z","user":"colon","request_id":"01a1fe83-58ff-7635-a023-924292b4b8cd","roles":["production-access"],"state":"returned","reason":null,"action":"return","requester":"colon","hash":"c4b3"}"#,
            r#"{"seq":1,"id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"access_request.review_refused","code":"T5002W","time":"2026-11-14T14:55:50Z","user":"adora-belle","request_id":null,"state":null,"reason":"late","decision":"approve","error":"not_pending","nested":{"a":[1,2,{"b":null}]}}"#,
            // Keys in any order, optional ones missing.
            r#"{"user":"x","time":"2026-11-14T14:55:50+01:00","code":"T5000I","type":"access_request.create","id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","seq":2}"#,
        ];
        for json in cases {
            let (ours, theirs) = both(json);
            let (ours, theirs) = (ours.unwrap(), theirs.unwrap());
            assert_eq!(
                (
                    ours.seq, ours.id, ours.kind, &ours.code, ours.time, &ours.user
                ),
                (
                    theirs.seq,
                    theirs.id,
                    theirs.kind,
                    &theirs.code,
                    theirs.time,
                    &theirs.user
                ),
                "{json}"
            );
            assert_eq!(
                (&ours.request_id, &ours.roles, &ours.state, &ours.reason),
                (
                    &theirs.request_id,
                    &theirs.roles,
                    &theirs.state,
                    &theirs.reason
                ),
                "{json}"
            );
            assert_eq!(ours.fields, theirs.fields, "{json}");
            assert_eq!(ours.hash, theirs.hash, "{json}");
        }
    }

    #[test]
    fn refuses_what_flatten_refuses() {
        let cases = [
            r#"{"seq":1}"#,
            r#"{"seq":"one","id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"access_request.create","code":"c","time":"2026-11-14T14:55:50Z","user":"x"}"#,
            r#"{"seq":1,"id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"no.such.type","code":"c","time":"2026-11-14T14:55:50Z","user":"x"}"#,
            r#"{"seq":1,"id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"access_request.create","code":"c","time":"soon","user":"x"}"#,
            r#"[1,2,3]"#,
            r#""an event""#,
            r#"{"seq":1,"seq":2,"id":"01a1fe83-590c-759c-bb1b-f2e70891afd4","type":"access_request.create","code":"c","time":"2026-11-14T14:55:50Z","user":"x"}"#,
        ];
        for json in cases {
            let (ours, _) = both(json);
            assert!(ours.is_err(), "{json} was read as {ours:?}");
        }
    }

    #[test]
    fn written_events_read_back_and_keep_their_hash() {
        let mut event = AuditEvent {
            seq: 7,
            id: Uuid::now_v7(),
            kind: EventType::Update,
            code: EventType::Update.code().into(),
            time: chrono::DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap(),
            user: "carrot".into(),
            request_id: Some(Uuid::now_v7()),
            roles: vec!["dba".into()],
            state: Some(State::Approved),
            reason: Some("INC-9 \"quoted\" ✓".into()),
            fields: BTreeMap::from([("action".into(), "override".into()), ("n".into(), 3.into())]),
            hash: String::new(),
        };
        event.hash = event.chain_hash(GENESIS_HASH);
        let json = serde_json::to_string(&event).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, event);
        assert_eq!(back.chain_hash(GENESIS_HASH), event.hash);
    }
}
