//! sipflow: read packet captures, pull out SIP messages and dialogs, and
//! check them against rule files that describe expected message flows.
//!
//! The crate is a pipeline of stages; each module knows only the stage
//! before it:
//!
//! ```text
//! capture/  bytes on disk → frames (number, time, link type, bytes)
//! net/      frames → IP datagrams and TCP streams (defragment, reassemble)
//! sip/      payloads → SIP messages (framing, tolerant parsing, zero-copy)
//! trace/    messages → transactions, dialogs, endpoints (kept while open)
//! rules/    .flow files → compiled flow patterns (parser and diagnostics)
//! check/    patterns × trace → flow instances with per-step status
//! report/   instances → table, JSON
//! ```
// No unsafe code, except the memory map of capture/mmap.rs (a measured
// gain, fenced in that one module).
#![deny(unsafe_code)]

pub mod capture;
pub mod check;
pub mod net;
pub mod pipeline;
pub mod problem;
pub mod report;
pub mod rules;
pub mod sip;
pub mod trace;
