//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// Every capture file under `dir` (recursively, sorted), leaving out the
/// documentation and data files that sit beside captures.
pub fn capture_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if !matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("md" | "tsv" | "txt" | "dat")
            ) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out
}
