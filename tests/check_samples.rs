//! `sipflow check` on the sample captures (real sockets on loopback,
//! captured by tcpdump: `scripts/make-samples`), against the expectations
//! the script's author wrote from each scenario (`samples/flows/EXPECTED.tsv`:
//! verdicts, every step that is not ok, the frame of every step seen).
//! Both output formats and the exit status are checked.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Expected {
    file: String,
    rule: String,
    call_id: String,
    trigger_frame: u64,
    session: String,
    verdict: String,
    /// (step, participant role) → status, for the steps that are not ok.
    not_ok: HashMap<(u64, Option<String>), String>,
    /// (step, participant role) → frame, for the steps seen.
    frames: HashMap<(u64, Option<String>), u64>,
    optional: bool,
}

fn step_key(s: &str) -> (u64, Option<String>) {
    match s.split_once('[') {
        Some((n, role)) => (
            n.parse().unwrap(),
            Some(role.trim_end_matches(']').to_string()),
        ),
        None => (s.parse().unwrap(), None),
    }
}

fn expected() -> Vec<Expected> {
    // The spec's figure (EXPECTED.tsv) and the same flows on other networks
    // (EXPECTED-topologies.tsv: other participants reached directly or
    // through core A alone, IMS chains of proxies, one vantage point, a
    // NOTIFY never sent, a REFER no flow fits).
    let mut text = String::new();
    for f in [
        "samples/flows/EXPECTED.tsv",
        "samples/flows/EXPECTED-topologies.tsv",
    ] {
        let t = std::fs::read_to_string(root().join(f)).unwrap();
        text.extend(t.lines().skip(1).map(|l| format!("{l}\n")));
    }
    assert!(
        text.contains("flows/topologies/ims.pcap"),
        "topology rows missing"
    );
    let mut out = Vec::new();
    for line in text.lines() {
        let c: Vec<&str> = line.split('\t').collect();
        let pairs = |s: &str| -> Vec<(String, String)> {
            if s == "-" {
                return Vec::new();
            }
            s.split(',')
                .map(|p| {
                    let (a, b) = p.split_once('=').unwrap();
                    (a.to_string(), b.to_string())
                })
                .collect()
        };
        out.push(Expected {
            file: c[0].to_string(),
            rule: c[1].to_string(),
            call_id: c[2].to_string(),
            trigger_frame: c[3].parse().unwrap(),
            session: c[4].to_string(),
            verdict: c[6].to_string(),
            not_ok: pairs(c[7])
                .into_iter()
                .map(|(k, v)| (step_key(&k), v))
                .collect(),
            frames: pairs(c[8])
                .into_iter()
                .map(|(k, v)| (step_key(&k), v.parse().unwrap()))
                .collect(),
            optional: c[9] == "yes",
        });
    }
    out
}

/// Participant server addresses → their roles (`127.0.1.9` → `part-x`),
/// from the samples' README role table: the report names a participant by
/// its remote target URI, whose host is the server's address.
fn participant_roles() -> HashMap<String, String> {
    let text = std::fs::read_to_string(root().join("samples/README.md")).unwrap();
    let mut map = HashMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() > 3 && cells[1].starts_with("part-") {
            map.insert(cells[2].to_string(), cells[1].to_string());
        }
    }
    assert!(
        map.values().any(|r| r == "part-b") && map.values().any(|r| r == "part-x"),
        "README role table changed: {map:?}"
    );
    map
}

fn sipflow(args: &[&str]) -> (Vec<u8>, Vec<u8>, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (out.stdout, out.stderr, out.status.code().unwrap_or(-1))
}

fn json_lines(bytes: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn every_sample_gets_the_verdicts_its_scenario_implies() {
    let expected = expected();
    let roles = participant_roles();
    let role_of = |uri: &str| -> String {
        let host = uri
            .split('@')
            .nth(1)
            .unwrap_or(uri)
            .split([':', ';'])
            .next()
            .unwrap_or("");
        roles.get(host).cloned().unwrap_or_else(|| uri.to_string())
    };
    let mut files: Vec<&str> = expected.iter().map(|e| e.file.as_str()).collect();
    files.dedup();
    let mut checked = 0;
    for file in files {
        let path = format!("samples/{file}");
        let (stdout, stderr, code) = sipflow(&["check", "--format", "json", &path]);
        let lines = json_lines(&stdout);
        let instances: Vec<&Value> = lines.iter().filter(|v| v["type"] == "instance").collect();
        let summary = lines.last().unwrap();
        assert_eq!(summary["type"], "summary", "{file}");
        assert_eq!(
            summary["errors"],
            0,
            "{file}: {}",
            String::from_utf8_lossy(&stderr)
        );
        let mine: Vec<&Expected> = expected.iter().filter(|e| e.file == file).collect();
        // Every reported instance is an expected one, and every required
        // expected one is reported.
        for inst in &instances {
            let trigger = inst["trigger"]["frame"].as_u64().unwrap();
            assert!(
                mine.iter()
                    .any(|e| e.trigger_frame == trigger && e.rule == inst["rule"]),
                "{file}: unexpected instance {inst}"
            );
        }
        for e in &mine {
            let found = instances.iter().find(|i| {
                i["trigger"]["frame"].as_u64() == Some(e.trigger_frame)
                    && i["rule"] == e.rule.as_str()
            });
            let Some(inst) = found else {
                assert!(
                    e.optional,
                    "{file}: instance of {} at frame {} not reported",
                    e.rule, e.trigger_frame
                );
                continue;
            };
            checked += 1;
            let ctx = format!("{file} {} @{}", e.rule, e.trigger_frame);
            assert_eq!(inst["file"], path.as_str(), "{ctx}");
            assert_eq!(inst["verdict"], e.verdict.as_str(), "{ctx}: {inst}");
            assert_eq!(inst["trigger"]["call_id"], e.call_id.as_str(), "{ctx}");
            assert_eq!(inst["session"], e.session.as_str(), "{ctx}");
            let steps = inst["steps"].as_array().unwrap();
            let mut got_not_ok = HashMap::new();
            let mut got_frames = HashMap::new();
            for s in steps {
                let key = (
                    s["step"].as_u64().unwrap(),
                    s["participant"].as_str().map(role_of),
                );
                assert!(
                    s["participant"].is_null() || !got_frames.contains_key(&key),
                    "{ctx}: two participants of step {key:?}"
                );
                if let Some(f) = s["frame"].as_u64() {
                    got_frames.insert(key.clone(), f);
                }
                let status = s["status"].as_str().unwrap();
                if status != "ok" {
                    got_not_ok.insert(key.clone(), status.to_string());
                }
                if let (Some(frame), Some(want)) = (s["frame"].as_u64(), e.frames.get(&key)) {
                    // Where two chains of proxies meet (an IMS core's
                    // I-CSCF, an IBCF), which hop crosses from one network
                    // to the other cannot be told from the messages: the
                    // scenario's hop must then be one of the hops the step
                    // reports for its message.
                    // (For a hop inside a chain the instance may show it
                    // with the step before, so any step's hops count.)
                    let hops: Vec<u64> = steps
                        .iter()
                        .flat_map(|t| t["hops"].as_array().cloned().unwrap_or_default())
                        .filter_map(|x| x["frame"].as_u64())
                        .collect();
                    assert!(
                        frame == *want || hops.contains(want),
                        "{ctx}: frame of step {key:?}: {frame} (hops {hops:?}), scenario {want}"
                    );
                }
                if status == "ok" {
                    assert!(
                        e.frames.contains_key(&key),
                        "{ctx}: step {key:?} ok but the scenario never sent it"
                    );
                }
            }
            assert_eq!(got_not_ok, e.not_ok, "{ctx}");
            // Step numbers appear in the rule's order.
            let numbers: Vec<u64> = steps.iter().map(|s| s["step"].as_u64().unwrap()).collect();
            assert!(
                numbers.windows(2).all(|w| w[0] <= w[1]),
                "{ctx}: {numbers:?}"
            );
        }
        // Exit status: 1 if any instance failed, else 0.
        let any_fail = instances.iter().any(|i| i["verdict"] == "fail");
        assert_eq!(code, if any_fail { 1 } else { 0 }, "{file}");
        assert_eq!(summary["fail"].as_u64().unwrap() > 0, any_fail, "{file}");

        // The table says the same.
        let (table, _, tcode) = sipflow(&["check", &path]);
        let table = String::from_utf8_lossy(&table);
        assert_eq!(tcode, code, "{file}: table exit status");
        for inst in &instances {
            let rule = inst["rule"].as_str().unwrap();
            let verdict = inst["verdict"].as_str().unwrap();
            let row = table
                .lines()
                .find(|l| {
                    l.contains(rule) && l.contains(&format!("frame {}", inst["trigger"]["frame"]))
                })
                .unwrap_or_else(|| panic!("{file}: no table row for {rule}:\n{table}"));
            assert!(row.contains(verdict), "{file}: {row}");
            for s in inst["steps"].as_array().unwrap() {
                let status = s["status"].as_str().unwrap();
                if status == "ok" || verdict == "pass" {
                    continue;
                }
                let label = format!("│   {} ", s["step"]);
                assert!(
                    table
                        .lines()
                        .any(|l| l.starts_with(&label) && l.contains(status)),
                    "{file}: no table row for step {} {status}:\n{table}",
                    s["step"]
                );
            }
        }
    }
    assert!(checked >= 20, "only {checked} instances checked");
}

#[test]
fn expect_fails_when_the_flow_is_absent_and_passes_when_present() {
    let self_ok = "samples/flows/poc-preest-release-self/ok-udp.pcap";
    let (_, _, code) = sipflow(&["check", "--expect", "poc-preest-release-self", self_ok]);
    assert_eq!(code, 0);
    let (_, stderr, code) = sipflow(&["check", "--expect", "poc-preest-release-session", self_ok]);
    assert_eq!(code, 1);
    assert!(String::from_utf8_lossy(&stderr).contains("no instance of this flow was found"));
    let (_, stderr, code) = sipflow(&["check", "--expect", "no-such-rule", self_ok]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&stderr).contains("no such rule"));
}

#[test]
fn several_files_in_one_run_are_reported_per_file() {
    let a = "samples/flows/poc-preest-release-self/ok-udp.pcap";
    let b = "samples/flows/poc-preest-release-self/missing.pcap";
    let (stdout, _, code) = sipflow(&["check", "--format", "json", a, b]);
    assert_eq!(code, 1);
    let lines = json_lines(&stdout);
    let files: Vec<&str> = lines
        .iter()
        .filter(|v| v["type"] == "instance")
        .map(|v| v["file"].as_str().unwrap())
        .collect();
    assert_eq!(files, vec![a, b]);
    let summary = lines.last().unwrap();
    assert_eq!(
        (
            summary["files"].as_u64(),
            summary["pass"].as_u64(),
            summary["fail"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
}

#[test]
fn role_binding_from_the_command_line() {
    let f = "samples/flows/poc-preest-release-self/ok-udp.pcap";
    // core-b really is 127.0.1.2: binding it changes nothing.
    let (out, _, code) = sipflow(&["check", "--format", "json", "--role", "core-b=127.0.1.2", f]);
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&out).contains("\"pass\":1"));
    // Bound to a node that is not core-b, no instance of flow 1 can start;
    // and a node no SIP message touched is a mistake on the command line,
    // not a pass: exit 2, naming the role and the address.
    let (out, err, code) = sipflow(&[
        "check",
        "--format",
        "json",
        "--role",
        "core-b=127.0.1.99",
        f,
    ]);
    assert!(!String::from_utf8_lossy(&out).contains("poc-preest-release-self"));
    assert_eq!(code, 2);
    assert!(
        String::from_utf8_lossy(&err)
            .contains("--role core-b=127.0.1.99: no SIP message of the input was sent or received by 127.0.1.99"),
        "{}",
        String::from_utf8_lossy(&err)
    );
    // Bound to a node of the capture that is not core-b: no instance, and
    // no error (the node is there).
    let (out, _, code) = sipflow(&["check", "--format", "json", "--role", "core-b=127.0.1.5", f]);
    assert_eq!(code, 0);
    assert!(!String::from_utf8_lossy(&out).contains("poc-preest-release-self"));
    // One role bound twice, or two roles on one node: errors.
    let (_, err, code) = sipflow(&[
        "check",
        "--role",
        "part-b=127.0.1.3",
        "--role",
        "part-b=127.0.1.4",
        f,
    ]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("role `part-b` is bound twice"));
    let (_, err, code) = sipflow(&[
        "check",
        "--role",
        "part-b=127.0.1.3",
        "--role",
        "ctrl-a=127.0.1.3",
        f,
    ]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("are bound to one node"));
    let (_, err, code) = sipflow(&["check", "--role", "core-b", f]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("expected ROLE=IP"));
    let (_, err, code) = sipflow(&["check", "--role", "nobody=1.2.3.4", f]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("role `nobody` is used by no rule"));
}

#[test]
fn user_rules_and_lint() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("call.flow");
    std::fs::write(
        &good,
        "flow call\nroles caller callee\n1 caller -> callee INVITE\n2 callee -> caller 200 OK (INVITE) response-to 1\n3 caller -> callee ACK in-dialog 1\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.flow");
    std::fs::write(&bad, "flow bad\nroles a b\n1 a -> c INVITE\n").unwrap();
    let (out, _, code) = sipflow(&["rules", "lint", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&out));
    let (_, err, code) = sipflow(&["rules", "lint", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains("unknown role `c`") && err.contains("bad.flow:3:8"),
        "{err}"
    );
    // A user rule on a sample: the call in messages/udp.pcap.
    let (out, _, code) = sipflow(&[
        "check",
        "--format",
        "json",
        "--no-builtin",
        "--rules",
        good.to_str().unwrap(),
        "samples/messages/udp.pcap",
    ]);
    let lines = json_lines(&out);
    let inst: Vec<&Value> = lines.iter().filter(|v| v["type"] == "instance").collect();
    assert_eq!(inst.len(), 1, "{lines:?}");
    assert_eq!(inst[0]["verdict"], "pass");
    assert_eq!(code, 0);
    // A broken rule file stops the run with status 2 and the diagnostic.
    let (_, err, code) = sipflow(&[
        "check",
        "--rules",
        bad.to_str().unwrap(),
        "samples/messages/udp.pcap",
    ]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("unknown role `c`"));
    // rules list / show.
    let (out, _, code) = sipflow(&["rules", "list"]);
    assert_eq!(code, 0);
    let out = String::from_utf8_lossy(&out);
    for id in [
        "poc-preest-release-self",
        "poc-preest-release-session",
        "poc-preest-participant-notify",
    ] {
        assert!(out.contains(id), "{out}");
    }
    let (out, _, code) = sipflow(&["rules", "show", "poc-preest-release-self"]);
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8_lossy(&out),
        std::fs::read_to_string(root().join("rules/poc-preest-release-self.flow")).unwrap()
    );
    let (_, err, code) = sipflow(&["rules", "show", "nope"]);
    assert_eq!(code, 2);
    assert!(String::from_utf8_lossy(&err).contains("no rule `nope`"));
}

#[test]
fn a_file_that_is_not_a_capture_exits_2_and_the_others_are_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "this is not a capture\n").unwrap();
    let ok = "samples/flows/poc-preest-release-self/ok-udp.pcap";
    let (out, _, code) = sipflow(&["check", "--format", "json", junk.to_str().unwrap(), ok]);
    assert_eq!(code, 2);
    let lines = json_lines(&out);
    let err = lines.iter().find(|v| v["type"] == "error").unwrap();
    assert_eq!(err["file"], junk.to_str().unwrap());
    assert!(
        err["message"].as_str().unwrap().contains("not a capture"),
        "{err}"
    );
    assert!(
        lines
            .iter()
            .any(|v| v["type"] == "instance" && v["verdict"] == "pass")
    );
    let _ = Path::new(ok);
}

#[test]
fn topology_file_binds_roles_and_reports_its_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let f = "samples/flows/poc-preest-release-self/ok-udp.pcap";
    let good = dir.path().join("lab.topo");
    std::fs::write(
        &good,
        "# the loopback lab of scripts/make-samples\ncore-b = 127.0.1.2\npart-b = 127.0.1.3\n",
    )
    .unwrap();
    let (out, _, code) = sipflow(&[
        "check",
        "--format",
        "json",
        "--topology",
        good.to_str().unwrap(),
        f,
    ]);
    assert_eq!(code, 0);
    assert!(String::from_utf8_lossy(&out).contains("\"pass\":1"));
    let wrong = dir.path().join("wrong.topo");
    std::fs::write(&wrong, "part-b = 127.0.1.4\n").unwrap();
    let (out, _, _) = sipflow(&[
        "check",
        "--format",
        "json",
        "--topology",
        wrong.to_str().unwrap(),
        f,
    ]);
    let lines = json_lines(&out);
    assert!(
        !lines.iter().any(|v| v["type"] == "instance"
            && v["rule"] == "poc-preest-release-self"
            && v["verdict"] == "pass"),
        "part-b bound to another node cannot pass: {lines:?}"
    );
    let bad = dir.path().join("bad.topo");
    std::fs::write(&bad, "core-b 127.0.1.2\n").unwrap();
    let (_, err, code) = sipflow(&["check", "--topology", bad.to_str().unwrap(), f]);
    assert_eq!(code, 2);
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains("bad.topo:1") && err.contains("expected ROLE=IP"),
        "{err}"
    );
}

#[test]
fn absolute_time_shows_utc_dates() {
    let f = "samples/flows/poc-preest-release-self/missing.pcap";
    let (rel, _, _) = sipflow(&["check", f]);
    let (abs, _, _) = sipflow(&["check", "--absolute-time", f]);
    let (rel, abs) = (String::from_utf8_lossy(&rel), String::from_utf8_lossy(&abs));
    assert!(rel.contains("frame 1, 0.000000"), "{rel}");
    // The capture was made by scripts/make-samples; its first frame's date.
    let (json, _, _) = sipflow(&["messages", "--format", "json", f]);
    let first = json_lines(&json)[0]["time"].as_f64().unwrap() as i64;
    let days = first.div_euclid(86_400);
    assert!(days > 19_000, "{first}");
    assert!(abs.lines().any(|l| l.contains("frame 1, 20")), "{abs}");
}
