//! The network stage (link layers, tunnels, IP defragmentation, TCP
//! reassembly, SCTP) fed frames, its events passed on to the SIP extractor
//! as the pipeline does.
//!
//! Input: one configuration byte (even: the default limits; odd: tiny
//! limits, so that eviction and overload paths run), then frame records:
//!
//! ```text
//! link: u8      index into LINKS (bit 7: the frame was cut by the snaplen)
//! dt:   u8      time step in units of 250 ms (so timeouts fire)
//! len:  u16 LE  bytes of frame data that follow (fewer if the input ends)
//! ```
//!
//! Invariants beyond "no panic":
//! - every event names the frame being pushed (or an earlier one, for
//!   expiry), never a later one or frame 0;
//! - the decoder counts every frame pushed;
//! - every SIP message from a datagram lies within that datagram, and one
//!   from a stream is no longer than the extractor's message cap;
//! - buffered bytes stay within the configured bounds, and nothing is left
//!   open after `finish` (spare reassembly buffers excepted).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sipflow::capture::{Frame, LinkType, Timestamp};
use sipflow::net::{Decoder, NetConfig, NetEvent};
use sipflow::sip::{Extractor, ExtractorConfig, SipEvent};

const LINKS: [u32; 16] = [
    1, 1, 1, 1, // Ethernet (most captures)
    0, 108, 9, 51, 104, 101, 228, 229, 113, 276, // the others read
    105, // 802.11: unsupported
    147, // a user link type: unsupported
];

fn configs(tiny: bool) -> (NetConfig, ExtractorConfig) {
    if !tiny {
        return (NetConfig::default(), ExtractorConfig::default());
    }
    let net = NetConfig {
        fragment_timeout: Duration::from_secs(2),
        fragment_memory: 4096,
        tcp_gap_timeout: Duration::from_secs(1),
        tcp_idle_timeout: Duration::from_secs(10),
        tcp_stream_buffer: 2048,
        tcp_total_buffer: 4096,
        tcp_max_streams: 3,
        max_tunnel_depth: 2,
    };
    let sip = ExtractorConfig {
        max_message: 1500,
        max_streams: 2,
        idle_timeout_secs: 5,
        max_buffered: 3000,
    };
    (net, sip)
}

/// `part` is a sub-slice of `whole` (an empty part counts as inside: the
/// accessors return a detached `&[]` for an empty body of a message whose
/// head is cut short).
fn within(part: &[u8], whole: &[u8]) -> bool {
    if part.is_empty() {
        return true;
    }
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

struct Check {
    current: u64,
    sip_cfg: ExtractorConfig,
    messages: u64,
}

impl Check {
    fn sip(&mut self, ev: &SipEvent<'_>, datagram: Option<&[u8]>) {
        match ev {
            SipEvent::Message { frame, msg, .. } => {
                assert!(
                    *frame >= 1 && *frame <= self.current,
                    "message at frame {frame}"
                );
                let bytes = msg.as_bytes();
                match datagram {
                    Some(d) => assert!(within(bytes, d), "message outside its datagram"),
                    None => assert!(bytes.len() <= self.sip_cfg.max_message),
                }
                assert!(
                    within(msg.body(), bytes),
                    "body ({} bytes) outside the message {:?}",
                    msg.body().len(),
                    String::from_utf8_lossy(bytes)
                );
                assert!(within(msg.start_line(), bytes));
                self.messages += 1;
                // Exercise the accessors the checker uses.
                let _ = (msg.method(), msg.status(), msg.call_id(), msg.cseq());
                let _ = (msg.from().and_then(|a| a.tag()), msg.to(), msg.top_branch());
                let _ = msg.summary().to_string();
            }
            SipEvent::Problem(p) => {
                if let Some(f) = p.frame {
                    assert!(f >= 1 && f <= self.current, "problem at frame {f}: {p:?}");
                }
                assert!(!p.message.is_empty());
            }
        }
    }

    fn net(&mut self, ev: &NetEvent<'_>) {
        let frame = match ev {
            NetEvent::Datagram { frame, .. }
            | NetEvent::Stream { frame, .. }
            | NetEvent::StreamEnd { frame, .. } => Some(*frame),
            NetEvent::Problem(p) => {
                assert!(!p.message.is_empty());
                p.frame
            }
        };
        if let Some(f) = frame {
            assert!(f >= 1 && f <= self.current, "event at frame {f}: {ev:?}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&cfg, mut rest)) = data.split_first() else {
        return;
    };
    let (net_cfg, sip_cfg) = configs(cfg & 1 == 1);
    let mut decoder = Decoder::new(net_cfg);
    let mut extractor = Extractor::new(sip_cfg);
    let mut check = Check {
        current: 0,
        sip_cfg,
        messages: 0,
    };
    let mut time = Timestamp {
        secs: 1_700_000_000,
        nanos: 0,
    };
    let mut pushed = 0u64;
    let bound = net_cfg.fragment_memory + net_cfg.tcp_total_buffer;

    fn on_net(ev: NetEvent<'_>, check: &mut Check, extractor: &mut Extractor) {
        check.net(&ev);
        let datagram = match &ev {
            NetEvent::Datagram { data, .. } => Some(*data),
            _ => None,
        };
        extractor.push(ev, &mut |s| check.sip(&s, datagram));
    }

    while rest.len() >= 4 {
        let (link, dt, len) = (rest[0], rest[1], u16::from_le_bytes([rest[2], rest[3]]));
        rest = &rest[4..];
        let len = (len as usize).min(rest.len());
        let (bytes, tail) = rest.split_at(len);
        rest = tail;
        let step = dt as u64 * 250_000_000 + time.nanos as u64;
        time.secs += (step / 1_000_000_000) as i64;
        time.nanos = (step % 1_000_000_000) as u32;
        pushed += 1;
        check.current = pushed;
        let frame = Frame {
            number: pushed,
            time,
            link_type: LinkType(LINKS[(link & 0x0f) as usize]),
            data: bytes,
            orig_len: bytes.len() as u32 + if link & 0x80 != 0 { 100 } else { 0 },
        };
        decoder.push(&frame, &mut |ev| on_net(ev, &mut check, &mut extractor));
        assert_eq!(decoder.stats().frames, pushed);
        assert!(
            decoder.buffered_bytes() <= bound,
            "decoder holds {} bytes, bound {bound}",
            decoder.buffered_bytes()
        );
        assert!(extractor.open_streams() <= sip_cfg.max_streams);
        assert!(
            extractor.buffered_bytes() <= sip_cfg.max_buffered + sip_cfg.max_message,
            "extractor holds {} bytes",
            extractor.buffered_bytes()
        );
    }
    decoder.finish(&mut |ev| on_net(ev, &mut check, &mut extractor));
    extractor.finish(&mut |s| check.sip(&s, None));
    // Nothing open after the end; only spare reassembly buffers (charged
    // to the fragment memory) may stay.
    assert_eq!(decoder.open_state(), (0, 0), "state left in the decoder");
    assert!(decoder.buffered_bytes() <= net_cfg.fragment_memory);
    assert_eq!(extractor.buffered_bytes(), 0);
    assert_eq!(extractor.open_streams(), 0);
    let stats = decoder.stats();
    assert_eq!(stats.frames, pushed);
});
