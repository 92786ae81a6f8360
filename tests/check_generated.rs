//! `sipflow check` against the truth of a generated trace: `sipflow-gen`
//! writes a capture of a few thousand concurrent PoC flow instances (10 % of
//! them with one fault: a missing hop, an out-of-order hop, a wrong
//! response) among ordinary calls, REGISTERs and OPTIONS, and records the
//! frame of every step it emits; its truth file says each instance's
//! verdict and every step that is not ok. Every instance must be found,
//! with exactly that verdict and those statuses.

use std::collections::HashMap;
use std::process::Command;

use serde_json::Value;

type Key = (String, u64);

fn non_ok(steps: &Value, only_non_ok: bool) -> Vec<(u64, String, String)> {
    let mut v: Vec<(u64, String, String)> = steps
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !only_non_ok || s["status"] != "ok")
        .map(|s| {
            (
                s["step"].as_u64().unwrap(),
                s["participant"].as_str().unwrap_or("").to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn generated_trace_matches_its_truth() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("gen.pcap");
    let truth = dir.path().join("gen.truth");
    let generated = Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
        .args([
            "--instances",
            "3000",
            "--faults",
            "0.1",
            "--seed",
            "7",
            "--out",
        ])
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );

    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["check", "--format", "json"])
        .arg(&pcap)
        .output()
        .unwrap();
    let mut got: HashMap<Key, Value> = HashMap::new();
    let mut summary = Value::Null;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str() {
            Some("instance") => {
                let key = (
                    v["rule"].as_str().unwrap().to_string(),
                    v["trigger"]["frame"].as_u64().unwrap(),
                );
                assert!(
                    got.insert(key.clone(), v).is_none(),
                    "instance reported twice: {key:?}"
                );
            }
            Some("summary") => summary = v,
            Some("error") => panic!("input problem in a generated trace: {v}"),
            _ => {}
        }
    }
    let mut expected = 0;
    let mut failing = 0;
    let mut mismatches = Vec::new();
    for line in std::fs::read_to_string(&truth).unwrap().lines() {
        let t: Value = serde_json::from_str(line).unwrap();
        expected += 1;
        let key = (
            t["rule"].as_str().unwrap().to_string(),
            t["trigger_frame"].as_u64().unwrap(),
        );
        let Some(g) = got.remove(&key) else {
            mismatches.push(format!("not found: {key:?}"));
            continue;
        };
        if t["verdict"] == "fail" {
            failing += 1;
        }
        assert_eq!(g["trigger"]["call_id"], t["call_id"], "{key:?}");
        if g["verdict"] != t["verdict"] || non_ok(&g["steps"], true) != non_ok(&t["steps"], false) {
            mismatches.push(format!(
                "{key:?}: expected {} {:?}, got {} {:?}",
                t["verdict"],
                non_ok(&t["steps"], false),
                g["verdict"],
                non_ok(&g["steps"], true)
            ));
        }
    }
    assert!(
        got.is_empty(),
        "instances the truth does not know: {:?}",
        got.keys().take(5).collect::<Vec<_>>()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {expected} instances differ:\n{}",
        mismatches.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(expected >= 3000, "only {expected} instances generated");
    assert!(failing >= 200, "only {failing} faulty instances generated");
    assert_eq!(summary["instances"].as_u64(), Some(expected));
    assert_eq!(summary["fail"].as_u64(), Some(failing));
    assert_eq!(out.status.code(), Some(1));
}
