//! What the parser tolerated in a message.

/// Defects of a message that was still parsed: a set of flags.
///
/// Exists so that tolerance stays visible: the message is kept (as
/// Wireshark keeps it) and the caller decides what to report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Anomalies(u16);

impl Anomalies {
    /// No Content-Length header (allowed over UDP, mandatory over TCP).
    pub const NO_CONTENT_LENGTH: Anomalies = Anomalies(1);
    /// A Content-Length value that is not a decimal number (`bad`,
    /// `-999`): the body is the rest of the data.
    pub const BAD_CONTENT_LENGTH: Anomalies = Anomalies(1 << 1);
    /// Several Content-Length headers that disagree (RFC 4475 3.3.9): the
    /// body is the rest of the data.
    pub const CONFLICTING_CONTENT_LENGTH: Anomalies = Anomalies(1 << 2);
    /// Content-Length exceeds the bytes present (RFC 4475 3.1.2.2): the
    /// body is what is there.
    pub const BODY_TRUNCATED: Anomalies = Anomalies(1 << 3);
    /// The header section is not closed by an empty line.
    pub const NO_EMPTY_LINE: Anomalies = Anomalies(1 << 4);
    /// A header line without a colon, with a name that is not a token, or
    /// a continuation line before any header; such lines are skipped or
    /// kept as unknown headers.
    pub const BAD_HEADER_LINE: Anomalies = Anomalies(1 << 5);

    const ALL: [(Anomalies, &'static str); 6] = [
        (Anomalies::NO_CONTENT_LENGTH, "no Content-Length header"),
        (
            Anomalies::BAD_CONTENT_LENGTH,
            "Content-Length is not a number",
        ),
        (
            Anomalies::CONFLICTING_CONTENT_LENGTH,
            "several Content-Length headers disagree",
        ),
        (
            Anomalies::BODY_TRUNCATED,
            "Content-Length exceeds the bytes present",
        ),
        (
            Anomalies::NO_EMPTY_LINE,
            "header section not ended by an empty line",
        ),
        (
            Anomalies::BAD_HEADER_LINE,
            "a header line is malformed (no colon or bad name)",
        ),
    ];

    /// Flags set in either.
    pub const fn union(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 | other.0)
    }

    /// Flags set in both.
    pub const fn intersection(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 & other.0)
    }

    /// No flag set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is set.
    pub fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0
    }

    /// This set without the flags of `other`.
    pub fn without(self, other: Anomalies) -> Anomalies {
        Anomalies(self.0 & !other.0)
    }

    pub(crate) fn insert(&mut self, other: Anomalies) {
        self.0 |= other.0;
    }

    /// One short phrase per flag set, for problem messages.
    pub fn descriptions(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(a, _)| self.contains(*a))
            .map(|(_, d)| d)
    }
}

impl std::ops::BitOr for Anomalies {
    type Output = Anomalies;
    fn bitor(self, rhs: Anomalies) -> Anomalies {
        Anomalies(self.0 | rhs.0)
    }
}
