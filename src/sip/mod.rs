//! Stage 3: transport payloads → SIP messages.
//!
//! (Module documentation with decisions and measurements: see the end of
//! this file's doc once written.)

mod addr;
mod detect;
mod extract;
mod flows;
mod framer;
mod headers;
mod lex;
mod message;
mod params;
mod uri;
mod values;

pub use addr::NameAddr;
pub use detect::looks_like_sip;
pub use extract::{Extractor, ExtractorConfig, SipEvent};
pub use framer::{DEFAULT_MAX_MESSAGE, Framed, StreamFramer};
pub(crate) use headers::Entry;
pub use headers::{Header, HeaderKind, HeaderValue, Values};
pub(crate) use message::Layout;
pub use message::{Anomalies, Message, ParseError, Parser, Summary, parse};
pub use params::{Param, Params};
pub use uri::Uri;
pub use values::{CSeq, ContentType, Event, SubscriptionState, Via};
