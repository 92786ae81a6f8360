//! Memory-mapped input: the crate's one module with `unsafe` code.
//!
//! Why: reading a capture through `read(2)` copies every byte from the page
//! cache into the reader's buffer. Mapping the file lets the readers parse
//! records straight from the page cache; measured on the 1 GiB bench trace
//! (`bench/run`, 2 vCPU), see BENCHMARKS.md.
//!
//! The hazard, and why it is accepted: the mapping shows the file as it is
//! on disk, so if another process truncates the file while sipflow reads
//! it, touching a vanished page raises SIGBUS (the same trade ripgrep and
//! other readers of large files make). Only regular, non-empty files are
//! mapped; compressed captures, pipes and standard input are read as
//! streams; `SIPFLOW_NO_MMAP=1` turns mapping off.
#![allow(unsafe_code)]

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A read-only mapping of a whole file.
pub(crate) struct Map {
    map: memmap2::Mmap,
    /// The pages before this offset were handed back (see [`Map::release`]).
    released: AtomicUsize,
}

/// Pages are handed back in steps of this many bytes (a multiple of any
/// page size), so that it costs one system call per 2 MiB read.
const RELEASE_STEP: usize = 2 << 20;

impl Map {
    /// Maps `file` when it is a regular, non-empty file and mapping is not
    /// turned off; `None` means: read it as a stream instead.
    pub(crate) fn of(file: &File) -> Option<Map> {
        if std::env::var_os("SIPFLOW_NO_MMAP").is_some_and(|v| v != "0") {
            return None;
        }
        let meta = file.metadata().ok()?;
        if !meta.is_file() || meta.len() == 0 {
            return None;
        }
        // SAFETY: the mapping is read-only (PROT_READ, MAP_SHARED: it shows
        // the file's page cache, and this process never writes it). Its
        // contents can change only if another process writes or truncates
        // the file while it is read: the module documentation says why
        // that risk (a SIGBUS, never silent misreading of memory sipflow
        // owns) is accepted.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(Map {
            map,
            released: AtomicUsize::new(0),
        })
    }

    /// The file's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.map
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
        // hazard the module documentation accepts, and it exists without
        // this call too). So a slice borrowed over the range, on any
        // thread, keeps reading the bytes it read before; no memory is
        // freed or changed. (The call is `unsafe` in memmap2 because on a
        // private mapping it would discard written pages; this one is
        // never written.)
        let _ = unsafe {
            self.map
                .unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, upto - from)
        };
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
}
