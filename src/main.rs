//! The `sipflow` command line: argument parsing and exit status, nothing else.

use sipflow::check::Node;
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use sipflow::pipeline::{self, Job, Listing};
use sipflow::report::escape::{Terminal, terminal_text};
use sipflow::report::{CheckTable, JsonSink, MessageTable, Sink, TimeMode};
use sipflow::rules::{self, RuleSet};

/// Read SIP out of packet captures and check message flows against rules.
#[derive(Parser)]
#[command(name = "sipflow", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A table for people.
    Table,
    /// JSON lines, one object per line (see docs/report-json.md).
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// List every SIP message of the captures, as Wireshark numbers frames.
    Messages {
        /// Capture files (pcap, pcapng, gzip- or zstd-compressed); `-` reads standard input.
        #[arg(required = true)]
        files: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Show absolute times (UTC) instead of seconds since the first frame.
        #[arg(long)]
        absolute_time: bool,
        /// List every input problem (by default, after the first 100 of a
        /// kind in a file only their number is given).
        #[arg(long)]
        all_errors: bool,
    },
    /// Find every flow instance of the rules and say, step by step, what is
    /// missing, out of order or wrong. Exit 0: all passed (or partial);
    /// 1: a flow failed or an --expect'ed rule was not found; 2: could not
    /// run; 3: nothing could be judged (no flow found, and no readable SIP
    /// or input problems hid SIP messages).
    Check {
        /// Capture files; `-` reads standard input.
        #[arg(required = true)]
        files: Vec<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Rule files or folders of *.flow files, used beside the built-in
        /// rules (a rule with a built-in id replaces it).
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Use only the rules given with --rules.
        #[arg(long)]
        no_builtin: bool,
        /// Fail (exit 1) unless at least one instance of this rule is found.
        #[arg(long, value_name = "RULE")]
        expect: Vec<String>,
        /// Bind a role to a node: --role core-b=10.0.0.2 (repeatable).
        #[arg(long = "role", value_name = "ROLE=IP")]
        roles: Vec<String>,
        /// A topology file: one `ROLE = IP` a line (# comments).
        #[arg(long, value_name = "FILE")]
        topology: Option<PathBuf>,
        /// Show absolute times (UTC) instead of seconds since the first frame.
        #[arg(long)]
        absolute_time: bool,
        /// List every input problem (by default, after the first 100 of a
        /// kind in a file only their number is given).
        #[arg(long)]
        all_errors: bool,
    },
    /// List, show or lint flow rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// List the rules: built-in ones and those given with --rules.
    List {
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
    },
    /// Print a rule's text.
    Show {
        id: String,
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
    },
    /// Check rule files and report every mistake (exit 1 if any error;
    /// warnings are shown but do not fail).
    Lint {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipflow: {}", Terminal(&e.to_string()));
            ExitCode::from(2)
        }
    }
}

/// Say why the command cannot run (escaped: a message can quote a rule
/// file, a file name or an argument) and exit 2.
fn fail(msg: impl std::fmt::Display) -> io::Result<ExitCode> {
    eprintln!("sipflow: {}", terminal_text(&msg.to_string()));
    Ok(ExitCode::from(2))
}

fn load_rules(paths: &[PathBuf], builtin: bool) -> Result<RuleSet, rules::LoadError> {
    let mut set = if builtin {
        RuleSet::builtin()
    } else {
        RuleSet::default()
    };
    if !paths.is_empty() {
        let user = RuleSet::load(paths)?;
        set.warnings.extend(user.warnings);
        for rule in user.rules {
            set.rules.retain(|r| r.id != rule.id);
            set.rules.push(rule);
        }
    }
    Ok(set)
}

fn parse_role(s: &str) -> Result<(String, Node), String> {
    let (name, node) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected ROLE=IP or ROLE=IP:PORT, e.g. core-b=10.0.0.2"))?;
    let node: Node = node.parse().map_err(|e| format!("`{s}`: {e}"))?;
    Ok((name.trim().to_string(), node))
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    let stdout = io::stdout().lock();
    let out = io::BufWriter::with_capacity(1 << 16, stdout);
    let err = io::stderr();
    let time_mode = |abs: bool| {
        if abs {
            TimeMode::Absolute
        } else {
            TimeMode::Relative
        }
    };
    let listing = |all: bool| if all { Listing::All } else { Listing::Capped };
    match cli.command {
        Command::Messages {
            files,
            format,
            absolute_time,
            all_errors,
        } => {
            let mut sink: Box<dyn Sink> = match format {
                Format::Json => Box::new(JsonSink::new(out)),
                Format::Table => Box::new(
                    MessageTable::new(out, err, time_mode(absolute_time)).all_errors(all_errors),
                ),
            };
            let outcome =
                pipeline::run(&files, &Job::Messages, sink.as_mut(), listing(all_errors))?;
            Ok(if outcome.unreadable {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Check {
            files,
            format,
            rules: rule_paths,
            no_builtin,
            expect,
            roles,
            topology,
            absolute_time,
            all_errors,
        } => {
            let set = match load_rules(&rule_paths, !no_builtin) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            // Warnings do not stop a check; they are shown before it.
            if !set.warnings.is_empty() {
                eprintln!("{}\n", rules::Diagnostics(set.warnings.clone()));
            }
            if set.rules.is_empty() {
                return fail("no rules: give --rules PATH or drop --no-builtin");
            }
            for id in &expect {
                if set.get(id).is_none() {
                    let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
                    return fail(format!(
                        "--expect {id}: no such rule (rules: {})",
                        ids.join(", ")
                    ));
                }
            }
            let mut bound = Vec::new();
            if let Some(path) = topology {
                let text = match std::fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => return fail(format!("cannot read topology {}: {e}", path.display())),
                };
                for (n, line) in text.lines().enumerate() {
                    let line = line.split('#').next().unwrap_or("").trim();
                    if line.is_empty() {
                        continue;
                    }
                    match parse_role(line) {
                        Ok(r) => bound.push(r),
                        Err(e) => return fail(format!("{}:{}: {e}", path.display(), n + 1)),
                    }
                }
            }
            for r in &roles {
                match parse_role(r) {
                    Ok(r) => bound.push(r),
                    Err(e) => return fail(format!("--role {e}")),
                }
            }
            let proxy = |n: &str| {
                set.rules.iter().any(|r| {
                    r.roles
                        .iter()
                        .position(|x| x == n)
                        .is_some_and(|i| r.proxies[i])
                })
            };
            for (i, (name, node)) in bound.iter().enumerate() {
                if !set.rules.iter().any(|r| r.roles.contains(name)) {
                    return fail(format!("role `{name}` is used by no rule"));
                }
                if let Some((_, other)) = bound[..i].iter().find(|(n, _)| n == name && !proxy(n)) {
                    return fail(format!(
                        "role `{name}` is bound twice ({other} and {node}): bind each role once"
                    ));
                }
                if let Some((other, _)) = bound[..i].iter().find(|(n, o)| {
                    *o == *node
                        || (o.ip == node.ip
                            && (o.port.is_none() || node.port.is_none())
                            && !proxy(n)
                            && !proxy(name))
                }) {
                    return fail(format!(
                        "roles `{other}` and `{name}` are bound to one node ({node}): two roles on one address need distinct ports (ROLE=IP:PORT)"
                    ));
                }
            }
            let mut sink: Box<dyn Sink> = match format {
                Format::Json => Box::new(JsonSink::new(out)),
                Format::Table => Box::new(
                    CheckTable::new(out, err, time_mode(absolute_time)).all_errors(all_errors),
                ),
            };
            let job = Job::Check {
                rules: &set.rules,
                roles: &bound,
            };
            let outcome = pipeline::run(&files, &job, sink.as_mut(), listing(all_errors))?;
            drop(sink);
            let mut missing_expect = false;
            for id in &expect {
                if !outcome.rules_seen.contains(id) {
                    eprintln!(
                        "sipflow: --expect {}: no instance of this flow was found",
                        Terminal(id)
                    );
                    missing_expect = true;
                }
            }
            // A role bound to a node no SIP message touched is a mistake in
            // the command line, not a flow that passed.
            let mut unmet = false;
            for (i, (name, node)) in bound.iter().enumerate() {
                if !outcome.roles_met.get(i).copied().unwrap_or(false) {
                    eprintln!(
                        "sipflow: --role {}={node}: no SIP message of the input was sent or received by {node}; check the address (`sipflow messages` lists every SIP endpoint)",
                        Terminal(name)
                    );
                    unmet = true;
                }
            }
            // Precedence: 2, then 1, then 3, then 0 (docs/report-json.md).
            let s = &outcome.summary;
            Ok(if outcome.unreadable || unmet {
                ExitCode::from(2)
            } else if s.fail > 0 || missing_expect {
                ExitCode::from(1)
            } else if s.instances == 0 && (s.messages == 0 || outcome.sip_hidden) {
                // Nothing could be judged; the tables said why, file by
                // file, on standard error.
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Rules { command } => rules_command(command, out),
    }
}

fn rules_command(command: RulesCommand, mut out: impl Write) -> io::Result<ExitCode> {
    match command {
        RulesCommand::List { rules: paths } => {
            let set = match load_rules(&paths, true) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            for r in &set.rules {
                let steps = r.required_steps().count();
                // Rule files are the user's, but may come from anywhere:
                // what they say is escaped like a capture's text.
                let id = Terminal(&r.id).to_string();
                writeln!(out, "{id:<34} {steps:>2} steps  {}", Terminal(&r.title))?;
                if !r.source.starts_with("builtin:") {
                    writeln!(out, "{:<34}           from {}", "", Terminal(&r.source))?;
                }
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        RulesCommand::Show { id, rules: paths } => {
            let set = match load_rules(&paths, true) {
                Ok(s) => s,
                Err(e) => return fail(e),
            };
            match set.get(&id) {
                Some(r) => {
                    write!(out, "{}", terminal_text(&r.text))?;
                    out.flush()?;
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    let ids: Vec<&str> = set.rules.iter().map(|r| r.id.as_str()).collect();
                    fail(format!("no rule `{id}` (rules: {})", ids.join(", ")))
                }
            }
        }
        RulesCommand::Lint { files } => {
            let mut bad = false;
            for f in &files {
                match rules::lint(f) {
                    Ok(c) => {
                        let warned = c.warnings.0.len();
                        if warned > 0 {
                            out.flush()?;
                            eprintln!("{}\n", c.warnings);
                        }
                        let s = if warned == 1 { "" } else { "s" };
                        writeln!(
                            out,
                            "{}: ok: rule {} ({} steps{})",
                            Terminal(&f.display().to_string()),
                            Terminal(&c.rule.id),
                            c.rule.required_steps().count(),
                            if warned > 0 {
                                format!(", {warned} warning{s}")
                            } else {
                                String::new()
                            }
                        )?
                    }
                    Err(rules::LoadError::Invalid(d)) => {
                        bad = true;
                        out.flush()?;
                        eprintln!("{}\n", terminal_text(&d.to_string()));
                    }
                    Err(e) => {
                        out.flush()?;
                        return fail(e);
                    }
                }
            }
            out.flush()?;
            Ok(if bad {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
