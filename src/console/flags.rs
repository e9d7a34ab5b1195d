//! What deserves a second look about a request, and what names a ticket: plain
//! data the listing computes and the views draw.

use regex::{RegexSet, RegexSetBuilder};

use crate::audit::{DEFAULT_TICKET_PATTERNS, MAX_PATTERN_BYTES};

/// Same user, same role this many times in [`REPEAT_WINDOW_HOURS`] is worth a
/// question: the audit defaults, until the broker's findings say otherwise.
pub const REPEAT_THRESHOLD: usize = 3;
pub const REPEAT_WINDOW_HOURS: i64 = 168;

/// When asking again for a role is flagged: the broker's `[audit]
/// repeat_threshold` and window once its findings brought them, so the queue flags
/// what the weekly review finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repeats {
    pub threshold: usize,
    pub window_hours: i64,
}

impl Default for Repeats {
    fn default() -> Self {
        Repeats {
            threshold: REPEAT_THRESHOLD,
            window_hours: REPEAT_WINDOW_HOURS,
        }
    }
}

/// Most ticket patterns taken from the broker.
pub(super) const MAX_TICKET_PATTERNS: usize = 64;
/// The compiled size the broker's patterns may take, together: patterns come over
/// the network, and a huge one should be refused, not built.
const TICKET_REGEX_BYTES: usize = 1 << 20;

/// What names a ticket or incident (`#47`, `INC-123`, `OPS-9`): the broker's
/// `[audit] ticket_patterns` once the findings brought them, the audit defaults
/// before that. Compiled once, when they change.
#[derive(Debug, Clone)]
pub struct Tickets {
    set: RegexSet,
    patterns: Vec<String>,
    /// The patterns the broker last sent, used or not, so a refused list is not
    /// compiled again on every refresh.
    told: Option<Vec<String>>,
}

impl Default for Tickets {
    fn default() -> Self {
        let patterns: Vec<String> = DEFAULT_TICKET_PATTERNS.map(String::from).to_vec();
        // The defaults are constants pinned by tests; should they ever fail to build,
        // flag nothing rather than panic.
        let set = compile(&patterns).unwrap_or_else(|_| RegexSet::empty());
        Tickets {
            set,
            patterns,
            told: None,
        }
    }
}

fn compile(patterns: &[String]) -> Result<RegexSet, String> {
    if patterns.len() > MAX_TICKET_PATTERNS {
        return Err(format!(
            "{} patterns, more than {MAX_TICKET_PATTERNS}",
            patterns.len()
        ));
    }
    if let Some(long) = patterns.iter().find(|p| p.len() > MAX_PATTERN_BYTES) {
        return Err(format!(
            "a pattern of {} bytes, more than {MAX_PATTERN_BYTES}",
            long.len()
        ));
    }
    RegexSetBuilder::new(patterns)
        .size_limit(TICKET_REGEX_BYTES)
        .dfa_size_limit(TICKET_REGEX_BYTES)
        .build()
        .map_err(|error| match error {
            // The full message quotes the pattern over several lines: too much for
            // the status bar.
            regex::Error::CompiledTooBig(_) => "a pattern too big once compiled".to_string(),
            _ => "a pattern that is not a valid regex".to_string(),
        })
}

impl Tickets {
    /// The broker's patterns, compiled; the error says why they cannot be used.
    pub fn from_broker(patterns: &[String]) -> Result<Tickets, String> {
        Ok(Tickets {
            set: compile(patterns)?,
            patterns: patterns.to_vec(),
            told: Some(patterns.to_vec()),
        })
    }

    /// Whether a reason names a ticket or incident.
    pub fn names_ticket(&self, reason: &str) -> bool {
        self.set.is_match(reason)
    }

    /// The patterns in effect.
    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether the audit defaults are in effect.
    pub fn are_defaults(&self) -> bool {
        self.patterns
            .iter()
            .map(String::as_str)
            .eq(DEFAULT_TICKET_PATTERNS)
    }

    /// Whether the broker last sent exactly these patterns.
    pub fn was_told(&self, patterns: &[String]) -> bool {
        self.told.as_deref() == Some(patterns)
    }

    /// The defaults, remembering that the broker sent `refused`.
    pub fn defaults_instead_of(refused: &[String]) -> Tickets {
        Tickets {
            told: Some(refused.to_vec()),
            ..Tickets::default()
        }
    }
}

/// What deserves a second look, each shown as a glyph in the table and in words
/// in the detail pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub emergency: bool,
    pub no_ticket: bool,
    /// How often the requester asked for one of these roles in the window, when
    /// at least the repeat threshold in effect.
    pub repeat: Option<usize>,
    pub post_incident_owed: bool,
}
