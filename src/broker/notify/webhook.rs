//! Generic webhooks for PagerDuty, Opsgenie or Jira bridges: a JSON body signed
//! with HMAC-SHA256, `X-Countersign-Signature: sha256=<hex>`.

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use super::message::Notice;
use super::{Attempt, post_json};

pub const SIGNATURE_HEADER: &str = "X-Countersign-Signature";
pub const DELIVERY_HEADER: &str = "X-Countersign-Delivery";
pub const EVENT_HEADER: &str = "X-Countersign-Event";

/// The body: `{id, type, urgent, headline, request, event, link}`.
pub fn render(notice: &Notice) -> Value {
    json!({
        "id": notice.key,
        "type": notice.event_name(),
        "urgent": notice.urgent(),
        "headline": notice.headline(),
        "request": notice.request,
        "event": notice.event,
        "link": notice.link,
    })
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

pub async fn deliver(http: &reqwest::Client, url: &str, secret: &[u8], notice: &Notice) -> Attempt {
    let bytes = match serde_json::to_vec(&render(notice)) {
        Ok(bytes) => bytes,
        Err(e) => return Attempt::Permanent(format!("cannot encode the body: {e}")),
    };
    let signed = signature(secret, &bytes);
    let event = notice.event_name();
    post_json(
        http,
        url,
        bytes,
        &[
            (SIGNATURE_HEADER, signed.as_str()),
            (DELIVERY_HEADER, notice.key.as_str()),
            (EVENT_HEADER, event.as_str()),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::super::Topic;
    use super::super::message::tests::{notice, request};
    use super::*;
    use crate::model::State;

    #[test]
    fn signature_matches_a_known_hmac() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn body_names_the_event_and_carries_the_request() {
        let n = notice(Topic::Outcome, request("x", true), State::Approved);
        let body = render(&n);
        assert_eq!(body["type"], "request.approved");
        assert_eq!(body["urgent"], true);
        assert_eq!(body["request"]["user"], "alice");
        assert_eq!(body["id"], n.key);
    }
}
