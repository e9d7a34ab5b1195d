//! Reading times back from storage quickly. Everything countersign writes is RFC 3339
//! in UTC (`2026-11-14T14:34:45.712017688Z`); reading that shape by hand is several
//! times faster than a general parser, and a big weekly review reads millions of
//! them. Anything else goes to chrono's parser, so what is accepted is unchanged.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Deserializer};

use super::Time;

/// Parses an RFC 3339 time as chrono does, taking the shape we write the fast way.
pub fn parse(text: &str) -> Option<Time> {
    parse_utc_shape(text).or_else(|| {
        text.parse::<chrono::DateTime<chrono::FixedOffset>>()
            .ok()
            .map(|t| t.to_utc())
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with one to nine fraction digits; `None` for
/// anything else, including leap seconds, which the general parser handles.
fn parse_utc_shape(text: &str) -> Option<Time> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    if b[13] != b':' || b[16] != b':' || *b.last()? != b'Z' {
        return None;
    }
    let year = digits(&b[0..4])?;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    let hour = digits(&b[11..13])?;
    let minute = digits(&b[14..16])?;
    let second = digits(&b[17..19])?;
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction)? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    if second >= 60 {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(NaiveDateTime::new(date, time).and_utc())
}

fn digits(bytes: &[u8]) -> Option<u32> {
    bytes.iter().try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

/// Reads a time from whatever string the format hands over, without copying it.
struct TimeVisitor;

impl serde::de::Visitor<'_> for TimeVisitor {
    type Value = Time;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an RFC 3339 time")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Time, E> {
        parse(text).ok_or_else(|| {
            // Quote at most the start of what came: it may be anything.
            let start: String = text.chars().take(40).collect();
            let more = if start.len() < text.len() { "…" } else { "" };
            E::custom(format!("{start:?}{more} is not an RFC 3339 time"))
        })
    }
}

/// For `#[serde(deserialize_with = "…")]` on a `Time`.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
    deserializer.deserialize_str(TimeVisitor)
}

/// For `#[serde(deserialize_with = "…")]` on an `Option<Time>`.
pub fn deserialize_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Time>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "deserialize")] Time);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(t)| t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_parse(text: &str) -> Option<Time> {
        text.parse::<chrono::DateTime<chrono::FixedOffset>>()
            .ok()
            .map(|t| t.to_utc())
    }

    #[test]
    fn agrees_with_chrono() {
        let cases = [
            "2026-11-14T14:34:45.712017688Z",
            "2026-11-14T14:34:45Z",
            "2026-11-14T14:34:45.7Z",
            "2026-11-14T14:34:45.123456Z",
            "2024-02-29T23:59:59.999999999Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            // Handed to chrono:
            "2026-11-14T14:34:45+01:00",
            "2026-11-14t14:34:45z",
            "2026-11-14 14:34:45Z",
            "2016-12-31T23:59:60Z",
            "2026-11-14T14:34:45.1234567891Z",
            // Refused by both:
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-14T24:00:00Z",
            "2026-11-14T14:60:00Z",
            "2026-11-14T14:34:45.Z",
            "2026-11-14T14:34:4xZ",
            "+2026-11-14T14:34:45Z",
            "2026-11-14T14:34:45",
            "2026-11-14",
            "",
            "２０２６-11-14T14:34:45Z",
        ];
        for text in cases {
            assert_eq!(parse(text), chrono_parse(text), "{text:?}");
        }
    }

    #[test]
    fn round_trips_what_we_write() {
        let t = chrono::DateTime::from_timestamp(1_800_000_123, 456_789_012).unwrap();
        let written = serde_json::to_string(&t).unwrap();
        assert_eq!(parse(written.trim_matches('"')), Some(t));
        assert!(
            parse_utc_shape(written.trim_matches('"')).is_some(),
            "fast path taken"
        );
    }

    #[test]
    fn serde_helpers_decode_and_refuse() {
        #[derive(Debug, Deserialize)]
        struct Times {
            #[serde(deserialize_with = "deserialize")]
            at: Time,
            #[serde(default, deserialize_with = "deserialize_option")]
            until: Option<Time>,
        }
        let ok: Times =
            serde_json::from_str(r#"{"at":"2026-11-14T14:34:45Z","until":null}"#).unwrap();
        assert_eq!(ok.at, chrono_parse("2026-11-14T14:34:45Z").unwrap());
        assert_eq!(ok.until, None);
        let escaped: Times = serde_json::from_str(
            r#"{"at":"2026-11-14T14:34:45\u005a","until":"2026-11-15T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(escaped.at, ok.at);
        assert!(escaped.until.is_some());
        let bad = serde_json::from_str::<Times>(r#"{"at":"yesterday"}"#).unwrap_err();
        assert!(bad.to_string().contains("not an RFC 3339 time"), "{bad}");
        assert!(serde_json::from_str::<Times>(r#"{"at":7}"#).is_err());
    }
}
