//! sipflow-gen's topology variants (`--topologies all`), read back with
//! tshark, never with sipflow's parsers: three seeds, each a mixed trace of
//! every variant with faults. Every message the truth (format 2) cites is
//! at that frame with that method or status, each instance is reported once,
//! the per-variant summary matches the truth, and each variant's hops are
//! what the variant says: `ims` requests gain one Via per proxy of a chain
//! (Max-Forwards going down by one), flow 2's other participating servers
//! are reached directly (`direct`), behind core-a alone (`core-a-only`) or
//! through both cores (`spec`), `one-vantage` writes no packet on the links
//! it leaves out, `notify-never` sends no NOTIFY in the due subscription and
//! goes on 32 s past the trigger, and `no-alternative` has neither flow's
//! behaviour after the REFER. The topology samples (samples/flows/topologies/,
//! rows in samples/flows/EXPECTED-topologies.tsv) are read back the same way.
//! tshark is required: the test fails without it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// One SIP message as tshark shows it.
#[derive(Debug, Clone, Default)]
struct Msg {
    frame: u64,
    time: f64,
    src: String,
    dst: String,
    method: String,
    status: String,
    cseq_method: String,
    call_id: String,
    ruri: String,
    /// Number of Via header values (None in a frame with several messages).
    vias: Option<usize>,
    max_forwards: String,
    refer_to: String,
    event: String,
    contact: String,
    from: String,
    to: String,
    sipfrag: String,
}

const FIELDS: [&str; 17] = [
    "frame.number",
    "frame.time_epoch",
    "ip.src",
    "ip.dst",
    "sip.Method",
    "sip.Status-Code",
    "sip.CSeq.method",
    "sip.Call-ID",
    "sip.r-uri",
    "sip.Via",
    "sip.Max-Forwards",
    "sip.Refer-To",
    "sip.Event",
    "sip.Contact",
    "sip.From",
    "sip.To",
    "sipfrag.line",
];

/// Every SIP frame of `pcap`: frame number and its messages. A frame with
/// one message gives every field; a frame with several gives, per message,
/// the fields every message has (Call-ID, CSeq method) and lists the others
/// in `method`/`status` of the first.
fn messages(pcap: &Path) -> Vec<(u64, Vec<Msg>)> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args([
        "-Y",
        "sip",
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=|",
    ]);
    for f in FIELDS {
        cmd.args(["-e", f]);
    }
    let out = cmd
        .output()
        .expect("tshark is required by this test (is it installed?)");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut frames = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        assert_eq!(f.len(), FIELDS.len(), "tshark line {line:?}");
        let frame: u64 = f[0].parse().expect("frame number");
        let calls: Vec<&str> = f[7].split('|').collect();
        let cseqs: Vec<&str> = f[6].split('|').collect();
        let one = calls.len() == 1;
        let msgs = if one {
            vec![Msg {
                frame,
                time: f[1].parse().expect("time"),
                src: f[2].into(),
                dst: f[3].into(),
                method: f[4].into(),
                status: f[5].into(),
                cseq_method: f[6].into(),
                call_id: f[7].into(),
                ruri: f[8].into(),
                vias: Some(f[9].split('|').filter(|v| !v.is_empty()).count()),
                max_forwards: f[10].into(),
                refer_to: f[11].into(),
                event: f[12].into(),
                contact: f[13].into(),
                from: f[14].into(),
                to: f[15].into(),
                sipfrag: f[16].into(),
            }]
        } else {
            calls
                .iter()
                .zip(&cseqs)
                .map(|(c, m)| Msg {
                    frame,
                    time: f[1].parse().expect("time"),
                    src: f[2].into(),
                    dst: f[3].into(),
                    method: f[4].into(),
                    status: f[5].into(),
                    cseq_method: (*m).into(),
                    call_id: (*c).into(),
                    ruri: f[8].into(),
                    sipfrag: f[16].into(),
                    ..Default::default()
                })
                .collect()
        };
        frames.push((frame, msgs));
    }
    frames
}

/// A generated trace of every variant.
struct Trace {
    _dir: tempfile::TempDir,
    truth: Vec<Value>,
    stderr: String,
    frames: Vec<(u64, Vec<Msg>)>,
}

fn generate(seed: u64) -> Trace {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pcap = dir.path().join("v.pcap");
    let truth = dir.path().join("v.truth");
    let out = Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
        .args([
            "--instances",
            "350",
            "--faults",
            "0.15",
            "--topologies",
            "all",
        ])
        .args(["--seed", &seed.to_string(), "--out"])
        .arg(&pcap)
        .arg("--truth")
        .arg(&truth)
        .output()
        .expect("run sipflow-gen");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sipflow-gen failed: {stderr}");
    let truth = std::fs::read_to_string(&truth)
        .expect("truth file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("truth line is JSON"))
        .collect();
    let frames = messages(&pcap);
    Trace {
        _dir: dir,
        truth,
        stderr,
        frames,
    }
}

/// The message flows.md says each step is: a request method, or a
/// response to a method.
fn expected(rule: &str, step: u64) -> (&'static str, bool) {
    let (req, resp) = (false, true);
    match (rule, step) {
        ("poc-preest-release-self", 1..=2) => ("REFER", req),
        ("poc-preest-release-self", 3..=5) => ("BYE", req),
        ("poc-preest-release-self", 6..=8) => ("BYE", resp),
        ("poc-preest-release-self", 9..=10) => ("NOTIFY", req),
        ("poc-preest-release-self", 11..=12) => ("NOTIFY", resp),
        ("poc-preest-release-session", 1..=5) => ("REFER", req),
        ("poc-preest-release-session", 6..=8) => ("BYE", req),
        ("poc-preest-release-session", 9..=11) => ("BYE", resp),
        ("poc-preest-release-session", 12..=14) => ("REFER", resp),
        ("poc-preest-release-session", 15..=16) => ("NOTIFY", req),
        ("poc-preest-release-session", 17..=18) => ("NOTIFY", resp),
        ("poc-preest-participant-notify", 1..=2) => ("NOTIFY", req),
        ("poc-preest-participant-notify", 3..=4) => ("NOTIFY", resp),
        _ => panic!("no step {step} in {rule}"),
    }
}

/// Whether the one-vantage capture sees an address (sipflow-gen's
/// topology: the one-vantage networks are 10.65-225.x.x; the cores
/// (10.N.0.10) of the even ones and the clients of the odd ones are tapped).
fn tapped(ip: &str) -> bool {
    let o: Vec<u32> = ip.split('.').map(|x| x.parse().unwrap()).collect();
    if o[0] != 10 || !(65..=225).contains(&o[1]) {
        return true;
    }
    let even = (o[1] - 65).is_multiple_of(2);
    if o[2] == 0 { even && o[3] == 10 } else { !even }
}

/// The URI inside `<...>` of a header value, without parameters after it.
fn bracketed(v: &str) -> &str {
    let v = v.split('<').nth(1).unwrap_or(v);
    v.split('>').next().unwrap_or(v)
}

fn check(t: &Trace) {
    let by_frame: HashMap<u64, &Vec<Msg>> = t.frames.iter().map(|(f, m)| (*f, m)).collect();
    let all: Vec<&Msg> = t.frames.iter().flat_map(|(_, m)| m).collect();
    let at = |f: u64| -> &Vec<Msg> {
        by_frame
            .get(&f)
            .unwrap_or_else(|| panic!("frame {f} holds no SIP message"))
    };
    let last_time = all.iter().map(|m| m.time).fold(0.0, f64::max);
    let mut by_call: HashMap<&str, Vec<&Msg>> = HashMap::new();
    let mut byes: HashMap<&str, Vec<&Msg>> = HashMap::new();
    let mut subscribes: HashMap<&str, &Msg> = HashMap::new();
    let mut refers: HashMap<&str, Vec<&Msg>> = HashMap::new();
    for &m in &all {
        by_call.entry(m.call_id.as_str()).or_default().push(m);
        match m.method.as_str() {
            "BYE" => byes.entry(m.ruri.as_str()).or_default().push(m),
            "REFER" => refers.entry(m.ruri.as_str()).or_default().push(m),
            "SUBSCRIBE" => {
                subscribes.entry(bracketed(&m.from)).or_insert(m);
            }
            _ => {}
        }
    }
    let call = |c: &str| -> Vec<&Msg> { by_call.get(c).cloned().unwrap_or_default() };

    // Every instance once; per-variant counts as the summary says.
    let mut keys = HashSet::new();
    let mut per_topo: HashMap<String, [u64; 3]> = HashMap::new();
    for l in &t.truth {
        let key = (l["rule"].to_string(), l["trigger_frame"].as_u64().unwrap());
        assert!(keys.insert(key), "instance twice in the truth: {l}");
        let c = per_topo
            .entry(l["topology"].as_str().expect("topology").to_string())
            .or_default();
        match l["verdict"].as_str().unwrap() {
            "pass" => c[0] += 1,
            "fail" => c[1] += 1,
            "partial" => c[2] += 1,
            v => panic!("verdict {v}"),
        }
    }
    for name in [
        "spec",
        "direct",
        "core-a-only",
        "ims",
        "one-vantage",
        "notify-never",
        "no-alternative",
    ] {
        let c = per_topo.get(name).copied().unwrap_or_default();
        let line = format!(
            "topology {name} instances {} pass {} fail {} partial {}",
            c[0] + c[1] + c[2],
            c[0],
            c[1],
            c[2]
        );
        assert!(t.stderr.contains(&line), "summary lacks {line:?}");
        assert!(c.iter().sum::<u64>() >= 10, "few {name} instances: {c:?}");
    }

    let mut seen = HashMap::<&str, u64>::new();
    for l in &t.truth {
        let rule = l["rule"].as_str().unwrap();
        let topo = l["topology"].as_str().unwrap();
        let trigger = l["trigger_frame"].as_u64().unwrap();
        let call_id = l["call_id"].as_str().unwrap();
        let verdict = l["verdict"].as_str().unwrap();
        let steps = l["steps"].as_array().unwrap();
        let trig: Vec<&Msg> = at(trigger)
            .iter()
            .filter(|m| m.call_id == call_id)
            .collect();
        assert!(!trig.is_empty(), "trigger Call-ID not at its frame: {l}");
        // A flow 3 made due by its context names the session dialog's 2xx;
        // it is the trigger when the NOTIFY never came (notify-never).
        assert_eq!(
            topo == "notify-never",
            l.get("due").is_some_and(|d| d["frame"] == trigger),
            "{l}"
        );
        if let Some(d) = l.get("due") {
            let due_frame = d["frame"].as_u64().unwrap();
            let due_cid = d["call_id"].as_str().unwrap();
            assert!(
                at(due_frame).iter().any(|m| m.call_id == due_cid
                    && m.status == "200"
                    && m.cseq_method == "INVITE"),
                "{l}"
            );
            let inv = call(due_cid)
                .into_iter()
                .find(|m| m.method == "INVITE")
                .expect("session INVITE");
            assert!(inv.contact.contains(";isfocus"), "{l}");
            // For client A: a subscription from that address of record,
            // accepted before the 2xx.
            let aor = bracketed(&inv.to);
            let sub = *subscribes
                .get(aor)
                .unwrap_or_else(|| panic!("no SUBSCRIBE from {aor}: {l}"));
            assert_eq!(sub.event, "conference");
            let in_sub = call(&sub.call_id);
            assert!(
                in_sub.iter().any(|m| m.status == "200"
                    && m.cseq_method == "SUBSCRIBE"
                    && m.frame < due_frame),
                "{l}"
            );
            let notifies: Vec<u64> = in_sub
                .iter()
                .filter(|m| m.method == "NOTIFY" && m.frame > due_frame)
                .map(|m| m.frame)
                .collect();
            if topo == "notify-never" {
                assert_eq!(call_id, due_cid, "{l}");
                assert!(notifies.is_empty(), "a NOTIFY after all: {l}");
                assert_eq!(steps.len(), 4);
                assert!(steps.iter().all(|s| s["status"] == "missing"), "{l}");
                let t0 = trig[0].time;
                assert!(last_time > t0 + 32.0, "capture ends too soon: {l}");
            } else {
                // The NOTIFY (step 1) in that subscription is the trigger.
                assert_eq!(notifies.first(), Some(&trigger), "{l}");
                *seen.entry("due").or_default() += 1;
                assert_eq!(call_id, sub.call_id, "{l}");
            }
        }
        if topo != "notify-never" {
            let (m, _) = expected(rule, 1);
            assert!(trig.iter().any(|x| x.method == m), "trigger is no {m}: {l}");
        }

        // Every cited step.
        let mut last = (0, 0);
        for s in steps {
            let n = s["step"].as_u64().unwrap();
            let status = s["status"].as_str().unwrap();
            assert!(n >= last.0, "steps out of order: {l}");
            last = (n, last.1);
            *seen
                .entry(if status == "unobserved" {
                    "unobserved"
                } else {
                    "other"
                })
                .or_default() += 1;
            if status == "unobserved" {
                assert_eq!(topo, "one-vantage", "{l}");
            }
            if rule == "poc-preest-release-session" && (7..=10).contains(&n) {
                // Format 2: steps 7-10 are part-b's only.
                assert_eq!(s["participant"], l["participants"][0], "{l}");
            }
            let Some(frame) = s["frame"].as_u64() else {
                assert!(status == "missing" || status == "unobserved", "{l}");
                continue;
            };
            let (m, is_resp) = expected(rule, n);
            let here = at(frame);
            let ok = here.iter().any(|x| {
                if is_resp {
                    x.cseq_method == m && !x.status.is_empty()
                } else {
                    x.method.split('|').any(|y| y == m)
                }
            });
            assert!(ok, "step {n} at frame {frame} is not {m}: {l}");
            if status == "wrong" {
                let bad = here.iter().any(|x| {
                    x.status.split('|').any(|c| !c.is_empty() && c != "200")
                        || (x.sipfrag.contains("SIP/2.0") && !x.sipfrag.contains("SIP/2.0 200"))
                });
                assert!(bad, "step {n} at frame {frame} wrong but looks right: {l}");
            }
        }
        let unobserved_only =
            !steps.is_empty() && steps.iter().all(|s| s["status"] == "unobserved");
        assert_eq!(verdict == "partial", unobserved_only, "{l}");
        assert_eq!(verdict == "pass", steps.is_empty(), "{l}");
        let step_status = |n: u64, p: Option<&Value>| -> Option<&str> {
            steps
                .iter()
                .find(|s| s["step"] == n && p.is_none_or(|p| s.get("participant") == Some(p)))
                .and_then(|s| s["status"].as_str())
        };

        // The trigger REFER's hops (flows 1 and 2): one Via per node so
        // far, Max-Forwards 70 down by one per proxy.
        if rule != "poc-preest-participant-notify" {
            let refer: Vec<&Msg> = call(call_id)
                .into_iter()
                .filter(|m| m.method == "REFER" && m.vias.is_some())
                .collect();
            let mut vias: Vec<usize> = refer.iter().map(|m| m.vias.unwrap()).collect();
            for m in &refer {
                let mf: usize = m.max_forwards.parse().expect("Max-Forwards");
                assert_eq!(mf + m.vias.unwrap(), 71, "{m:?}");
            }
            vias.dedup();
            vias.sort();
            vias.dedup();
            let hops = if topo == "ims" { 3 } else { 2 };
            if step_status(2, None) != Some("missing") && refer.len() == vias.len() {
                assert_eq!(
                    vias,
                    (1..=hops).collect::<Vec<_>>(),
                    "{topo} REFER hops: {l}"
                );
            }
            assert!(vias.iter().all(|&v| v <= hops), "{l}");
            // Telling flow 1 from flow 2: PRE or SESSION as Request-URI.
            let first = trig.iter().find(|m| m.method == "REFER").unwrap();
            let session = bracketed(&first.refer_to)
                .split(';')
                .next()
                .unwrap()
                .to_string();
            if rule == "poc-preest-release-self" {
                assert!(first.ruri.starts_with("sip:pre-"), "{l}");
            } else {
                assert_eq!(first.ruri, session, "{l}");
            }
            if topo == "no-alternative" {
                assert_eq!(verdict, "fail");
                match rule {
                    // No BYE toward the session, no REFER of part-b's own.
                    "poc-preest-release-self" => {
                        assert!(!byes.contains_key(session.as_str()), "{l}")
                    }
                    _ => assert!(
                        refers
                            .get(session.as_str())
                            .is_none_or(|v| v.iter().all(|m| m.call_id == call_id)),
                        "{l}"
                    ),
                }
            }
        }

        // One-vantage (core-b): the steps between core-a and ctrl-a.
        if topo == "one-vantage" && rule != "poc-preest-participant-notify" {
            let pb = l["participants"].get(0);
            let far: &[(u64, Option<&Value>)] = if rule == "poc-preest-release-self" {
                &[(5, None), (6, None)]
            } else {
                &[(5, None), (6, pb), (11, pb), (12, None)]
            };
            for &(n, p) in far {
                assert_eq!(step_status(n, p), Some("unobserved"), "step {n}: {l}");
            }
        }

        // Flow 2: ctrl-a's BYE toward each other participating server.
        if rule == "poc-preest-release-session" {
            let parts = l["participants"].as_array().expect("participants");
            if topo == "one-vantage" {
                // The others' dialogs are never captured: part-b alone.
                assert_eq!(parts.len(), 1, "{l}");
                assert!(
                    steps
                        .iter()
                        .all(|s| s.get("participant").is_none_or(|p| *p == parts[0]))
                );
            } else {
                assert!(parts.len() >= 2, "{l}");
            }
            for p in parts.iter().skip(1) {
                let uri = p.as_str().unwrap();
                let byes: Vec<&Msg> = byes.get(uri).cloned().unwrap_or_default();
                let six = step_status(6, Some(p));
                if topo == "no-alternative" || six == Some("missing") {
                    assert!(byes.is_empty(), "{l}");
                    continue;
                }
                let server = uri.split('@').nth(1).unwrap().split(':').next().unwrap();
                let net = |ip: &str| ip.split('.').take(2).collect::<Vec<_>>().join(".");
                match topo {
                    "direct" => {
                        assert_eq!(byes.len(), 1, "{l}");
                        assert_eq!(byes[0].dst, server, "{l}");
                        assert_eq!(byes[0].vias, Some(1), "{l}");
                    }
                    "core-a-only" => {
                        assert_eq!(byes.len(), 2, "{l}");
                        assert_eq!(byes[1].dst, server);
                        assert_eq!(byes[0].dst, byes[1].src, "{l}");
                        // Server, core and ctrl-a all in network A.
                        assert_eq!(net(&byes[0].src), net(server), "{l}");
                        assert_eq!(net(&byes[0].dst), net(server), "{l}");
                    }
                    "spec" => {
                        assert_eq!(byes.len(), 3, "{l}");
                        assert_ne!(net(&byes[0].src), net(server), "{l}");
                    }
                    "ims" => {
                        assert!((5..=6).contains(&byes.len()), "{l}");
                        let v: Vec<_> = byes.iter().map(|m| m.vias).collect();
                        let want: Vec<_> = (1..=byes.len()).map(Some).collect();
                        if v.iter().all(Option::is_some) {
                            assert_eq!(v, want, "{l}");
                        }
                    }
                    _ => panic!("flow 2 in {topo}"),
                }
                assert_eq!(byes.last().map_or(server, |m| m.dst.as_str()), server);
                *seen.entry("participant").or_default() += 1;
            }
        }

        // Flow 3's NOTIFY: one Via per node so far.
        if rule == "poc-preest-participant-notify" && topo != "notify-never" {
            let nf = trigger;
            let Some(n) = at(nf).iter().find(|m| m.method == "NOTIFY") else {
                panic!("no NOTIFY at {nf}: {l}");
            };
            assert!(n.event == "conference" || n.vias.is_none(), "{l}");
            // Flow 3 with no context in the capture (no SUBSCRIBE in its
            // dialog): it starts at its NOTIFY.
            if !call(&n.call_id).iter().any(|m| m.method == "SUBSCRIBE") {
                assert!(l.get("due").is_none(), "{l}");
                *seen.entry("bare").or_default() += 1;
            }
            let vias: HashSet<usize> = call(&n.call_id)
                .iter()
                .filter(|m| m.method == "NOTIFY" && m.frame >= nf)
                .filter_map(|m| m.vias)
                .collect();
            let max = *vias.iter().max().unwrap();
            match topo {
                "ims" => assert!(max == 3 || step_status(2, None) == Some("missing"), "{l}"),
                "one-vantage" => {
                    // Only core-a -> client-a is captured: two Vias.
                    assert_eq!(vias, HashSet::from([2]), "{l}");
                    assert_eq!(step_status(1, None), Some("unobserved"), "{l}");
                    assert_eq!(step_status(4, None), Some("unobserved"), "{l}");
                }
                _ => assert!(max == 2 || step_status(2, None) == Some("missing"), "{l}"),
            }
        }
        *seen.entry(topo).or_default() += 1;
    }

    // one-vantage: no packet at all on a link it leaves out.
    let mut vantage = 0;
    for m in &all {
        let v = |ip: &str| {
            ip.starts_with("10.")
                && (65..=225).contains(&ip.split('.').nth(1).unwrap().parse::<u32>().unwrap())
        };
        if v(&m.src) || v(&m.dst) {
            vantage += 1;
            assert!(
                tapped(&m.src) || tapped(&m.dst),
                "left-out link captured: {m:?}"
            );
        }
    }
    assert!(vantage > 100, "few one-vantage messages: {vantage}");
    // ims: every request's Max-Forwards and Via count agree (70 at the
    // sender, one less and one Via more per proxy), and chains of three
    // proxies occur.
    let mut deep = 0;
    for m in &all {
        if let Some(v) = m.vias
            && !m.method.is_empty()
            && m.method != "ACK"
            && let Ok(mf) = m.max_forwards.parse::<usize>()
        {
            assert_eq!(mf + v, 71, "{m:?}");
            if v >= 6 {
                deep += 1;
            }
        }
    }
    assert!(deep > 0, "no request crossed six nodes");
    assert!(seen.get("unobserved").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(seen.get("due").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(seen.get("bare").copied().unwrap_or(0) > 0, "{seen:?}");
    assert!(
        seen.get("participant").copied().unwrap_or(0) > 20,
        "{seen:?}"
    );
}

#[test]
fn variants_hold_what_they_say_for_three_seeds() {
    for seed in [1, 2, 3] {
        let t = generate(seed);
        check(&t);
    }
}

#[test]
fn default_truth_format_is_unchanged_and_v1_refuses_variants() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sipflow-gen"))
            .args(args)
            .arg("--out")
            .arg(dir.path().join("x.pcap"))
            .arg("--truth")
            .arg(dir.path().join("x.truth"))
            .output()
            .unwrap()
    };
    let out = run(&["--instances", "40", "--seed", "2"]);
    assert!(out.status.success());
    let truth = std::fs::read_to_string(dir.path().join("x.truth")).unwrap();
    assert_eq!(truth.lines().count(), 40);
    assert!(!truth.contains("topology") && !truth.contains("partial"));
    let out = run(&[
        "--instances",
        "5",
        "--topologies",
        "ims",
        "--truth-format",
        "v1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--truth-format v2"));
    let out = run(&["--instances", "5", "--topologies", "spec,mesh"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown topology 'mesh'"));
    let out = run(&["--instances", "20", "--truth-format", "v2"]);
    assert!(out.status.success());
    let truth = std::fs::read_to_string(dir.path().join("x.truth")).unwrap();
    assert!(truth.lines().all(|l| l.contains("\"topology\":\"spec\"")));
}

/// One row of samples/flows/EXPECTED-topologies.tsv.
struct Row {
    file: String,
    rule: String,
    call_id: String,
    trigger: u64,
    verdict: String,
    not_ok: Vec<(String, String)>,
    frames: Vec<(String, u64)>,
}

fn rows() -> Vec<Row> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("samples/flows/EXPECTED-topologies.tsv"))
        .expect("samples/flows/EXPECTED-topologies.tsv");
    let pairs = |s: &str| -> Vec<(String, String)> {
        if s == "-" {
            return Vec::new();
        }
        s.split(',')
            .map(|p| {
                let (a, b) = p.split_once('=').expect("step=value");
                (a.to_string(), b.to_string())
            })
            .collect()
    };
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("file\trule\ttrigger_call_id")
    );
    lines
        .map(|line| {
            let c: Vec<&str> = line.split('\t').collect();
            assert_eq!(c.len(), 10, "{line}");
            Row {
                file: c[0].into(),
                rule: c[1].into(),
                call_id: c[2].into(),
                trigger: c[3].parse().unwrap(),
                verdict: c[6].into(),
                not_ok: pairs(c[7]),
                frames: pairs(c[8])
                    .into_iter()
                    .map(|(k, v)| (k, v.parse().unwrap()))
                    .collect(),
            }
        })
        .collect()
}

/// The topology samples' rows, read back with tshark: every cited frame
/// holds the step's message, verdicts follow the statuses, and each
/// capture's hops are what its variant says.
#[test]
fn topology_samples_rows_point_at_their_messages() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let rows = rows();
    let files: HashSet<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    for v in [
        "spec",
        "direct",
        "core-a-only",
        "ims",
        "one-vantage",
        "notify-never",
        "no-alternative",
    ] {
        assert!(
            files.contains(format!("flows/topologies/{v}.pcap").as_str()),
            "no rows for {v}"
        );
    }
    let mut cache: HashMap<&str, Vec<(u64, Vec<Msg>)>> = HashMap::new();
    for r in &rows {
        let frames = cache
            .entry(r.file.as_str())
            .or_insert_with(|| messages(&root.join(&r.file)));
        let at = |f: u64| -> Vec<&Msg> {
            frames
                .iter()
                .filter(|(n, _)| *n == f)
                .flat_map(|(_, m)| m)
                .collect()
        };
        assert!(
            at(r.trigger).iter().any(|m| m.call_id == r.call_id),
            "{}: trigger {} is not {}",
            r.file,
            r.trigger,
            r.call_id
        );
        for (k, f) in &r.frames {
            let n: u64 = k.split('[').next().unwrap().parse().unwrap();
            let (m, is_resp) = expected(&r.rule, n);
            let ok = at(*f).iter().any(|x| {
                if is_resp {
                    x.cseq_method == m && !x.status.is_empty()
                } else {
                    x.method == m
                }
            });
            assert!(ok, "{}: step {k} at frame {f} is not {m}", r.file);
        }
        let statuses: HashSet<&str> = r.not_ok.iter().map(|(_, s)| s.as_str()).collect();
        let want = if statuses.is_empty() {
            "pass"
        } else if statuses.iter().all(|s| *s == "unobserved") {
            "partial"
        } else {
            "fail"
        };
        assert_eq!(r.verdict, want, "{} {}", r.file, r.rule);
        // Format 2: steps 7-10 of part-b only.
        let keys = r
            .not_ok
            .iter()
            .map(|(k, _)| k)
            .chain(r.frames.iter().map(|(k, _)| k));
        for k in keys {
            if let Some((n, p)) = k.split_once('[') {
                let n: u64 = n.parse().unwrap();
                if (7..=10).contains(&n) {
                    assert_eq!(p, "part-b]", "{}: {k}", r.file);
                }
            }
        }
    }
    let all = |f: &str| -> Vec<Msg> {
        cache[f]
            .iter()
            .flat_map(|(_, m)| m.iter().cloned())
            .collect()
    };
    // direct: ctrl-a (127.0.1.5) sends its BYE straight to part-x (.9).
    let d = all("flows/topologies/direct.pcap");
    let byes: Vec<&Msg> = d
        .iter()
        .filter(|m| m.method == "BYE" && m.ruri.contains("@127.0.1.9"))
        .collect();
    assert_eq!(byes.len(), 1);
    assert_eq!(
        (byes[0].src.as_str(), byes[0].dst.as_str()),
        ("127.0.1.5", "127.0.1.9")
    );
    // core-a-only: ctrl-a -> core-a (.4) -> part-a2 (.21).
    let d = all("flows/topologies/core-a-only.pcap");
    let hops: Vec<(&str, &str)> = d
        .iter()
        .filter(|m| m.method == "BYE" && m.ruri.contains("@127.0.1.21"))
        .map(|m| (m.src.as_str(), m.dst.as_str()))
        .collect();
    assert_eq!(
        hops,
        vec![("127.0.1.5", "127.0.1.4"), ("127.0.1.4", "127.0.1.21")]
    );
    // ims: Max-Forwards and Via count agree; two chains of two proxies
    // between two servers make five Vias at the last hop.
    let d = all("flows/topologies/ims.pcap");
    for m in d.iter().filter(|m| !m.method.is_empty()) {
        let mf: usize = m.max_forwards.parse().unwrap();
        assert_eq!(mf + m.vias.unwrap(), 71, "{m:?}");
    }
    assert_eq!(d.iter().filter_map(|m| m.vias).max(), Some(5));
    // one-vantage: every packet touches core-b (127.0.1.2).
    let d = all("flows/topologies/one-vantage.pcap");
    assert!(
        d.iter()
            .all(|m| m.src == "127.0.1.2" || m.dst == "127.0.1.2")
    );
    // notify-never: no NOTIFY in Alice's subscription after the trigger,
    // and the capture goes on 32 s past it.
    let r = rows
        .iter()
        .find(|r| r.file.ends_with("notify-never.pcap") && r.verdict == "fail")
        .unwrap();
    let d = all(&r.file);
    let t0 = d.iter().find(|m| m.frame == r.trigger).unwrap();
    assert_eq!(
        (t0.status.as_str(), t0.cseq_method.as_str()),
        ("200", "INVITE")
    );
    assert!(d.iter().map(|m| m.time).fold(0.0, f64::max) > t0.time + 32.0);
    let sub = d.iter().find(|m| m.method == "SUBSCRIBE").unwrap();
    assert!(
        !d.iter()
            .any(|m| m.call_id == sub.call_id && m.method == "NOTIFY" && m.frame > r.trigger)
    );
}
