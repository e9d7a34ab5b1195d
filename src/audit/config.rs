//! The `[audit]` table of `broker.toml`: the thresholds of the weekly review.

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};

use crate::model::Duration;

/// Thresholds of the heuristics, as written in the config file. Every field has a
/// default, so an empty or missing `[audit]` table is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// An approval made strictly sooner than this after the request was created is
    /// flagged `fast_approval`.
    pub fast_approval: Duration,
    /// Regexes; a reason matching none of them is flagged `no_ticket`.
    pub ticket_patterns: Vec<String>,
    /// The same user asking for the same role this many times in the window is
    /// flagged `repeat_request`.
    pub repeat_threshold: u32,
    /// Access held longer than the estimate plus this percentage is `overheld`.
    pub overheld_margin_percent: u32,
    /// Without an estimate, access held to the very end of a window at least this
    /// long is `overheld`.
    pub overheld_min_window: Duration,
    /// How long after approval an emergency request may go without a post-incident
    /// review before it is flagged `emergency_unreviewed`.
    pub emergency_review_due: Duration,
    /// How far back the weekly review looks by default.
    pub window: Duration,
}

/// What names a ticket or incident unless `ticket_patterns` says otherwise: `#47`,
/// `INC-123`, `OPS-9`. Front ends use these until the broker tells them its own.
pub const DEFAULT_TICKET_PATTERNS: [&str; 2] = [r"#\d+", r"\b[A-Z][A-Z0-9]+-\d+\b"];

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            fast_approval: Duration::from_mins(2),
            ticket_patterns: DEFAULT_TICKET_PATTERNS.map(String::from).to_vec(),
            repeat_threshold: 3,
            overheld_margin_percent: 25,
            overheld_min_window: Duration::from_hours(4),
            emergency_review_due: Duration::from_hours(72),
            window: Duration::from_hours(168),
        }
    }
}

/// Patterns longer than this are refused: they come from a config file, but a
/// runaway pattern should fail loudly rather than slow every review.
pub const MAX_PATTERN_BYTES: usize = 1024;

impl AuditConfig {
    /// Checks the thresholds and compiles the ticket patterns once. The error names
    /// the offending setting or pattern.
    pub fn compile(&self) -> Result<CompiledConfig, String> {
        if self.repeat_threshold < 2 {
            return Err(format!(
                "audit.repeat_threshold must be at least 2 (got {})",
                self.repeat_threshold
            ));
        }
        if self.window.is_zero() {
            return Err("audit.window must be longer than 0s".into());
        }
        if self.ticket_patterns.is_empty() {
            // Nothing would name a ticket: every request would be flagged. Front
            // ends also read an empty list as "the broker did not say".
            return Err(
                "audit.ticket_patterns is empty, so every reason would be flagged no_ticket; leave it out for the defaults".into(),
            );
        }
        for (i, pattern) in self.ticket_patterns.iter().enumerate() {
            if pattern.len() > MAX_PATTERN_BYTES {
                return Err(format!(
                    "audit.ticket_patterns[{i}] is longer than {MAX_PATTERN_BYTES} bytes"
                ));
            }
            if let Err(err) = Regex::new(pattern) {
                return Err(format!(
                    "audit.ticket_patterns[{i}] {pattern:?} is not a valid regex: {err}"
                ));
            }
        }
        let tickets = RegexSet::new(&self.ticket_patterns)
            .map_err(|err| format!("audit.ticket_patterns: {err}"))?;
        Ok(CompiledConfig {
            fast_approval: self.fast_approval,
            tickets,
            repeat_threshold: self.repeat_threshold,
            overheld_margin_percent: self.overheld_margin_percent,
            overheld_min_window: self.overheld_min_window,
            emergency_review_due: self.emergency_review_due,
            window: self.window,
        })
    }
}

/// An [`AuditConfig`] checked and with its patterns compiled; what the analyzer uses.
#[derive(Debug, Clone)]
pub struct CompiledConfig {
    pub fast_approval: Duration,
    tickets: RegexSet,
    pub repeat_threshold: u32,
    pub overheld_margin_percent: u32,
    pub overheld_min_window: Duration,
    pub emergency_review_due: Duration,
    pub window: Duration,
}

impl CompiledConfig {
    /// Whether a reason names a ticket or incident.
    pub fn names_ticket(&self, reason: &str) -> bool {
        self.tickets.is_match(reason)
    }

    /// The ticket patterns, as configured.
    pub fn ticket_patterns(&self) -> &[String] {
        self.tickets.patterns()
    }

    /// How long access may be held against an estimate before it is overheld.
    pub fn overheld_allowance(&self, estimate: Duration) -> Duration {
        let extra =
            u128::from(estimate.as_millis()) * u128::from(self.overheld_margin_percent) / 100;
        let total = u128::from(estimate.as_millis()) + extra;
        Duration::from_millis(u64::try_from(total).unwrap_or(u64::MAX))
    }
}

impl Default for CompiledConfig {
    fn default() -> Self {
        // Built from constants; a failure here would be a bug in the defaults, which
        // the tests pin, so fall back to a config with no patterns rather than panic.
        AuditConfig::default()
            .compile()
            .unwrap_or_else(|_| CompiledConfig {
                fast_approval: Duration::from_mins(2),
                tickets: RegexSet::empty(),
                repeat_threshold: 3,
                overheld_margin_percent: 25,
                overheld_min_window: Duration::from_hours(4),
                emergency_review_due: Duration::from_hours(72),
                window: Duration::from_hours(168),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_compile() {
        let config = AuditConfig::default();
        assert!(config.compile().is_ok());
    }

    #[test]
    fn empty_table_takes_defaults() {
        let config: AuditConfig = toml::from_str("").unwrap();
        assert_eq!(config, AuditConfig::default());
    }

    #[test]
    fn table_overrides_fields() {
        let config: AuditConfig = toml::from_str(
            r#"
            fast_approval = "5m"
            ticket_patterns = ['JIRA-\d+']
            repeat_threshold = 5
            window = "24h"
            "#,
        )
        .unwrap();
        assert_eq!(config.fast_approval, Duration::from_mins(5));
        assert_eq!(config.repeat_threshold, 5);
        assert_eq!(config.window, Duration::from_hours(24));
        assert_eq!(config.overheld_margin_percent, 25);
        let compiled = config.compile().unwrap();
        assert!(compiled.names_ticket("see JIRA-12"));
        assert!(!compiled.names_ticket("see #12"));
    }

    #[test]
    fn unknown_key_is_refused() {
        let err = toml::from_str::<AuditConfig>("fast_aproval = \"5m\"").unwrap_err();
        assert!(err.to_string().contains("fast_aproval"), "{err}");
    }

    #[test]
    fn bad_pattern_is_named() {
        let config = AuditConfig {
            ticket_patterns: vec![r"#\d+".into(), "INC-(".into()],
            ..AuditConfig::default()
        };
        let err = config.compile().unwrap_err();
        assert!(err.contains("ticket_patterns[1]"), "{err}");
        assert!(err.contains("INC-("), "{err}");
    }

    #[test]
    fn silly_thresholds_are_refused() {
        let low = AuditConfig {
            repeat_threshold: 1,
            ..AuditConfig::default()
        };
        assert!(low.compile().unwrap_err().contains("repeat_threshold"));
        let empty = AuditConfig {
            window: Duration::ZERO,
            ..AuditConfig::default()
        };
        assert!(empty.compile().unwrap_err().contains("window"));
        let no_patterns: AuditConfig = toml::from_str("ticket_patterns = []").unwrap();
        let err = no_patterns.compile().unwrap_err();
        assert!(err.contains("ticket_patterns is empty"), "{err}");
    }

    #[test]
    fn default_patterns_find_tickets() {
        let compiled = CompiledConfig::default();
        let cases = [
            ("see incident #47", true),
            ("INC-123 db down", true),
            ("per OPS-9", true),
            ("A1B-77 works", true),
            ("EMERGENCY: db down", false),
            ("inc-123 lower case", false),
            ("# 47 with a space", false),
            ("X-1 single letter prefix", false),
            ("just because", false),
        ];
        for (reason, expected) in cases {
            assert_eq!(compiled.names_ticket(reason), expected, "{reason}");
        }
    }

    #[test]
    fn allowance_adds_the_margin() {
        let compiled = CompiledConfig::default();
        assert_eq!(
            compiled.overheld_allowance(Duration::from_hours(1)),
            Duration::from_mins(75)
        );
    }
}
