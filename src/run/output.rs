//! The run's report: a summary for people, and JSON, SARIF and GitHub annotations for CI.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::{Category, RunReport, Trigger};
use crate::diagnostics::Severity;
use crate::output::github::{escape_data, escape_property};
use crate::shm::output::human;

pub fn summary(report: &RunReport, verbose: bool, out: &mut dyn Write) -> io::Result<()> {
    let command = report.command.join(" ");
    let ended = match report.signal {
        Some(sig) => format!("was ended by signal {sig} (exit code {})", report.exit_code),
        None => format!("exited with {}", report.exit_code),
    };
    let ended = match report.stopped {
        Some(Trigger::Interrupted) | None => ended,
        Some(_) => format!("{ended}, once mpdoctor had stopped the hung run,"),
    };
    writeln!(out)?;
    writeln!(
        out,
        "mpdoctor run: `{command}` {ended} after {:.1}s; {} process(es) in the run.",
        report.duration_seconds,
        report.processes.len()
    )?;
    if let Some(method) = report.start_method {
        writeln!(
            out,
            "  start method forced to {method} in {} Python process(es)",
            report.python_processes
        )?;
    }
    if report.interrupted {
        let how = if report.stopped == Some(Trigger::Interrupted) {
            "interrupted; mpdoctor stopped what was left of the run"
        } else {
            "interrupted; the signal reached the run"
        };
        writeln!(out, "  {how}")?;
    }
    for f in &report.findings {
        writeln!(out)?;
        let code = f
            .rule
            .map(|c| format!(" [{}]", c.as_str()))
            .unwrap_or_default();
        writeln!(out, "{} ({}){code}: {}", f.category.as_str(), f.id, f.title)?;
        writeln!(out, "  {}", f.message)?;
        for d in &f.details {
            for (i, line) in d.lines().enumerate() {
                let lead = if i == 0 { "  - " } else { "    " };
                writeln!(out, "{lead}{line}")?;
            }
        }
        writeln!(out, "  why: {}", f.why)?;
        writeln!(out, "  fix: {}", f.fix)?;
        if let Some(code) = f.rule {
            writeln!(out, "  see: mpdoctor rule {}", code.as_str())?;
        }
    }
    // Other programs' entries on a shared host: one line, unless asked for the list.
    if !report.unattributed.is_empty() {
        writeln!(out)?;
        let n = report.unattributed.len();
        let plural = if n == 1 { "y" } else { "ies" };
        if verbose {
            writeln!(
                out,
                "Not blamed on the run: {n} new entr{plural} that no process of the run was \
                 seen holding:"
            )?;
            for u in &report.unattributed {
                writeln!(out, "  {} ({})", u.path, human(u.size))?;
            }
        } else {
            let shown: Vec<&str> = report
                .unattributed
                .iter()
                .take(2)
                .map(|u| u.path.as_str())
                .collect();
            let more = if n > shown.len() {
                format!(" and {} more; --verbose lists them", n - shown.len())
            } else {
                String::new()
            };
            writeln!(
                out,
                "Not blamed on the run: {n} new entr{plural} that no process of the run was \
                 seen holding ({}{more}).",
                shown.join(", ")
            )?;
        }
    }
    writeln!(out)?;
    let count = |c| report.findings.iter().filter(|f| f.category == c).count();
    if report.findings.is_empty() && report.interrupted {
        writeln!(
            out,
            "Interrupted: no leaks, hangs or multiprocessing warnings until then, but the run \
             did not finish, so this is not a full check."
        )?;
    } else if report.findings.is_empty() {
        writeln!(out, "No leaks, hangs or multiprocessing warnings.")?;
    } else {
        let parts: Vec<String> = [
            Category::Leak,
            Category::Hang,
            Category::Error,
            Category::Warning,
        ]
        .into_iter()
        .filter(|c| count(*c) > 0)
        .map(|c| format!("{} {}", count(c), c.as_str()))
        .collect();
        let partial = if report.interrupted {
            " (interrupted: only what was seen before the run was stopped)"
        } else {
            ""
        };
        writeln!(out, "Found: {}{partial}.", parts.join(", "))?;
    }
    Ok(())
}

pub fn json(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)
}

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// SARIF 2.1.0. Findings of a run have no source location; the rule ids are the finding
/// ids, and a static rule that finds the cause is linked as a related rule.
pub fn sarif(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    let mut ids: Vec<&str> = report.findings.iter().map(|f| f.id).collect();
    ids.sort_unstable();
    ids.dedup();
    let rules: Vec<Value> = ids
        .iter()
        .map(|id| {
            let f = report.findings.iter().find(|f| f.id == *id);
            json!({
                "id": id,
                "shortDescription": {"text": super::findings::summary_of(id)},
                "help": {"text": f.map(|f| format!("Why: {}\n\nFix: {}", f.why, f.fix)).unwrap_or_default()},
                "properties": {"tags": ["multiprocessing", "runtime"]},
            })
        })
        .collect();
    let artifact = script(report);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut text = format!("{}\n{}", f.title, f.message);
            for d in &f.details {
                text.push('\n');
                text.push_str(d);
            }
            text.push_str(&format!("\nWhy: {}\nFix: {}", f.why, f.fix));
            // GitHub code scanning rejects results without a location: the script run.
            let mut result = json!({
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": artifact},
                    "region": {"startLine": 1},
                }}],
                "ruleId": f.id,
                "ruleIndex": ids.iter().position(|i| *i == f.id).unwrap_or(0),
                "level": level(f.severity),
                "message": {"text": text},
                "properties": {"category": f.category.as_str()},
            });
            if let Some(code) = f.rule {
                result["properties"]["staticRule"] = json!(code.as_str());
            }
            result
        })
        .collect();
    let mut log = crate::output::sarif::envelope(rules, results);
    log["runs"][0]["invocations"] = json!([{
        "executionSuccessful": true,
        "commandLine": report.command.join(" "),
        "exitCode": report.exit_code,
    }]);
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)
}

/// The Python file the command runs (its first argument ending in `.py` that exists),
/// else the program.
fn script(report: &RunReport) -> String {
    report
        .command
        .iter()
        .skip(1)
        .find(|a| a.ends_with(".py") && std::path::Path::new(a.as_str()).is_file())
        .or(report.command.first())
        .cloned()
        .unwrap_or_default()
}

/// GitHub Actions workflow commands: one annotation per finding, not tied to a file.
pub fn github(report: &RunReport, out: &mut dyn Write) -> io::Result<()> {
    for f in &report.findings {
        let code = f
            .rule
            .map(|c| format!(" {}", c.as_str()))
            .unwrap_or_default();
        let title = format!("mpdoctor run ({}{code})", f.id);
        let mut message = format!("{}\n{}", f.title, f.message);
        message.push_str(&format!("\nFix: {}", f.fix));
        writeln!(
            out,
            "::{} title={}::{}",
            level(f.severity),
            escape_property(&title),
            escape_data(&message)
        )?;
    }
    Ok(())
}
