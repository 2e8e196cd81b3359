use std::io::{self, Write};

use super::{RenderOptions, display_path, fix_applies, span};
use crate::check::Outcome;
use crate::diagnostics::Severity;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31;1m";
const CYAN: &str = "\x1b[36m";
const YELLOW: &str = "\x1b[33;1m";
const RESET: &str = "\x1b[0m";

/// `path:line:col: severity: CODE [*] message`, one finding per line: the shape compilers
/// print, which editors' compile modes and problem matchers already read.
pub fn render(outcome: &Outcome, out: &mut dyn Write, options: RenderOptions) -> io::Result<()> {
    for (report, d) in outcome.diagnostics() {
        let (start, _) = span(report, d);
        let marker = if fix_applies(d, options.fix_mode) {
            "[*] "
        } else {
            ""
        };
        let path = display_path(&report.path);
        if options.color {
            writeln!(
                out,
                "{BOLD}{path}{RESET}{CYAN}:{}:{}:{RESET} {}{}:{RESET} {RED}{}{RESET} {marker}{}",
                start.line,
                start.column,
                match d.severity() {
                    Severity::Error => RED,
                    Severity::Warning => YELLOW,
                },
                d.severity().as_str(),
                d.code.as_str(),
                d.message
            )?;
        } else {
            writeln!(
                out,
                "{path}:{}:{}: {}: {} {marker}{}",
                start.line,
                start.column,
                d.severity().as_str(),
                d.code.as_str(),
                d.message
            )?;
        }
    }
    Ok(())
}
