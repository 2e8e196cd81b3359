//! Shared by the integration tests: fixture discovery, expectation marks, rendering.

use std::path::{Path, PathBuf};

use mpdoctor::check::{FileReport, Outcome};
use mpdoctor::cli::OutputFormat;
use mpdoctor::fix::FixMode;
use mpdoctor::linter::{self, LintSettings};
use mpdoctor::output::{self, RenderOptions};
use mpdoctor::source::SourceFile;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test unless `log` is valid against the SARIF 2.1.0 schema (OASIS errata01,
/// vendored in `tests/data`).
pub fn assert_valid_sarif(log: &serde_json::Value) {
    static VALIDATOR: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = VALIDATOR.get_or_init(|| {
        let schema = std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json"))
            .expect("tests/data/sarif-schema-2.1.0.json");
        let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
        jsonschema::validator_for(&schema).expect("the SARIF schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "invalid SARIF:\n{}", errors.join("\n"));
}

/// Says that a test skipped, on the real standard error: libtest swallows `eprintln!` of
/// tests that pass, and a skip must be seen.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// Whether `python3` runs; the tests that need it say so and skip without it.
pub fn python_available() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Every fixture file, sorted: `fixtures/<CODE>/*.py`.
pub fn fixtures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root().join("fixtures")).unwrap() {
        let dir = dir.unwrap().path();
        // `fixtures/run/` holds whole programs for `mpdoctor run`, not rule fixtures.
        if !dir.is_dir() || dir.ends_with("run") {
            continue;
        }
        for file in std::fs::read_dir(&dir).unwrap() {
            let file = file.unwrap().path();
            if file.extension().is_some_and(|e| e == "py") {
                out.push(file);
            }
        }
    }
    out.sort();
    out
}

/// `fixtures/MP001/bad_pool.py` -> `MP001/bad_pool.py`.
pub fn fixture_name(path: &Path) -> String {
    path.strip_prefix(root().join("fixtures"))
        .unwrap()
        .to_string_lossy()
        .replace('\\', "/")
}

pub fn load(path: &Path) -> SourceFile {
    let text = std::fs::read_to_string(path).unwrap();
    SourceFile::new(PathBuf::from("fixtures").join(fixture_name(path)), text)
}

/// The findings a fixture declares: `(line, code)` for each `# error: CODE, CODE`.
/// The findings a fixture marks, as (line, "severity CODE"): `# error: MP201` for an error,
/// `# warning: MP201` for a warning; several codes may follow, comma-separated.
pub fn expected_marks(text: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        for severity in ["error", "warning"] {
            let mark = format!("# {severity}:");
            if let Some(at) = line.find(&mark) {
                for code in line[at + mark.len()..].split(',') {
                    let code = code.split_whitespace().next().unwrap_or("");
                    if !code.is_empty() {
                        out.push((i as u32 + 1, format!("{severity} {code}")));
                    }
                }
            }
        }
    }
    out.sort();
    out
}

pub fn report_for(source: &SourceFile, settings: &LintSettings) -> FileReport {
    FileReport {
        path: source.path.clone(),
        diagnostics: linter::lint(source, settings),
        source: Some(std::sync::Arc::new(source.clone())),
        fixed: 0,
        diff: None,
        fix_note: None,
        fail_on: mpdoctor::diagnostics::Severity::Error,
        analysed: true,
    }
}

/// The full, colourless rendering of one report, as a user sees it in a log.
pub fn render(report: FileReport, format: OutputFormat, fix_mode: FixMode) -> String {
    let outcome = Outcome {
        reports: vec![report],
        stdin_fixed: None,
    };
    let mut out = Vec::new();
    output::render(
        format,
        &outcome,
        &mut out,
        RenderOptions {
            color: false,
            fix_mode,
        },
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

/// `mpdoctor check --output-format json --exit-zero ARGS...` run in `dir`: its findings.
pub fn check_json<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &Path) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "--output-format", "json", "--exit-zero"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
