//! sipflow-gen: writes a synthetic but RFC-correct SIP capture of a chosen
//! size, full of concurrent OMA PoC flows (flows.md) and ordinary SIP
//! traffic, plus a truth file saying what sipflow's report must be for
//! each PoC instance. It is the benchmark input and an independent check
//! of sipflow: it shares no code with sipflow's parsers. With
//! `--topologies` each PoC instance runs on one of several networks (the
//! spec's figure, IMS chains, direct or core-A-only participants, a single
//! vantage point, a due flow 3 whose NOTIFY never comes, a REFER(BYE) that
//! no flow follows; see variant.rs) and the truth is in format 2.
#![forbid(unsafe_code)]

mod background;
mod dialog;
mod flood;
mod hops;
mod link;
mod pcap;
mod poc;
mod rng;
mod scheduler;
mod script;
mod sip;
mod text;
mod topology;
mod truth;
mod uri;
mod usertraffic;
mod variant;
mod wire;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;

use crate::poc::Rule;
use crate::scheduler::{Config, Target};

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "sipflow-gen",
    about = "Generate a pcap of concurrent OMA PoC flows and ordinary SIP traffic, with a truth file"
)]
struct Args {
    /// Capture file to write (classic pcap, Ethernet).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Approximate size of the capture, e.g. 50MB, 1GiB, 300000 (bytes).
    #[arg(long, value_name = "SIZE", value_parser = parse_size, conflicts_with = "instances")]
    size: Option<u64>,
    /// Number of PoC flow instances to generate (instead of --size).
    #[arg(long, value_name = "N")]
    instances: Option<u64>,
    /// Seed of every random choice; the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write one JSON line per PoC instance: its expected verdict and steps.
    #[arg(long, value_name = "FILE")]
    truth: Option<PathBuf>,
    /// Share of PoC instances that get exactly one fault (0 to 1).
    #[arg(long, value_name = "RATE", default_value_t = 0.0, value_parser = parse_rate)]
    faults: f64,
    /// New instances started per second of trace time (sets concurrency).
    #[arg(long, value_name = "N", default_value_t = 500)]
    rate: u64,
    /// Topology variants, drawn per PoC instance: `all`, or some of spec,
    /// direct, core-a-only, ims, one-vantage, notify-never, no-alternative
    /// (comma-separated). Implies `--truth-format v2`.
    #[arg(long, value_name = "LIST")]
    topologies: Option<String>,
    /// Truth file format: v1 (the spec's figure only), or v2 (flow 2's
    /// other participants with steps 6 and 11 only, `unobserved` steps,
    /// `partial` verdicts, a `topology` per line; the trace runs 40 s past
    /// its last instance).
    #[arg(long, value_name = "FORMAT", value_parser = ["v1", "v2"])]
    truth_format: Option<String>,
    /// Write a flood instead (fragments, tcp-gaps, refers, invites,
    /// content-length or all), then one valid PoC flow; see flood.rs.
    #[arg(long, value_name = "KIND", value_parser = flood::parse_kind, conflicts_with_all = ["size", "instances"])]
    flood: Option<flood::Kind>,
    /// Items of each flood (default: its full size).
    #[arg(long, value_name = "N", requires = "flood")]
    count: Option<u64>,
    /// What to write: `poc` (the PoC flows among ordinary traffic) or
    /// `user` (calls, registrations and keep-alives for the example rules
    /// of examples/rules/; see usertraffic.rs).
    #[arg(long, value_name = "KIND", default_value = "poc", value_parser = ["poc", "user"])]
    traffic: String,
}

/// Parse a size with an optional unit: B, K/KB (1000), KiB (1024), M, MB,
/// MiB, G, GB, GiB.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 50MB or 1GiB)"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        u => {
            return Err(format!(
                "unknown size unit '{u}' (use B, KB, KiB, MB, MiB, GB or GiB)"
            ));
        }
    };
    Ok((n * mult) as u64)
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("'{s}' is not a rate between 0 and 1")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(kind) = args.flood {
        let truth = args.truth.as_deref();
        return match flood::generate(kind, args.count, args.seed, &args.out, truth) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sipflow-gen: {e}");
                ExitCode::from(1)
            }
        };
    }
    if args.traffic == "user" {
        return usertraffic::main(
            &args.out,
            args.truth.as_deref(),
            args.size,
            args.instances,
            args.seed,
            args.faults,
            args.rate,
        );
    }
    let target = match (args.size, args.instances) {
        (_, Some(n)) => Target::PocInstances(n),
        (Some(b), None) => Target::Bytes(b),
        (None, None) => {
            eprintln!("sipflow-gen: give --size SIZE or --instances N");
            return ExitCode::from(2);
        }
    };
    let listed = match args
        .topologies
        .as_deref()
        .map(variant::Topology::parse_list)
    {
        Some(Err(e)) => {
            eprintln!("sipflow-gen: --topologies: {e}");
            return ExitCode::from(2);
        }
        Some(Ok(v)) => Some(v),
        None => None,
    };
    let topologies = match (args.truth_format.as_deref(), &listed) {
        (Some("v1"), Some(_)) => {
            eprintln!(
                "sipflow-gen: --topologies needs --truth-format v2 (format 1 cannot say what variants do); drop --truth-format v1"
            );
            return ExitCode::from(2);
        }
        (_, Some(t)) => Some(t.clone()),
        (Some("v2"), None) => Some(vec![variant::Topology::Spec]),
        _ => None,
    };
    let cfg = Config {
        target,
        seed: args.seed,
        faults: args.faults,
        rate: args.rate,
        topologies,
    };
    match generate(&args, &cfg) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sipflow-gen: {e}");
            ExitCode::from(1)
        }
    }
}

fn generate(args: &Args, cfg: &Config) -> Result<(), String> {
    let began = Instant::now();
    let out = File::create(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let out = BufWriter::with_capacity(1 << 20, out);
    let mut truth = match &args.truth {
        Some(p) => {
            Some(BufWriter::new(File::create(p).map_err(|e| {
                format!("cannot create {}: {e}", p.display())
            })?))
        }
        None => None,
    };
    let (sum, out) = scheduler::run(cfg, out, truth.as_mut().map(|t| t as &mut dyn Write))
        .map_err(|e| format!("writing {}: {e}", args.out.display()))?;
    drop(out);
    if let Some(mut t) = truth {
        t.flush()
            .map_err(|e| format!("writing the truth file: {e}"))?;
    }
    let secs = began.elapsed().as_secs_f64();
    let l = &sum.link;
    eprintln!(
        "sipflow-gen: wrote {} ({} bytes) in {:.2} s ({:.1} MB/s)",
        args.out.display(),
        sum.bytes,
        secs,
        sum.bytes as f64 / 1e6 / secs.max(1e-9)
    );
    eprintln!("frames {}", sum.frames);
    eprintln!("sip-messages {}", sum.sip_messages);
    eprintln!("udp-messages {}", l.udp_messages);
    eprintln!("tcp-messages {}", l.tcp_messages);
    eprintln!("tcp-connections {}", l.tcp_connections);
    eprintln!("tcp-split-messages {}", l.tcp_split);
    eprintln!("tcp-shared-segments {}", l.tcp_shared_segments);
    eprintln!("fragmented-messages {}", l.fragmented);
    eprintln!("retransmissions {}", sum.retransmissions);
    for (i, (rule, (pass, fail))) in Rule::ALL.iter().zip(sum.poc).enumerate() {
        if cfg.topologies.is_some() {
            let partial = sum.partial[i];
            eprintln!(
                "instances {} pass {pass} fail {fail} partial {partial}",
                rule.id()
            );
        } else {
            eprintln!("instances {} pass {pass} fail {fail}", rule.id());
        }
    }
    if let Some(list) = &cfg.topologies {
        for (t, (pass, fail, partial)) in variant::Topology::ALL.iter().zip(sum.topo) {
            if list.contains(t) {
                eprintln!(
                    "topology {} instances {} pass {pass} fail {fail} partial {partial}",
                    t.name(),
                    pass + fail + partial
                );
            }
        }
    }
    eprintln!("calls {}", sum.calls);
    eprintln!("registrations {}", sum.registrations);
    eprintln!("options {}", sum.options);
    eprintln!("max-concurrent-instances {}", sum.max_concurrent);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("50MB"), Ok(50_000_000));
        assert_eq!(parse_size("300000"), Ok(300_000));
        assert_eq!(parse_size("1.5 KiB"), Ok(1536));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MB").is_err());
    }
}
