//! The byte stream under a capture reader: one reusable buffer over any
//! [`Read`], with the stream offset of every byte known.
//!
//! Records are parsed in place: [`ByteSource::ensure`] makes sure the next
//! `n` bytes sit contiguously in the buffer (reading, compacting or growing
//! as needed) and the packet a [`Frame`](super::Frame) hands out is a slice
//! of that buffer, so a packet is never copied. The buffer starts at
//! [`INITIAL_BUFFER_BYTES`] and grows only when one record needs more, never
//! past [`MAX_BUFFER_BYTES`]; callers validate a length field before they
//! ask for it, so a length field cannot make it allocate more.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::mmap::Map;

/// Size of the read buffer a reader starts with: large enough that reads
/// from the file are few and big, small enough to be irrelevant next to
/// what the later stages keep.
pub const INITIAL_BUFFER_BYTES: usize = 1 << 20;

/// The most the read buffer can ever grow to: the largest pcapng block
/// sipflow accepts (16 MiB) plus room for one record header. A length field
/// that asks for more is reported as corrupt instead of being allocated.
pub const MAX_BUFFER_BYTES: usize = super::pcapng::MAX_BLOCK_BYTES + 64 * 1024;

/// Below this much free tail space the buffer is compacted before reading,
/// so reads from the input stay large.
const MIN_READ_BYTES: usize = 64 * 1024;

/// A whole input held at once: a file's memory map, or a stream read into
/// memory.
pub(crate) enum Whole {
    Map(Map),
    Bytes(Vec<u8>),
}

impl Whole {
    fn bytes(&self) -> &[u8] {
        match self {
            Whole::Map(m) => m.bytes(),
            Whole::Bytes(b) => b,
        }
    }
}

/// How far behind the consumed position a mapped file's pages are handed
/// back (see [`Map::release`]).
const RELEASE_LAG: usize = 4 << 20;

/// The whole input (a mapped file, or a stream held in memory), shared with
/// the stages after the reader.
///
/// Why: a packet of such an input already sits in memory for as long as
/// the input is open, so a later stage (another thread) can keep a
/// message's bytes as a range of the input instead of a copy. Whoever
/// holds it says when the bytes before an offset are no longer needed
/// ([`SharedInput::release_before`]); the reader then stops handing pages
/// back by itself.
#[derive(Clone)]
pub struct SharedInput(Arc<Whole>);

impl SharedInput {
    /// The input's bytes.
    pub fn bytes(&self) -> &[u8] {
        self.0.bytes()
    }

    /// Where `part` lies in the input, when it is a slice of it (a packet
    /// read from the mapping, not one reassembled elsewhere).
    pub fn range_of(&self, part: &[u8]) -> Option<Range<usize>> {
        let whole = self.bytes();
        let base = whole.as_ptr() as usize;
        let at = (part.as_ptr() as usize).checked_sub(base)?;
        let end = at.checked_add(part.len())?;
        (end <= whole.len()).then_some(at..end)
    }

    /// No holder needs the bytes before `offset` any more: a mapped file's
    /// pages there are handed back (a few MiB behind, see `Map::release`),
    /// so resident memory follows the slowest holder.
    pub fn release_before(&self, offset: u64) {
        if let Whole::Map(map) = &*self.0 {
            let offset = usize::try_from(offset).unwrap_or(usize::MAX);
            map.release(offset.saturating_sub(RELEASE_LAG));
        }
    }
}

/// A buffered, offset-tracking view of the (decompressed) capture bytes.
///
/// Or, for a mapped file, the same view over the mapping: nothing is read
/// or copied, and `start..end` index the file itself.
pub(crate) struct ByteSource {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Set for a whole input held at once; `buf` and `reader` are unused.
    whole: Option<Arc<Whole>>,
    /// Pages of a mapped input are handed back as they are consumed; not
    /// once the input is shared ([`ByteSource::share`]): its holders do it.
    self_release: bool,
    start: usize,
    end: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
    error: Option<io::Error>,
}

impl ByteSource {
    /// A source whose first bytes (`prefix`, already read for format
    /// detection) are followed by whatever `reader` yields.
    pub(crate) fn new(prefix: &[u8], reader: Box<dyn Read + Send>) -> Self {
        let mut buf = vec![0u8; INITIAL_BUFFER_BYTES.max(prefix.len())];
        buf[..prefix.len()].copy_from_slice(prefix);
        ByteSource {
            reader,
            buf,
            whole: None,
            self_release: true,
            start: 0,
            end: prefix.len(),
            offset: 0,
            eof: false,
            error: None,
        }
    }

    /// A source over a whole mapped file.
    pub(crate) fn mapped(map: Map) -> Self {
        Self::whole_of(Whole::Map(map))
    }

    /// A source over a whole stream already read into memory (a format
    /// whose index is at its end, read from a pipe).
    pub(crate) fn in_memory(bytes: Vec<u8>) -> Self {
        Self::whole_of(Whole::Bytes(bytes))
    }

    fn whole_of(whole: Whole) -> Self {
        let end = whole.bytes().len();
        ByteSource {
            reader: Box::new(io::empty()),
            buf: Vec::new(),
            whole: Some(Arc::new(whole)),
            self_release: true,
            start: 0,
            end,
            offset: 0,
            eof: true,
            error: None,
        }
    }

    /// The whole input when it is held at once (formats whose index is at
    /// the end, see `netmon.rs`); empty for a stream.
    pub(crate) fn whole(&self) -> &[u8] {
        self.whole.as_deref().map_or(&[], Whole::bytes)
    }

    /// The memory map under a mapped file (to watch for the file being
    /// cut short while it is read); `None` for anything else.
    #[inline]
    pub(crate) fn map(&self) -> Option<&Map> {
        match self.whole.as_deref() {
            Some(Whole::Map(m)) => Some(m),
            _ => None,
        }
    }

    /// The whole input, for stages that keep packets as ranges of it;
    /// `None` for a stream read through the buffer. From now on the
    /// holders say when pages may be handed back.
    pub(crate) fn share(&mut self) -> Option<SharedInput> {
        let whole = self.whole.clone()?;
        self.self_release = false;
        Some(SharedInput(whole))
    }

    /// The bytes `start..end` index.
    #[inline]
    fn store(&self) -> &[u8] {
        self.whole.as_deref().map_or(&self.buf, Whole::bytes)
    }

    /// Makes at least `n` bytes available at the front of
    /// [`ByteSource::peek`]. Returns false when the stream ended (or failed,
    /// see [`ByteSource::take_error`]) first; whatever was there is still
    /// available. Never grows the buffer past [`MAX_BUFFER_BYTES`].
    pub(crate) fn ensure(&mut self, n: usize) -> bool {
        if n > MAX_BUFFER_BYTES {
            return false;
        }
        if self.whole.is_some() {
            return self.end - self.start >= n;
        }
        while self.end - self.start < n {
            if self.eof || self.error.is_some() {
                return false;
            }
            let tail_small = self.buf.len() - self.end < MIN_READ_BYTES && self.start > 0;
            if self.start + n > self.buf.len() || tail_small {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
                if n > self.buf.len() {
                    // Grow to what this record needs, rounded up to 64 KiB.
                    let want = n.div_ceil(1 << 16) << 16;
                    self.buf.resize(want.min(MAX_BUFFER_BYTES), 0);
                }
            }
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k.min(self.buf.len() - self.end),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.error = Some(e),
            }
        }
        true
    }

    /// The bytes available now (at least what the last successful
    /// [`ByteSource::ensure`] asked for).
    pub(crate) fn peek(&self) -> &[u8] {
        &self.store()[self.start..self.end]
    }

    /// How many bytes are available now.
    pub(crate) fn available(&self) -> usize {
        self.end - self.start
    }

    /// Drops the first `n` available bytes (fewer if fewer are there).
    pub(crate) fn consume(&mut self, n: usize) {
        let n = n.min(self.end - self.start);
        self.start += n;
        self.offset += n as u64;
        if self.self_release
            && let Some(Whole::Map(map)) = self.whole.as_deref()
        {
            map.release(self.start.saturating_sub(RELEASE_LAG));
        }
    }

    /// Consumes a record of `total` available bytes and returns where its
    /// `data` part (relative to the record start) lies in the buffer; the
    /// range stays valid until the next [`ByteSource::ensure`].
    pub(crate) fn consume_record(&mut self, total: usize, data: Range<usize>) -> Range<usize> {
        let base = self.start;
        self.consume(total);
        let end = (base + data.end).min(self.start);
        (base + data.start).min(end)..end
    }

    /// The bytes of a range returned by [`ByteSource::consume_record`].
    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        self.store().get(range).unwrap_or(&[])
    }

    /// Stream offset of the first available byte.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The read error that ended the stream, if one did (taken once).
    pub(crate) fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// True if the stream ended because of a read error not yet taken.
    pub(crate) fn has_error(&self) -> bool {
        self.error.is_some()
    }

    /// Current size of the read buffer (for the memory-bound tests).
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }
}

/// A reader that counts the bytes pulled from the underlying input, so
/// progress can be shown against the file's size even when the bytes are
/// decompressed on the way.
pub(crate) struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> CountingReader<R> {
    pub(crate) fn new(inner: R, count: Arc<AtomicU64>) -> Self {
        CountingReader { inner, count }
    }
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Reads up to `n` bytes (fewer only at the end of the stream).
pub(crate) fn read_prefix(r: &mut dyn Read, n: usize) -> io::Result<Vec<u8>> {
    let mut out = vec![0u8; n];
    let mut got = 0;
    while got < n {
        match r.read(&mut out[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    out.truncate(got);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, like a pipe.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn ensure_assembles_records_across_small_reads_and_grows_only_on_demand() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let reader = Trickle {
            data: data[3..].to_vec(),
            pos: 0,
            step: 7,
        };
        let mut src = ByteSource::new(&data[..3], Box::new(reader));
        assert!(src.ensure(10));
        assert_eq!(&src.peek()[..10], &data[..10]);
        src.consume(5);
        assert_eq!(src.offset(), 5);
        // A record larger than the initial buffer makes it grow once.
        let big = INITIAL_BUFFER_BYTES + 12345;
        assert!(src.ensure(big));
        assert_eq!(&src.peek()[..big], &data[5..5 + big]);
        assert!(src.capacity() >= big && src.capacity() < big + (1 << 16));
        let r = src.consume_record(big, 100..200);
        assert_eq!(src.slice(r), &data[105..205]);
        assert_eq!(src.offset(), (5 + big) as u64);
        // Asking for more than is left fails but keeps what is there.
        let left = data.len() - 5 - big;
        assert!(!src.ensure(left + 1));
        assert_eq!(src.available(), left);
        assert!(src.take_error().is_none());
        // Asking for more than the hard cap never allocates it.
        assert!(!src.ensure(MAX_BUFFER_BYTES + 1));
        assert!(src.capacity() <= MAX_BUFFER_BYTES);
    }

    #[test]
    fn a_shared_input_locates_its_own_slices_only() {
        let mut whole = ByteSource::in_memory((0..100u8).collect());
        let mut stream = ByteSource::new(b"abc", Box::new(io::empty()));
        assert!(stream.share().is_none(), "a stream has nothing to share");
        let input = whole.share().unwrap();
        assert!(!whole.self_release);
        let bytes = input.bytes();
        assert_eq!(input.range_of(&bytes[10..20]), Some(10..20));
        assert_eq!(input.range_of(&bytes[100..]), Some(100..100));
        let copy = bytes[10..20].to_vec();
        assert_eq!(input.range_of(&copy), None);
        // Reaches past the end: not a slice of it.
        let longer = [bytes, &copy[..]].concat();
        assert_eq!(input.range_of(&longer), None);
        // Nothing to hand back for memory the process owns.
        input.release_before(1 << 40);
        assert_eq!(input.bytes()[99], 99);
    }
}
