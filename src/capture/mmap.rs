//! Memory-mapped input: the crate's one module with `unsafe` code.
//!
//! Why: reading a capture through `read(2)` copies every byte from the page
//! cache into the reader's buffer. Mapping the file lets the readers parse
//! records straight from the page cache; measured on the 1 GiB bench trace
//! (`bench/run`, 2 vCPU), see BENCHMARKS.md.
//!
//! # A file cut short while it is read
//!
//! The mapping shows the file as it is on disk. If another process
//! truncates the file while sipflow reads it, touching a page past the new
//! end raises SIGBUS, whose default action kills the process (exit 135, no
//! summary, no word about why). sipflow catches it instead:
//!
//! - A process-wide SIGBUS handler (`sigaction`, `SA_SIGINFO`, installed
//!   once, on the alternate signal stack when the thread has one) looks the
//!   faulting address up in a fixed table of the live mappings (lock-free:
//!   atomics only). When the address lies inside one, it maps anonymous
//!   zero pages over the rest of that mapping (`mmap` with `MAP_FIXED`),
//!   raises the mapping's fault flag and returns: the access is retried
//!   and reads zero bytes. A SIGBUS at any other address is not sipflow's
//!   to mend: the handler puts back the disposition it found (Rust's own,
//!   or the default) and returns, the access faults again and that
//!   disposition acts as it would have without sipflow's handler.
//! - The capture reader ([`super::CaptureReader`]) checks the flag after
//!   each record, together with one byte of the page after the record,
//!   touched so that a cut just past the record faults now rather than
//!   while a later stage reads the record. Once the flag is up it asks the
//!   file's length (`fstat`): a record that reaches past the new end is not
//!   handed out; instead a `truncated` problem names the file and offset
//!   ("the file was cut short while being read") and reading stops. The
//!   run ends with its summary, as for any other damaged file.
//!
//! What it costs: per record, one load of a byte that the next records
//! read anyway, a relaxed atomic load and a few compares (about 20
//! instructions); per file, a `sigaction` (once per process), a `dup` of
//! the file descriptor and up to two `fstat` calls. Measured on generated
//! traces, release build: callgrind counts 0.55 % more instructions for
//! `sipflow messages --format json` on a 50 MB trace (671.0 M against
//! 667.3 M; 3.6 M of them in the reader's per-record check), and on a
//! 500 MB trace the wall and user times before and after were within the
//! run-to-run noise of the shared 2-core machine (12 runs each, best wall
//! 2.57 s before and 2.72 s after, median user 1.36 s and 1.39 s).
//!
//! The hazards that remain:
//!
//! - A cut inside a page: the kernel shows the bytes from the new end to
//!   the end of that page as zeros, without a fault. A record read from
//!   there is caught when the touch of the next page faults, or, in the
//!   file's last page (no page after it to touch), by an `fstat` when the
//!   reader enters that page and again at the end; a cut that lands in the
//!   last page between those two checks is reported at the end, after the
//!   zero bytes were read.
//! - Bytes another stage still holds as ranges of the mapping (the
//!   messages in flight to the checking thread, at most a few MiB behind
//!   the reader) read as zeros if the cut removed them: those messages may
//!   show empty or garbled fields. The cut is reported while the reader is
//!   still reading (its next record sees the flag); a cut that comes after
//!   the reader has finished, while the last batches are checked, is not.
//! - A file rewritten in place (not cut) is read as it is on disk at the
//!   moment each page is read: sipflow may see a mix of old and new bytes.
//!   That is wrong data, never a crash or a read outside memory it maps.
//! - More than [`SLOTS`] files mapped at once (never, in the command line
//!   tool): a file that finds no free slot is read as a stream instead.
//!
//! Only regular, non-empty files are mapped; compressed captures, pipes and
//! standard input are read as streams; `SIPFLOW_NO_MMAP=1` turns mapping
//! off (for a file that is being cut short, the stream path reads what is
//! there and reports the file ending inside a record).
#![allow(unsafe_code)]

use std::fs::File;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A read-only mapping of a whole file.
pub(crate) struct Map {
    map: memmap2::Mmap,
    /// The pages before this offset were handed back (see [`Map::release`]).
    released: AtomicUsize,
    /// The file (a duplicate descriptor), to learn its length after a fault.
    file: File,
    /// This mapping's entry in [`REGISTRY`].
    slot: &'static Slot,
    /// The page size less one.
    page_mask: usize,
}

/// Pages are handed back in steps of this many bytes (a multiple of any
/// page size), so that it costs one system call per 2 MiB read.
const RELEASE_STEP: usize = 2 << 20;

/// How many mappings can be live at once (the command line tool has one
/// at a time; tests run in parallel threads of one process).
const SLOTS: usize = 64;

/// One live mapping, as the SIGBUS handler sees it: its address range
/// (`start` 0: the slot is free) and the flag the handler raises.
struct Slot {
    start: AtomicUsize,
    end: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)]
const FREE: Slot = Slot {
    start: AtomicUsize::new(0),
    end: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};

/// The live mappings. A fixed array of atomics: the signal handler may
/// neither lock nor allocate.
static REGISTRY: [Slot; SLOTS] = [FREE; SLOTS];

/// The system's page size, read once before the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(0);

/// The SIGBUS disposition found when the handler was installed, put back
/// for a fault that is not sipflow's.
static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// `libc::sigaction` holds a function address and a signal mask: plain
/// data, safe to share between threads.
struct Previous(libc::sigaction);

// SAFETY: the struct is plain data (integers, a function address, a bit
// set); it is written once before it is shared and only read afterwards.
unsafe impl Sync for Previous {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for Previous {}

/// Installs the SIGBUS handler once per process; false if it could not be.
fn install_handler() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return false;
        };
        if !page.is_power_of_two() {
            return false;
        }
        PAGE.store(page, Ordering::Release);
        // SAFETY: a zeroed `sigaction` is a valid value (empty mask, no
        // flags, SIG_DFL); the fields set below make it name `on_sigbus`,
        // whose signature is the SA_SIGINFO one. `sigemptyset` and
        // `sigaction` are given pointers to live locals.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(libc::SIGBUS, &action, &mut old) != 0 {
                return false;
            }
            let _ = PREVIOUS.set(Previous(old));
        }
        true
    })
}

/// The SIGBUS handler (see the module documentation).
///
/// Async-signal-safe: it reads atomics and a value written before it was
/// installed, and calls `mmap` and `sigaction` (plain system calls on
/// Linux; `mmap` is not on POSIX's list, but glibc's and musl's are thin
/// wrappers that take no lock). `errno` is saved and restored.
extern "C" fn on_sigbus(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler;
    // `si_addr` reads its fault-address field, set for SIGBUS.
    let addr = unsafe { (*info).si_addr() } as usize;
    // SAFETY: __errno_location returns this thread's errno slot.
    let errno = unsafe { *libc::__errno_location() };
    let page = PAGE.load(Ordering::Acquire);
    let mut mended = false;
    for slot in &REGISTRY {
        let start = slot.start.load(Ordering::Acquire);
        let end = slot.end.load(Ordering::Acquire);
        if start == 0 || addr < start || addr >= end {
            continue;
        }
        let from = addr & !(page - 1);
        let to = end.next_multiple_of(page);
        // SAFETY: `from..to` lies inside a live mapping of this module
        // (page-aligned: `start` came from mmap, `from` was rounded down,
        // `to` up to the mapping's last page). It stays live while this
        // runs: a fault inside it means a thread is reading a slice of it,
        // which borrows the `Map`, so the `Map` (which leaves the registry
        // before it unmaps) cannot be dropped meanwhile. MAP_FIXED replaces
        // those pages of the file mapping with private zero pages, read
        // only as before, so every slice of it stays valid memory.
        let p = unsafe {
            libc::mmap(
                from as *mut libc::c_void,
                to - from,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED {
            slot.faulted.store(true, Ordering::Release);
            mended = true;
        }
        break;
    }
    if !mended {
        // Not ours: put back the disposition found at install time (or the
        // default); the access faults again and that one acts.
        // SAFETY: `sigaction` with a valid action (the saved one, or a
        // zeroed one: SIG_DFL) and no old-action pointer.
        unsafe {
            let dfl: libc::sigaction = std::mem::zeroed();
            let prev = PREVIOUS.get().map_or(&dfl, |p| &p.0);
            libc::sigaction(libc::SIGBUS, prev, std::ptr::null_mut());
        }
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// A free registry slot for `start..end`, taken; `None` when all are used.
fn register(start: usize, end: usize) -> Option<&'static Slot> {
    let slot = REGISTRY.iter().find(|s| {
        s.start
            .compare_exchange(0, start, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    })?;
    slot.faulted.store(false, Ordering::Relaxed);
    slot.end.store(end, Ordering::Release);
    Some(slot)
}

impl Map {
    /// Maps `file` when it is a regular, non-empty file and mapping is not
    /// turned off; `None` means: read it as a stream instead.
    pub(crate) fn of(file: &File) -> Option<Map> {
        if std::env::var_os("SIPFLOW_NO_MMAP").is_some_and(|v| v != "0") {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 || !install_handler() {
            return None;
        }
        let own = file.try_clone().ok()?;
        // SAFETY: the mapping is read-only (PROT_READ, MAP_SHARED: it shows
        // the file's page cache, and this process never writes it). Its
        // contents can change only if another process writes or truncates
        // the file while it is read: a truncation is caught (the SIGBUS
        // handler above), a rewrite gives wrong bytes but never memory
        // sipflow does not own; the module documentation says more.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        let start = map.as_ptr() as usize;
        let slot = register(start, start + map.len())?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(Map {
            map,
            released: AtomicUsize::new(0),
            file: own,
            slot,
            page_mask: PAGE.load(Ordering::Acquire) - 1,
        })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Reads the first byte of the page after `offset` (the byte at
    /// `offset` when it begins a page), when the mapping has one: if the
    /// file was cut before it, the fault happens now and raises the flag
    /// [`Map::faulted`] reads. Returns false when there is no such page
    /// (the reader is in the mapping's last page: a cut there shows only in
    /// the file's length).
    #[inline]
    pub(crate) fn touch_after(&self, offset: usize) -> bool {
        let at = offset.wrapping_add(self.page_mask) & !self.page_mask;
        match self.map.get(at) {
            Some(byte) => {
                // SAFETY: `byte` is a reference into the live mapping; a
                // volatile read of it is an ordinary read that the
                // compiler must not drop.
                let _ = unsafe { std::ptr::read_volatile(byte) };
                true
            }
            None => false,
        }
    }

    /// True when a page of this mapping faulted (the file was cut short,
    /// or its bytes could not be read) since [`Map::take_fault`] last
    /// cleared the flag.
    #[inline]
    pub(crate) fn faulted(&self) -> bool {
        self.slot.faulted.load(Ordering::Relaxed)
    }

    /// Like [`Map::faulted`], and clears the flag.
    pub(crate) fn take_fault(&self) -> bool {
        self.slot.faulted.swap(false, Ordering::AcqRel)
    }

    /// The file's length now (it may have been cut since it was mapped).
    pub(crate) fn file_len(&self) -> Option<u64> {
        self.file.metadata().ok().map(|m| m.len())
    }

    /// The readers are done with the bytes before `upto`: drop their pages
    /// from this process. Without this, every page read stays counted in
    /// the process's resident memory until the end (1 GiB for a 1 GiB
    /// file); with it, the mapping's resident part stays near the callers'
    /// lag plus [`RELEASE_STEP`] (6 MiB). (Callers lag behind what they
    /// consumed: measured on Linux 6.18, pages released right behind the
    /// reading position were mapped in again by the kernel's fault-around,
    /// and a fifth of the file stayed resident.)
    ///
    /// Slices of the mapping may still be borrowed (by this thread or
    /// another) when their pages are handed back: reading them again maps
    /// the same file bytes in again, so a late reader costs a page fault,
    /// never wrong bytes.
    pub(crate) fn release(&self, upto: usize) {
        let upto = upto.min(self.map.len()) / RELEASE_STEP * RELEASE_STEP;
        // Each call hands back its own range: `fetch_max` gives it the
        // start no other call will cover.
        let from = self.released.fetch_max(upto, Ordering::AcqRel);
        if upto <= from {
            return;
        }
        // SAFETY: MADV_DONTNEED on a shared, read-only file mapping drops
        // this process's page-table entries only: the mapping stays, and
        // the next access to any of its pages reads the file's page cache
        // again, the same bytes (the file changing under sipflow is the
        // hazard the module documentation describes, and it exists without
        // this call too). So a slice borrowed over the range, on any
        // thread, keeps reading the bytes it read before; no memory is
        // freed or changed. (Over pages the SIGBUS handler replaced with
        // private zero pages, it frees them and they read as zeros again.)
        // The call is `unsafe` in memmap2 because on a private mapping it
        // would discard written pages; this one is never written.
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, upto - from)
        };
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // Out of the registry before `map` is unmapped (fields drop after
        // this), so the handler never maps over an address range that is
        // no longer this mapping.
        self.slot.end.store(0, Ordering::Release);
        self.slot.start.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// What the pipeline relies on to keep messages as ranges of the
    /// mapping while pages are handed back: a slice borrowed over released
    /// pages reads the file's bytes again.
    #[test]
    fn released_pages_read_the_same_bytes_again() {
        let len = 3 * RELEASE_STEP + 12_345;
        let pattern: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&pattern).unwrap();
        let Some(map) = Map::of(&file) else {
            // Mapping turned off in the environment: nothing to check.
            return;
        };
        let held = &map.bytes()[RELEASE_STEP - 10..len];
        let before: Vec<u8> = held.to_vec();
        map.release(RELEASE_STEP + 1);
        map.release(len);
        // An older offset after a newer one hands back nothing twice.
        map.release(RELEASE_STEP);
        assert_eq!(map.released.load(Ordering::Relaxed), 3 * RELEASE_STEP);
        assert_eq!(held, &before[..]);
        assert_eq!(map.bytes(), &pattern[..]);
    }

    /// A page past a cut reads as zeros and raises the flag, instead of
    /// killing the process; the file's new length is there to read.
    #[test]
    fn a_cut_file_faults_into_zeros_and_raises_the_flag() {
        let page = 4096 * 4;
        let len = 8 * page + 100;
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![0xa5u8; len]).unwrap();
        let map = Map::of(&file).expect("mapped (is SIPFLOW_NO_MMAP set?)");
        assert_eq!(map.bytes()[3 * page], 0xa5);
        assert!(!map.take_fault());
        file.set_len((2 * page) as u64).unwrap();
        // Before the cut: the bytes are there, no fault.
        assert_eq!(map.bytes()[2 * page - 1], 0xa5);
        assert!(!map.take_fault());
        // Past it: zeros, and the flag, once.
        assert_eq!(map.bytes()[5 * page + 7], 0);
        assert!(map.take_fault());
        assert!(!map.take_fault());
        assert_eq!(map.bytes()[len - 1], 0);
        assert_eq!(map.file_len(), Some((2 * page) as u64));
        map.release(len);
        assert_eq!(map.bytes()[6 * page], 0);
    }

    /// The registry is left when a mapping is dropped, so slots are reused.
    #[test]
    fn dropped_maps_leave_the_registry() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"x").unwrap();
        for _ in 0..3 * SLOTS {
            let map = Map::of(&file).expect("mapped (is SIPFLOW_NO_MMAP set?)");
            assert_eq!(map.bytes(), b"x");
        }
    }
}
