//! `GET /metrics` (DESIGN §11): the broker's counters and gauges in the Prometheus
//! text format, through `prometheus-client`.
//!
//! - `countersign_http_request_duration_seconds{method,route}`: API latency, from the
//!   request head to the response head, by the matched route template (never the raw
//!   path, so ids do not make new series); `countersign_http_responses_total` adds
//!   the status. Event streams count until their head is sent.
//! - `countersign_requests{state}`: requests in each state now, every state (0 when
//!   none), counted at scrape through the state index;
//!   `countersign_audit_events_total{type,state}`: every committed audit event by
//!   type and the state it left its request in.
//! - `countersign_event_streams_open`; `countersign_api_writes_in_flight`: API
//!   calls that write (any method but GET, HEAD, OPTIONS…) being handled now, from
//!   their head to their answer; `countersign_store_write_queue_depth`: writes
//!   queued for the store's writer and not yet taken into a commit (SQLite: the
//!   writer thread; PostgreSQL: this broker's group commit), read at scrape; and
//!   `countersign_notifications{state}`: the outbox by state.
//!
//! Who may read it is `[metrics] access` in broker.toml: loopback peers only by
//! default (as Teleport's diagnostic endpoint and most exporters are reached: from
//! the host, or over a network that is itself guarded), a bearer token from an
//! environment variable for a scraper elsewhere, anyone, or nobody.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Extensions, HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::server::Broker;
use crate::model::State as RequestState;
use crate::model::api::ErrorCode;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `[metrics]` in broker.toml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub access: Access,
    /// For `access = "token"`: the environment variable holding the bearer token a
    /// scraper sends (Prometheus: `authorization: {credentials_file: …}`).
    pub token_env: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Only connections from 127.0.0.0/8 or ::1.
    #[default]
    Loopback,
    /// Anyone with the bearer token named by `token_env`.
    Token,
    /// Anyone who can reach the port.
    Open,
    /// No `/metrics`, and no latency recorded.
    Off,
}

/// Who may read, settled at start.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reader {
    Loopback,
    Token([u8; 32]),
    Anyone,
    Nobody,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    method: &'static str,
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    method: &'static str,
    route: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByState {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ByEvent {
    r#type: &'static str,
    state: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The broker's metrics; one per broker, shared by every handler.
pub struct Metrics {
    reader: Reader,
    registry: Registry,
    latency: Family<Route, Histogram, fn() -> Histogram>,
    responses: Family<Answered, Counter>,
    open_streams: Gauge,
    writes_in_flight: Gauge,
    write_queue: Gauge,
    requests: Family<ByState, Gauge>,
    events: Family<ByEvent, Counter>,
    notifications: Family<ByState, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("reader", &self.reader)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics `config` asks for; `env` looks up the token variable.
    pub fn new(
        config: &MetricsConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Self> {
        let reader = match config.access {
            Access::Loopback => Reader::Loopback,
            Access::Open => Reader::Anyone,
            Access::Off => Reader::Nobody,
            Access::Token => {
                let Some(name) = config.token_env.as_deref().filter(|n| !n.trim().is_empty())
                else {
                    anyhow::bail!(
                        "[metrics] access = \"token\" needs token_env, the environment variable holding the scraper's token"
                    );
                };
                let token = env(name).map(|t| t.trim().to_string()).unwrap_or_default();
                if token.is_empty() {
                    anyhow::bail!(
                        "[metrics] token_env names {name}, which is not set or empty in the broker's environment"
                    );
                }
                Reader::Token(Sha256::digest(token.as_bytes()).into())
            }
        };
        let mut metrics = Metrics {
            reader,
            registry: Registry::with_prefix("countersign"),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            responses: Family::default(),
            open_streams: Gauge::default(),
            writes_in_flight: Gauge::default(),
            write_queue: Gauge::default(),
            requests: Family::default(),
            events: Family::default(),
            notifications: Family::default(),
        };
        metrics.register();
        Ok(metrics)
    }

    fn register(&mut self) {
        let registry = &mut self.registry;
        registry.register_with_unit(
            "http_request_duration",
            "API latency from request head to response head, by matched route",
            prometheus_client::registry::Unit::Seconds,
            self.latency.clone(),
        );
        registry.register(
            "http_responses",
            "API responses by matched route and status",
            self.responses.clone(),
        );
        registry.register(
            "event_streams_open",
            "Event streams (GET /v1/events) open now",
            self.open_streams.clone(),
        );
        registry.register(
            "api_writes_in_flight",
            "API calls that write, being handled now",
            self.writes_in_flight.clone(),
        );
        registry.register(
            "store_write_queue_depth",
            "Writes queued for the store's writer, not yet taken into a commit",
            self.write_queue.clone(),
        );
        registry.register(
            "requests",
            "Access requests by state now (counted at scrape)",
            self.requests.clone(),
        );
        registry.register(
            "audit_events",
            "Committed audit events by type and the state they left the request in",
            self.events.clone(),
        );
        registry.register(
            "notifications",
            "The notification outbox by state",
            self.notifications.clone(),
        );
    }

    /// Whether anything is recorded and served at all.
    pub fn enabled(&self) -> bool {
        self.reader != Reader::Nobody
    }

    /// One answered API call.
    fn observe(&self, method: &'static str, route: &'static str, status: u16, seconds: f64) {
        self.latency
            .get_or_create(&Route { method, route })
            .observe(seconds);
        self.responses
            .get_or_create(&Answered {
                method,
                route,
                status,
            })
            .inc();
    }

    /// Counts one committed audit event.
    pub fn committed(&self, event: &crate::model::AuditEvent) {
        self.events
            .get_or_create(&ByEvent {
                r#type: event.kind.as_str(),
                state: event.state.map(RequestState::as_str).unwrap_or("none"),
            })
            .inc();
    }

    /// Held by an open event stream; the gauge goes down when it is dropped.
    pub fn stream_opened(self: &Arc<Self>) -> OpenStream {
        self.open_streams.inc();
        OpenStream(self.clone())
    }

    /// The text a scrape returns, after counting what is counted at scrape.
    fn render(&self, at_scrape: &AtScrape) -> String {
        for state in RequestState::ALL {
            let n = at_scrape
                .requests
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            self.requests
                .get_or_create(&ByState {
                    state: state.as_str(),
                })
                .set(saturating(n));
        }
        self.write_queue
            .set(saturating(at_scrape.write_queue as u64));
        let outbox = &at_scrape.outbox;
        for (state, n) in outbox {
            self.notifications
                .get_or_create(&ByState { state })
                .set(saturating(*n));
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn allows(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), ApiError> {
        match &self.reader {
            Reader::Anyone => Ok(()),
            Reader::Nobody => Err(ApiError::not_found(
                "metrics are off on this broker ([metrics] access = \"off\")",
            )),
            Reader::Loopback => match peer {
                Some(peer) if peer.ip().is_loopback() => Ok(()),
                _ => Err(ApiError::forbidden(
                    "metrics are served to loopback only; set [metrics] access = \"token\" (or \"open\") in broker.toml for a scraper elsewhere",
                )),
            },
            Reader::Token(expected) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|h| h.to_str().ok())
                    .and_then(|h| h.strip_prefix("Bearer "))
                    .map(str::trim);
                match given {
                    Some(token) if Sha256::digest(token.as_bytes())[..] == expected[..] => Ok(()),
                    Some(_) => Err(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "not the metrics token",
                    )),
                    None => Err(ApiError::new(
                        ErrorCode::Unauthenticated,
                        "metrics need Authorization: Bearer <the token in [metrics] token_env>",
                    )),
                }
            }
        }
    }
}

fn saturating(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An open event stream, counted until dropped.
pub struct OpenStream(Arc<Metrics>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.open_streams.dec();
    }
}

/// Counts a write for as long as it is being handled.
struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A route template as a `'static` label, so recording one allocates nothing. The
/// templates come from the router's fixed table (never from a raw path), so the
/// few strings kept here are bounded by it.
fn intern(route: &str) -> &'static str {
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(Default::default);
    if let Ok(known) = routes.read()
        && let Some(found) = known.get(route)
    {
        return found;
    }
    let Ok(mut known) = routes.write() else {
        return "unmatched";
    };
    if let Some(found) = known.get(route) {
        return found;
    }
    let kept: &'static str = Box::leak(route.to_string().into_boxed_str());
    known.insert(kept);
    kept
}

/// A bounded label for the method: anything unusual is `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: times each call by its matched route.
pub async fn track(State(broker): State<Arc<Broker>>, request: Request, next: Next) -> Response {
    let metrics = &broker.metrics;
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| intern(path.as_str()))
        .unwrap_or("unmatched");
    let method = method_label(request.method());
    let _write = (!request.method().is_safe()).then(|| {
        metrics.writes_in_flight.inc();
        InFlight(&metrics.writes_in_flight)
    });
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.observe(
        method,
        route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`.
pub async fn scrape(
    State(broker): State<Arc<Broker>>,
    extensions: Extensions,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr);
    broker.metrics.allows(peer, &headers)?;
    let at_scrape = broker
        .blocking(|broker| {
            Ok(AtScrape {
                requests: broker.store.request_counts()?,
                write_queue: broker.store.write_queue_depth(),
                outbox: broker
                    .store
                    .notification_counts()?
                    .into_iter()
                    .map(|(state, n)| (state.as_str(), n))
                    .collect(),
            })
        })
        .await?;
    let text = broker.metrics.render(&at_scrape);
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// What is read from the store at each scrape.
struct AtScrape {
    requests: Vec<(RequestState, u64)>,
    write_queue: usize,
    outbox: Vec<(&'static str, u64)>,
}

/// Counts every event the broker commits, from its event bus.
pub async fn count_events(broker: Arc<Broker>) {
    let mut events = broker.bus.subscribe();
    loop {
        match events.recv().await {
            Ok(outgoing) => broker.metrics.committed(outgoing.event()),
            // Too slow to count some: the counter undercounts, the broker goes on.
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(config: MetricsConfig, env: &[(&str, &str)]) -> anyhow::Result<Metrics> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Metrics::new(&config, &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn loopback_is_the_default_reader() {
        let m = metrics(MetricsConfig::default(), &[]).unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let far: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert!(m.allows(Some(local), &HeaderMap::new()).is_ok());
        assert!(
            m.allows(Some("[::1]:5000".parse().unwrap()), &HeaderMap::new())
                .is_ok()
        );
        let refused = m.allows(Some(far), &HeaderMap::new()).unwrap_err();
        assert_eq!(refused.code, ErrorCode::Forbidden);
        assert!(m.allows(None, &HeaderMap::new()).is_err());
    }

    #[test]
    fn a_token_reader_needs_the_token_from_anywhere() {
        let config = MetricsConfig {
            access: Access::Token,
            token_env: Some("SCRAPE".into()),
        };
        let m = metrics(config.clone(), &[("SCRAPE", "s3cret\n")]).unwrap();
        let far: SocketAddr = "10.1.2.3:5000".parse().unwrap();
        assert!(m.allows(Some(far), &bearer("s3cret")).is_ok());
        let wrong = m.allows(Some(far), &bearer("guess")).unwrap_err();
        assert_eq!(wrong.code, ErrorCode::Unauthenticated);
        assert!(m.allows(Some(far), &HeaderMap::new()).is_err());
        // Misconfigurations stop the broker at start, with what to fix.
        let unset = metrics(config, &[]).unwrap_err().to_string();
        assert!(unset.contains("SCRAPE"), "{unset}");
        let nameless = MetricsConfig {
            access: Access::Token,
            token_env: None,
        };
        assert!(
            metrics(nameless, &[])
                .unwrap_err()
                .to_string()
                .contains("token_env")
        );
    }

    #[test]
    fn off_serves_nothing_and_open_serves_anyone() {
        let off = metrics(
            MetricsConfig {
                access: Access::Off,
                token_env: None,
            },
            &[],
        )
        .unwrap();
        assert!(!off.enabled());
        assert_eq!(
            off.allows(None, &HeaderMap::new()).unwrap_err().code,
            ErrorCode::NotFound
        );
        let open = metrics(
            MetricsConfig {
                access: Access::Open,
                token_env: None,
            },
            &[],
        )
        .unwrap();
        assert!(open.allows(None, &HeaderMap::new()).is_ok());
    }

    #[test]
    fn the_text_has_every_family_and_the_observed_values() {
        let m = Arc::new(metrics(MetricsConfig::default(), &[]).unwrap());
        m.observe("GET", "/v1/requests/{id}", 200, 0.003);
        m.observe("GET", "/v1/requests/{id}", 404, 0.001);
        let stream = m.stream_opened();
        let text = m.render(&AtScrape {
            requests: vec![(RequestState::Pending, 3)],
            write_queue: 5,
            outbox: vec![("failed", 2)],
        });
        assert!(text.contains(
            "countersign_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/requests/{id}\"} 2"
        ), "{text}");
        assert!(text.contains(
            "countersign_http_responses_total{method=\"GET\",route=\"/v1/requests/{id}\",status=\"404\"} 1"
        ), "{text}");
        assert!(text.contains("countersign_event_streams_open 1"), "{text}");
        assert!(
            text.contains("countersign_requests{state=\"pending\"} 3"),
            "{text}"
        );
        // Every state has its sample, zero when none are in it.
        assert!(
            text.contains("countersign_requests{state=\"revoked\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("countersign_store_write_queue_depth 5"),
            "{text}"
        );
        assert!(
            text.contains("countersign_notifications{state=\"failed\"} 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        drop(stream);
        let text = m.render(&AtScrape {
            requests: Vec::new(),
            write_queue: 0,
            outbox: Vec::new(),
        });
        assert!(text.contains("countersign_event_streams_open 0"), "{text}");
    }

    #[test]
    fn config_reads_from_toml() {
        let config: MetricsConfig =
            toml::from_str("access = \"token\"\ntoken_env = \"X\"").unwrap();
        assert_eq!(config.access, Access::Token);
        assert!(toml::from_str::<MetricsConfig>("access = \"public\"").is_err());
        assert!(toml::from_str::<MetricsConfig>("acess = \"open\"").is_err());
    }
}
