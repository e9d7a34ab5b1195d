//! Everything that can change the console's state, and everything the runtime is
//! asked to do in return.

use ratatui_textarea::Input;
use uuid::Uuid;

pub use super::command::Command;
use super::state::{Connection, RoleInfo};
use crate::model::api::{
    ErrorCode, FindingsReport, ListFindings, MarkFindingReviewed, SubmitPostIncidentReview,
    SubmitReview, WhoAmI,
};
use crate::model::certificate::CertificateSummary;
use crate::model::{AuditEvent, FindingReview, Request};

/// The only way the console's state changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A key bound to a command.
    Command(Command),
    /// A key typed into the open dialog's editor.
    Editor(Input),
    /// Moves the role picker's cursor in the review dialog.
    RoleCursor(i32),
    FilterChar(char),
    FilterBackspace,
    /// A left click at this cell of the screen.
    Click {
        column: u16,
        row: u16,
    },
    /// The mouse wheel: down (positive) or up, one step.
    Wheel(i32),
    /// The terminal's size changed (also sent once at start).
    Resize {
        width: u16,
        height: u16,
    },
    /// One second passed.
    Tick,
    /// Every request the broker shows us (first load, polling, refresh).
    Loaded(Vec<Request>),
    /// One request changed or appeared (from the event stream).
    Upserted(Request),
    /// The audit log moved without a request the console may see (a finding's mark,
    /// a refused attempt): the Audit tab's findings may be out of date.
    AuditChanged,
    WhoAmI(WhoAmI),
    /// The demo wrote its environment file here.
    DemoEnv(super::state::DemoEnv),
    /// What is known about roles: request prompts, session lengths.
    Roles(Vec<RoleInfo>),
    /// The broker's notification outbox, fetched now and then.
    Notifications(crate::model::api::NotificationSummary),
    Connection(Connection),
    /// The console now talks to this broker of its list (it failed over).
    Broker(String),
    /// Something went wrong talking to the broker that the user should read.
    Trouble(String),
    /// The weekly review's first findings (as many as were loaded) and the broker's
    /// ticket patterns, or why they could not be had.
    Findings(Result<FindingsReport, String>),
    /// A further page of findings, asked for after this cursor, or why not.
    MoreFindings {
        after: String,
        result: Result<FindingsReport, String>,
    },
    /// The broker answered a review the console submitted.
    Reviewed {
        id: Uuid,
        result: Result<Request, ReviewError>,
    },
    /// The broker answered marking the finding with this key reviewed.
    FindingMarked {
        key: String,
        result: Result<FindingReview, ReviewError>,
    },
    /// The broker answered a post-incident review the console submitted.
    PostIncidentReviewed {
        id: Uuid,
        result: Result<Request, ReviewError>,
    },
    /// A request the listing does not hold, fetched for its detail view.
    RequestFetched {
        id: Uuid,
        result: Result<Request, String>,
    },
    /// The broker answered a revocation the console submitted.
    Revoked {
        id: Uuid,
        result: Result<Request, ReviewError>,
    },
    /// The first page of the history came with the listing: where the next starts.
    OlderFrom(Option<String>),
    /// A page of the broker's matches for the filter `q` and where the next one
    /// starts, or why not.
    Matches {
        q: String,
        result: Result<(Vec<Request>, Option<String>), String>,
    },
    /// A page of older requests and where the next one starts, or why not.
    Older(Result<(Vec<Request>, Option<String>), String>),
    /// A request's SSH certificates, or why they could not be had.
    Certificates {
        id: Uuid,
        result: Result<Vec<CertificateSummary>, String>,
    },
    /// A request's audit events, oldest first.
    History {
        id: Uuid,
        result: Result<Vec<AuditEvent>, String>,
    },
}

/// Why the broker refused a review, a finding's mark or a post-incident review, as
/// shown in the dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewError {
    /// `None` when the broker could not be reached.
    pub code: Option<ErrorCode>,
    pub message: String,
}

/// What `update` asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    SubmitReview {
        id: Uuid,
        review: SubmitReview,
    },
    MarkFindingReviewed(MarkFindingReviewed),
    SubmitPostIncidentReview {
        id: Uuid,
        review: SubmitPostIncidentReview,
    },
    /// End a request's approved access now, with this reason.
    Revoke {
        id: Uuid,
        reason: String,
    },
    /// Fetch the page of the history after this cursor.
    FetchOlder(String),
    /// Ask the broker for requests matching the filter `q`, after this cursor.
    FetchMatches {
        q: String,
        after: Option<String>,
    },
    /// Fetch one request's SSH certificates.
    FetchCertificates(Uuid),
    /// Fetch one request (for a detail view the listing cannot serve).
    FetchRequest(Uuid),
    /// Fetch one request's audit events.
    FetchHistory(Uuid),
    /// A desktop notification; `urgent` for emergencies.
    Notify {
        title: String,
        body: String,
        urgent: bool,
    },
    /// Reload every request.
    Refresh,
    /// Fetch a page of the weekly review's findings: from the top (answered by
    /// `Findings`), or after a cursor (answered by `MoreFindings`).
    FetchFindings(ListFindings),
    /// Put this text on the terminal's clipboard (OSC 52).
    Copy(String),
    Quit,
}
