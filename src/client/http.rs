//! `Client`: one method per route of the broker's HTTP API (DESIGN §4), over one
//! broker or a list of them. A call moves to the next broker of the list when the
//! one it is on stops answering (refused, reset, timed out) — never because of an
//! answer, and for a POST only when the connection failed before anything was sent,
//! so a request is never made twice (DESIGN §11).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::model::Duration;
use crate::model::Request;
use crate::model::api::{
    CreateRequest, EventPage, FindingsReport, ListEvents, ListFindings, ListRequests,
    MarkFindingReviewed, RequestPage, Resolve, SubmitPostIncidentReview, SubmitReview,
    VerifyReport, WhoAmI,
};

use super::config::Connection;
use super::error::ClientError;

pub const CONNECT_TIMEOUT: StdDuration = StdDuration::from_secs(3);
pub const REQUEST_TIMEOUT: StdDuration = StdDuration::from_secs(15);
/// No query parameters.
const NO_QUERY: [(&str, &str); 0] = [];

/// The body of the actions that take none.
#[derive(Serialize)]
struct EmptyBody {}
const EMPTY_BODY: EmptyBody = EmptyBody {};

/// Upper bound on pages `list_all_requests` follows, against a broker that loops.
const MAX_PAGES: usize = 10_000;

/// The broker's API. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    /// For ordinary calls: bounded by `REQUEST_TIMEOUT`.
    http: reqwest::Client,
    /// For the event stream: no overall timeout (the subscriber watches silence).
    stream: reqwest::Client,
    /// Base URLs without a trailing slash, in the order they were given; never empty.
    bases: Vec<String>,
    /// The broker that answered last: calls start there.
    current: AtomicUsize,
    token: String,
}

/// Whether a call may go to another broker once it may have reached the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// A read: sending it twice changes nothing.
    Safe,
    /// A write: only when the connection failed before the request was sent.
    OnlyUnsent,
}

/// Whether a write that got no answer may have reached the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrived {
    No,
    Maybe,
}

impl Replay {
    fn of(method: &reqwest::Method) -> Replay {
        if method.is_safe() {
            Replay::Safe
        } else {
            Replay::OnlyUnsent
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("brokers", &self.inner.bases)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(connection: &Connection) -> Result<Client, ClientError> {
        let build = |timeout: Option<StdDuration>| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .user_agent(concat!("countersign/", env!("CARGO_PKG_VERSION")));
            if let Some(timeout) = timeout {
                builder = builder.timeout(timeout);
            }
            if let Some(pem) = &connection.ca_pem {
                let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|err| {
                    ClientError::Protocol {
                        status: None,
                        detail: format!("the CA file is not usable: {err}"),
                    }
                })?;
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            builder.build().map_err(|err| ClientError::Protocol {
                status: None,
                detail: format!("cannot build the HTTP client: {err}"),
            })
        };
        let bases: Vec<String> = connection.brokers().map(str::to_string).collect();
        if bases.is_empty() {
            return Err(ClientError::Protocol {
                status: None,
                detail: "no broker URL was given".into(),
            });
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http: build(Some(REQUEST_TIMEOUT))?,
                stream: build(None)?,
                bases,
                current: AtomicUsize::new(0),
                token: connection.token.clone(),
            }),
        })
    }

    /// The base URL of the broker calls go to now: the one that answered last.
    pub fn broker(&self) -> &str {
        let index = self.inner.current.load(Ordering::Relaxed);
        &self.inner.bases[index % self.inner.bases.len()]
    }

    /// Every broker this client may use, in the order given.
    pub fn brokers(&self) -> &[String] {
        &self.inner.bases
    }

    /// The brokers to try for one call: the current one first, then the others in
    /// list order, wrapping around.
    fn rotation(&self) -> impl Iterator<Item = (usize, &str)> {
        let count = self.inner.bases.len();
        let start = self.inner.current.load(Ordering::Relaxed) % count;
        (0..count).map(move |step| {
            let index = (start + step) % count;
            (index, self.inner.bases[index].as_str())
        })
    }

    fn settle_on(&self, index: usize) {
        self.inner.current.store(index, Ordering::Relaxed);
    }

    fn request(&self, base: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.inner
            .http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&self.inner.token)
            .header(reqwest::header::ACCEPT, "application/json")
    }

    /// Sends one call, built by `build` for a broker's base URL, moving along the
    /// list while brokers do not answer; a success's body comes back as bytes,
    /// anything else as the error it describes.
    async fn send(
        &self,
        method: reqwest::Method,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<(u16, Vec<u8>), ClientError> {
        let replay = Replay::of(&method);
        let mut failures = Vec::new();
        for (index, base) in self.rotation() {
            let response = match build(base).send().await {
                Ok(response) => response,
                Err(err) => {
                    failures.push(ClientError::from_reqwest(base, &err));
                    // Refused or never connected: nothing reached this broker.
                    if err.is_connect() || replay == Replay::Safe {
                        continue;
                    }
                    return Err(self.unreachable(failures, Arrived::Maybe));
                }
            };
            // It answered: later calls start here.
            self.settle_on(index);
            let status = response.status().as_u16();
            let bytes = match response.bytes().await {
                Ok(bytes) => bytes,
                Err(err) => {
                    failures.push(ClientError::from_reqwest(base, &err));
                    if replay == Replay::Safe {
                        continue;
                    }
                    return Err(self.unreachable(failures, Arrived::Maybe));
                }
            };
            if !(200..300).contains(&status) {
                return Err(ClientError::from_response(status, &bytes));
            }
            return Ok((status, bytes.to_vec()));
        }
        Err(self.unreachable(failures, Arrived::No))
    }

    /// The error for a call no broker answered: the last failure, naming every
    /// broker tried, and saying so when a write may have arrived (and so was not
    /// sent on).
    fn unreachable(&self, mut failures: Vec<ClientError>, arrived: Arrived) -> ClientError {
        let tried = failures.len();
        let Some(last) = failures.pop() else {
            return ClientError::Unreachable {
                url: self.broker().to_string(),
                detail: "no broker was tried".into(),
            };
        };
        let ClientError::Unreachable { url, mut detail } = last else {
            return last;
        };
        let untried = self.inner.bases.len() - tried;
        match arrived {
            Arrived::Maybe if untried > 0 => detail.push_str(
                " (it may have received the request, so it was not sent to another broker: \
                 look before trying again)",
            ),
            Arrived::Maybe => {
                detail.push_str(" (it may have received the request: look before trying again)")
            }
            Arrived::No => {}
        }
        let url = if tried > 1 {
            format!("any of {}", self.inner.bases[..].join(", "))
        } else {
            url
        };
        ClientError::Unreachable { url, detail }
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let (status, bytes) = self.send(method, build).await?;
        serde_json::from_slice(&bytes).map_err(|err| ClientError::Protocol {
            status: Some(status),
            detail: format!("cannot read the answer: {err}"),
        })
    }

    async fn get<T: DeserializeOwned, Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<T, ClientError> {
        let method = reqwest::Method::GET;
        self.send_json(method.clone(), |base| {
            self.request(base, method.clone(), path).query(query)
        })
        .await
    }

    async fn post<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let method = reqwest::Method::POST;
        self.send_json(method.clone(), |base| {
            self.request(base, method.clone(), path).json(body)
        })
        .await
    }

    async fn get_bytes(&self, path: &str) -> Result<(u16, Vec<u8>), ClientError> {
        self.send(reqwest::Method::GET, |base| {
            self.request(base, reqwest::Method::GET, path)
        })
        .await
    }

    /// `GET path?query` as untyped JSON, kept in the broker's key order: for
    /// `--format json`, which prints the API's JSON as it came.
    pub async fn get_value<Q: Serialize + ?Sized>(
        &self,
        path: &str,
        query: &Q,
    ) -> Result<serde_json::Value, ClientError> {
        self.get(path, query).await
    }

    /// `POST path` with a JSON body, answered as untyped JSON.
    pub async fn post_value<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<serde_json::Value, ClientError> {
        self.post(path, body).await
    }

    /// `GET /healthz`: whether the broker answers at all.
    pub async fn health(&self) -> Result<(), ClientError> {
        self.get_bytes("/healthz").await.map(|_| ())
    }

    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.get("/v1/whoami", &NO_QUERY).await
    }

    /// How the broker's notification outbox stands (counts by state).
    pub async fn notifications(
        &self,
    ) -> Result<crate::model::api::NotificationSummary, ClientError> {
        self.get("/v1/notifications", &NO_QUERY).await
    }

    pub async fn roles(&self) -> Result<Vec<crate::model::api::RoleSummary>, ClientError> {
        self.get("/v1/roles", &NO_QUERY).await
    }

    pub async fn create_request(&self, body: &CreateRequest) -> Result<Request, ClientError> {
        self.post("/v1/requests", body).await
    }

    pub async fn list_requests(&self, query: &ListRequests) -> Result<RequestPage, ClientError> {
        self.get("/v1/requests", query).await
    }

    /// Every request matching the query, following `next` page by page.
    pub async fn list_all_requests(
        &self,
        query: &ListRequests,
    ) -> Result<Vec<Request>, ClientError> {
        let mut query = query.clone();
        let mut all = Vec::new();
        for _ in 0..MAX_PAGES {
            let page = self.list_requests(&query).await?;
            all.extend(page.requests);
            match page.next {
                Some(next) if query.after.as_deref() != Some(next.as_str()) => {
                    query.after = Some(next)
                }
                _ => return Ok(all),
            }
        }
        Ok(all)
    }

    pub async fn get_request(&self, id: Uuid) -> Result<Request, ClientError> {
        self.get(&format!("/v1/requests/{id}"), &NO_QUERY).await
    }

    pub async fn review(&self, id: Uuid, body: &SubmitReview) -> Result<Request, ClientError> {
        self.post(&format!("/v1/requests/{id}/reviews"), body).await
    }

    /// An override: resolve a pending request directly.
    pub async fn resolve(&self, id: Uuid, body: &Resolve) -> Result<Request, ClientError> {
        self.post(&format!("/v1/requests/{id}/resolve"), body).await
    }

    pub async fn withdraw(&self, id: Uuid) -> Result<Request, ClientError> {
        self.post(&format!("/v1/requests/{id}/withdraw"), &EMPTY_BODY)
            .await
    }

    pub async fn return_access(&self, id: Uuid) -> Result<Request, ClientError> {
        self.post(&format!("/v1/requests/{id}/return"), &EMPTY_BODY)
            .await
    }

    /// `POST /v1/requests/{id}/certificate`: an SSH certificate for `public_key`.
    pub async fn issue_certificate(
        &self,
        id: Uuid,
        public_key: &str,
    ) -> Result<crate::model::Certificate, ClientError> {
        let body = crate::model::certificate::IssueCertificate {
            public_key: public_key.to_string(),
        };
        self.post(&format!("/v1/requests/{id}/certificate"), &body)
            .await
    }

    pub async fn certificates(
        &self,
        id: Uuid,
    ) -> Result<crate::model::certificate::CertificateList, ClientError> {
        self.get(&format!("/v1/requests/{id}/certificates"), &NO_QUERY)
            .await
    }

    pub async fn revoke(&self, id: Uuid, reason: &str) -> Result<Request, ClientError> {
        let body = crate::model::certificate::Revoke {
            reason: reason.to_string(),
        };
        self.post(&format!("/v1/requests/{id}/revoke"), &body).await
    }

    /// `GET /v1/ssh/krl`: the KRL as the broker serves it.
    pub async fn ssh_krl(&self) -> Result<Vec<u8>, ClientError> {
        let (_, bytes) = self.get_bytes("/v1/ssh/krl").await?;
        Ok(bytes)
    }

    /// `GET /v1/ssh/ca`: the user CA's `authorized_keys` line.
    pub async fn ssh_ca(&self) -> Result<String, ClientError> {
        let (status, bytes) = self.get_bytes("/v1/ssh/ca").await?;
        String::from_utf8(bytes).map_err(|_| ClientError::Protocol {
            status: Some(status),
            detail: "the CA key is not text".into(),
        })
    }

    pub async fn post_incident_review(
        &self,
        id: Uuid,
        body: &SubmitPostIncidentReview,
    ) -> Result<Request, ClientError> {
        self.post(&format!("/v1/requests/{id}/post-incident-review"), body)
            .await
    }

    pub async fn audit_events(&self, query: &ListEvents) -> Result<EventPage, ClientError> {
        self.get("/v1/audit/events", query).await
    }

    pub async fn audit_findings(
        &self,
        window: Option<Duration>,
    ) -> Result<FindingsReport, ClientError> {
        #[derive(Serialize)]
        struct Window {
            #[serde(skip_serializing_if = "Option::is_none")]
            window: Option<Duration>,
        }
        self.get("/v1/audit/findings", &Window { window }).await
    }

    /// One page of the findings (or all of them, without a `limit`).
    pub async fn audit_findings_page(
        &self,
        query: &ListFindings,
    ) -> Result<FindingsReport, ClientError> {
        self.get("/v1/audit/findings", query).await
    }

    pub async fn mark_finding_reviewed(
        &self,
        body: &MarkFindingReviewed,
    ) -> Result<serde_json::Value, ClientError> {
        self.post("/v1/audit/findings/reviewed", body).await
    }

    pub async fn audit_verify(&self) -> Result<VerifyReport, ClientError> {
        self.get("/v1/audit/verify", &NO_QUERY).await
    }

    /// Opens `GET /v1/events`, resuming after `after` when given, on the first broker
    /// of the rotation that answers within `patience` (a hung broker may accept the
    /// connection and never answer). Returns the response once headers arrive; the
    /// caller reads the body as it streams.
    pub(crate) async fn open_event_stream(
        &self,
        after: Option<u64>,
        patience: StdDuration,
    ) -> Result<reqwest::Response, ClientError> {
        let mut failures = Vec::new();
        for (index, base) in self.rotation() {
            let mut builder = self
                .inner
                .stream
                .get(format!("{base}/v1/events"))
                .bearer_auth(&self.inner.token)
                .header(reqwest::header::ACCEPT, "text/event-stream")
                .header(reqwest::header::CACHE_CONTROL, "no-cache");
            if let Some(after) = after {
                builder = builder
                    .header("Last-Event-ID", after.to_string())
                    .query(&[("after", after)]);
            }
            let response = match tokio::time::timeout(patience, builder.send()).await {
                Ok(Ok(response)) => response,
                Ok(Err(err)) => {
                    failures.push(ClientError::from_reqwest(base, &err));
                    continue;
                }
                Err(_) => {
                    failures.push(ClientError::Unreachable {
                        url: base.to_string(),
                        detail: format!("no answer within {}s", patience.as_secs_f32()),
                    });
                    continue;
                }
            };
            self.settle_on(index);
            let status = response.status().as_u16();
            if (200..300).contains(&status) {
                return Ok(response);
            }
            let bytes = response.bytes().await.unwrap_or_default();
            return Err(ClientError::from_response(status, &bytes));
        }
        Err(self.unreachable(failures, Arrived::No))
    }
}
