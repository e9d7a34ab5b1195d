//! The weekly audit review: heuristics over requests and audit events, and report formats.
//!
//! How the broker uses it:
//!
//! ```text
//! let config = broker_toml.audit.compile()?;                  // once, at start-up
//! let mut analyzer = Analyzer::new(&config, now - window, now);
//! for request in store.requests_touching(window)  { analyzer.add_request(&request) }
//! for event in store.events_in(window)            { analyzer.add_event(&event) }
//! let mut report = analyzer.finish();
//! let marks = reviews_from_events(store.events_of_type(EventType::FindingReviewed));
//! apply_reviews(&mut report.findings, &marks);
//! render(&report, Format::Markdown, now)
//! ```
//!
//! The kinds and their severities (DESIGN §6):
//!
//! | kind | severity | counted when |
//! |---|---|---|
//! | `override` | high when it granted access, low when it denied | resolved in the window |
//! | `emergency_unreviewed` | high | the review is overdue at `now`, whenever it was approved |
//! | `refused_review` | high for `self_review`, medium for `forbidden` and unknown codes, low for `already_reviewed`/`not_pending` | refused in the window |
//! | `fast_approval` | medium; low for an emergency (speed is its point) | approved in the window |
//! | `overheld` | medium | the holding ended in the window, or still lasts |
//! | `no_ticket` | low | created in the window |
//! | `repeat_request` | low | created in the window |

mod analyzer;
mod config;
mod digest;
mod heuristics;
pub mod report;
mod reviewed;
mod reviewers;
mod text;

#[cfg(test)]
mod tests;

pub use analyzer::{Analyzer, analyze};
pub use config::{AuditConfig, CompiledConfig, DEFAULT_TICKET_PATTERNS, MAX_PATTERN_BYTES};
pub use digest::{Digester, RequestDigest};
pub use report::{Format, render, render_events};
pub use reviewed::{apply_reviews, key_request, mark_fields, mark_refusal, reviews_from_events};
pub use reviewers::median;
