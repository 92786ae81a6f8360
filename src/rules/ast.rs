//! The compiled form of a `.flow` rule: what the matcher runs.
//!
//! Everything textual is resolved once at load time: role names become
//! [`RoleId`]s, captured variables become [`VarId`]s, step references become
//! indices into [`Rule::steps`], regular expressions are compiled. The
//! matcher never re-reads rule text.

use std::time::Duration;

use regex::Regex;

/// Index of a role in [`Rule::roles`].
pub type RoleId = usize;
/// Index of a captured variable in [`Rule::vars`].
pub type VarId = usize;
/// Index of a step in [`Rule::steps`].
pub type StepIdx = usize;

/// A source position in a rule file, for diagnostics and `rules show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// Length in characters (at least 1).
    pub len: usize,
}

/// One compiled flow rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's id (`poc-preest-release-self`), used in reports and `--expect`.
    pub id: String,
    /// A one-line human title.
    pub title: String,
    /// Where the rule came from (file path or `builtin:NAME`).
    pub source: String,
    /// The rule's text, kept for `rules show`.
    pub text: String,
    /// Role names, in declaration order.
    pub roles: Vec<String>,
    /// Per role: does it stand for a chain of one or more proxies (`proxy`
    /// directive), e.g. an IMS core's P-, I- and S-CSCF? The hops inside
    /// the chain are shown with the step, not steps of their own.
    pub proxies: Vec<bool>,
    /// Captured variable names (without `$`).
    pub vars: Vec<String>,
    /// The variable reported as the instance's `session`, if any.
    pub session_var: Option<VarId>,
    /// Default time limit of each step (`timeout`, default 32 s = 64×T1).
    pub timeout: Duration,
    /// Steps in file order: numbered steps and optional ones.
    pub steps: Vec<Step>,
    /// The per-participant block, if the rule has one.
    pub repeat: Option<Repeat>,
    /// The context that makes the flow due before its first step (`context`).
    pub context: Option<Context>,
    /// For a rule with `either ... or ... end` blocks: the branches this
    /// variant takes (`"caller hangs up / challenged"`).
    pub branch: Option<String>,
    /// Per step, its transaction group: steps tied by `same-transaction`
    /// and `response-to` (one request's hops and their responses' hops)
    /// share one. A copy of a message that a proxy forwarded can only be a
    /// step of the group of the step that holds the message.
    pub txn_group: Vec<StepIdx>,
    /// The rule's other variants (one per combination of branches), each
    /// a complete rule; the matcher runs them as alternatives of one
    /// another and reports the one the traffic took.
    pub variants: Vec<Rule>,
}

/// A fact derived from earlier messages that opens an instance before its
/// first step is seen, so a first step that never comes is `missing`.
/// sipflow knows one: `conference-session` (flows.md, "When flow 3 is
/// due"): a conference subscription accepted by a notifier, then a PoC
/// session dialog set up with that notifier for the subscriber.
#[derive(Debug, Clone)]
pub struct Context {
    /// The role bound to the node that accepted the subscription.
    pub notifier: Option<RoleId>,
    /// The role bound to the subscriber's node.
    pub subscriber: Option<RoleId>,
    /// The variable given the session's URI (step 1 captures it too and
    /// must agree).
    pub session: Option<VarId>,
    /// The variable given the subscribed conference's URI.
    pub subscribed: Option<VarId>,
    pub span: Span,
}

impl Rule {
    /// The numbered (required) steps, in order.
    pub fn required_steps(&self) -> impl Iterator<Item = (StepIdx, &Step)> {
        self.steps.iter().enumerate().filter(|(_, s)| !s.optional)
    }
}

/// A block of steps repeated once per participant of a conference
/// (RFC 4579 focus dialogs of a captured conference URI).
#[derive(Debug, Clone)]
pub struct Repeat {
    /// First and last step index (inclusive) inside the block.
    pub first: StepIdx,
    pub last: StepIdx,
    /// The conference URI whose dialogs enumerate the participants.
    pub focus_var: VarId,
    /// Roles bound afresh in each iteration.
    pub roles: Vec<RoleId>,
    pub span: Span,
}

/// One expected message of a flow.
#[derive(Debug, Clone)]
pub struct Step {
    /// The step number of the spec (`None` for optional, unnumbered messages).
    pub number: Option<u32>,
    /// True for messages that are allowed but never required.
    pub optional: bool,
    pub from: RoleId,
    pub to: RoleId,
    /// `from -> ... -> to`: the message travels through any number of
    /// proxies (none included); every hop is shown with the step.
    pub path: bool,
    pub message: MessagePattern,
    /// How this message relates to an earlier step.
    pub relation: Option<Relation>,
    /// Conditions that tie a message to this step: a message failing one of
    /// them is simply not this step (unrelated traffic never fails a flow).
    pub matches: Vec<Cond>,
    /// Conditions on the content: a message that is this step but fails one
    /// of them makes the step `wrong`.
    pub expects: Vec<Cond>,
    /// Values captured from the message when the step is seen.
    pub captures: Vec<Capture>,
    /// Time limit for this step, counted from the step before it.
    pub timeout: Duration,
    /// Inside the per-participant block.
    pub in_repeat: bool,
    pub span: Span,
    /// The step's source line, for reports (`client-b -> core-b REFER`).
    pub summary: std::sync::Arc<str>,
}

/// What kind of SIP message a step expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessagePattern {
    /// A request with this method (upper case).
    Request { method: String },
    /// A final response of this status (or class) to a request of `method`.
    Response {
        status: StatusPattern,
        method: String,
    },
}

/// A response status as written in a rule: `200` or a class `2xx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPattern {
    Exact(u16),
    Class(u8),
}

impl StatusPattern {
    /// Does `status` satisfy the pattern?
    pub fn accepts(self, status: u16) -> bool {
        match self {
            StatusPattern::Exact(s) => s == status,
            StatusPattern::Class(c) => status / 100 == c as u16,
        }
    }
}

/// A relation between a step and an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The same request or response forwarded by a proxy: same Call-ID and
    /// CSeq (and, for responses, same status class).
    SameTransaction(StepIdx),
    /// A response to the request of that step: same Call-ID, CSeq and top
    /// Via branch.
    ResponseTo(StepIdx),
    /// A request inside the dialog that step's request created or belongs
    /// to: same Call-ID, and its tags agree.
    InDialog(StepIdx),
}

impl Relation {
    /// The step this relation points at.
    pub fn target(self) -> StepIdx {
        match self {
            Relation::SameTransaction(s) | Relation::ResponseTo(s) | Relation::InDialog(s) => s,
        }
    }
}

/// A value captured from a step's message into a variable.
#[derive(Debug, Clone)]
pub struct Capture {
    pub var: VarId,
    pub path: Path,
    pub span: Span,
}

/// One condition on a message.
#[derive(Debug, Clone)]
pub struct Cond {
    pub kind: CondKind,
    /// The condition as written, for reasons in reports.
    pub text: String,
    pub span: Span,
}

/// The forms a condition takes.
#[derive(Debug, Clone)]
pub enum CondKind {
    /// `PATH OP VALUE`, `PATH present`, `PATH absent`.
    Compare { path: Path, op: Op },
    /// `dialog-of $var`: the message travels in one of the dialogs whose
    /// focus (RFC 4579 `isfocus` Contact) is the conference URI in `$var`.
    DialogOf {
        var: VarId,
        /// `with ROLE` (false) / `without ROLE` (true): only the dialog
        /// whose participant is (is not) the node bound to that role.
        peer: Option<(RoleId, bool)>,
    },
    /// `PATH is-focus-for ROLE`: the URI was seen as a focus Contact
    /// (RFC 4579 `isfocus`) delivered to that role, i.e. the capture holds
    /// the setup of a conference that role joined. `is-not-focus-for` is the
    /// negation. When the capture never shows the URI as a focus, neither
    /// form can tell, and both hold.
    FocusFor {
        path: Path,
        role: RoleId,
        negated: bool,
    },
}

/// A comparison operator with its right-hand side.
#[derive(Debug, Clone)]
pub enum Op {
    Eq(Operand),
    Ne(Operand),
    Matches(Regex),
    NotMatches(Regex),
    Present,
    Absent,
}

/// The right-hand side of `==` / `!=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Literal(String),
    Var(VarId),
}

/// A value inside a SIP message, as a rule names it: a base and accessors
/// (`refer-to.uri.param(method)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub base: Base,
    pub accessors: Vec<Accessor>,
}

/// Where a path starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    RequestUri,
    Method,
    Status,
    Reason,
    /// The body as text.
    Body,
    /// The status code in a `message/sipfrag` body's start line.
    SipfragStatus,
    /// An attribute (or the text) of the first element with this local
    /// name in an XML body: `xml(conference-info@entity)`.
    Xml {
        element: String,
        attr: Option<String>,
    },
    /// A header by name (long or compact form, any case).
    Header(String),
}

/// A step along a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accessor {
    /// The URI of a name-addr header (`<...>`), or the value itself if it
    /// has no brackets.
    Uri,
    /// A header's value without its parameters (`Event: refer;id=1` → `refer`).
    Value,
    User,
    Host,
    /// A parameter: a URI parameter after `.uri`, a header parameter otherwise.
    Param(String),
    /// The URI without one parameter, the rest kept verbatim.
    Without(String),
}
