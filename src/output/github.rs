use std::io::{self, Write};

use super::{display_path, span};
use crate::check::Outcome;
use crate::diagnostics::Severity;

/// GitHub Actions workflow commands: each finding becomes an annotation on the diff.
pub fn render(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    for (report, d) in outcome.diagnostics() {
        let (start, end) = span(report, d);
        let level = match d.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let path = display_path(&report.path);
        let title = format!("mpdoctor ({})", d.code.as_str());
        let message = format!(
            "{path}:{}:{}: {} {}",
            start.line,
            start.column,
            d.code.as_str(),
            d.message
        );
        writeln!(
            out,
            "::{level} title={},file={},line={},endLine={},col={},endColumn={}::{}",
            escape_property(&title),
            escape_property(&path),
            start.line,
            end.line,
            start.column,
            end.column,
            escape_data(&message)
        )?;
    }
    Ok(())
}

/// Escaping for the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping for property values, which also end at `,` and `:`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape_data("a%b\nc\r"), "a%25b%0Ac%0D");
        assert_eq!(escape_property("a,b:c%"), "a%2Cb%3Ac%25");
    }
}
