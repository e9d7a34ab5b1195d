//! The HTTP API of DESIGN §4: a router that reads like the API table, and thin
//! handlers that parse, ask policy (via `lifecycle`), call the store and answer.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use uuid::Uuid;

use super::error::ApiError;
use super::lifecycle::{self, CreateSettings};
use super::server::Broker;
use super::store::{EventDraft, EventQuery, Mutation, RequestQuery};
use crate::audit::mark_fields;
use crate::model::api::{
    CreateRequest, DEFAULT_PAGE, ErrorCode, EventPage, ListEvents, ListRequests, MAX_BODY_BYTES,
    MAX_PAGE, MarkFindingReviewed, NotificationSummary, Resolve, RoleSummary, Scope,
    SubmitPostIncidentReview, SubmitReview, WhoAmI,
};
use crate::model::{Duration, EventType, FindingReview, Request as AccessRequest, Time, User};
use crate::policy::{Resource, RoleSet, Verb};

pub fn router(broker: Arc<Broker>) -> Router {
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(super::metrics::scrape))
        .route("/v1/openapi.json", get(super::openapi::document))
        .route("/v1/whoami", get(whoami))
        .route("/v1/roles", get(role_summaries))
        .route("/v1/requests", post(create).get(list))
        .route("/v1/requests/{id}", get(show))
        .route("/v1/requests/{id}/reviews", post(review))
        .route("/v1/requests/{id}/resolve", post(resolve))
        .route("/v1/requests/{id}/withdraw", post(withdraw))
        .route("/v1/requests/{id}/return", post(give_back))
        .route("/v1/requests/{id}/revoke", post(super::ssh::api::revoke))
        .route(
            "/v1/requests/{id}/certificate",
            post(super::ssh::api::issue),
        )
        .route("/v1/requests/{id}/certificates", get(super::ssh::api::list))
        .route("/v1/ssh/ca", get(super::ssh::api::ca))
        .route("/v1/ssh/krl", get(super::ssh::api::revocations))
        .route(
            "/v1/requests/{id}/post-incident-review",
            post(post_incident_review),
        )
        .route("/v1/notifications", get(notification_summary))
        .route("/v1/events", get(super::stream::events))
        .route("/v1/audit/events", get(audit_events))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/audit/findings", get(audit_findings))
        .route("/v1/audit/findings/reviewed", post(mark_finding_reviewed))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let router = if broker.metrics.enabled() {
        router.layer(axum::middleware::from_fn_with_state(
            broker.clone(),
            super::metrics::track,
        ))
    } else {
        router
    };
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(broker)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; see /v1/openapi.json")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see /v1/openapi.json",
    )
}

/// `ok`, or 503 with the reason while the store cannot serve (its writer failed,
/// or its database is out of reach).
async fn healthz(State(broker): State<Arc<Broker>>) -> Result<&'static str, ApiError> {
    broker
        .blocking(|b| match b.store.health() {
            Ok(()) => Ok("ok\n"),
            Err(why) => Err(ApiError::new(ErrorCode::Unavailable, why)),
        })
        .await
}

/// The authenticated caller and the roles in force when the call arrived.
pub struct Caller {
    pub user: User,
    pub roles: Arc<RoleSet>,
}

impl FromRequestParts<Arc<Broker>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, broker: &Arc<Broker>) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "missing Authorization: Bearer <token>",
                )
            })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthenticated,
                    "the Authorization header must be Bearer <token>",
                )
            })?;
        let hash = super::tokens::hash(token);
        broker
            .blocking(move |b| {
                let (user, version) = b.store.caller(&hash)?;
                let user = user.ok_or_else(|| {
                    ApiError::new(ErrorCode::Unauthenticated, "unknown or revoked token")
                })?;
                let roles = b.roles.at_version(b.store.as_ref(), version)?;
                Ok(Caller { user, roles })
            })
            .await
    }
}

/// JSON bodies whose every rejection is our error shape.
pub struct Body<T>(pub T);

impl<T, S> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Body(value))
    }
}

/// Query strings whose rejections are our error shape.
pub struct Params<T>(pub T);

impl<T, S> FromRequestParts<S> for Params<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Params(value))
    }
}

/// The `{id}` of a path, with every rejection in our error shape.
pub struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        Ok(Id(id))
    }
}

pub(crate) fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(format!("no request {raw:?}")))
}

async fn whoami(caller: Caller) -> Json<WhoAmI> {
    let Caller { user, roles } = caller;
    Json(WhoAmI {
        requestable_roles: roles.requestable_roles(&user),
        reviewable_roles: roles.reviewable_roles(&user),
        request_prompt: roles.request_prompt(&user),
        reason_required: roles.reason_required(&user),
        can_list_all: roles.allows(&user, Resource::AccessRequest, Verb::List),
        can_override: roles.allows(&user, Resource::AccessRequest, Verb::Update),
        can_audit: roles.allows(&user, Resource::Event, Verb::List),
        request_access: roles.request_access(&user),
        user: user.name,
        roles: user.roles,
        traits: user.traits,
    })
}

/// How the notification outbox stands: any signed-in user may ask (no content).
async fn notification_summary(
    _caller: Caller,
    State(broker): State<Arc<Broker>>,
) -> Result<Json<NotificationSummary>, ApiError> {
    use super::store::NotificationState;
    let counts = broker
        .blocking(|broker| Ok(broker.store.notification_counts()?))
        .await?;
    let mut summary = NotificationSummary::default();
    for (state, n) in counts {
        match state {
            NotificationState::Pending => summary.pending = n,
            NotificationState::Sent => summary.sent = n,
            NotificationState::Failed => summary.failed = n,
        }
    }
    Ok(Json(summary))
}

/// The roles the caller holds, may request or may review: session lengths and
/// prompts, for front ends to show beside requests.
async fn role_summaries(caller: Caller) -> Json<Vec<RoleSummary>> {
    let Caller { user, roles } = caller;
    let mut names: std::collections::BTreeSet<String> = user.roles.iter().cloned().collect();
    names.extend(roles.requestable_roles(&user));
    names.extend(roles.reviewable_roles(&user));
    let visible_all = roles.allows(&user, Resource::AccessRequest, Verb::List);
    let summaries = roles
        .roles()
        .filter(|role| visible_all || names.contains(&role.name))
        .map(|role| RoleSummary {
            name: role.name.clone(),
            max_session_ttl: role.max_session_ttl,
            request_prompt: role.request_prompt.clone(),
        })
        .collect();
    Json(summaries)
}

async fn create(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Body(body): Body<CreateRequest>,
) -> Result<Response, ApiError> {
    let settings = CreateSettings {
        default_pending_ttl: broker.config.pending_ttl,
        max_pending_ttl: broker.config.max_pending_ttl,
    };
    let request =
        lifecycle::new_request(&caller.roles, &caller.user, body, settings, broker.now())?;
    let draft = lifecycle::created_event(&request);
    let created = request.clone();
    broker
        .blocking(move |b| Ok(b.store.create_request(request, draft)?))
        .await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn show(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<AccessRequest>, ApiError> {
    let id = parse_id(&id)?;
    let request = broker
        .blocking(move |b| Ok(b.store.get_request(id)?))
        .await?
        .filter(|r| lifecycle::may_read(&caller.roles, &caller.user, r))
        .ok_or_else(|| ApiError::not_found(format!("no request {id} that you may see")))?;
    Ok(Json(request))
}

/// How many stored rows one listing call may look through before answering with a
/// partial page and a cursor.
const MAX_SCANNED: usize = 20_000;

async fn list(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Params(query): Params<ListRequests>,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let before = query.after.as_deref().map(parse_cursor).transpose()?;
    let scope = query.scope.unwrap_or_default();
    let text = search_text(query.q.as_deref())?;
    let Caller { user, roles } = caller;
    let sees_all = roles.allows(&user, Resource::AccessRequest, Verb::List);
    let mut db_query = RequestQuery {
        state: query.state,
        user: query.user.clone(),
        role: query.role.clone(),
        before,
        not_before: None,
        text,
        limit,
    };
    if scope == Scope::Mine {
        if query.user.as_ref().is_some_and(|u| *u != user.name) {
            return Ok(page_response(&[], None));
        }
        db_query.user = Some(user.name.clone());
    }
    // Only decode stored requests when a policy check has to look inside them.
    let needs_check = match scope {
        Scope::Mine => false,
        Scope::Reviewable => true,
        Scope::All => !sees_all,
    };
    let (rows, next) = broker
        .blocking(move |b| {
            let keep = |r: &AccessRequest| match scope {
                Scope::Mine => true,
                Scope::Reviewable => r.user != user.name && roles.check_review(&user, r).is_ok(),
                Scope::All => lifecycle::can_see(&roles, &user, r),
            };
            if db_query.text.is_some() {
                let visible = |row: &super::store::RequestRow| -> Result<bool, ApiError> {
                    Ok(!needs_check || keep(&row.decode()?))
                };
                return search(
                    b.store.as_ref(),
                    db_query,
                    visible,
                    SEARCH_WINDOW,
                    MAX_SCANNED,
                );
            }
            let mut out = Vec::with_capacity(limit);
            let mut scanned = 0;
            loop {
                let batch = b.store.list_request_rows(&db_query)?;
                let exhausted = batch.len() < db_query.limit;
                scanned += batch.len();
                let mut last = None;
                for row in batch {
                    last = Some(row.id);
                    if !needs_check || keep(&row.decode()?) {
                        out.push(row);
                        if out.len() == limit {
                            break;
                        }
                    }
                }
                let cursor = out.last().map(|r| r.id).or(last);
                if out.len() == limit || (!exhausted && scanned >= MAX_SCANNED) {
                    return Ok((out, cursor));
                }
                if exhausted {
                    return Ok((out, None));
                }
                db_query.before = last;
            }
        })
        .await?;
    Ok(page_response(&rows, next))
}

/// How many stored requests a text search looks through at a time, newest first.
const SEARCH_WINDOW: usize = 5_000;

/// A listing with a text to look for: `window` stored requests at a time, the
/// store matching the text inside each, until the page is full or `budget`
/// requests were looked through; then a partial page and a cursor, so no call
/// reads the whole history however little matches.
fn search(
    store: &dyn super::store::Store,
    mut query: RequestQuery,
    keep: impl Fn(&super::store::RequestRow) -> Result<bool, ApiError>,
    window: usize,
    budget: usize,
) -> Result<(Vec<super::store::RequestRow>, Option<Uuid>), ApiError> {
    let limit = query.limit;
    let mut out = Vec::with_capacity(limit);
    let mut looked = 0;
    loop {
        query.not_before = None;
        let floor = store.nth_request_id(&query, window)?;
        query.not_before = floor;
        // Through this window: more than a page may match, and not all be visible.
        loop {
            let batch = store.list_request_rows(&query)?;
            let window_done = batch.len() < query.limit;
            let mut last = None;
            for row in batch {
                last = Some(row.id);
                if keep(&row)? {
                    out.push(row);
                    if out.len() == limit {
                        let cursor = out.last().map(|r| r.id);
                        return Ok((out, cursor));
                    }
                }
            }
            if window_done {
                break;
            }
            query.before = last;
        }
        let Some(floor) = floor else {
            return Ok((out, None));
        };
        looked += window;
        if looked >= budget {
            return Ok((out, Some(floor)));
        }
        query.before = Some(floor);
    }
}

/// The longest text a listing looks for.
const MAX_SEARCH_BYTES: usize = 256;

/// `q`, lowercased; blank is no search.
fn search_text(q: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if q.len() > MAX_SEARCH_BYTES {
        return Err(ApiError::invalid(format!(
            "q: at most {MAX_SEARCH_BYTES} bytes of text to look for"
        )));
    }
    if q.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            "q: control characters are not searched for",
        ));
    }
    Ok(Some(q.to_lowercase()))
}

/// `{"requests": [...], "next": ...}` written from the stored JSON as it is.
fn page_response(rows: &[super::store::RequestRow], next: Option<Uuid>) -> Response {
    let size = rows.iter().map(|r| r.body.len() + 1).sum::<usize>() + 64;
    let mut body = String::with_capacity(size);
    body.push_str("{\"requests\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&row.body);
    }
    body.push_str("],\"next\":");
    match next {
        Some(id) => {
            body.push('"');
            body.push_str(&id.to_string());
            body.push('"');
        }
        None => body.push_str("null"),
    }
    body.push('}');
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn parse_cursor(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::invalid(format!(
            "after: {raw:?} is not a cursor from a previous page"
        ))
    })
}

/// Runs a lifecycle step inside the store's write transaction and answers with the
/// request as it stands after it.
pub(crate) async fn mutate(
    broker: &Arc<Broker>,
    caller: &Caller,
    id: &str,
    step: Mutation,
    hide_unseen: bool,
) -> Result<Json<AccessRequest>, ApiError> {
    let id = parse_id(id)?;
    // Someone who may not see a request learns nothing about it; a review attempt
    // on it is still refused on the record.
    let (roles, user) = (caller.roles.clone(), caller.user.clone());
    let existing = broker
        .blocking(move |b| Ok(b.store.get_request(id)?))
        .await?;
    let unseen = || ApiError::not_found(format!("no request {id} that you may see"));
    let visible = match &existing {
        None => return Err(unseen()),
        Some(r) => lifecycle::may_read(&roles, &user, r),
    };
    if hide_unseen && !visible {
        return Err(unseen());
    }
    let result = broker
        .blocking(move |b| Ok(b.store.mutate_request(id, step)?))
        .await?;
    match result {
        Ok((request, _event)) => Ok(Json(request)),
        Err(_) if !visible => Err(unseen()),
        Err(refusal) => Err(refusal.into()),
    }
}

/// [`mutate`] for steps whose refusals go on the record: once the caller has used
/// up their refused attempts (DESIGN §12), a further refusal is answered 429 and
/// only counted; a step that succeeds is never held back.
async fn mutate_limited(
    broker: &Arc<Broker>,
    caller: &Caller,
    id: &str,
    step: Mutation,
    hide_unseen: bool,
) -> Result<Json<AccessRequest>, ApiError> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let name = caller.user.name.clone();
    let exhausted = broker.refusals.exhausted(&name, std::time::Instant::now());
    // What the step did with its record: kept it (a refusal charged to the caller)
    // or, past the limit, dropped it (counted for the summary event).
    let kept = Arc::new(AtomicBool::new(false));
    let dropped = Arc::new(AtomicBool::new(false));
    let (kept_in, dropped_in) = (kept.clone(), dropped.clone());
    let step: Mutation = Box::new(move |request| match step(request) {
        super::store::Verdict::Refuse {
            record: Some(_), ..
        } if exhausted => {
            dropped_in.store(true, Ordering::Relaxed);
            super::store::Refusal::new(
                ErrorCode::RateLimited,
                "too many refused attempts; wait a minute before trying again",
            )
            .into()
        }
        verdict => {
            if let super::store::Verdict::Refuse {
                record: Some(_), ..
            } = &verdict
            {
                kept_in.store(true, Ordering::Relaxed);
            }
            verdict
        }
    });
    let result = mutate(broker, caller, id, step, hide_unseen).await;
    let now = std::time::Instant::now();
    if dropped.load(Ordering::Relaxed) {
        broker.refusals.drop_one(&name, now);
    } else if kept.load(Ordering::Relaxed) {
        broker.refusals.charge(&name, now);
    }
    result
}

async fn review(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<SubmitReview>,
) -> Result<Json<AccessRequest>, ApiError> {
    let (roles, user, now) = (caller.roles.clone(), caller.user.clone(), broker.now());
    let step: Mutation =
        Box::new(move |request| lifecycle::review(&roles, &user, &body, now, request));
    mutate_limited(&broker, &caller, &id, step, false).await
}

async fn resolve(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<Resolve>,
) -> Result<Json<AccessRequest>, ApiError> {
    let (roles, user, now) = (caller.roles.clone(), caller.user.clone(), broker.now());
    let step: Mutation =
        Box::new(move |request| lifecycle::resolve(&roles, &user, &body, now, request));
    mutate_limited(&broker, &caller, &id, step, true).await
}

async fn withdraw(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<AccessRequest>, ApiError> {
    let (user, now) = (caller.user.clone(), broker.now());
    let step: Mutation = Box::new(move |request| lifecycle::withdraw(&user, now, request));
    mutate(&broker, &caller, &id, step, true).await
}

async fn give_back(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<AccessRequest>, ApiError> {
    let (user, now) = (caller.user.clone(), broker.now());
    let step: Mutation = Box::new(move |request| lifecycle::give_back(&user, now, request));
    mutate(&broker, &caller, &id, step, true).await
}

async fn post_incident_review(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Id(id): Id,
    Body(body): Body<SubmitPostIncidentReview>,
) -> Result<Json<AccessRequest>, ApiError> {
    let (roles, user, now) = (caller.roles.clone(), caller.user.clone(), broker.now());
    let step: Mutation = Box::new(move |request| {
        lifecycle::post_incident_review(&roles, &user, &body, now, request)
    });
    mutate(&broker, &caller, &id, step, true).await
}

fn require_audit(caller: &Caller) -> Result<(), ApiError> {
    if caller
        .roles
        .allows(&caller.user, Resource::Event, Verb::List)
    {
        Ok(())
    } else {
        Err(ApiError::forbidden("the audit log needs rule event: list"))
    }
}

/// An RFC 3339 time, or a duration meaning that long before now.
pub fn parse_time(field: &str, raw: &str, now: Time) -> Result<Time, ApiError> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&chrono::Utc));
    }
    match raw.parse::<Duration>() {
        Ok(ago) => Ok(now - ago.to_chrono()),
        Err(_) => Err(ApiError::invalid(format!(
            "{field}: {raw:?} is neither an RFC 3339 time nor a duration like 168h"
        ))),
    }
}

async fn audit_events(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Params(query): Params<ListEvents>,
) -> Result<Json<EventPage>, ApiError> {
    require_audit(&caller)?;
    let now = broker.now();
    let kind = query
        .kind
        .as_deref()
        .map(|k| k.parse::<EventType>().map_err(ApiError::invalid))
        .transpose()?;
    let request_id = query
        .request_id
        .as_deref()
        .map(|r| {
            Uuid::parse_str(r)
                .map_err(|_| ApiError::invalid(format!("request_id: {r:?} is not an id")))
        })
        .transpose()?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let db_query = EventQuery {
        kind,
        user: query.user,
        request_id,
        since: query
            .since
            .as_deref()
            .map(|s| parse_time("since", s, now))
            .transpose()?,
        until: query
            .until
            .as_deref()
            .map(|s| parse_time("until", s, now))
            .transpose()?,
        after_seq: query.after,
        visible_to: None,
        limit,
    };
    let events = broker
        .blocking(move |b| Ok(b.store.events(&db_query)?))
        .await?;
    let next = if events.len() == limit {
        events.last().map(|e| e.seq)
    } else {
        None
    };
    Ok(Json(EventPage { events, next }))
}

async fn audit_verify(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
) -> Result<Json<crate::model::api::VerifyReport>, ApiError> {
    require_audit(&caller)?;
    Ok(Json(
        broker.blocking(|b| Ok(b.store.verify_chain()?)).await?,
    ))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsQuery {
    window: Option<String>,
    sort: Option<crate::model::FindingSort>,
    limit: Option<usize>,
    after: Option<String>,
}

/// The longest window a findings query may cover.
const MAX_WINDOW: Duration = Duration::from_hours(24 * 400);

/// `{findings, window, …, next, total}`: every finding, or with `limit` one page
/// of them in the report's order (or `sort`'s).
async fn audit_findings(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Params(query): Params<FindingsQuery>,
) -> Result<Response, ApiError> {
    require_audit(&caller)?;
    let window = match query.window.as_deref() {
        None => broker.config.audit.window,
        Some(raw) => raw
            .parse::<Duration>()
            .map_err(|e| ApiError::invalid(format!("window: {e}")))?,
    };
    if window.is_zero() || window > MAX_WINDOW {
        return Err(ApiError::invalid(format!(
            "window must be between 1s and {MAX_WINDOW}"
        )));
    }
    let after = query
        .after
        .as_deref()
        .map(super::findings::Cursor::parse)
        .transpose()
        .map_err(ApiError::invalid)?;
    if after.is_some() && query.limit.is_none() {
        return Err(ApiError::invalid(
            "after: a cursor pages, so it needs a limit as well",
        ));
    }
    let limit = query.limit.map(|l| l.clamp(1, MAX_PAGE));
    let now = broker.now();
    // A busy week's report is tens of megabytes of JSON: write it on the blocking
    // pool too, not on the thread serving every other request.
    let body = broker
        .blocking(move |b| {
            let mut report = super::findings::report(b.store.as_ref(), &b.audit, window, now)?;
            if let Some(sort) = query.sort {
                sort.sort(&mut report.findings);
            }
            let page = super::findings::Page::of(&report, after.as_ref(), limit);
            serde_json::to_vec(&page)
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("report: {e}")))
        })
        .await?;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response())
}

const MAX_FINDING_KEY_BYTES: usize = 512;

/// The window to look for a marked finding in: the review's own, reaching back to
/// the request the key names when that is older (last month's finding can still be
/// marked), never past the longest window a report may cover.
fn mark_window(
    store: &dyn super::store::Store,
    window: Duration,
    key: &str,
    now: crate::model::Time,
) -> Result<Duration, ApiError> {
    let Some(id) = crate::audit::key_request(key) else {
        return Ok(window);
    };
    let Some(request) = store.get_request(id)? else {
        return Ok(window);
    };
    let since = Duration::from_chrono(now - request.created_at + chrono::TimeDelta::hours(1));
    Ok(window.max(since).min(MAX_WINDOW))
}

async fn mark_finding_reviewed(
    State(broker): State<Arc<Broker>>,
    caller: Caller,
    Body(mark): Body<MarkFindingReviewed>,
) -> Result<Json<FindingReview>, ApiError> {
    // Marks go into the audit log and quiet findings next week: a write.
    if !caller
        .roles
        .allows(&caller.user, Resource::Event, Verb::Update)
    {
        return Err(ApiError::forbidden(
            "marking findings reviewed needs rule event: update",
        ));
    }
    if mark.key.trim().is_empty() || mark.key.len() > MAX_FINDING_KEY_BYTES {
        return Err(ApiError::invalid(format!(
            "key must be a finding's key (1–{MAX_FINDING_KEY_BYTES} bytes)"
        )));
    }
    let note = lifecycle::check_text("note", &mark.note)?.ok_or_else(|| {
        ApiError::new(
            ErrorCode::ReasonRequired,
            "a note is required and cannot be blank",
        )
    })?;
    let now = broker.now();
    // Only a finding the review would show can be marked: a mistyped key would
    // otherwise be recorded and quieten nothing.
    let key = mark.key.clone();
    let finding = broker
        .blocking(move |b| {
            let window = mark_window(b.store.as_ref(), b.config.audit.window, &key, now)?;
            let report = super::findings::report(b.store.as_ref(), &b.audit, window, now)?;
            Ok(report.findings.into_iter().find(|f| f.key() == key))
        })
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no finding has the key {:?}: keys are kind:request-id:reviewer as `audit findings` shows them, with the last colon even when there is no reviewer",
                mark.key
            ))
        })?;
    if let Some(why) = crate::audit::mark_refusal(&finding, &caller.user.name) {
        return Err(ApiError::new(ErrorCode::SelfReview, why));
    }
    let mut draft =
        EventDraft::new(EventType::FindingReviewed, &caller.user.name, now).reason(note.clone());
    draft.fields = mark_fields(&mark);
    broker
        .blocking(move |b| Ok(b.store.append_event(draft)?))
        .await?;
    Ok(Json(FindingReview {
        by: caller.user.name,
        note,
        at: now,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::store::{SqliteStore, Store};
    use crate::console::fixtures::{RequestFixture, id};

    /// Requests 1..=30; every third one's reason names the Clacks.
    fn store(dir: &std::path::Path) -> SqliteStore {
        let store = SqliteStore::open(dir).expect("store");
        for n in 1..=30 {
            let reason = if n % 3 == 0 {
                "mend the clacks"
            } else {
                "routine"
            };
            let request = RequestFixture::new(n, "vimes").reason(reason).build();
            let event = EventDraft::new(EventType::Create, "vimes", request.created_at);
            store.create_request(request, event).expect("create");
        }
        store
    }

    fn clacks(limit: usize, before: Option<Uuid>) -> RequestQuery {
        RequestQuery {
            text: Some("clacks".into()),
            before,
            limit,
            ..RequestQuery::default()
        }
    }

    fn ids(rows: &[crate::broker::store::RequestRow]) -> Vec<Uuid> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_search_pages_through_windows_and_answers_partly_when_its_budget_is_spent() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(dir.path());
        let all = |_: &crate::broker::store::RequestRow| Ok(true);
        // A page fills across windows of four requests.
        let (rows, next) = search(&store, clacks(3, None), all, 4, 100).expect("search");
        assert_eq!(ids(&rows), vec![id(30), id(27), id(24)]);
        assert_eq!(next, Some(id(24)));
        // A budget of eight requests looks at 30..=23 only: a partial page, and a
        // cursor below what was looked at, not below the last match.
        let (rows, next) = search(&store, clacks(5, None), all, 4, 8).expect("search");
        assert_eq!(ids(&rows), vec![id(30), id(27), id(24)]);
        assert_eq!(next, Some(id(23)));
        let (rows, next) = search(&store, clacks(5, next), all, 4, 8).expect("search");
        assert_eq!(ids(&rows), vec![id(21), id(18), id(15)]);
        assert_eq!(next, Some(id(15)), "22..=15 looked at");
        // To the end: the last page says there is no more.
        let (rows, next) = search(&store, clacks(50, Some(id(15))), all, 4, 100).expect("search");
        assert_eq!(ids(&rows), vec![id(12), id(9), id(6), id(3)]);
        assert_eq!(next, None);
    }

    #[test]
    fn rows_the_caller_may_not_see_are_passed_over_inside_a_window() {
        let dir = tempfile::tempdir().expect("dir");
        let store = store(dir.path());
        // Only every sixth request is visible; a window of 30 holds them all.
        let sixth = |row: &crate::broker::store::RequestRow| {
            Ok([id(30), id(24), id(18), id(12), id(6)].contains(&row.id))
        };
        let (rows, next) = search(&store, clacks(2, None), sixth, 30, 100).expect("search");
        assert_eq!(ids(&rows), vec![id(30), id(24)]);
        let (rows, next) = search(&store, clacks(10, next), sixth, 30, 100).expect("search");
        assert_eq!(ids(&rows), vec![id(18), id(12), id(6)]);
        assert_eq!(next, None);
    }
}
