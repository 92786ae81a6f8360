//! Rules with alternative branches (`either ... or ... end`): one instance
//! follows the branch the traffic took, and the report says which.

use std::process::Command;

use serde_json::Value;
use sipflow::rules::compile_text;

const RULE: &str = include_str!("../examples/rules/call-either-party-hangs-up.flow");

fn check(rule: &str, pcap: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("r.flow");
    std::fs::write(&f, rule).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow"))
        .args(["check", "--no-builtin", "--format", "json", "--rules"])
        .arg(&f)
        .arg(pcap)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &Value| v["type"] == "instance")
        .collect()
}

#[test]
fn each_combination_of_branches_is_a_variant() {
    let r = compile_text("t.flow", RULE).unwrap();
    assert_eq!(r.variants.len(), 1);
    assert_eq!(r.branch.as_deref(), Some("caller hangs up"));
    assert_eq!(r.variants[0].branch.as_deref(), Some("callee hangs up"));
    // Both variants number their steps as written.
    let numbers = |r: &sipflow::rules::Rule| -> Vec<u32> {
        r.required_steps().filter_map(|(_, s)| s.number).collect()
    };
    assert_eq!(numbers(&r), vec![1, 2, 3, 4, 5]);
    assert_eq!(numbers(&r.variants[0]), vec![1, 2, 3, 4, 5]);
    let (caller, callee) = (0, 1);
    assert_eq!((r.steps[4].from, r.steps[4].to), (caller, callee));
    let v = &r.variants[0];
    assert_eq!((v.steps[4].from, v.steps[4].to), (callee, caller));
}

#[test]
fn the_branch_the_traffic_took_is_reported() {
    // samples/messages/udp.pcap: Alice calls Bob, Bob hangs up (frame 10).
    let got = check(RULE, "samples/messages/udp.pcap");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["verdict"], "pass");
    assert_eq!(got[0]["branch"], "callee hangs up");
    let frames: Vec<u64> = got[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["frame"].as_u64().unwrap())
        .collect();
    assert_eq!(frames, vec![5, 8, 9, 10, 11]);
    // With only the caller allowed to hang up, the callee's BYE is not
    // step 4: the capture ends 0.3 s later, within the step's time limit,
    // so steps 4-5 are unobserved and the instance partial.
    let only_caller = RULE
        .split("or \"callee hangs up\"")
        .next()
        .unwrap()
        .to_string()
        + "end\n";
    let got = check(&only_caller, "samples/messages/udp.pcap");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["verdict"], "partial");
    assert_eq!(got[0]["branch"], "caller hangs up");
    assert_eq!(got[0]["steps"][3]["status"], "unobserved");
}

#[test]
fn branch_mistakes_are_errors() {
    let e = compile_text(
        "t.flow",
        "flow t\n1 a -> b INVITE\neither\n2 b -> a 200 OK (INVITE) response-to 1\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("this `either` block is never closed"), "{e}");
    let e = compile_text("t.flow", "flow t\n1 a -> b INVITE\nor\nend\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`or` without `either`"), "{e}");
    let e = compile_text(
        "t.flow",
        "flow t\n1 a -> b INVITE\neither \"x\"\nor \"y\"\n2 b -> a 200 OK (INVITE) response-to 1\nend\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("branch `x` holds no step"), "{e}");
    let many: String = (0..5)
        .map(|i| {
            format!(
                "either\n{} a -> b INFO in-dialog 1\nor\n{} b -> a INFO in-dialog 1\nend\n",
                i + 2,
                i + 2
            )
        })
        .collect();
    let e = compile_text("t.flow", &format!("flow t\n1 a -> b INVITE\n{many}"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("make 32 variants"), "{e}");
}
