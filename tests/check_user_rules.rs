//! The example rules users write (`examples/rules/`), checked two ways.
//!
//! 1. Over generated traffic: `sipflow-gen --traffic user` writes calls
//!    (direct and through one to three proxies, either party hanging up,
//!    some challenged by their proxy with a 407), registrations (accepted at
//!    once or after a 401), keep-alives, and faults (a BYE never answered,
//!    never sent, answered after its time limit, a 486 where a 200 OK was
//!    expected, a challenged REGISTER never accepted, a REGISTER never
//!    answered), half of it with every node on 127.0.0.1 told apart by
//!    port; its truth file says each instance's rule, branch, verdict and
//!    every step that is not ok. `sipflow check --rules examples/rules`
//!    (beside the built-in rules) must report exactly that, one instance
//!    line per trigger message.
//! 2. Over the external corpus (`$SIPFLOW_CORPUS`): captures by others that
//!    hold such calls and registrations; every frame sipflow names as a
//!    step must be, in tshark's list of SIP messages, the message that step
//!    expects, in the trigger's Call-ID, and every INVITE, ACK, BYE,
//!    REGISTER and final response of a passing instance's Call-ID must be
//!    one of its steps.
//!
//! Known matcher defects found with these rules are tests marked
//! `#[ignore]` below, each naming the defect; `cargo test --test
//! check_user_rules -- --ignored` runs them (they fail until it is fixed).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const RULES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rules");

/// A step that is not ok: step, status, frame (0 when none).
type Bad = (u64, String, u64);

fn bad_steps(steps: &Value) -> Vec<Bad> {
    steps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] != "ok")
        .map(|s| {
            (
                s["step"].as_u64().unwrap(),
                s["status"].as_str().unwrap().to_string(),
                s["frame"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn generate(dir: &Path, seed: u64, instances: u64, faults: f64) -> (PathBuf, Vec<Value>) {
    let pcap = dir.join(format!("user-{seed}.pcap"));
    let truth = dir.join(format!("user-{seed}.truth"));
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
        .args(["--traffic", "user", "--instances"])
        .arg(instances.to_string())
        .args(["--faults", &faults.to_string(), "--seed", &seed.to_string()])
        .arg("--out")
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sipflow-gen: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let truth: Vec<Value> = std::fs::read_to_string(&truth)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!truth.is_empty());
    (pcap, truth)
}

/// `sipflow check --format json` with the example rules beside the
/// built-in ones: instances by trigger frame, and the summary.
fn check(pcap: &Path, extra: &[&str]) -> (BTreeMap<u64, Value>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["check", "--format", "json"])
        .args(extra)
        .arg(pcap)
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "sipflow check exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut got = BTreeMap::new();
    let mut summary = Value::Null;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("instance") => {
                let f = v["trigger"]["frame"].as_u64().unwrap();
                assert!(
                    got.insert(f, v).is_none(),
                    "two instances with trigger frame {f}"
                );
            }
            Some("summary") => summary = v,
            _ => {}
        }
    }
    (got, summary)
}

/// Known defect (see `shared_address_proxy_chains_match_their_truth`):
/// calls through two or more proxies that share one address.
fn shared_address_chain(t: &Value) -> bool {
    let s = t["scenario"].as_str().unwrap_or("");
    s.contains("lab=true") && (s.contains("proxies=2") || s.contains("proxies=3"))
}

/// Compare one generated capture with its truth; returns the mismatches
/// of instances for which `skip` holds (reported, not asserted) and
/// asserts on every other one.
fn compare(seed: u64, skip: fn(&Value) -> bool) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let (pcap, truth) = generate(dir.path(), seed, 1200, 0.3);
    let (got, summary) = check(&pcap, &["--rules", RULES]);
    // One instance line per trigger message, and no other.
    assert_eq!(
        summary["instances"].as_u64(),
        Some(truth.len() as u64),
        "seed {seed}: instance lines vs trigger messages of the truth"
    );
    assert_eq!(got.len(), truth.len(), "seed {seed}");
    // Every trigger of the truth is an INVITE or REGISTER in sipflow's own
    // message list, with the truth's Call-ID.
    let msgs = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["messages", "--format", "json"])
        .arg(&pcap)
        .output()
        .unwrap();
    let by_frame: HashMap<u64, Value> = String::from_utf8_lossy(&msgs.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "message")
        .map(|v| (v["frame"].as_u64().unwrap(), v))
        .collect();
    let mut skipped = Vec::new();
    let mut seen_rules = BTreeSet::new();
    let mut statuses = BTreeSet::new();
    for t in &truth {
        let f = t["trigger_frame"].as_u64().unwrap();
        let m = &by_frame[&f];
        assert!(
            m["method"] == "INVITE" || m["method"] == "REGISTER",
            "seed {seed}: trigger frame {f} is {m}"
        );
        assert_eq!(m["call_id"], t["call_id"], "seed {seed}: frame {f}");
        let g = got
            .get(&f)
            .unwrap_or_else(|| panic!("seed {seed}: no instance at frame {f}: {t}"));
        let mismatch = g["rule"] != t["rule"]
            || g["branch"] != t["branch"]
            || g["verdict"] != t["verdict"]
            || g["trigger"]["call_id"] != t["call_id"]
            || bad_steps(&g["steps"]) != bad_steps(&t["steps"]);
        if mismatch && skip(t) {
            skipped.push(format!("{t}"));
            continue;
        }
        assert!(
            !mismatch,
            "seed {seed}, trigger frame {f}\n truth: {t}\n got:   {g}"
        );
        seen_rules.insert(t["rule"].as_str().unwrap().to_string());
        for s in t["steps"].as_array().unwrap() {
            statuses.insert(s["status"].as_str().unwrap().to_string());
        }
    }
    // The traffic exercised every rule and every status a fault makes.
    assert_eq!(
        seen_rules.into_iter().collect::<Vec<_>>(),
        ["call", "call-auth", "call-through-proxies", "register"],
        "seed {seed}"
    );
    assert_eq!(
        statuses.into_iter().collect::<Vec<_>>(),
        ["missing", "unobserved", "wrong"],
        "seed {seed}"
    );
    skipped
}

#[test]
fn generated_user_traffic_matches_its_truth() {
    for seed in [1, 2, 3] {
        let skipped = compare(seed, shared_address_chain);
        if !skipped.is_empty() {
            println!(
                "seed {seed}: {} calls through 2-3 proxies sharing 127.0.0.1 differ from the truth \
                 (known defect: see shared_address_proxy_chains_match_their_truth)",
                skipped.len()
            );
        }
    }
}

/// Known defect: a chain of two or more proxies on one address (a lab
/// host running proxies on 127.0.0.1:5060, :5070, :5080) is not followed:
/// the 200 OK's last hop to the caller and the ACK's hop out of the chain
/// are `missing`, a BYE path "reached 127.0.0.1:5070 only, never callee".
/// Every such call of the generated traffic is reported wrongly (179 of
/// 179 with seed 5); one proxy on a shared address, and chains on distinct
/// addresses, are right.
#[test]
#[ignore = "matcher defect: proxy chains on one address (distinct ports)"]
fn shared_address_proxy_chains_match_their_truth() {
    for seed in [1, 2, 3] {
        let skipped = compare(seed, |_| false);
        assert!(skipped.is_empty());
    }
}

/// Known defect: a stateful proxy answers an INVITE with 100 Trying and
/// then forwards it (RFC 3261 16.2 lets it answer first). With an optional
/// `callee -> core 1xx (INVITE) response-to 2` step, a 100 Trying that the
/// second proxy of a chain sends before it forwards the INVITE is taken
/// as the callee's answer: the callee is bound to that proxy, the INVITE's
/// next hop is no longer the step, and it starts an instance of its own
/// (the generated traffic sends the 100 Trying 0.1-1.5 ms after the
/// INVITE arrives and forwards it 0.3-4 ms after, so about half the calls
/// through two proxies). The example rules leave that optional step out.
#[test]
#[ignore = "matcher defect: a proxy's 100 Trying before it forwards binds the callee"]
fn a_proxys_early_100_trying_is_not_the_callees_answer() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    let mut edited = 0;
    for e in std::fs::read_dir(RULES).unwrap() {
        let p = e.unwrap().path();
        let text = std::fs::read_to_string(&p).unwrap();
        let step2 = "2   core   -> callee   INVITE             same-transaction 1\n";
        if text.contains(step2) {
            edited += 1;
        }
        let text = text.replace(
            step2,
            &format!("{step2}opt callee -> core     1xx (INVITE)       response-to 2\n"),
        );
        std::fs::write(rules.join(p.file_name().unwrap()), text).unwrap();
    }
    assert_eq!(edited, 1, "call-through-proxies.flow's step 2 moved");
    let (pcap, truth) = generate(dir.path(), 1, 1200, 0.0);
    let rules = rules.to_str().unwrap().to_string();
    let (got, _) = check(&pcap, &["--rules", &rules]);
    assert_eq!(got.len(), truth.len(), "extra instances");
    for t in truth.iter().filter(|t| !shared_address_chain(t)) {
        let g = &got[&t["trigger_frame"].as_u64().unwrap()];
        assert_eq!((&g["rule"], &g["verdict"]), (&t["rule"], &t["verdict"]));
    }
}

// ---- the corpus ----

/// What a step of an example rule is: (method or status, CSeq method).
fn expects(rule: &str, branch: &str, step: u64) -> (&'static str, &'static str) {
    match (rule, step) {
        ("call", 1) | ("call-through-proxies", 1 | 2) | ("call-auth", 1 | 4 | 5) => {
            ("INVITE", "INVITE")
        }
        ("call", 2) | ("call-through-proxies", 3 | 4) | ("call-auth", 6 | 7) => ("200", "INVITE"),
        ("call-auth", 2) => ("407", "INVITE"),
        ("call", 3) | ("call-through-proxies", 5) | ("call-auth", 3 | 8) => ("ACK", "ACK"),
        ("call", 4) | ("call-through-proxies", 6) | ("call-auth", 9) => ("BYE", "BYE"),
        ("call", 5) | ("call-through-proxies", 7) | ("call-auth", 10) => ("200", "BYE"),
        ("register", 1 | 3) => ("REGISTER", "REGISTER"),
        ("register", 2) if branch == "challenged" => ("401", "REGISTER"),
        ("register", 2 | 4) => ("200", "REGISTER"),
        _ => panic!("no step {step} in {rule}"),
    }
}

/// tshark's SIP messages: frame -> (method or status, Call-ID, CSeq method).
fn tshark(path: &Path) -> BTreeMap<u64, (String, String, String)> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args(["-Y", "sip", "-T", "fields"])
        .args([
            "-e",
            "frame.number",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
        ])
        .args(["-e", "sip.Call-ID", "-e", "sip.CSeq.method"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "tshark -r {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            let kind = if c[1].is_empty() { c[2] } else { c[1] };
            Some((
                c[0].parse().ok()?,
                (kind.to_string(), c[3].to_string(), c[4].to_string()),
            ))
        })
        .collect()
}

/// An instance as found: trigger frame, rule, branch, verdict.
type Found = (u64, &'static str, &'static str, &'static str);

/// Corpus captures holding flows of the example rules, and what sipflow
/// must find in each: (trigger frame, rule, branch, verdict), read from
/// tshark's message list of each file.
const CORPUS: &[(&str, &[Found])] = &[
    (
        "captures/sipnab/sip-sdp-example.pcap",
        &[(1, "call", "callee hangs up", "pass")],
    ),
    (
        "captures/sipnab/sip-over-tcp.pcap",
        &[(3, "call", "callee hangs up", "pass")],
    ),
    (
        // INVITE through a proxy (10.33.6.102:5080) that does not record
        // its route: ACK, BYE and 200 OK go straight between the parties.
        "captures/sipnab/sip-proxy.pcap",
        &[(
            1,
            "call-through-proxies",
            "through proxies / callee hangs up",
            "pass",
        )],
    ),
    (
        "captures/nextcaller-sip-capture/sip-tcp.pcap",
        &[
            (1, "call", "caller hangs up", "pass"),
            (7, "call", "caller hangs up", "pass"),
            (13, "call", "caller hangs up", "pass"),
            (19, "call", "caller hangs up", "pass"),
            (25, "call", "caller hangs up", "pass"),
        ],
    ),
    (
        // The second call is never hung up before the capture ends.
        "captures/sipnab/sip-rtp-g711.pcap",
        &[
            (1, "call", "callee hangs up", "pass"),
            (434, "call", "caller hangs up", "partial"),
        ],
    ),
    (
        "captures/sipnab/sip-register.pcap",
        &[(1, "register", "accepted at once", "pass")],
    ),
    (
        "captures/ndpi/sip_hello.pcapng",
        &[
            (9, "register", "challenged", "pass"),
            (25, "register", "challenged", "pass"),
        ],
    ),
    (
        // Challenged, then refused: 403 where the 200 OK was expected.
        "captures/sipnab/sip-auth-failure.pcapng",
        &[(1, "register", "challenged", "fail")],
    ),
];

#[test]
fn example_rules_over_corpus_captures_agree_with_tshark() {
    let Some(root) = std::env::var_os("SIPFLOW_CORPUS").map(PathBuf::from) else {
        println!("skipped: SIPFLOW_CORPUS is not set (the external corpus of captures)");
        return;
    };
    for (file, want) in CORPUS {
        let path = root.join(file);
        assert!(
            path.is_file(),
            "{} is missing from the corpus",
            path.display()
        );
        let ts = tshark(&path);
        let (got, _) = check(&path, &["--rules", RULES]);
        let found: Vec<(u64, &str, &str, &str)> = got
            .values()
            .map(|v| {
                (
                    v["trigger"]["frame"].as_u64().unwrap(),
                    v["rule"].as_str().unwrap(),
                    v["branch"].as_str().unwrap_or(""),
                    v["verdict"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(&found, want, "{file}");
        for v in got.values() {
            let rule = v["rule"].as_str().unwrap();
            let branch = v["branch"].as_str().unwrap_or("");
            let call_id = v["trigger"]["call_id"].as_str().unwrap();
            let mut frames = BTreeSet::new();
            for s in v["steps"].as_array().unwrap() {
                let Some(frame) = s["frame"].as_u64() else {
                    continue;
                };
                let step = s["step"].as_u64().unwrap();
                let (kind, cseq) = expects(rule, branch, step);
                let mut hops: Vec<u64> = s["hops"]
                    .as_array()
                    .map(|h| h.iter().filter_map(|h| h["frame"].as_u64()).collect())
                    .unwrap_or_default();
                hops.push(frame);
                for f in hops {
                    let (tk, tcall, tcseq) = ts.get(&f).unwrap_or_else(|| {
                        panic!("{file}: frame {f} is no SIP message for tshark")
                    });
                    assert_eq!(tcall, call_id, "{file}: frame {f}");
                    assert_eq!(tcseq, cseq, "{file}: frame {f}, step {step}");
                    if s["status"] == "wrong" {
                        assert_ne!(tk, kind, "{file}: frame {f}, step {step}");
                    } else {
                        assert_eq!(tk, kind, "{file}: frame {f}, step {step}");
                    }
                    frames.insert(f);
                }
            }
            // A passing instance holds every request and final response
            // of its Call-ID that tshark lists between its first and last
            // step (provisional answers are not steps; a registration
            // refreshed in the same Call-ID is another instance).
            if v["verdict"] == "pass" {
                let (first, last) = (frames.first().copied(), frames.last().copied());
                let span = first.unwrap_or(0)..=last.unwrap_or(0);
                for (f, (kind, call, _)) in ts.range(span) {
                    let provisional = kind.starts_with('1') && kind.len() == 3;
                    if call == call_id && !provisional {
                        assert!(
                            frames.contains(f),
                            "{file}: frame {f} ({kind}) of {call_id} is in no step of {v}"
                        );
                    }
                }
            }
        }
    }
}
