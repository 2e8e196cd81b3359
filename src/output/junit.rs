use std::io::{self, Write};

use super::{display_path, span};
use crate::check::Outcome;

/// JUnit XML: one test suite per file, one failing test case per finding, and one
/// passing case for a clean file.
pub fn render(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let total = outcome.diagnostics().count();
    let cases: usize = outcome
        .reports
        .iter()
        .map(|r| r.diagnostics.len().max(1))
        .sum();
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="mpdoctor" tests="{cases}" failures="{total}" errors="0">"#
    )?;
    for report in &outcome.reports {
        let path = escape(&display_path(&report.path));
        let n = report.diagnostics.len();
        writeln!(
            out,
            r#"  <testsuite name="{path}" tests="{}" failures="{n}" errors="0">"#,
            n.max(1)
        )?;
        if n == 0 {
            writeln!(out, r#"    <testcase name="mpdoctor" classname="{path}"/>"#)?;
        }
        for d in &report.diagnostics {
            let (start, _) = span(report, d);
            let code = escape(d.code.as_str());
            let message = escape(&d.message);
            writeln!(
                out,
                r#"    <testcase name="{code} at line {}, column {}" classname="{path}" line="{}">"#,
                start.line, start.column, start.line
            )?;
            writeln!(
                out,
                r#"      <failure message="{message}" type="{code}">{path}:{}:{}: {code} {message}</failure>"#,
                start.line, start.column
            )?;
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

/// The `Char` production of XML 1.0.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 cannot carry these at all, even escaped: write them as `\u{..}`.
            c if !is_xml_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
