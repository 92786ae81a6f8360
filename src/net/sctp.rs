//! SCTP (RFC 9260) as far as SIP needs it (RFC 4168: each SIP message is
//! one SCTP user message): the DATA chunks of a packet, bundled or not,
//! give user messages; a message split over several DATA chunks (flags B …
//! E) is put back together per association direction and stream, in TSN
//! order. Control chunks (INIT, SACK, HEARTBEAT, …) carry no user data and
//! are skipped. Partial messages are bounded in size and number, and every
//! one that cannot complete is reported.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::FlowKey;

/// Largest user message put back together from fragments.
pub(crate) const MAX_MESSAGE: usize = 1 << 20;
/// Most messages being put back together at once.
const MAX_PARTIAL: usize = 1024;

/// One DATA chunk's payload, as a packet carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DataChunk<'a> {
    pub tsn: u32,
    pub stream: u16,
    pub begin: bool,
    pub end: bool,
    pub data: &'a [u8],
}

/// The source and destination ports of an SCTP common header, and the
/// chunks after it, or `None` when the header does not fit.
pub(crate) fn header(p: &[u8]) -> Option<(u16, u16, &[u8])> {
    let h = p.get(..12)?;
    Some((
        u16::from_be_bytes([h[0], h[1]]),
        u16::from_be_bytes([h[2], h[3]]),
        &p[12..],
    ))
}

/// The DATA chunks of a packet's chunk section, in order; `Err` when a
/// chunk's length is below its header or runs past the packet (the chunks
/// before it are still in `out`).
pub(crate) fn data_chunks<'a>(chunks: &'a [u8], out: &mut Vec<DataChunk<'a>>) -> Result<(), ()> {
    let mut pos = 0;
    while pos + 4 <= chunks.len() {
        let ctype = chunks[pos];
        let flags = chunks[pos + 1];
        let len = usize::from(u16::from_be_bytes([chunks[pos + 2], chunks[pos + 3]]));
        if len < 4 || pos + len > chunks.len() {
            return Err(());
        }
        if ctype == 0 {
            // DATA: TSN, stream id, stream sequence, payload protocol id.
            if len < 16 {
                return Err(());
            }
            let c = &chunks[pos..pos + len];
            out.push(DataChunk {
                tsn: u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
                stream: u16::from_be_bytes([c[8], c[9]]),
                begin: flags & 0x02 != 0,
                end: flags & 0x01 != 0,
                data: &c[16..],
            });
        }
        pos += (len + 3) & !3;
    }
    Ok(())
}

#[derive(Debug)]
struct Partial {
    next_tsn: u32,
    first_frame: u64,
    bytes: Vec<u8>,
}

/// What [`Reassembly::push`] made of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fragment {
    /// Kept, waiting for more.
    Pending,
    /// The message is whole.
    Complete(Vec<u8>),
    /// A partial message (begun at that frame) was dropped, and why.
    Dropped { first_frame: u64, why: &'static str },
}

/// Messages split over several DATA chunks, per direction and stream.
#[derive(Debug, Default)]
pub(crate) struct Reassembly {
    partial: FxHashMap<(FlowKey, u16), Partial>,
    /// Keys in order of their first fragment, to evict the oldest.
    order: VecDeque<(FlowKey, u16)>,
}

impl Reassembly {
    /// Add one fragment (a DATA chunk without both B and E) seen at `frame`.
    pub(crate) fn push(&mut self, flow: FlowKey, c: &DataChunk<'_>, frame: u64) -> Fragment {
        let key = (flow, c.stream);
        if c.begin {
            let mut outcome = match self.partial.remove(&key) {
                Some(p) => Fragment::Dropped {
                    first_frame: p.first_frame,
                    why: "it never ended (a new message began on its stream)",
                },
                None => Fragment::Pending,
            };
            while self.partial.len() >= MAX_PARTIAL {
                let Some(old) = self.order.pop_front() else {
                    break;
                };
                if let Some(p) = self.partial.remove(&old) {
                    outcome = Fragment::Dropped {
                        first_frame: p.first_frame,
                        why: "too many SCTP messages were being put back together",
                    };
                }
            }
            self.partial.insert(
                key,
                Partial {
                    next_tsn: c.tsn.wrapping_add(1),
                    first_frame: frame,
                    bytes: c.data.to_vec(),
                },
            );
            self.order.push_back(key);
            return outcome;
        }
        let Some(p) = self.partial.get_mut(&key) else {
            return Fragment::Dropped {
                first_frame: frame,
                why: "its first fragment is not in the capture",
            };
        };
        let why = if c.tsn != p.next_tsn {
            Some("a fragment is missing or out of sequence")
        } else if p.bytes.len() + c.data.len() > MAX_MESSAGE {
            Some("it is larger than 1 MiB")
        } else {
            None
        };
        if let Some(why) = why {
            let first_frame = p.first_frame;
            self.partial.remove(&key);
            return Fragment::Dropped { first_frame, why };
        }
        p.bytes.extend_from_slice(c.data);
        p.next_tsn = c.tsn.wrapping_add(1);
        if c.end {
            let bytes = self
                .partial
                .remove(&key)
                .map(|p| p.bytes)
                .unwrap_or_default();
            return Fragment::Complete(bytes);
        }
        Fragment::Pending
    }

    /// Messages never completed, by the frame each began in (end of file).
    pub(crate) fn unfinished(&mut self) -> Vec<u64> {
        let mut v: Vec<u64> = self.partial.drain().map(|(_, p)| p.first_frame).collect();
        v.sort_unstable();
        self.order.clear();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(tsn: u32, b: bool, e: bool, data: &[u8]) -> Vec<u8> {
        let len = 16 + data.len();
        let mut c = vec![0, (b as u8) << 1 | e as u8];
        c.extend((len as u16).to_be_bytes());
        c.extend(tsn.to_be_bytes());
        c.extend(0u16.to_be_bytes());
        c.extend(0u16.to_be_bytes());
        c.extend(0u32.to_be_bytes());
        c.extend(data);
        while c.len() % 4 != 0 {
            c.push(0);
        }
        c
    }

    #[test]
    fn bundled_chunks_and_control_chunks() {
        let mut bytes = vec![3, 0, 0, 8, 0, 0, 0, 0]; // a SACK-like control chunk
        bytes.extend(chunk(7, true, true, b"abc"));
        bytes.extend(chunk(8, true, true, b"defgh"));
        let mut out = Vec::new();
        assert_eq!(data_chunks(&bytes, &mut out), Ok(()));
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].tsn, out[0].data), (7, &b"abc"[..]));
        assert_eq!(out[1].data, b"defgh");
        // A length past the end: the chunks before it are kept.
        let mut bad = bytes.clone();
        bad[8 + 20 + 2] = 0xff; // the second DATA chunk's length, high byte
        out.clear();
        assert!(data_chunks(&bad, &mut out).is_err());
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn fragments_in_sequence_make_a_message() {
        let flow = FlowKey {
            src: "10.0.0.1:5060".parse().unwrap(),
            dst: "10.0.0.2:5060".parse().unwrap(),
        };
        let mut r = Reassembly::default();
        let parts = [
            chunk(1, true, false, b"INV"),
            chunk(2, false, false, b"ITE "),
            chunk(3, false, true, b"x"),
        ];
        let mut got = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let mut out = Vec::new();
            data_chunks(p, &mut out).unwrap();
            got.push(r.push(flow, &out[0], i as u64 + 1));
        }
        assert_eq!(got[0], Fragment::Pending);
        assert_eq!(got[2], Fragment::Complete(b"INVITE x".to_vec()));
        // A gap drops the message and says where it began.
        let (a, b) = (chunk(10, true, false, b"a"), chunk(12, false, true, b"b"));
        let mut out = Vec::new();
        data_chunks(&a, &mut out).unwrap();
        data_chunks(&b, &mut out).unwrap();
        assert_eq!(r.push(flow, &out[0], 9), Fragment::Pending);
        assert!(matches!(
            r.push(flow, &out[1], 10),
            Fragment::Dropped { first_frame: 9, .. }
        ));
        assert!(r.unfinished().is_empty());
    }
}
