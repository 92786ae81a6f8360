//! The rule-file parser and compiler (src/rules/), fed arbitrary bytes as
//! text (invalid UTF-8 replaced, as for a file read lossily).
//!
//! Invariants beyond "no panic":
//! - a rejected rule has at least one diagnostic, each with a message, a
//!   1-based line and column inside the text, and the text of that line;
//! - diagnostics render (`Display`) without panicking;
//! - a compiled rule has an id and at least one step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sipflow::rules::compile_text;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match compile_text("fuzz.flow", &text) {
        Ok(rule) => {
            assert!(!rule.id.is_empty());
            assert!(!rule.steps.is_empty());
            let _ = format!("{rule:?}");
        }
        Err(diags) => {
            assert!(!diags.0.is_empty(), "rejected without a diagnostic");
            let lines = text.split('\n').count();
            for d in &diags.0 {
                assert!(!d.message.is_empty());
                assert_eq!(d.file, "fuzz.flow");
                assert!(d.span.line >= 1 && d.span.line <= lines.max(1), "{d:?}");
                assert!(d.span.col >= 1, "{d:?}");
                let _ = d.to_string();
            }
            let _ = diags.to_string();
        }
    }
});
