//! Rendering findings. One file per format; all of them read the same [`Outcome`].

mod concise;
mod full;
pub mod github;
mod gitlab;
mod json;
mod junit;
pub mod sarif;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;

use crate::check::{FileReport, Outcome};
use crate::cli::OutputFormat;
use crate::diagnostics::{Applicability, Code, Diagnostic, Severity};
use crate::fix::FixMode;
use crate::source::Location;

#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    /// Which fixes `--fix` would apply in this run (for the `[*]` markers and summary).
    pub fix_mode: FixMode,
}

pub fn render(
    format: OutputFormat,
    outcome: &Outcome,
    out: &mut dyn Write,
    options: RenderOptions,
) -> io::Result<()> {
    match format {
        OutputFormat::Full => full::render(outcome, out, options),
        OutputFormat::Concise => concise::render(outcome, out, options),
        OutputFormat::Json => json::render(outcome, out, false),
        OutputFormat::JsonLines => json::render(outcome, out, true),
        OutputFormat::Sarif => sarif::render(outcome, out),
        OutputFormat::Github => github::render(outcome, out),
        OutputFormat::Junit => junit::render(outcome, out),
        OutputFormat::Gitlab => gitlab::render(outcome, out),
    }
}

/// Start and end of a finding, 1-based; files that could not be read point at 1:1.
pub fn span(report: &FileReport, d: &Diagnostic) -> (Location, Location) {
    match &report.source {
        Some(s) => (s.location(d.range.start), s.location(d.range.end)),
        None => {
            let start = Location { line: 1, column: 1 };
            (start, start)
        }
    }
}

/// One fingerprint per finding, in the order of [`Outcome::diagnostics`]: the rule, where
/// the format says the file is (`location`: a URI, a repository path), and the trimmed
/// text of the line, numbered when they repeat. Code review tools (GitHub code scanning,
/// GitLab code quality) use it to follow a finding while lines above it are added or
/// removed, so it must not depend on how the path was spelled on the command line.
pub fn fingerprints(outcome: &Outcome, location: impl Fn(&Path) -> String) -> Vec<String> {
    let mut occurrences: BTreeMap<(String, u64), usize> = BTreeMap::new();
    outcome
        .diagnostics()
        .map(|(report, d)| {
            let (start, _) = span(report, d);
            let place = location(&report.path);
            let line_text = report
                .source
                .as_ref()
                .map(|s| {
                    s.index
                        .line_text(&s.text, start.line as usize - 1)
                        .trim()
                        .to_string()
                })
                .unwrap_or_default();
            let hash = fnv1a(&format!("{}\0{place}\0{line_text}", d.code.as_str()));
            let n = occurrences.entry((place, hash)).or_insert(0);
            *n += 1;
            format!("{hash:016x}:{n}")
        })
        .collect()
}

/// A file's path below `base`, with forward slashes, or `None` when it lies elsewhere.
pub fn relative_to(path: &Path, base: &Path) -> Option<String> {
    crate::paths::relative_to(path, base).map(|p| display_path(&p))
}

/// FNV-1a: tiny, stable across platforms and releases, which fingerprints need.
pub fn fnv1a(s: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub use crate::paths::display_path;

pub fn fix_applies(d: &Diagnostic, mode: FixMode) -> bool {
    d.fix.as_ref().is_some_and(|f| mode.allows(f.applicability))
}

/// The closing lines of the human formats: counts, what `--fix` would do, and why
/// fixing stopped where it did.
pub fn summary(outcome: &Outcome, out: &mut dyn Write, options: RenderOptions) -> io::Result<()> {
    for report in &outcome.reports {
        if let Some(note) = &report.fix_note {
            writeln!(out, "{}: {note}", display_path(&report.path))?;
        }
    }
    let fixed: usize = outcome.reports.iter().map(|r| r.fixed).sum();
    let total = outcome.diagnostics().count();
    let fixable = outcome
        .diagnostics()
        .filter(|(_, d)| fix_applies(d, options.fix_mode))
        .count();
    let hidden = outcome
        .diagnostics()
        .filter(|(_, d)| {
            options.fix_mode == FixMode::SafeOnly
                && d.fix
                    .as_ref()
                    .is_some_and(|f| f.applicability == Applicability::Unsafe)
        })
        .count();
    if total == 0 {
        if fixed > 0 {
            writeln!(
                out,
                "Found {fixed} finding{} ({fixed} fixed, 0 remaining).",
                plural(fixed)
            )?;
        } else {
            writeln!(out, "All checks passed!")?;
        }
        return Ok(());
    }
    let errors = outcome
        .diagnostics()
        .filter(|(_, d)| d.severity() == Severity::Error)
        .count();
    let kinds = match (errors, total - errors) {
        (e, 0) => format!("{e} error{}", plural(e)),
        (0, w) => format!("{w} warning{}", plural(w)),
        (e, w) => format!("{e} error{}, {w} warning{}", plural(e), plural(w)),
    };
    if fixed > 0 {
        writeln!(
            out,
            "Found {} finding{} ({fixed} fixed, {total} remaining: {kinds}).",
            total + fixed,
            plural(total + fixed)
        )?;
    } else {
        writeln!(out, "Found {total} finding{}: {kinds}.", plural(total))?;
    }
    let passing = outcome
        .diagnostics()
        .filter(|(r, d)| !d.severity().fails(r.fail_on))
        .count();
    if passing > 0 {
        writeln!(
            out,
            "{passing} warning{} do{} not fail the run (`--fail-on warning` makes {}).",
            plural(passing),
            if passing == 1 { "es" } else { "" },
            if passing == 1 { "it" } else { "them" }
        )?;
    }
    if fixable > 0 {
        let flag = match options.fix_mode {
            FixMode::SafeOnly => "--fix",
            FixMode::IncludeUnsafe => "--fix --unsafe-fixes",
        };
        writeln!(out, "[*] {fixable} fixable with `{flag}`.")?;
    }
    if hidden > 0 {
        writeln!(
            out,
            "{hidden} more fix{} available with `--unsafe-fixes` (they may change behaviour).",
            if hidden == 1 { " is" } else { "es are" }
        )?;
    }
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `--statistics`: findings per code, most frequent first.
pub fn statistics(
    outcome: &Outcome,
    out: &mut dyn Write,
    options: RenderOptions,
) -> io::Result<()> {
    let mut counts: BTreeMap<Code, (usize, usize)> = BTreeMap::new();
    for (_, d) in outcome.diagnostics() {
        let entry = counts.entry(d.code).or_default();
        entry.0 += 1;
        if fix_applies(d, options.fix_mode) {
            entry.1 += 1;
        }
    }
    let mut rows: Vec<_> = counts.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    for (code, (count, fixable)) in rows {
        let marker = if fixable > 0 { "[*]" } else { "[ ]" };
        writeln!(
            out,
            "{count:>5}\t{:<13}\t{marker} {}",
            code.as_str(),
            code.name()
        )?;
    }
    let read = outcome
        .reports
        .iter()
        .filter(|r| !r.diagnostics.iter().any(|d| d.code == Code::IoError))
        .count();
    let analysed = outcome.reports.iter().filter(|r| r.analysed).count();
    writeln!(
        out,
        "{read} file{} read: {analysed} analysed, {} passed over (no process-starting \
         library, lock or odd main guard in them, and nothing they import from the project \
         starts processes; --no-prefilter analyses them too)",
        plural(read),
        read - analysed
    )?;
    Ok(())
}
