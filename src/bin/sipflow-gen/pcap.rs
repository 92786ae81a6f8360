//! The classic pcap container: one global header, then one record per frame.
//!
//! Little-endian, microsecond resolution, link type 1 (Ethernet), as
//! tcpdump writes it; frame numbers are counted here so that each step of a
//! flow can be recorded with the number Wireshark will show.

use std::io::{self, Write};

/// Largest frame this writer is asked to store (and the header's snaplen).
pub const SNAPLEN: u32 = 262_144;

/// Writes pcap records and counts frames and bytes.
pub struct PcapWriter<W: Write> {
    out: W,
    frames: u64,
    bytes: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Start a capture: writes the 24-byte global header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&1u32.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            frames: 0,
            bytes: 24,
        })
    }

    /// Write one frame made of `parts` (headers, then payload slices) at
    /// `ts_us` microseconds since the epoch; returns its 1-based number.
    pub fn frame(&mut self, ts_us: u64, parts: &[&[u8]]) -> io::Result<u64> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len)
            .ok()
            .filter(|&l| l <= SNAPLEN)
            .ok_or_else(|| io::Error::other("frame larger than the snap length"))?;
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        rec[8..12].copy_from_slice(&len.to_le_bytes());
        rec[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&rec)?;
        for p in parts {
            self.out.write_all(p)?;
        }
        self.frames += 1;
        self.bytes += 16 + u64::from(len);
        Ok(self.frames)
    }

    /// Frames written so far (the number of the last one).
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes written so far, headers included.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flush and give back the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::PcapWriter;

    #[test]
    fn header_and_record_layout() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        assert_eq!(w.frame(1_700_000_000_123_456, &[b"ab", b"cde"]).unwrap(), 1);
        let out = w.finish().unwrap();
        assert_eq!(&out[0..4], &[0xd4, 0xc3, 0xb2, 0xa1]);
        assert_eq!(out.len(), 24 + 16 + 5);
        assert_eq!(
            u32::from_le_bytes(out[24..28].try_into().unwrap()),
            1_700_000_000
        );
        assert_eq!(u32::from_le_bytes(out[28..32].try_into().unwrap()), 123_456);
        assert_eq!(u32::from_le_bytes(out[32..36].try_into().unwrap()), 5);
        assert_eq!(&out[40..], b"abcde");
    }
}
