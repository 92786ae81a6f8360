//! Floods (the "nothing breaks it" issue): memory stays bounded by design
//! in every stage, and a valid flow placed after the flood is still
//! judged `pass`.
//!
//! Each test writes a flood with `sipflow-gen --flood KIND --count N`
//! (well-formed Ethernet/IPv4/UDP/TCP packets, then one valid flow-1
//! instance, whose expected report goes to a truth file), runs `sipflow
//! check --format json` on it and reads its peak RSS (`VmHWM` of
//! `/proc/<pid>/status`, Linux) while it runs, as `tests/memory_bound.rs`
//! does.
//!
//! The full floods (1 M fragments, 400 k TCP streams, 500 k REFERs, 2 M
//! INVITEs) and the 256 MiB bound are checked by `bench/run --floods` with
//! the release build. Here the counts are what a debug build on two shared
//! cores affords, so the bounds are scaled, each as its test explains:
//!
//! - where the count is large enough to reach a stage's own bound (the
//!   16 MiB of IP reassembly, the 64 MiB of TCP out-of-order windows, the
//!   1 MiB largest SIP message), the test asserts the bound plus a margin
//!   over the run of a small flood of the same kind (`base`), well under
//!   what keeping every item would take;
//! - where the bound is a count too large for a test to reach (100,000
//!   open flow instances, 200,000 INVITEs awaiting an answer), the test
//!   asserts the memory per item that the bound allows: `base + N * 256
//!   MiB / bound`, so that at the bound the run would still fit in 256
//!   MiB.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

const MIB: u64 = 1024; // in KiB

/// Peak resident memory (VmHWM, KiB) of a running process, if readable.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A flood written into `dir`: the capture and the valid flow's truth.
struct Flood {
    pcap: PathBuf,
    truth: Value,
}

fn flood(dir: &Path, kind: &str, count: u64) -> Flood {
    let pcap = dir.join(format!("{kind}-{count}.pcap"));
    let truth = dir.join(format!("{kind}-{count}.truth"));
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
        .args(["--flood", kind, "--count", &count.to_string(), "--out"])
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sipflow-gen --flood {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth = std::fs::read_to_string(&truth).unwrap();
    Flood {
        pcap,
        truth: serde_json::from_str(&truth).unwrap(),
    }
}

/// What one run of `sipflow JOB --format json` gave.
struct Run {
    code: i32,
    peak_kib: u64,
    lines: Vec<Value>,
}

impl Run {
    fn of_type<'a>(&'a self, t: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.lines.iter().filter(move |l| l["type"] == t)
    }

    fn summary(&self) -> &Value {
        self.of_type("summary").last().expect("a summary line")
    }

    /// Error lines of `kind`.
    fn errors(&self, kind: &str) -> Vec<&Value> {
        self.of_type("error")
            .filter(|e| e["kind"] == kind)
            .collect()
    }
}

fn run(job: &str, pcap: &Path) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args([job, "--format", "json"])
        .arg(pcap)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
        s
    });
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = reader.join().unwrap();
    assert!(peak > 0, "{job}: peak memory never read");
    Run {
        code: status.code().expect("exited, not killed"),
        peak_kib: peak,
        lines: text
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect(),
    }
}

/// The valid flow after the flood is reported once, with verdict `pass`,
/// as its truth says.
fn assert_valid_flow_passes(r: &Run, f: &Flood) {
    let frame = &f.truth["trigger_frame"];
    let lines: Vec<&Value> = r
        .of_type("instance")
        .filter(|i| &i["trigger"]["frame"] == frame)
        .collect();
    assert_eq!(lines.len(), 1, "one instance line for the valid flow");
    let inst = lines[0];
    assert_eq!(inst["rule"], f.truth["rule"]);
    assert_eq!(inst["trigger"]["call_id"], f.truth["call_id"]);
    assert_eq!(inst["verdict"], "pass", "{inst}");
}

fn has_proc() -> bool {
    let ok = Path::new("/proc/self/status").exists();
    if !ok {
        eprintln!("skipped: no /proc to read peak memory from");
    }
    ok
}

/// 60,000 first fragments, never completed: reassembly holds at most
/// 16 MiB (each datagram waiting in a buffer of at least 2 KiB), so the
/// oldest are dropped; keeping them all would take over 120 MiB.
#[test]
fn a_fragment_flood_is_reassembled_in_bounded_memory() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = flood(dir.path(), "fragments", 1_000);
    let base = run("check", &small.pcap).peak_kib;
    let f = flood(dir.path(), "fragments", 60_000);
    let r = run("check", &f.pcap);
    eprintln!("fragments: base {base} KiB, peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0);
    assert_valid_flow_passes(&r, &f);
    assert!(
        r.peak_kib <= base + 48 * MIB,
        "peak {} KiB over {base} KiB + 48 MiB",
        r.peak_kib
    );
    let dropped = r.errors("fragment");
    assert!(!dropped.is_empty(), "the dropped datagrams are reported");
    let m = dropped[0]["message"].as_str().unwrap();
    assert!(m.contains("last fragment never seen"), "{m}");
    assert_eq!(r.summary()["instances"], 1);
}

/// 40,000 TCP streams, each with a hole: the out-of-order windows hold at
/// most 64 MiB together (each at least 4 KiB: 156 MiB for all of them),
/// and each direction's own state (the reassembler's, up to 131,072
/// directions, and the SIP stage's, up to 65,536) may cost 1.5 KiB:
/// measured about 1.2 KiB here, which at those bounds makes the full flood
/// of 400,000 streams fit in 256 MiB (bench/run --floods).
#[test]
fn a_flood_of_tcp_streams_with_gaps_is_reassembled_in_bounded_memory() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = flood(dir.path(), "tcp-gaps", 1_000);
    let base = run("check", &small.pcap).peak_kib;
    let n = 40_000;
    let f = flood(dir.path(), "tcp-gaps", n);
    let r = run("check", &f.pcap);
    eprintln!("tcp-gaps: base {base} KiB, peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0);
    assert_valid_flow_passes(&r, &f);
    let bound = base + 64 * MIB + n * 3 / 2;
    assert!(
        r.peak_kib <= bound,
        "peak {} KiB over {bound} KiB",
        r.peak_kib
    );
    let gaps = r.errors("tcp-gap");
    assert!(!gaps.is_empty(), "the gaps are reported");
    assert!(
        gaps[0]["message"]
            .as_str()
            .unwrap()
            .contains("bytes missing")
    );
}

/// 15,000 REFERs with `method=BYE` and nothing after them: each is an
/// instance, reported (partial: the capture ends before its steps' time
/// limit); the valid flow after them passes. Memory: what
/// `MAX_OPEN_INSTANCES` (100,000 per-rule instances, two per REFER here:
/// flows 1 and 2 both start with it) allows within 256 MiB.
#[test]
#[ignore = "fails on main (src/check, reported): 15,000 REFERs peak at 118 MB over an 11 MB base, 7 KiB each; 256 MiB allows 5.2 KiB each at 50,000 open"]
fn a_refer_flood_costs_what_the_open_instance_bound_allows() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = flood(dir.path(), "refers", 200);
    let base = run("check", &small.pcap).peak_kib;
    let n = 15_000;
    let f = flood(dir.path(), "refers", n);
    let r = run("check", &f.pcap);
    eprintln!("refers: base {base} KiB, peak {} KiB", r.peak_kib);
    let bound = base + n * 256 * MIB / 50_000;
    assert!(
        r.peak_kib <= bound,
        "peak {} KiB over {bound} KiB",
        r.peak_kib
    );
}

#[test]
fn a_refer_flood_is_reported_and_the_valid_flow_still_passes() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 10_000;
    let f = flood(dir.path(), "refers", n);
    let r = run("check", &f.pcap);
    eprintln!("refers: peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0, "partial instances only: exit 0");
    assert_valid_flow_passes(&r, &f);
    let s = r.summary();
    assert_eq!(s["instances"], n + 1);
    assert_eq!(s["partial"], n);
    assert_eq!(s["pass"], 1);
    assert!(r.peak_kib <= 256 * MIB, "peak {} KiB", r.peak_kib);
}

/// 50,000 INVITEs never answered: the trace keeps at most 200,000 awaiting
/// a final response, so each may cost what 256 MiB allows at that bound.
#[test]
fn an_invite_flood_costs_what_the_pending_invite_bound_allows() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = flood(dir.path(), "invites", 1_000);
    let base = run("check", &small.pcap).peak_kib;
    let n = 50_000;
    let f = flood(dir.path(), "invites", n);
    let r = run("check", &f.pcap);
    eprintln!("invites: base {base} KiB, peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0);
    assert_valid_flow_passes(&r, &f);
    assert!(r.summary()["messages"].as_u64().unwrap() > n);
    let bound = base + n * 256 * MIB / 200_000;
    assert!(
        r.peak_kib <= bound,
        "peak {} KiB over {bound} KiB",
        r.peak_kib
    );
}

/// One TCP message claiming a 4 GiB body, followed by 30,000 full
/// segments (42 MiB) of it: skipped past the 1 MiB message limit and
/// reported once; nothing of the body is kept.
#[test]
fn a_four_gib_content_length_is_skipped_in_bounded_memory() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let small = flood(dir.path(), "content-length", 100);
    let base = run("check", &small.pcap).peak_kib;
    let f = flood(dir.path(), "content-length", 30_000);
    let r = run("check", &f.pcap);
    eprintln!("content-length: base {base} KiB, peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0);
    assert_valid_flow_passes(&r, &f);
    assert!(r.peak_kib <= base + 16 * MIB, "peak {} KiB", r.peak_kib);
    let big = r.errors("overload");
    assert_eq!(big.len(), 1, "{big:?}");
    let m = big[0]["message"].as_str().unwrap();
    assert!(m.contains("Content-Length 4294967295"), "{m}");
    let msgs = run("messages", &f.pcap);
    assert_eq!(msgs.code, 0);
    assert!(
        msgs.peak_kib <= base + 16 * MIB,
        "messages peak {} KiB",
        msgs.peak_kib
    );
}

/// All five floods in one capture (fragments, TCP gaps, REFERs, INVITEs,
/// the 4 GiB Content-Length): each reported by kind, the valid flow at
/// the end passes, and the run stays within 256 MiB.
#[test]
fn all_floods_in_one_capture() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 8_000;
    let f = flood(dir.path(), "all", n);
    let r = run("check", &f.pcap);
    eprintln!("all: peak {} KiB", r.peak_kib);
    assert_eq!(r.code, 0);
    assert_valid_flow_passes(&r, &f);
    assert!(r.peak_kib <= 256 * MIB, "peak {} KiB", r.peak_kib);
    for kind in ["fragment", "tcp-gap", "overload"] {
        assert!(!r.errors(kind).is_empty(), "no {kind} error line");
    }
    assert_eq!(r.summary()["partial"], n, "one instance per REFER");
}

/// Depends on error-line aggregation (another branch: after 100 problems
/// of one kind per file only a count, and `errors_by_kind` in the
/// summary): a flood gives a few error lines per kind, not one per item,
/// and the count per kind is still there. Un-ignore once it has landed.
#[test]
#[ignore = "depends on error-line aggregation (not yet on main)"]
fn a_flood_gives_few_error_lines_per_kind_with_their_counts() {
    if !has_proc() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let n = 5_000;
    let f = flood(dir.path(), "all", n);
    let r = run("check", &f.pcap);
    assert_valid_flow_passes(&r, &f);
    for kind in ["fragment", "tcp-gap"] {
        let lines = r.errors(kind).len();
        assert!((1..=110).contains(&lines), "{kind}: {lines} error lines");
        let counted = &r.summary()["errors_by_kind"][kind];
        assert_eq!(counted.as_u64(), Some(n), "{kind}: {counted}");
    }
}
