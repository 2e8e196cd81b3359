//! The program around the library: parse arguments, run, print, pick the exit code.
//! Part of the binary, not the library: only here is anything printed to stderr or an
//! exit code chosen.

use std::ffi::OsString;
use std::io::{self, Write};

use clap::{CommandFactory, Parser};

use mpdoctor::check::{self, CheckSettings, Outcome};
use mpdoctor::cli::{
    CheckArgs, Cli, ColorChoice, Command, DocFormat, FailOn, OutputFormat, RunArgs, RunFormat,
    ShmArgs,
};
use mpdoctor::docs;
use mpdoctor::fix::FixMode;
use mpdoctor::output::{self, RenderOptions};
use mpdoctor::run::{self, Category};
use mpdoctor::shm;

/// Exit codes: stable, for CI.
pub const EXIT_CLEAN: u8 = 0;
pub const EXIT_FINDINGS: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
/// `mpdoctor run`: the run hung (or outlived the command, or passed `--timeout`) and
/// mpdoctor stopped it; the code `timeout(1)` uses.
pub const EXIT_RUN_STOPPED: u8 = 124;
/// `mpdoctor run`: mpdoctor itself could not start or report (as `timeout(1)` uses 125).
pub const EXIT_RUN_SETUP: u8 = 125;
/// `mpdoctor shm`: nothing is proven leaked, but entries are `likely-leaked`.
pub const EXIT_LIKELY_LEAKED: u8 = 3;
/// `mpdoctor run`: the command succeeded, but the run found what `--fail-on` names.
pub const EXIT_RUN_FINDINGS: u8 = 3;
/// `mpdoctor run`: interrupted, and the command exited 0 (as a shell reports SIGINT).
pub const EXIT_RUN_INTERRUPTED: u8 = 130;

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
    let ran = match cli.command {
        Command::Check(args) => check(&args, &mut out).map_err(|e| e.to_string()),
        Command::Shm(args) => shm(&args, &mut out),
        Command::Run(args) => return run(&args),
        Command::Completions(args) => Ok((EXIT_CLEAN, completions(args.shell, &mut out))),
        Command::Manpages(args) => manpages(&args.dir, &mut out),
        Command::Rule(args) => Ok((
            EXIT_CLEAN,
            match args.output_format {
                DocFormat::Text => docs::write_rule(args.rule, &mut out),
                DocFormat::Json => docs::write_rule_json(args.rule, &mut out),
            },
        )),
        Command::Rules(args) => Ok((
            EXIT_CLEAN,
            match args.output_format {
                DocFormat::Text => docs::write_rules(&mut out),
                DocFormat::Json => docs::write_rules_json(&mut out),
            },
        )),
    };
    let (code, written) = match ran {
        Ok(done) => done,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mpdoctor: error: {e}");
            return EXIT_ERROR;
        }
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => code,
        // `mpdoctor check | head`: the reader left. That is not our failure, and the exit
        // code still says what was found, so a pipeline under `pipefail` stays honest.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => code,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mpdoctor: error: cannot write output: {e}");
            EXIT_ERROR
        }
    }
}

/// Generated in memory first: clap_complete cannot report a failed write.
fn completions(shell: clap_complete::Shell, out: &mut dyn Write) -> io::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "mpdoctor", &mut script);
    out.write_all(&script)
}

/// `mpdoctor.1` and `mpdoctor-<COMMAND>.1`, as git names its pages; prints what it wrote.
/// Every page is rendered before the first is written.
fn manpages(dir: &std::path::Path, out: &mut dyn Write) -> Result<(u8, io::Result<()>), String> {
    let mut cli = Cli::command();
    cli.build();
    let mut pages = Vec::new();
    for page in std::iter::once(&cli).chain(cli.get_subcommands()) {
        let name = page
            .get_display_name()
            .unwrap_or(page.get_name())
            .to_string();
        let mut roff = Vec::new();
        clap_mangen::Man::new(page.clone())
            .render(&mut roff)
            .map_err(|e| e.to_string())?;
        pages.push((dir.join(format!("{name}.1")), roff));
    }
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    for (done, (path, roff)) in pages.iter().enumerate() {
        std::fs::write(path, roff).map_err(|e| {
            format!(
                "cannot write {}: {e} ({done} of {} pages written)",
                path.display(),
                pages.len()
            )
        })?;
    }
    let listed = pages
        .iter()
        .try_for_each(|(p, _)| writeln!(out, "{}", p.display()));
    Ok((EXIT_CLEAN, listed))
}

/// Runs a command under the watchdog. Its exit code is the command's, unless the command
/// succeeded and `--fail-on` names something that was found.
fn run(args: &RunArgs) -> u8 {
    let options = run::RunOptions {
        command: args.command.clone(),
        hang_timeout: args.hang_timeout,
        timeout: args.timeout,
        start_method: args.start_method,
        shm_dir: args.shm_dir.clone(),
    };
    // A report that cannot be written is found out before the command runs, not after.
    let to_stdout = args.output.as_deref() == Some(std::path::Path::new("-"));
    let file = match &args.output {
        Some(_) if to_stdout => None,
        Some(path) => match std::fs::File::create(path) {
            Ok(f) => Some(f),
            Err(e) => {
                let _ = writeln!(
                    io::stderr(),
                    "mpdoctor: error: cannot write {}: {e}",
                    path.display()
                );
                return EXIT_RUN_SETUP;
            }
        },
        None => None,
    };
    let report = match run::run(&options) {
        Ok(report) => report,
        Err(e) => {
            let _ = writeln!(io::stderr(), "mpdoctor: error: {e}");
            return e.exit_code();
        }
    };
    let format = if args.json {
        RunFormat::Json
    } else {
        args.output_format
    };
    let write = |out: &mut dyn Write| match format {
        RunFormat::Human => run::output::summary(&report, args.verbose, out),
        RunFormat::Json => run::output::json(&report, out),
        RunFormat::Sarif => run::output::sarif(&report, out),
        RunFormat::Github => run::output::github(&report, out),
    };
    let written = match file {
        Some(f) => {
            let mut f = io::BufWriter::new(f);
            write(&mut f).and_then(|()| f.flush())
        }
        // The command's standard output stays its own, unless asked (`-`); workflow
        // commands are read from standard output.
        None if !to_stdout && format != RunFormat::Github => write(&mut io::stderr().lock()),
        None => {
            let mut out = io::stdout().lock();
            write(&mut out).and_then(|()| out.flush())
        }
    };
    if let Err(e) = written {
        let _ = writeln!(
            io::stderr(),
            "mpdoctor: error: cannot write the report: {e}"
        );
    }
    let stopped_hung = report
        .stopped
        .is_some_and(|t| t != run::Trigger::Interrupted);
    if stopped_hung {
        return EXIT_RUN_STOPPED;
    }
    let own = u8::try_from(report.exit_code).unwrap_or(255);
    // A run that was cut short is never a clean one, whatever the command said.
    if report.interrupted && own == 0 {
        return EXIT_RUN_INTERRUPTED;
    }
    let fails = args.fail_on.iter().any(|f| match f {
        FailOn::All => !report.findings.is_empty(),
        FailOn::Leak => report.has(Category::Leak),
        FailOn::Hang => report.has(Category::Hang),
        FailOn::Warning => report.has(Category::Warning),
        FailOn::Error => report.has(Category::Error),
    });
    if own == 0 && fails {
        EXIT_RUN_FINDINGS
    } else {
        own
    }
}

/// Inspects shared memory, and cleans it with `--clean`. Exit 1 when leaks remain.
fn shm(args: &ShmArgs, out: &mut dyn Write) -> Result<(u8, io::Result<()>), String> {
    let user = match &args.user {
        None => None,
        Some(u) => Some(shm::uid_of(u).ok_or_else(|| format!("unknown user `{u}`"))?),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let options = shm::Options {
        dir: args.dir.clone(),
        proc_root: args.proc_root.clone(),
        min_age: args.min_age,
        user,
        origins: args.origin.clone(),
        verdicts: args.verdict.clone(),
        disregard: args.disregard.clone(),
        now,
    };
    let report = shm::inspect(&options).map_err(|e| e.to_string())?;
    let actions = if args.clean {
        let clean = shm::clean::CleanOptions {
            yes: args.yes,
            include_dirs: args.include_dirs,
            any_user: args.any_user,
        };
        let mut actions = shm::clean::clean(&report.items, &options, clean)
            .map_err(|e| format!("cannot open {}: {e}", args.dir.display()))?;
        actions.extend(shm::clean::clean_sysv(&report.sysv, clean));
        actions
    } else {
        Vec::new()
    };
    let leaked = report.leaked_count();
    let removed = actions
        .iter()
        .filter(|a| matches!(a.outcome, "removed" | "gone"))
        .count();
    if let Some(path) = &args.prometheus {
        // Metrics describe the state after cleaning, and every entry whatever the filters.
        let all = shm::Options {
            user: None,
            origins: Vec::new(),
            verdicts: Vec::new(),
            ..options.clone()
        };
        let state = shm::inspect(&all).map_err(|e| e.to_string())?;
        shm::output::write_prometheus(&state, path).map_err(|e| e.to_string())?;
    }
    let code = if leaked > removed {
        EXIT_FINDINGS
    } else if report.likely_leaked().next().is_some() {
        EXIT_LIKELY_LEAKED
    } else {
        EXIT_CLEAN
    };
    let written = (|| {
        if args.json {
            let doc = serde_json::json!({ "report": report, "clean": actions });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        } else {
            shm::output::table(&report, out)?;
            for a in actions.iter().filter(|a| a.outcome != "in-use") {
                writeln!(out, "{}: {} ({})", a.outcome, a.name, a.reason)?;
            }
            let in_use = actions.iter().filter(|a| a.outcome == "in-use").count();
            if in_use > 0 {
                writeln!(
                    out,
                    "in use, not touched: {in_use} entr{}",
                    if in_use == 1 { "y" } else { "ies" }
                )?;
            }
        }
        Ok(())
    })();
    Ok((code, written))
}

/// Runs a check; the exit code is decided before anything is written.
fn check(args: &CheckArgs, out: &mut dyn Write) -> Result<(u8, io::Result<()>), check::UsageError> {
    let settings = CheckSettings::from_args(args)?;
    let outcome = check::run(settings)?;
    let found = if args.diff {
        outcome.reports.iter().any(|r| r.diff.is_some())
    } else {
        outcome.reports.iter().any(|r| r.fails())
    };
    let code = if found && !args.exit_zero {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    };
    Ok((code, render(args, &outcome, out)))
}

fn render(args: &CheckArgs, outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
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
        out.write_all(fixed)?;
        for report in &outcome.reports {
            if let Some(note) = &report.fix_note {
                let _ = writeln!(io::stderr(), "mpdoctor: {note}");
            }
        }
        return Ok(());
    }
    if args.statistics {
        return output::statistics(outcome, out, options);
    }
    if args.diff {
        for report in &outcome.reports {
            if let Some(diff) = &report.diff {
                out.write_all(diff.as_bytes())?;
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
        return Ok(());
    }
    if args.quiet && args.output_format == OutputFormat::Full {
        // Quiet: the findings in their short form, without the summary.
        return output::render(OutputFormat::Concise, outcome, out, options);
    }
    output::render(args.output_format, outcome, out, options)?;
    if args.output_format == OutputFormat::Concise && !args.quiet {
        output::summary(outcome, out, options)?;
    }
    Ok(())
}
