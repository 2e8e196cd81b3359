//! The program around the library: parse arguments, run, print, pick the exit code.

use std::ffi::OsString;
use std::io::{self, Write};

use clap::Parser;

use crate::check::{self, CheckSettings};
use crate::cli::{CheckArgs, Cli, ColorChoice, Command, DocFormat};
use crate::docs;
use crate::fix::FixMode;
use crate::output::{self, RenderOptions};

/// Exit codes: stable, for CI.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;

/// Runs the program with these arguments and returns the exit code.
pub fn main<I, T>(args: I) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with success; usage errors exit 2.
            let _ = e.print();
            return if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            };
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = match cli.command {
        Command::Check(args) => check(&args, &mut out),
        Command::Rule(args) => match args.output_format {
            DocFormat::Text => docs::write_rule(args.rule, &mut out),
            DocFormat::Json => docs::write_rule_json(args.rule, &mut out),
        }
        .map(|()| EXIT_CLEAN)
        .map_err(Failure::Io),
        Command::Rules(args) => match args.output_format {
            DocFormat::Text => docs::write_rules(&mut out),
            DocFormat::Json => docs::write_rules_json(&mut out),
        }
        .map(|()| EXIT_CLEAN)
        .map_err(Failure::Io),
    };
    let result = result.and_then(|code| out.flush().map(|()| code).map_err(Failure::Io));
    match result {
        Ok(code) => code,
        // `mpdoctor check | head`: the reader left; that is not our failure.
        Err(Failure::Io(e)) if e.kind() == io::ErrorKind::BrokenPipe => EXIT_CLEAN,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mpdoctor: error: {e}");
            EXIT_ERROR
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Usage(#[from] check::UsageError),
    #[error("cannot write output: {0}")]
    Io(io::Error),
}

fn check(args: &CheckArgs, out: &mut dyn Write) -> Result<u8, Failure> {
    let settings = CheckSettings::from_args(args)?;
    let outcome = check::run(settings)?;
    let color = match args.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
        }
    };
    let options = RenderOptions {
        color,
        fix_mode: if args.unsafe_fixes {
            FixMode::IncludeUnsafe
        } else {
            FixMode::SafeOnly
        },
    };
    if let Some(fixed) = &outcome.stdin_fixed {
        // `--fix` on standard input prints the fixed source, like ruff and black.
        out.write_all(fixed.as_bytes()).map_err(Failure::Io)?;
        for report in &outcome.reports {
            if let Some(note) = &report.fix_note {
                let _ = writeln!(io::stderr(), "mpdoctor: {note}");
            }
        }
    } else if args.statistics {
        output::statistics(&outcome, out, options).map_err(Failure::Io)?;
    } else if args.diff {
        for report in &outcome.reports {
            if let Some(diff) = &report.diff {
                out.write_all(diff.as_bytes()).map_err(Failure::Io)?;
            }
        }
        if !args.quiet {
            let n: usize = outcome
                .reports
                .iter()
                .filter(|r| r.diff.is_some())
                .map(|r| r.fixed)
                .sum();
            let _ = writeln!(
                io::stderr(),
                "Would fix {n} finding{}.",
                if n == 1 { "" } else { "s" }
            );
        }
        let changes = outcome.reports.iter().any(|r| r.diff.is_some());
        return Ok(if changes && !args.exit_zero {
            EXIT_FINDINGS
        } else {
            EXIT_CLEAN
        });
    } else {
        let quiet_full = args.quiet && args.output_format == crate::cli::OutputFormat::Full;
        if quiet_full {
            // Quiet: the findings in their short form, without the summary.
            output::render(crate::cli::OutputFormat::Concise, &outcome, out, options)
        } else {
            output::render(args.output_format, &outcome, out, options)
        }
        .map_err(Failure::Io)?;
        if args.output_format == crate::cli::OutputFormat::Concise && !args.quiet {
            output::summary(&outcome, out, options).map_err(Failure::Io)?;
        }
    }
    let findings = outcome.diagnostics().next().is_some();
    Ok(if findings && !args.exit_zero {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    })
}
