//! The HTTP side of §9: the CA and KRL for hosts, issuing for requesters, the
//! certificate list for anyone who may see the request, revoke for admins.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{SubjectKey, krl, plan};
use crate::broker::error::ApiError;
use crate::broker::lifecycle;
use crate::broker::routes::{Body, Caller, Id, mutate, parse_id};
use crate::broker::server::Broker;
use crate::broker::store::{EventDraft, Issue, Mutation, Refusal};
use crate::model::api::ErrorCode;
use crate::model::certificate::{CertificateList, IssueCertificate, Revoke};
use crate::model::{
    Certificate, CertificateSummary, EventType, Request as AccessRequest, State as RequestState,
    Time,
};

/// `GET /v1/ssh/ca`: one `authorized_keys` line for `TrustedUserCAKeys`.
pub async fn ca(State(broker): State<Arc<Broker>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{}\n", broker.ssh_ca.public_line()),
    )
        .into_response()
}

/// `GET /v1/ssh/krl`: the revoked, unexpired certificates, for `RevokedKeys`.
pub async fn revocations(State(broker): State<Arc<Broker>>) -> Result<Response, ApiError> {
    let now = broker.now();
    let body = broker
        .blocking(move |b| {
            let serials = b.store.revoked_serials(now)?;
            let stamp = now.timestamp().max(0) as u64;
            Ok(krl::encode(b.ssh_ca.public_blob(), &serials, stamp, stamp))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], body).into_response())
}

fn rfc3339(time: Time) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn from_unix(secs: i64) -> Time {
    chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default()
}

/// `POST /v1/requests/{id}/certificate`.
pub async fn issue(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<IssueCertificate>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let subject = SubjectKey::parse(&body.public_key)?;
    let Caller { user, roles } = caller;
    let (now, ca) = (broker.now(), broker.ssh_ca.clone());
    let issue: Issue = Box::new(move |request, serial| {
        let plan = plan(&roles, &user, request, now)?;
        let text = plan.sign(&ca, &subject, serial).map_err(|why| {
            Refusal::new(
                ErrorCode::Internal,
                format!("signing the certificate failed: {why}"),
            )
        })?;
        let certificate = Certificate {
            certificate: text,
            serial,
            key_id: plan.key_id.clone(),
            principals: plan.principals.clone(),
            valid_after: from_unix(plan.valid_after),
            valid_before: from_unix(plan.valid_before),
            request_id: request.id,
            fingerprint: subject.fingerprint.clone(),
            issued_at: now,
        };
        let draft = EventDraft::new(EventType::CertCreate, &user.name, now)
            .field("serial", serial)
            .field("key_id", plan.key_id)
            .field("principals", plan.principals)
            .field("valid_after", rfc3339(certificate.valid_after))
            .field("valid_before", rfc3339(certificate.valid_before))
            .field("fingerprint", subject.fingerprint.clone())
            .field("extensions", plan.extensions);
        Ok((certificate, draft))
    });
    let issued = broker
        .blocking(move |b| Ok(b.store.issue_certificate(id, issue)?))
        .await?;
    match issued {
        Ok(certificate) => Ok((StatusCode::CREATED, Json(certificate)).into_response()),
        Err(refusal) if refusal.code == ErrorCode::NotFound => {
            Err(ApiError::not_found(format!("no request {id} of yours")))
        }
        Err(refusal) => Err(refusal.into()),
    }
}

/// Whether a request's certificates are in the KRL.
pub fn revoked(request: &AccessRequest) -> bool {
    matches!(
        request.state,
        RequestState::Returned | RequestState::Revoked
    )
}

/// `GET /v1/requests/{id}/certificates`.
pub async fn list(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<CertificateList>, ApiError> {
    let id = parse_id(&id)?;
    let (request, certificates) = broker
        .blocking(move |b| Ok((b.store.get_request(id)?, b.store.certificates(id)?)))
        .await?;
    let request = request
        .filter(|r| lifecycle::can_see(&caller.roles, &caller.user, r))
        .ok_or_else(|| ApiError::not_found(format!("no request {id} that you may see")))?;
    let revoked = revoked(&request);
    let certificates = certificates
        .into_iter()
        .map(|c| CertificateSummary {
            revoked: revoked
                && request
                    .access
                    .as_ref()
                    .and_then(|a| a.returned_at)
                    .is_none_or(|ended| c.valid_before > ended),
            serial: c.serial,
            key_id: c.key_id,
            principals: c.principals,
            valid_after: c.valid_after,
            valid_before: c.valid_before,
            fingerprint: c.fingerprint,
            issued_at: c.issued_at,
        })
        .collect();
    Ok(Json(CertificateList { certificates }))
}

/// `POST /v1/requests/{id}/revoke`.
pub async fn revoke(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<Revoke>,
) -> Result<Json<AccessRequest>, ApiError> {
    let (roles, user, now) = (caller.roles.clone(), caller.user.clone(), broker.now());
    let step: Mutation = Box::new(move |request| {
        crate::broker::lifecycle::revoke(&roles, &user, &body.reason, now, request)
    });
    mutate(&broker, &caller, &id, step, true).await
}
