//! Appending text to a byte buffer without `fmt` machinery.
//!
//! Every SIP message is built into a reused `Vec<u8>`; these helpers write
//! decimal and hex numbers and dotted IPv4 addresses straight into it, which
//! is infallible (unlike `write!`) and several times faster.

/// Text-building helpers on a byte buffer.
pub trait Text {
    /// Append a string.
    fn s(&mut self, s: &str) -> &mut Self;
    /// Append a number in decimal.
    fn dec(&mut self, v: u64) -> &mut Self;
    /// Append the low `digits` hex digits of `v`, lowercase, zero-padded.
    fn hex(&mut self, v: u64, digits: u32) -> &mut Self;
    /// Append an IPv4 address in dotted-quad form.
    fn ip(&mut self, ip: u32) -> &mut Self;
}

impl Text for Vec<u8> {
    fn s(&mut self, s: &str) -> &mut Self {
        self.extend_from_slice(s.as_bytes());
        self
    }

    fn dec(&mut self, mut v: u64) -> &mut Self {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.extend_from_slice(&tmp[i..]);
        self
    }

    fn hex(&mut self, v: u64, digits: u32) -> &mut Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for k in (0..digits.min(16)).rev() {
            self.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
        }
        self
    }

    fn ip(&mut self, ip: u32) -> &mut Self {
        let [a, b, c, d] = ip.to_be_bytes();
        self.dec(a.into())
            .s(".")
            .dec(b.into())
            .s(".")
            .dec(c.into())
            .s(".")
            .dec(d.into())
    }
}

#[cfg(test)]
mod tests {
    use super::Text;

    #[test]
    fn numbers_and_addresses() {
        let mut b = Vec::new();
        b.dec(0).s(" ").dec(1234567890).s(" ").hex(0xbeef, 6).s(" ");
        b.ip(0x0a01_02ff);
        assert_eq!(b, b"0 1234567890 00beef 10.1.2.255");
    }
}
