//! `GET /v1/openapi.json`: the schema of the API, written out by hand so it says
//! exactly what the handlers accept.

use axum::Json;
use serde_json::{Value, json};

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn body(name: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema(name) } } })
}

fn ok(name: &str) -> Value {
    json!({ "description": "OK", "content": { "application/json": { "schema": schema(name) } } })
}

fn errors(codes: &[u16]) -> serde_json::Map<String, Value> {
    codes
        .iter()
        .map(|code| {
            (
                code.to_string(),
                json!({ "description": "error", "content": { "application/json": { "schema": schema("Error") } } }),
            )
        })
        .collect()
}

fn responses(success: (&str, Value), codes: &[u16]) -> Value {
    let mut map = errors(codes);
    map.insert(success.0.to_string(), success.1);
    Value::Object(map)
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

fn query(name: &str, kind: &str, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": { "type": kind }, "description": description })
}

fn action(summary: &str, body_schema: Option<&str>) -> Value {
    let mut op = json!({
        "summary": summary,
        "parameters": [id_param()],
        "responses": responses(("200", ok("Request")), &[400, 401, 403, 404, 409, 413]),
    });
    if let Some(name) = body_schema {
        op["requestBody"] = body(name);
    }
    json!({ "post": op })
}

fn string() -> Value {
    json!({ "type": "string" })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

fn nullable(kind: &str, format: Option<&str>) -> Value {
    let mut v = json!({ "type": [kind, "null"] });
    if let Some(f) = format {
        v["format"] = json!(f);
    }
    v
}

fn duration() -> Value {
    json!({ "type": "string", "description": "Go-style duration: 90s, 30m, 4h, 1h30m", "example": "4h" })
}

fn time() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn annotations() -> Value {
    json!({ "type": "object", "additionalProperties": strings() })
}

pub fn spec() -> Value {
    let states = json!([
        "pending",
        "approved",
        "denied",
        "expired",
        "withdrawn",
        "returned",
        "elapsed",
        "revoked"
    ]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "countersign broker API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Just-in-time access requests: create with a reason, countersign, return. Every call but /healthz, /metrics, /v1/ssh/ca, /v1/ssh/krl and this document needs Authorization: Bearer <token>."
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": {
                "Error": {
                    "type": "object", "required": ["error"],
                    "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                        "code": { "type": "string", "enum": ["invalid_request", "reason_required", "unauthenticated", "forbidden", "self_review", "role_not_requestable", "not_found", "already_reviewed", "not_pending", "not_approved", "no_logins", "invalid_public_key", "too_large", "internal", "unavailable", "method_not_allowed", "uri_too_long", "headers_too_large", "too_many_streams", "rate_limited"] },
                        "message": string()
                    } } }
                },
                "State": { "type": "string", "enum": states },
                "Threshold": { "type": "object", "required": ["approve", "deny"], "properties": {
                    "name": string(), "filter": string(),
                    "approve": { "type": "integer", "minimum": 0 }, "deny": { "type": "integer", "minimum": 0 } } },
                "Review": { "type": "object", "required": ["author", "decision", "reason", "created_at"], "properties": {
                    "author": string(), "decision": { "type": "string", "enum": ["approve", "deny"] },
                    "reason": string(), "roles": strings(), "created_at": time(),
                    "threshold_indexes": { "type": "array", "items": { "type": "integer" } } } },
                "Access": { "type": ["object", "null"], "properties": {
                    "starts_at": time(), "ends_at": time(), "returned_at": nullable("string", Some("date-time")) } },
                "PostIncidentReview": { "type": ["object", "null"], "properties": {
                    "author": string(), "outcome": { "type": "string", "enum": ["justified", "unjustified"] },
                    "notes": string(), "created_at": time() } },
                "Request": { "type": "object", "required": ["id", "user", "roles", "granted_roles", "state", "reason", "emergency", "created_at", "pending_expires_at", "thresholds", "role_thresholds", "reviews"], "properties": {
                    "id": { "type": "string", "format": "uuid" }, "user": string(), "roles": strings(), "granted_roles": strings(),
                    "state": schema("State"), "reason": string(), "emergency": { "type": "boolean" },
                    "created_at": time(), "pending_expires_at": time(),
                    "max_duration": nullable("string", None), "estimate": nullable("string", None),
                    "access": schema("Access"),
                    "thresholds": { "type": "array", "items": schema("Threshold") },
                    "role_thresholds": { "type": "object", "additionalProperties": { "type": "array", "items": { "type": "array", "items": { "type": "integer" } } } },
                    "reviews": { "type": "array", "items": schema("Review") },
                    "resolved_at": nullable("string", Some("date-time")), "resolve_reason": nullable("string", None),
                    "resolved_by": nullable("string", None), "suggested_reviewers": strings(), "annotations": annotations(),
                    "post_incident_review": schema("PostIncidentReview") } },
                "CreateRequest": { "type": "object", "required": ["roles"], "additionalProperties": false, "properties": {
                    "roles": { "type": "array", "items": string(), "minItems": 1, "maxItems": 32 },
                    "reason": { "type": "string", "maxLength": 4096 },
                    "max_duration": duration(), "estimate": duration(), "pending_ttl": duration(),
                    "suggested_reviewers": strings(), "annotations": annotations() } },
                "SubmitReview": { "type": "object", "required": ["decision", "reason"], "additionalProperties": false, "properties": {
                    "decision": { "type": "string", "enum": ["approve", "deny"] },
                    "reason": { "type": "string", "minLength": 1, "maxLength": 4096 }, "roles": strings() } },
                "Resolve": { "type": "object", "required": ["state", "reason"], "additionalProperties": false, "properties": {
                    "state": { "type": "string", "enum": ["approved", "denied"] },
                    "reason": { "type": "string", "minLength": 1, "maxLength": 4096 }, "roles": strings() } },
                "SubmitPostIncidentReview": { "type": "object", "required": ["outcome", "notes"], "additionalProperties": false, "properties": {
                    "outcome": { "type": "string", "enum": ["justified", "unjustified"] },
                    "notes": { "type": "string", "minLength": 1, "maxLength": 4096 } } },
                "Revoke": { "type": "object", "required": ["reason"], "additionalProperties": false, "properties": {
                    "reason": { "type": "string", "minLength": 1, "maxLength": 4096 } } },
                "IssueCertificate": { "type": "object", "required": ["public_key"], "additionalProperties": false, "properties": {
                    "public_key": { "type": "string", "description": "one line of a .pub file: Ed25519, ECDSA, or RSA of 2048 bits or more", "example": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA… you@laptop" } } },
                "Certificate": { "type": "object", "required": ["certificate", "serial", "key_id", "principals", "valid_after", "valid_before"], "properties": {
                    "certificate": { "type": "string", "description": "OpenSSH user certificate, for <key>-cert.pub" },
                    "serial": { "type": "integer", "minimum": 1 }, "key_id": { "type": "string", "example": "countersign/alice/0190…" },
                    "principals": strings(), "valid_after": time(), "valid_before": time(),
                    "request_id": { "type": "string", "format": "uuid" }, "fingerprint": { "type": "string", "example": "SHA256:…" },
                    "issued_at": time() } },
                "CertificateSummary": { "type": "object", "properties": {
                    "serial": { "type": "integer" }, "key_id": string(), "principals": strings(),
                    "valid_after": time(), "valid_before": time(), "fingerprint": string(), "issued_at": time(),
                    "revoked": { "type": "boolean", "description": "listed in the KRL: the request was returned or revoked before it expired" } } },
                "CertificateList": { "type": "object", "required": ["certificates"], "properties": {
                    "certificates": { "type": "array", "items": schema("CertificateSummary") } } },
                "RequestPage": { "type": "object", "required": ["requests"], "properties": {
                    "requests": { "type": "array", "items": schema("Request") }, "next": nullable("string", None) } },
                "AuditEvent": { "type": "object", "required": ["seq", "id", "type", "code", "time", "user", "hash"], "additionalProperties": true, "properties": {
                    "seq": { "type": "integer" }, "id": { "type": "string", "format": "uuid" }, "type": string(), "code": string(),
                    "time": time(), "user": string(), "request_id": nullable("string", Some("uuid")), "roles": strings(),
                    "state": { "oneOf": [schema("State"), { "type": "null" }] }, "reason": nullable("string", None), "hash": string() } },
                "EventPage": { "type": "object", "required": ["events"], "properties": {
                    "events": { "type": "array", "items": schema("AuditEvent") }, "next": nullable("integer", None) } },
                "StreamMessage": { "type": "object", "required": ["event"], "properties": {
                    "event": schema("AuditEvent"), "request": { "oneOf": [schema("Request"), { "type": "null" }] } } },
                "WhoAmI": { "type": "object", "properties": {
                    "user": string(), "roles": strings(), "traits": annotations(), "requestable_roles": strings(),
                    "reviewable_roles": strings(), "request_prompt": nullable("string", None), "reason_required": { "type": "boolean" },
                    "can_list_all": { "type": "boolean" }, "can_override": { "type": "boolean" }, "can_audit": { "type": "boolean" },
                    "request_access": { "type": "string", "enum": ["optional", "reason", "always"] } } },
                "VerifyReport": { "type": "object", "required": ["ok", "events", "head"], "properties": {
                    "ok": { "type": "boolean" }, "events": { "type": "integer" }, "head": string(),
                    "broken_at": { "type": "integer" }, "problem": string() } },
                "Finding": { "type": "object", "properties": {
                    "kind": { "type": "string", "enum": ["fast_approval", "no_ticket", "repeat_request", "overheld", "emergency_unreviewed", "refused_review", "override"] },
                    "severity": { "type": "string", "enum": ["low", "medium", "high"] },
                    "request_id": nullable("string", Some("uuid")), "user": string(), "reviewer": nullable("string", None),
                    "roles": strings(), "detail": string(), "at": time(),
                    "key": { "type": "string", "description": "kind:request-id:reviewer, the key POST /v1/audit/findings/reviewed takes" } } },
                "FindingsReport": { "type": "object", "properties": {
                    "findings": { "type": "array", "items": schema("Finding") }, "window": duration(),
                    "reviewers": { "type": "array", "items": { "type": "object" } },
                    "ticket_patterns": { "type": "array", "items": string(), "description": "the regexes no_ticket used" },
                    "repeat_threshold": { "type": "integer" },
                    "next": nullable("string", None),
                    "total": { "type": "integer", "description": "how many findings the whole report holds" } } }
            }
        },
        "security": [{ "bearer": [] }],
        "paths": {
            "/healthz": { "get": { "summary": "Liveness", "security": [], "responses": { "200": { "description": "ok" }, "503": { "description": "error: the store cannot serve now (its writer failed, or its database is out of reach)" } } } },
            "/metrics": { "get": { "summary": "Prometheus metrics (OpenMetrics text): latency by route, open requests, streams, writes in flight, the outbox. Readable as [metrics] access in broker.toml says: loopback peers (default), a bearer token, anyone, or nobody", "security": [], "responses": { "200": { "description": "application/openmetrics-text" }, "401": { "description": "error" }, "403": { "description": "error" }, "404": { "description": "error" } } } },
            "/v1/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/v1/roles": { "get": { "summary": "Session lengths and request prompts of the roles the caller holds, may request or may review", "responses": { "200": { "description": "[{name, max_session_ttl, request_prompt}]" }, "401": { "description": "error" } } } },
            "/v1/notifications": { "get": { "summary": "How the notification outbox stands (counts by state)", "responses": responses(("200", ok("NotificationSummary")), &[401]) } },
            "/v1/whoami": { "get": { "summary": "The caller, its roles and what it may request and review", "responses": responses(("200", ok("WhoAmI")), &[401]) } },
            "/v1/requests": {
                "post": { "summary": "Create an access request", "requestBody": body("CreateRequest"),
                    "responses": responses(("201", ok("Request")), &[400, 401, 403, 413]) },
                "get": { "summary": "List requests the caller may see, newest first",
                    "parameters": [
                        { "name": "state", "in": "query", "schema": schema("State") },
                        query("user", "string", "requester"), query("role", "string", "a requested role"),
                        { "name": "scope", "in": "query", "schema": { "type": "string", "enum": ["mine", "reviewable", "all"] } },
                        query("q", "string", "text to look for, any case (≤ 256 bytes): in the requester, a requested role or the reason, or at the start of the id (with or without hyphens); a page may come back short, even empty, with a next cursor after 20,000 stored requests were looked through"),
                        query("limit", "integer", "page size, 1–1000 (default 100)"),
                        query("after", "string", "the `next` of the previous page")
                    ],
                    "responses": responses(("200", ok("RequestPage")), &[400, 401]) }
            },
            "/v1/requests/{id}": { "get": { "summary": "One request", "parameters": [id_param()], "responses": responses(("200", ok("Request")), &[401, 404]) } },
            "/v1/requests/{id}/reviews": action("Approve or deny, with a reason (refused attempts are audited)", Some("SubmitReview")),
            "/v1/requests/{id}/resolve": action("Override: resolve directly (rule access_request: update)", Some("Resolve")),
            "/v1/requests/{id}/withdraw": action("The requester cancels a pending request", None),
            "/v1/requests/{id}/return": action("The requester gives approved access back early", None),
            "/v1/requests/{id}/post-incident-review": action("Record the review an approved emergency request owes", Some("SubmitPostIncidentReview")),
            "/v1/requests/{id}/revoke": action("End approved access early, with a reason (rule access_request: update); its certificates join the KRL", Some("Revoke")),
            "/v1/requests/{id}/certificate": { "post": {
                "summary": "An SSH user certificate for the caller's own approved request: principals from the granted roles' logins, valid until the access window ends",
                "parameters": [id_param()], "requestBody": body("IssueCertificate"),
                "responses": responses(("201", ok("Certificate")), &[400, 401, 404, 409, 413]) } },
            "/v1/requests/{id}/certificates": { "get": { "summary": "The certificates issued for a request the caller may see",
                "parameters": [id_param()], "responses": responses(("200", ok("CertificateList")), &[401, 404]) } },
            "/v1/ssh/ca": { "get": { "summary": "The SSH user CA's public key in authorized_keys form, for sshd's TrustedUserCAKeys", "security": [],
                "responses": { "200": { "description": "one line", "content": { "text/plain": { "schema": string() } } } } } },
            "/v1/ssh/krl": { "get": { "summary": "OpenSSH KRL (PROTOCOL.krl) of returned or revoked requests' unexpired certificates, for sshd's RevokedKeys", "security": [],
                "responses": { "200": { "description": "binary KRL", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } } } } },
            "/v1/events": { "get": { "summary": "Server-Sent Events: id is the audit seq, event the audit type, data a StreamMessage; resume with Last-Event-ID or ?after=",
                "parameters": [query("after", "integer", "resume after this seq"),
                    { "name": "Last-Event-ID", "in": "header", "schema": { "type": "integer" } }],
                "responses": { "200": { "description": "text/event-stream of StreamMessage", "content": { "text/event-stream": { "schema": schema("StreamMessage") } } }, "401": { "description": "error" } } } },
            "/v1/audit/events": { "get": { "summary": "Audit events (rule event: list)",
                "parameters": [query("type", "string", "e.g. access_request.create"), query("user", "string", "actor"),
                    query("request_id", "string", "request"), query("since", "string", "RFC 3339 time or a duration ago (168h)"),
                    query("until", "string", "RFC 3339 time or a duration ago"), query("limit", "integer", "1–1000"), query("after", "integer", "seq")],
                "responses": responses(("200", ok("EventPage")), &[400, 401, 403]) } },
            "/v1/audit/findings": { "get": { "summary": "The weekly review's findings (rule event: list)",
                "parameters": [query("window", "string", "duration, default 168h"),
                    { "name": "sort", "in": "query", "schema": { "type": "string", "enum": ["severity", "kind", "user", "time"] },
                      "description": "the order; without it, the report's own (most severe, then oldest, first)" },
                    query("limit", "integer", "page size, 1–1000; without it every finding, and next is null"),
                    query("after", "string", "the next of the previous page")],
                "responses": responses(("200", ok("FindingsReport")), &[400, 401, 403]) } },
            "/v1/audit/verify": { "get": { "summary": "Recompute the audit hash chain (rule event: list)", "responses": responses(("200", ok("VerifyReport")), &[401, 403]) } }
        }
    });
    if let (Some(schemas), Value::Object(more)) = (
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
        notification_schemas(),
    ) {
        schemas.extend(more);
    }
    doc
}

/// The schemas of the notification outbox: its summary, and the body webhook sinks get.
fn notification_schemas() -> Value {
    json!({
                "NotificationSummary": { "type": "object", "required": ["pending", "sent", "failed"], "properties": {
                    "pending": { "type": "integer" }, "sent": { "type": "integer" }, "failed": { "type": "integer" } } },
                "WebhookBody": {
                    "description": "What [[notify.webhook]] sinks receive (POST, application/json). Headers: X-Countersign-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>, X-Countersign-Delivery: the id below, X-Countersign-Event: the type below. The same id may arrive more than once (at-least-once): deduplicate on it.",
                    "type": "object", "required": ["id", "type", "urgent", "headline", "request"], "properties": {
                    "id": { "type": "string", "description": "idempotency key: <request id>.<topic>.<audit seq>" },
                    "type": { "type": "string", "enum": ["request.created", "request.approved", "request.denied", "request.expired", "request.withdrawn", "request.revoked", "request.post_incident_review_due"] },
                    "urgent": { "type": "boolean", "description": "an emergency request" },
                    "headline": string(),
                    "request": schema("Request"),
                    "event": { "description": "the audit event that raised it; null for a reminder", "oneOf": [schema("AuditEvent"), { "type": "null" }] },
                    "link": nullable("string", None) } }
    })
}

pub async fn document() -> Json<Value> {
    Json(spec())
}
