//! An incremental Server-Sent Events parser: feed it bytes as they arrive, in chunks
//! cut anywhere, and it hands back whole messages (WHATWG "event stream" rules).

/// One dispatched message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseMessage {
    /// The last `id:` seen on the stream, if any.
    pub id: Option<String>,
    /// The `event:` name, `message` when none was given.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not yet terminated.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a leading `\n` in the next one is the same break.
    after_cr: bool,
    started: bool,
    event: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry_ms: Option<u64>,
}

impl SseParser {
    pub fn new() -> Self {
        SseParser::default()
    }

    /// The reconnection delay the server last asked for.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Consumes a chunk and returns the messages it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseMessage> {
        let mut out = Vec::new();
        let mut rest = chunk;
        if !self.started && !rest.is_empty() {
            self.started = true;
            // A UTF-8 byte order mark may open the stream; it is not part of a line.
            if self.line.is_empty() && rest.starts_with(&[0xEF, 0xBB, 0xBF]) {
                rest = &rest[3..];
            }
        }
        for &byte in rest {
            if self.after_cr {
                self.after_cr = false;
                if byte == b'\n' {
                    continue;
                }
            }
            match byte {
                b'\n' => self.end_line(&mut out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(&mut out);
                }
                other => self.line.push(other),
            }
        }
        out
    }

    fn end_line(&mut self, out: &mut Vec<SseMessage>) {
        let bytes = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&bytes);
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return; // a comment: the keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseMessage>) {
        let event = std::mem::take(&mut self.event);
        if !self.has_data {
            return;
        }
        self.has_data = false;
        out.push(SseMessage {
            id: self.last_id.clone(),
            event: if event.is_empty() {
                "message".to_string()
            } else {
                event
            },
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &str = ": keep-alive\n\nid: 7\nevent: access_request.create\ndata: {\"a\":1}\n\n: ping\n\nid: 8\nevent: access_request.review\ndata: {\"b\":\ndata: 2}\n\n";

    fn all_at_once(input: &[u8]) -> Vec<SseMessage> {
        SseParser::new().feed(input)
    }

    #[test]
    fn parses_messages_and_skips_comments() {
        let messages = all_at_once(STREAM.as_bytes());
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].id.as_deref(), Some("7"));
        assert_eq!(messages[0].event, "access_request.create");
        assert_eq!(messages[0].data, "{\"a\":1}");
        assert_eq!(messages[1].id.as_deref(), Some("8"));
        assert_eq!(messages[1].data, "{\"b\":\n2}");
    }

    #[test]
    fn any_chunk_boundary_gives_the_same_messages() {
        let bytes = STREAM.replace('\n', "\r\n").into_bytes();
        let expected = all_at_once(&bytes);
        assert_eq!(expected.len(), 2);
        for cut in 0..=bytes.len() {
            let mut parser = SseParser::new();
            let mut got = parser.feed(&bytes[..cut]);
            got.extend(parser.feed(&bytes[cut..]));
            assert_eq!(got, expected, "cut at {cut}");
        }
        // Byte by byte.
        let mut parser = SseParser::new();
        let got: Vec<_> = bytes.iter().flat_map(|b| parser.feed(&[*b])).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn utf8_split_across_chunks_survives() {
        let bytes = "data: café ✓\n\n".as_bytes();
        let split = bytes.iter().position(|&b| b == 0xC3).unwrap_or(0) + 1;
        let mut parser = SseParser::new();
        assert!(parser.feed(&bytes[..split]).is_empty());
        let got = parser.feed(&bytes[split..]);
        assert_eq!(got[0].data, "café ✓");
    }

    #[test]
    fn lone_cr_ends_lines() {
        let got = all_at_once(b"id: 3\revent: x\rdata: y\r\r");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id.as_deref(), Some("3"));
        assert_eq!(got[0].event, "x");
        assert_eq!(got[0].data, "y");
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_name_resets() {
        let got = all_at_once(b"event: lonely\n\ndata: z\n\n");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].event, "message");
    }

    #[test]
    fn id_persists_and_retry_is_read() {
        let mut parser = SseParser::new();
        let got = parser.feed(b"retry: 1500\nid: 9\ndata: a\n\ndata: b\n\nretry: soon\n");
        assert_eq!(got[1].id.as_deref(), Some("9"));
        assert_eq!(parser.retry_ms(), Some(1500));
    }

    #[test]
    fn field_without_colon_and_unprefixed_value() {
        let got = all_at_once(b"data\ndata:x\n\n");
        assert_eq!(got[0].data, "\nx");
    }

    #[test]
    fn bom_at_start_is_ignored() {
        let got = all_at_once(b"\xEF\xBB\xBFdata: hi\n\n");
        assert_eq!(got[0].data, "hi");
    }

    #[test]
    fn incomplete_message_waits_for_blank_line() {
        let mut parser = SseParser::new();
        assert!(parser.feed(b"id: 1\ndata: x\n").is_empty());
        assert_eq!(parser.feed(b"\n").len(), 1);
    }
}
