//! Parsing one role document within bounds, so a hostile file cannot blow the
//! broker up: flow nesting is checked on the text before the YAML library sees it
//! (deep `[[[[…` is quadratic there), and aliases are expanded against a budget of
//! nodes and bytes while the value is built (one anchor referenced thousands of
//! times is refused, not expanded).

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The deepest flow nesting (`[` / `{`) accepted; real role files use two or three.
pub(crate) const MAX_FLOW_DEPTH: usize = 64;
/// Nodes (scalars, lists, mappings) one document may expand to, aliases included.
pub(crate) const MAX_NODES: usize = 20_000;
/// Bytes of scalars one document may expand to, aliases included.
pub(crate) const MAX_SCALAR_BYTES: usize = 1 << 20;
/// The largest role file accepted.
pub(crate) const MAX_FILE_BYTES: usize = 1 << 20;

/// Where flow nesting first goes deeper than [`MAX_FLOW_DEPTH`]: (line, column),
/// 1-based within `text`. Comments are skipped; brackets inside quoted scalars
/// count too, so no guess about where a quote ends can hide a deep nesting.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (index, line) in text.lines().enumerate() {
        let mut previous = ' ';
        for (column, c) in line.chars().enumerate() {
            match c {
                // ` #` starts a comment outside quoted scalars; inside one, what
                // follows is text the YAML library reads in linear time anyway.
                '#' if previous.is_whitespace() => break,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_FLOW_DEPTH {
                        return Some((index + 1, column + 1));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    None
}

/// Deserializes a document into JSON values, refusing one that expands past the
/// node or byte budget.
pub(crate) fn from_str(text: &str) -> Result<Value, serde_norway::Error> {
    let budget = Budget {
        nodes: Cell::new(MAX_NODES),
        bytes: Cell::new(MAX_SCALAR_BYTES),
    };
    Bounded { budget: &budget }.deserialize(serde_norway::Deserializer::from_str(text))
}

struct Budget {
    nodes: Cell<usize>,
    bytes: Cell<usize>,
}

impl Budget {
    fn take<E: serde::de::Error>(&self, bytes: usize) -> Result<(), E> {
        let nodes = self.nodes.get();
        if nodes == 0 {
            return Err(E::custom(format!(
                "the document expands to more than {MAX_NODES} values \
                 (YAML aliases referenced too often?)"
            )));
        }
        self.nodes.set(nodes - 1);
        let left = self.bytes.get();
        if bytes > left {
            return Err(E::custom(format!(
                "the document expands to more than {MAX_SCALAR_BYTES} bytes of text \
                 (YAML aliases referenced too often?)"
            )));
        }
        self.bytes.set(left - bytes);
        Ok(())
    }
}

#[derive(Clone, Copy)]
struct Bounded<'b> {
    budget: &'b Budget,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.take(1)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.take(8)?;
        Ok(Value::from(v))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.take(8)?;
        Ok(Value::from(v))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.take(8)?;
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.take(v.len())?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.budget.take(1)?;
        Ok(Value::Null)
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.take(1)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.take(1)?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(self)? {
            let key = match key {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".to_string(),
                _ => return Err(A::Error::custom("a mapping key must be a scalar")),
            };
            let value = map.next_value_seed(self)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_serde_reads() {
        let text = "a: 1\nb: [x, 'y', \"z\"]\nc: {d: true, e: ~, f: 1.5}\n7: -3\n";
        let expected: Value = serde_norway::from_str(text).unwrap();
        assert_eq!(from_str(text).unwrap(), expected);
        let anchors = "base: &b {x: 1}\nother: *b\n";
        assert_eq!(
            from_str(anchors).unwrap(),
            serde_json::json!({"base": {"x": 1}, "other": {"x": 1}})
        );
    }

    #[test]
    fn refuses_alias_bombs() {
        // One anchor of 10 values, referenced 5,000 times.
        let mut text = String::from("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [");
        text.push_str(&vec!["*a"; 5000].join(", "));
        text.push_str("]\n");
        let err = from_str(&text).unwrap_err().to_string();
        assert!(err.contains("expands to more than"), "{err}");
        // Long text referenced often runs out of bytes first.
        let long = "x".repeat(100_000);
        let text = format!("a: &a '{long}'\nb: [{}]\n", vec!["*a"; 20].join(", "));
        let err = from_str(&text).unwrap_err().to_string();
        assert!(err.contains("bytes of text"), "{err}");
    }

    #[test]
    fn finds_deep_flow_nesting() {
        let cases: [(String, Option<(usize, usize)>); 7] = [
            ("a: [[[x]]]\n".into(), None),
            (format!("a: {}{}\n", "[".repeat(64), "]".repeat(64)), None),
            (format!("a: {}\n", "[".repeat(100_000)), Some((1, 68))),
            (format!("x: 1\nb: {}\n", "{".repeat(65)), Some((2, 68))),
            (format!("a: '{}'\n", "[".repeat(10)), None),
            (format!("a: [b \"c, {}\n", "[".repeat(100)), Some((1, 74))),
            (format!("a: 1 # {}\n", "[".repeat(100)), None),
        ];
        for (text, expected) in cases {
            assert_eq!(too_deep(&text), expected, "{:.40}", text);
        }
    }
}
