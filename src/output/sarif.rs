use std::io::{self, Write};

use serde_json::{Value, json};

use super::{display_path, fingerprints, relative_to, span};
use crate::check::Outcome;
use crate::codes::RuleCode;
use crate::diagnostics::Severity;
use crate::paths::resolve_file;

/// SARIF 2.1.0 with the full rule catalogue, relative URIs and stable fingerprints, so
/// GitHub code scanning can follow a finding as the code around it moves.
pub fn render(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let rules: Vec<Value> = RuleCode::ALL
        .iter()
        .map(|code| {
            let doc = code.doc();
            let help = format!(
                "{}\n\nWhy: {}\n\nFix: {}\nRun `mpdoctor rule {}` for the full explanation.",
                doc.what_it_does.trim(),
                doc.why.trim(),
                doc.fix.trim(),
                doc.code
            );
            let mut rule = json!({
                "id": code.as_str(),
                "name": doc.name,
                "shortDescription": {"text": doc.summary},
                "fullDescription": {"text": doc.what_it_does.trim()},
                "help": {"text": help},
                "defaultConfiguration": {"level": level(doc.severity)},
                "properties": {"tags": ["multiprocessing"]},
            });
            rule["helpUri"] = json!(crate::docs::rule_url(*code));
            rule
        })
        .collect();

    let results: Vec<Value> = outcome
        .diagnostics()
        .zip(fingerprints(outcome, artifact_uri))
        .map(|((report, d), fingerprint)| {
            let (start, end) = span(report, d);
            let uri = artifact_uri(&report.path);
            let mut result = json!({
                "ruleId": d.code.as_str(),
                "level": level(d.severity()),
                "message": {"text": d.message},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": artifact_location(&uri),
                        "region": {
                            "startLine": start.line,
                            "startColumn": start.column,
                            "endLine": end.line,
                            "endColumn": end.column,
                        }
                    }
                }],
                "partialFingerprints": {"primaryLocationLineHash": fingerprint},
            });
            if let crate::diagnostics::Code::Rule(code) = d.code {
                result["ruleIndex"] = json!(code as usize);
            }
            result
        })
        .collect();

    let mut log = envelope(rules, results);
    // Our columns count characters, not UTF-16 code units (SARIF's default).
    log["runs"][0]["columnKind"] = json!("unicodeCodePoints");
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// A SARIF 2.1.0 log of one run of mpdoctor.
pub fn envelope(rules: Vec<Value>, results: Vec<Value>) -> Value {
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "mpdoctor",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}

/// A URI relative to the working directory where the file lies below it (what code
/// scanning expects); otherwise an absolute `file://` URI.
fn artifact_uri(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    match relative_to(path, &cwd) {
        Some(relative) => percent_encode(&relative),
        None => {
            let absolute = resolve_file(path).unwrap_or_else(|| path.to_path_buf());
            format!("file://{}", percent_encode(&display_path(&absolute)))
        }
    }
}

/// Relative URIs are resolved against `%SRCROOT%`; absolute ones stand alone, as SARIF
/// 2.1.0 requires.
fn artifact_location(uri: &str) -> Value {
    if uri.starts_with("file://") {
        json!({ "uri": uri })
    } else {
        json!({ "uri": uri, "uriBaseId": "%SRCROOT%" })
    }
}

/// Escapes what may not appear raw in a URI path.
fn percent_encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_relative_and_escaped() {
        assert_eq!(
            artifact_uri(std::path::Path::new("./a b/c.py")),
            "a%20b/c.py"
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(artifact_uri(&cwd.join("x/y.py")), "x/y.py");
        assert_eq!(
            artifact_uri(std::path::Path::new("/elsewhere/z.py")),
            "file:///elsewhere/z.py"
        );
    }
}
