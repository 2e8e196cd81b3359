use std::io::{self, Write};

use serde::Serialize;

use super::{display_path, span};
use crate::check::{FileReport, Outcome};
use crate::diagnostics::{Applicability, Code, Diagnostic};
use crate::source::Location;

#[derive(Serialize)]
struct JsonEdit<'a> {
    content: &'a str,
    location: Location,
    end_location: Location,
}

#[derive(Serialize)]
struct JsonFix<'a> {
    applicability: Applicability,
    message: &'a str,
    edits: Vec<JsonEdit<'a>>,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    code: &'a str,
    name: &'a str,
    severity: &'a str,
    message: &'a str,
    filename: String,
    location: Location,
    end_location: Location,
    help: Option<&'a str>,
    fix: Option<JsonFix<'a>>,
    /// Why no fix is offered, where a reader would expect one.
    no_fix: Option<&'a str>,
    /// The rule's page; `null` for `io-error`, `syntax-error`, `invalid-noqa` and `too-deep`.
    url: Option<String>,
}

fn finding<'a>(report: &'a FileReport, d: &'a Diagnostic) -> JsonFinding<'a> {
    let (location, end_location) = span(report, d);
    let fix = d.fix.as_ref().map(|f| JsonFix {
        applicability: f.applicability,
        message: &f.message,
        edits: f
            .edits
            .iter()
            .map(|e| {
                let at = |o| {
                    report
                        .source
                        .as_ref()
                        .map_or(Location { line: 1, column: 1 }, |s| s.location(o))
                };
                JsonEdit {
                    content: &e.content,
                    location: at(e.range.start),
                    end_location: at(e.range.end),
                }
            })
            .collect(),
    });
    JsonFinding {
        code: d.code.as_str(),
        name: d.code.name(),
        severity: d.severity().as_str(),
        message: &d.message,
        filename: display_path(&report.path),
        location,
        end_location,
        help: d.help.as_deref(),
        fix,
        no_fix: d.no_fix.as_deref(),
        url: match d.code {
            Code::Rule(r) => Some(crate::docs::rule_url(r)),
            _ => None,
        },
    }
}

/// A JSON array (pretty-printed), or one compact object per line.
pub fn render(outcome: &Outcome, out: &mut dyn Write, lines: bool) -> io::Result<()> {
    let findings: Vec<JsonFinding> = outcome.diagnostics().map(|(r, d)| finding(r, d)).collect();
    if lines {
        for f in &findings {
            serde_json::to_writer(&mut *out, f)?;
            writeln!(out)?;
        }
    } else {
        serde_json::to_writer_pretty(&mut *out, &findings)?;
        writeln!(out)?;
    }
    Ok(())
}
