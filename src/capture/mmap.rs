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

/// A read-only mapping of a whole file.
pub(crate) struct Map {
    map: memmap2::Mmap,
    /// The pages before this offset were handed back (see [`Map::release`]).
    released: usize,
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
        // SAFETY: the mapping is read-only and private to this process.
        // Its contents can change only if another process writes or
        // truncates the file while it is read: the module documentation
        // says why that risk (a SIGBUS, never silent misreading of memory
        // sipflow owns) is accepted.
        let map = unsafe { memmap2::Mmap::map(file) }.ok()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        Some(Map { map, released: 0 })
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
    pub(crate) fn release(&mut self, upto: usize) {
        let upto = upto.min(self.map.len()) / RELEASE_STEP * RELEASE_STEP;
        if upto <= self.released {
            return;
        }
        // SAFETY: MADV_DONTNEED on a read-only file mapping drops the
        // pages; a later access would read them from the file again (the
        // same bytes), so no reference can see freed memory. And none
        // exists: `release` takes `&mut self`, so no slice of the mapping
        // is borrowed while it runs, and the readers never go back before
        // the offset they consumed.
        let _ = unsafe {
            self.map.unchecked_advise_range(
                memmap2::UncheckedAdvice::DontNeed,
                self.released,
                upto - self.released,
            )
        };
        self.released = upto;
    }
}
