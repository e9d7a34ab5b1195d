//! Go-style duration strings (`90s`, `30m`, `4h`, `1h30m`, `1.5h`, `500ms`), as Teleport
//! and the runbook write them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative length of time with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    millis: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {why} (use forms like 90s, 30m, 4h, 1h30m)")]
pub struct DurationError {
    pub input: String,
    pub why: &'static str,
}

impl Duration {
    pub const ZERO: Duration = Duration { millis: 0 };

    pub const fn from_millis(millis: u64) -> Self {
        Duration { millis }
    }
    pub const fn from_secs(secs: u64) -> Self {
        Duration {
            millis: secs * 1000,
        }
    }
    pub const fn from_mins(mins: u64) -> Self {
        Self::from_secs(mins * 60)
    }
    pub const fn from_hours(hours: u64) -> Self {
        Self::from_secs(hours * 3600)
    }
    pub const fn as_millis(self) -> u64 {
        self.millis
    }
    pub const fn as_secs(self) -> u64 {
        self.millis / 1000
    }
    pub fn to_chrono(self) -> chrono::TimeDelta {
        chrono::TimeDelta::milliseconds(self.millis.min(i64::MAX as u64) as i64)
    }
    /// The length of a chrono delta; negative deltas count as zero.
    pub fn from_chrono(delta: chrono::TimeDelta) -> Self {
        Duration::from_millis(delta.num_milliseconds().max(0) as u64)
    }
    pub fn is_zero(self) -> bool {
        self.millis == 0
    }
}

impl FromStr for Duration {
    type Err = DurationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why| DurationError {
            input: input.to_string(),
            why,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        if s.starts_with('-') {
            return Err(err("negative durations are not allowed"));
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: f64 = 0.0;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if start == i {
                return Err(err("expected a number"));
            }
            let number: f64 = s[start..i].parse().map_err(|_| err("bad number"))?;
            let unit_start = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let millis_per_unit = match &s[unit_start..i] {
                "ms" => 1.0,
                "s" => 1_000.0,
                "m" => 60_000.0,
                "h" => 3_600_000.0,
                "d" => 86_400_000.0,
                "" => return Err(err("missing unit")),
                _ => return Err(err("unknown unit")),
            };
            total += number * millis_per_unit;
        }
        // Ten years is far beyond any access window; it also keeps chrono arithmetic safe.
        if !total.is_finite() || total > 315_360_000_000.0 {
            return Err(err("too long"));
        }
        Ok(Duration::from_millis(total.round() as u64))
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.millis;
        let hours = rest / 3_600_000;
        rest %= 3_600_000;
        let mins = rest / 60_000;
        rest %= 60_000;
        let secs = rest / 1000;
        let millis = rest % 1000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if mins > 0 {
            write!(f, "{mins}m")?;
        }
        if secs > 0 || (millis > 0 && (hours > 0 || mins > 0)) {
            if millis > 0 {
                write!(f, "{secs}.{millis:03}s")?;
            } else {
                write!(f, "{secs}s")?;
            }
        } else if millis > 0 {
            write!(f, "{millis}ms")?;
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_forms() {
        let cases = [
            ("90s", 90_000),
            ("30m", 1_800_000),
            ("4h", 14_400_000),
            ("1h30m", 5_400_000),
            ("1.5h", 5_400_000),
            ("500ms", 500),
            ("2d", 172_800_000),
            ("0", 0),
            (" 4h ", 14_400_000),
        ];
        for (text, millis) in cases {
            assert_eq!(
                text.parse::<Duration>().unwrap().as_millis(),
                millis,
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_bad_forms() {
        for text in [
            "",
            "4",
            "h",
            "-1h",
            "4x",
            "1h-3m",
            "abc",
            "1e999h",
            "99999999h",
        ] {
            assert!(
                text.parse::<Duration>().is_err(),
                "{text} should be rejected"
            );
        }
    }

    #[test]
    fn displays_compactly_and_round_trips() {
        let cases = [
            (Duration::from_hours(4), "4h"),
            (Duration::from_secs(5400), "1h30m"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::ZERO, "0s"),
            (Duration::from_millis(61_500), "1m1.500s"),
        ];
        for (d, text) in cases {
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<Duration>().unwrap(), d);
        }
    }
}
