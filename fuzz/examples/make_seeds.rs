//! Writes the seed corpora of the fuzz targets into `fuzz/seeds/` from the
//! repository's samples (and, when present, the shared external corpus):
//!
//! ```text
//! cd fuzz && cargo +nightly run --example make_seeds [SHARED_CORPUS_DIR]
//! ```
//!
//! capture/: mode byte 0 + each sample capture file (and small format
//!   files of the external corpus, a trimmed snoop and NetMon); mode 1-3 +
//!   a plain pcap (the target compresses it with gzip, zstd, lz4).
//! net/: the frames of sample captures in the net target's record format,
//!   plus hand-made SCTP frames.
//! sip/: UDP payloads and TCP stream bytes, extracted with sipflow's own
//!   net stage, and the RFC 4475 torture messages.
//! rules/: the built-in rules and each example of docs/rules.md.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use sipflow::capture::{self, Item};
use sipflow::net::{Decoder, NetConfig, NetEvent};

const LINKS: [u32; 16] = [
    1, 1, 1, 1, 0, 108, 9, 51, 104, 101, 228, 229, 113, 276, 105, 147,
];
const MAX_SEED: usize = 12 * 1024;

fn frames(path: &Path) -> Vec<(u32, i128, Vec<u8>, u32)> {
    let mut r = capture::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    while let Some(item) = r.next() {
        if let Item::Frame(f) = item {
            out.push((
                f.link_type.0,
                f.time.as_nanos(),
                f.data.to_vec(),
                f.orig_len,
            ));
        }
    }
    out
}

/// The frames of a capture as net-target records (cut at MAX_SEED bytes).
fn net_seed(path: &Path, skip: usize) -> Vec<u8> {
    let mut seed = vec![0u8];
    let mut last = None;
    for (link, t, data, orig) in frames(path).into_iter().skip(skip) {
        let Some(i) = LINKS.iter().position(|&l| l == link) else {
            continue;
        };
        let dt = last.map_or(0, |l: i128| ((t - l).max(0) / 250_000_000).min(255)) as u8;
        last = Some(t);
        if seed.len() + 4 + data.len() > MAX_SEED {
            break;
        }
        let cut = if (orig as usize) > data.len() {
            0x80
        } else {
            0
        };
        seed.extend([i as u8 | cut, dt]);
        seed.extend((data.len() as u16).to_le_bytes());
        seed.extend(&data);
    }
    seed
}

/// A raw-IPv4 frame (link index 9) carrying one SCTP packet with the
/// given DATA chunks (flags, payload).
fn sctp_frame(chunks: &[(u8, &[u8])], tsn0: u32) -> Vec<u8> {
    let mut sctp = Vec::new();
    sctp.extend(5060u16.to_be_bytes());
    sctp.extend(5060u16.to_be_bytes());
    sctp.extend(0x1234_5678u32.to_be_bytes());
    sctp.extend(0u32.to_be_bytes());
    for (i, (flags, payload)) in chunks.iter().enumerate() {
        let len = 16 + payload.len();
        sctp.extend([0u8, *flags]);
        sctp.extend((len as u16).to_be_bytes());
        sctp.extend((tsn0 + i as u32).to_be_bytes());
        sctp.extend(0u16.to_be_bytes());
        sctp.extend(0u16.to_be_bytes());
        sctp.extend(0u32.to_be_bytes());
        sctp.extend(*payload);
        while sctp.len() % 4 != 0 {
            sctp.push(0);
        }
    }
    let total = (20 + sctp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend(total.to_be_bytes());
    ip.extend([0, 1, 0x40, 0, 64, 132, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    ip.extend(sctp);
    let mut rec = vec![9u8, 1];
    rec.extend((ip.len() as u16).to_le_bytes());
    rec.extend(ip);
    rec
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn with_mode(mode: u8, bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![mode];
    v.extend(bytes);
    v
}

/// A NetMon 2.x file holding the first `n` frames of `bytes` (another
/// NetMon file): the file up to frame n+1, then a new frame table.
fn netmon_prefix(bytes: &[u8], n: usize) -> Vec<u8> {
    let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let table = u32_at(24);
    let entries: Vec<usize> = (0..n + 1).map(|i| u32_at(table + 4 * i)).collect();
    let mut out = bytes[..entries[n]].to_vec();
    let new_table = out.len() as u32;
    for e in &entries[..n] {
        out.extend((*e as u32).to_le_bytes());
    }
    out[24..28].copy_from_slice(&new_table.to_le_bytes());
    out[28..32].copy_from_slice(&(4 * n as u32).to_le_bytes());
    out
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let samples = root.join("samples");
    let seeds = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let shared = std::env::args().nth(1).map(PathBuf::from);

    // capture
    let cap = seeds.join("capture");
    let mut captures: Vec<PathBuf> = ["formats", "messages"]
        .iter()
        .flat_map(|d| fs::read_dir(samples.join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    captures.push(samples.join("flows/poc-preest-release-self/partial.pcap"));
    captures.sort();
    for p in &captures {
        let name = p.file_name().unwrap().to_str().unwrap();
        write(
            &cap,
            &format!("raw-{name}"),
            &with_mode(0, &fs::read(p).unwrap()),
        );
    }
    let udp = fs::read(samples.join("messages/udp.pcap")).unwrap();
    let tcpng = fs::read(samples.join("formats/tcp.pcapng")).unwrap();
    for (mode, c) in [(1, "gzip"), (2, "zstd"), (3, "lz4")] {
        write(&cap, &format!("{c}-udp.pcap"), &with_mode(mode, &udp));
        write(&cap, &format!("{c}-tcp.pcapng"), &with_mode(mode, &tcpng));
    }
    if let Some(shared) = &shared {
        let f = shared.join("format");
        for rel in [
            "arkime/bigendian.pcap",
            "gopacket/be/test901.pcapng",
            "gopacket/le/test902.pcapng",
            "pcap-parser/modified-format.pcap",
            "pcapng-test-generator/be/test006.pcapng",
            "pcapng-test-generator/le/test010.pcapng",
            "pcapng-test-generator/le/test016.pcapng",
            "pcapng-test-generator/le/test202.pcapng",
            "pcapplusplus/nanosecs.pcap",
            "pcapplusplus/sll2.pcap",
            "scapy/macos.pcapng.gz",
            "zeek/pcapng-multi-interface.pcapng",
            "zeek/ipv4-truncated-broken-header.pcap",
        ] {
            let name = rel.replace('/', "-");
            write(
                &cap,
                &format!("raw-{name}"),
                &with_mode(0, &fs::read(f.join(rel)).unwrap()),
            );
        }
        let snoop = fs::read(f.join("pcapplusplus/solaris.snoop")).unwrap();
        write(&cap, "raw-solaris-cut.snoop", &with_mode(0, &snoop[..4096]));
        write(
            &cap,
            "gzip-solaris-cut.snoop",
            &with_mode(1, &snoop[..4096]),
        );
        let zst = fs::read(f.join("pcapplusplus/pcapng-example.pcapng.zst")).unwrap();
        write(&cap, "raw-pcapng-example.pcapng.zst", &with_mode(0, &zst));
        let nm = fs::read(shared.join("captures/sipnab/c07-sip-r2.cap")).unwrap();
        let small = netmon_prefix(&nm, 4);
        write(&cap, "raw-netmon-4-frames.cap", &with_mode(0, &small));
        write(&cap, "lz4-netmon-4-frames.cap", &with_mode(3, &small));
    }

    // net
    let net = seeds.join("net");
    for rel in [
        "messages/udp.pcap",
        "messages/tcp.pcap",
        "formats/tcp-sll2.pcap",
        "formats/udp-be.pcap",
        "flows/poc-preest-release-self/out-of-order.pcap",
    ] {
        write(
            &net,
            &rel.replace('/', "-"),
            &net_seed(&samples.join(rel), 0),
        );
    }
    if let Some(shared) = &shared {
        for rel in [
            "captures/packetnet/udp-ip-fragmented.pcap",
            "captures/sngrep/ipv6frag.pcap",
            "captures/sngrep/ipip.pcap",
            "captures/sipnab/sip-over-tcp.pcap",
            "captures/heplify/ipip0.pcap",
            "captures/sipnab/h263-over-rtp.pcap",
        ] {
            let p = shared.join(rel);
            if p.exists() {
                write(&net, &rel.replace('/', "-"), &net_seed(&p, 0));
            }
        }
        let gtp = shared.join("captures/arkime/gtp-iphone.pcap");
        if gtp.exists() {
            write(&net, "arkime-gtp-iphone.pcap", &net_seed(&gtp, 0));
        }
    }
    let sip = b"OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/SCTP 10.0.0.1;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let mut one = vec![0u8];
    one.extend(sctp_frame(&[(0x03, sip)], 1));
    write(&net, "sctp-single.bin", &one);
    let mut split = vec![1u8];
    split.extend(sctp_frame(&[(0x02, &sip[..40])], 7));
    split.extend(sctp_frame(&[(0x00, &sip[40..80]), (0x01, &sip[80..])], 8));
    write(&net, "sctp-fragmented.bin", &split);

    // sip: payloads via sipflow's own net stage.
    let sipd = seeds.join("sip");
    let mut n = 0;
    for rel in [
        "messages/udp.pcap",
        "messages/tcp.pcap",
        "flows/poc-preest-release-session/ok-tcp.pcap",
    ] {
        let mut r = capture::open(&samples.join(rel)).unwrap();
        let mut dec = Decoder::new(NetConfig::default());
        let mut streams: HashMap<String, Vec<u8>> = HashMap::new();
        let mut datagrams = Vec::new();
        while let Some(item) = r.next() {
            if let Item::Frame(f) = item {
                dec.push(&f, &mut |ev| match ev {
                    NetEvent::Datagram { data, .. } => datagrams.push(data.to_vec()),
                    NetEvent::Stream { flow, data, .. } => {
                        streams.entry(format!("{flow:?}")).or_default().extend(data)
                    }
                    _ => {}
                });
            }
        }
        for d in datagrams.iter().take(8) {
            n += 1;
            write(&sipd, &format!("udp-{n:03}"), &with_mode(0, d));
        }
        let mut keys: Vec<_> = streams.keys().cloned().collect();
        keys.sort();
        for k in keys.iter().take(3) {
            let s = &streams[k];
            n += 1;
            write(
                &sipd,
                &format!("tcp-{n:03}"),
                &with_mode(0x15, &s[..s.len().min(MAX_SEED)]),
            );
        }
    }
    if let Some(shared) = &shared {
        let t = shared.join("torture/rfc4475");
        let mut names: Vec<_> = fs::read_dir(&t)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for p in names
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "dat"))
        {
            let name = p.file_name().unwrap().to_str().unwrap();
            write(
                &sipd,
                &format!("rfc4475-{name}"),
                &with_mode(0x2a, &fs::read(p).unwrap()),
            );
        }
    }

    // rules
    let rules = seeds.join("rules");
    for e in fs::read_dir(root.join("rules")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        fs::copy(&p, rules.join(&name)).ok().or_else(|| {
            write(&rules, &name, &fs::read(&p).unwrap());
            Some(0)
        });
    }
    let doc = fs::read_to_string(root.join("docs/rules.md")).unwrap();
    let mut inside = None;
    let mut k = 0;
    for line in doc.lines() {
        match (&mut inside, line) {
            (None, "```text") => inside = Some(String::new()),
            (Some(block), "```") => {
                k += 1;
                write(&rules, &format!("docs-{k:02}.flow"), block.as_bytes());
                inside = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            _ => {}
        }
    }
}
