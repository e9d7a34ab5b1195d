//! The weekly audit review: heuristics over requests and audit events, and report formats.
