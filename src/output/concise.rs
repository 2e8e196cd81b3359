use std::io::{self, Write};

use super::{RenderOptions, display_path, fix_applies, span};
use crate::check::Outcome;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31;1m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// `path:line:col: CODE [*] message`, one finding per line.
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
                "{BOLD}{path}{RESET}{CYAN}:{}:{}:{RESET} {RED}{}{RESET} {marker}{}",
                start.line,
                start.column,
                d.code.as_str(),
                d.message
            )?;
        } else {
            writeln!(
                out,
                "{path}:{}:{}: {} {marker}{}",
                start.line,
                start.column,
                d.code.as_str(),
                d.message
            )?;
        }
    }
    Ok(())
}
