//! Source bytes in, findings out: decoding, parsing, the semantic model, every rule, and
//! the fix loop, on whatever bytes libFuzzer makes. A panic, an overflow or a hang is a
//! crash; findings and syntax errors are the expected outcomes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mpdoctor::fix::FixMode;
use mpdoctor::linter::{self, LintSettings};

fuzz_target!(|data: &[u8]| {
    // On a stack as large as `check` gives its workers.
    let data = data.to_vec();
    std::thread::Builder::new()
        .stack_size(512 << 20)
        .spawn(move || analyse(&data))
        .unwrap()
        .join()
        .unwrap();
});

fn analyse(data: &[u8]) {
    let Ok(decoded) = mpdoctor::source::decode(data.to_vec()) else {
        return;
    };
    // The pre-filter's scans of the text (words, `__name__` comparisons, import lines)
    // must take any text too; its answer is not used here.
    let _ = linter::needs_analysis(
        &decoded.text,
        std::path::Path::new("-"),
        &LintSettings::default(),
    );
    let _ = linter::needs_analysis_alone(
        &decoded.text,
        std::path::Path::new("fuzz.py"),
        &LintSettings::default(),
    );
    let source = decoded.into_source("fuzz.py");
    // Every file is analysed: the pre-filter would pass most inputs over.
    let settings = LintSettings {
        prefilter: false,
        ..LintSettings::default()
    };
    let found = linter::lint(&source, &settings);
    if found.iter().any(|d| d.fix.is_some()) {
        let fixed = linter::fix(&source, &settings, FixMode::IncludeUnsafe);
        // A fix never leaves a file that does not parse.
        assert!(
            !linter::lint(&source.with_text(fixed.text), &settings)
                .iter()
                .any(|d| d.code == mpdoctor::diagnostics::Code::SyntaxError)
        );
    }
}
