//! `mpdoctor check`: from validated settings to per-file reports.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::iter::Either;
use rayon::prelude::*;

use crate::cli::CheckArgs;
use crate::codes::{RuleCode, Selector};
use crate::config::{self, Config, ConfigError, PythonVersion, Resolver};
use crate::diagnostics::{Code, Diagnostic, Severity};
use crate::discover::{self, Found};
use crate::fix::FixMode;
use crate::linter::{self, LintSettings, Need};
use crate::paths::display_path;
use crate::rules::RuleSettings;
use crate::semantic::mp::MethodSet;
use crate::semantic::project::Project;
use crate::source::{self, SourceFile};

/// Everything wrong with the invocation itself; exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("path does not exist: {}", .0.display())]
    MissingPath(PathBuf),
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("invalid exclude pattern: {0}")]
    Glob(#[from] globset::Error),
    #[error("invalid --target-version: {0}")]
    TargetVersion(String),
    #[error("`-` (standard input) cannot be combined with other paths")]
    StdinWithPaths,
    #[error("cannot read standard input: {0}")]
    Stdin(std::io::Error),
}

/// What happened to one file.
#[derive(Debug)]
pub struct FileReport {
    pub path: PathBuf,
    /// The checked text (after fixes), kept only when the output needs it: findings or
    /// fixes. Memory does not grow with the number of clean files.
    pub source: Option<Arc<SourceFile>>,
    pub diagnostics: Vec<Diagnostic>,
    /// Findings addressed by fixes that were applied (or shown by `--diff`).
    pub fixed: usize,
    /// The unified diff of the fixes, with `--diff`.
    pub diff: Option<String>,
    /// Why fixing stopped or writing failed, if it did.
    pub fix_note: Option<String>,
    /// The least severity that fails the run, under the configuration of this file.
    pub fail_on: Severity,
    /// Whether it was parsed and analysed (else the pre-filter, or an error, passed it by).
    pub analysed: bool,
}

impl FileReport {
    /// Whether a finding here fails the check (exit code 1).
    pub fn fails(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity().fails(self.fail_on))
    }
}

/// The outcome of a check run.
#[derive(Debug)]
pub struct Outcome {
    pub reports: Vec<FileReport>,
    /// With `--fix` on standard input: the bytes to print instead of findings.
    pub stdin_fixed: Option<Vec<u8>>,
}

impl Outcome {
    pub fn diagnostics(&self) -> impl Iterator<Item = (&FileReport, &Diagnostic)> {
        self.reports
            .iter()
            .flat_map(|r| r.diagnostics.iter().map(move |d| (r, d)))
    }
}

/// Validated settings for a run.
pub struct CheckSettings {
    paths: Vec<PathBuf>,
    stdin: bool,
    stdin_filename: Option<PathBuf>,
    select: Option<Vec<Selector>>,
    ignore: Option<Vec<Selector>>,
    start_methods: Option<MethodSet>,
    target_version: Option<PythonVersion>,
    fail_on: Option<Severity>,
    excludes: globset::GlobSet,
    /// Files named on the command line are excluded too (pre-commit passes every file).
    force_exclude: bool,
    resolver: Resolver,
    pub fix_mode: Option<FixMode>,
    pub diff: bool,
    /// What the other modules of the project do, shared by all files.
    project: Arc<Project>,
    prefilter: bool,
}

impl CheckSettings {
    pub fn from_args(args: &CheckArgs) -> Result<Self, UsageError> {
        let stdin = args.paths.iter().any(|p| p.as_os_str() == "-");
        if stdin && args.paths.len() > 1 {
            return Err(UsageError::StdinWithPaths);
        }
        let paths = if args.paths.is_empty() {
            vec![PathBuf::from(".")]
        } else {
            args.paths.clone()
        };
        if !stdin {
            for p in &paths {
                if p.symlink_metadata().is_err() {
                    return Err(UsageError::MissingPath(p.clone()));
                }
            }
        }
        let target_version = args
            .target_version
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(UsageError::TargetVersion)?;
        let fix_mode = match (args.fix || args.diff, args.unsafe_fixes) {
            (false, _) => None,
            (true, false) => Some(FixMode::SafeOnly),
            (true, true) => Some(FixMode::IncludeUnsafe),
        };
        Ok(Self {
            paths,
            stdin,
            stdin_filename: args.stdin_filename.clone(),
            select: args.select.clone(),
            ignore: args.ignore.clone(),
            start_methods: args
                .start_methods
                .as_ref()
                .map(|m| m.iter().copied().collect()),
            target_version,
            fail_on: args.fail_on,
            excludes: discover::exclude_set(&args.extend_exclude)?,
            force_exclude: args.force_exclude,
            resolver: Resolver::new(args.config.as_deref())?,
            fix_mode,
            diff: args.diff,
            project: Arc::default(),
            prefilter: !args.no_prefilter,
        })
    }

    /// What fails the run for one file: the command line, else its configuration.
    fn fail_on(&self, config: Option<&Config>) -> Severity {
        self.fail_on
            .or_else(|| config.and_then(|c| c.options.fail_on))
            .unwrap_or(Severity::Error)
    }

    /// The lint settings for one file under the configuration that applies to it.
    fn lint_settings(&self, config: Option<&Config>, file: &Path) -> LintSettings {
        let options = config.map(|c| &c.options);
        // Layers as in ruff: the configuration, then the command line. A layer's `select`
        // starts the set afresh; its `ignore` removes from whatever the set is.
        let layers = [
            (
                options.and_then(|o| o.select.as_deref()),
                options.and_then(|o| o.ignore.as_deref()),
            ),
            (self.select.as_deref(), self.ignore.as_deref()),
        ];
        let per_file = config.map(|c| c.per_file_ignores(file)).unwrap_or_default();
        let rules = RuleCode::ALL
            .iter()
            .copied()
            .filter(|&code| {
                let mut enabled = true;
                for (select, ignore) in layers {
                    let ignore = ignore.unwrap_or_default();
                    enabled = match select {
                        Some(select) => config::is_enabled(code, select, ignore),
                        None => enabled && !ignore.iter().any(|s| s.matches(code)),
                    };
                }
                enabled && !per_file.iter().any(|s| s.matches(code))
            })
            .collect();
        let target = self
            .target_version
            .or_else(|| options.and_then(|o| o.target_version))
            .unwrap_or(PythonVersion::OLDEST);
        let start_methods = self
            .start_methods
            .or_else(|| {
                options
                    .and_then(|o| o.start_methods.as_ref())
                    .map(|m| m.iter().copied().collect())
            })
            .unwrap_or_else(|| target.default_start_methods());
        LintSettings {
            rules,
            rule_settings: RuleSettings {
                start_methods,
                target,
            },
            project: self.project.clone(),
            prefilter: self.prefilter,
        }
    }

    /// Under `--force-exclude`, whether a path named on the command line (or standard
    /// input's `--stdin-filename`) is excluded: by a configuration's `extend-exclude`, or by
    /// the default and `--extend-exclude` patterns on its path below the working directory
    /// (only on its name when it lies elsewhere, so folders above the project never count).
    fn force_excluded(&mut self, path: &Path) -> Result<bool, UsageError> {
        if !self.force_exclude {
            return Ok(false);
        }
        if self.resolver.excludes(path)? {
            return Ok(true);
        }
        let cwd = std::env::current_dir().unwrap_or_default();
        Ok(match crate::paths::relative_to(path, &cwd) {
            Some(relative) => crate::config::matches_path_or_parents(&self.excludes, &relative),
            None => path.file_name().is_some_and(|n| self.excludes.is_match(n)),
        })
    }
}

/// Runs the check. Usage errors come back before any file is read.
pub fn run(mut settings: CheckSettings) -> Result<Outcome, UsageError> {
    if settings.stdin {
        return run_stdin(&mut settings);
    }
    // `--force-exclude` drops excluded folders named on the command line too.
    let mut roots = Vec::new();
    for path in std::mem::take(&mut settings.paths) {
        if !(path.is_dir() && settings.force_excluded(&path)?) {
            roots.push(path);
        }
    }
    settings.paths = roots;
    let found = discover::discover(&settings.paths, &settings.excludes)
        .map_err(|m| UsageError::MissingPath(m.0))?;

    // Resolve configurations first: a broken one stops the run before any work.
    let mut jobs = Vec::new();
    let mut errors = Vec::new();
    for item in found {
        match item {
            Found::File { path, explicit } => {
                let config = settings.resolver.for_file(&path)?;
                if !explicit && settings.resolver.excludes(&path)? {
                    continue;
                }
                if explicit && settings.force_excluded(&path)? {
                    continue;
                }
                let lint = settings.lint_settings(config.as_deref(), &path);
                let fail_on = settings.fail_on(config.as_deref());
                jobs.push((path, lint, fail_on));
            }
            Found::Error { path, message } => errors.push(io_report(path, message)),
        }
    }

    let fix_mode = settings.fix_mode;
    let diff = settings.diff;
    // Every file is checked before any is written: the cross-module analysis reads the
    // project from disk, and must see the same project for every file.
    // First every file is read once, and judged by its own text; its import lines are
    // kept. Then the files to analyse are checked, the largest first, and the files whose
    // text had nothing for the analysis are decided by what they import, which is known
    // by then without reading any file twice. One queue, taken in order by every thread,
    // keeps both threads busy to the end.
    let (read, mut work): (Vec<Checked>, Vec<Work>) = with_big_stacks(|| {
        jobs.into_par_iter()
            .partition_map(|(path, lint, fail_on)| match first_look(&path, &lint) {
                Look::Unreadable(message) => {
                    let report = io_report(path, message);
                    Either::Left((FileReport { fail_on, ..report }, None, lint))
                }
                Look::Analyse(size) => Either::Right((Some(size), (path, lint, fail_on))),
                Look::Wait => Either::Right((None, (path, lint, fail_on))),
            })
    });
    // Analyses first, largest first; then the decisions (`None`), which are small.
    work.sort_by_key(|(size, _)| std::cmp::Reverse(*size));
    let mut checked: Vec<Checked> = with_big_stacks(|| {
        work.into_iter()
            .par_bridge()
            .map(|(size, (path, lint, fail_on))| {
                let analyse = size.is_some() || linter::imports_may_start(&path, &lint);
                let (report, original) = if analyse {
                    check_path(path, &lint, fix_mode, diff)
                } else {
                    (passed_over(path), None)
                };
                (FileReport { fail_on, ..report }, original, lint)
            })
            .collect()
    });
    checked.extend(read);
    let mut reports: Vec<FileReport> = with_big_stacks(|| {
        checked
            .into_par_iter()
            .map(|(report, original, lint)| write_fixed(report, original, &lint, fix_mode, diff))
            .collect()
    });
    reports.extend(errors);
    reports.sort_by(|a, b| a.path.cmp(&b.path));
    // The project's caches hold something of every file read: freeing them took 3% of a
    // run on one thread at its end, and nothing needs to wait for it. (When no thread can
    // be started, they are freed here.)
    let project = std::mem::take(&mut settings.project);
    let _ = std::thread::Builder::new().spawn(move || drop(project));
    Ok(Outcome {
        reports,
        stdin_fixed: None,
    })
}

fn run_stdin(settings: &mut CheckSettings) -> Result<Outcome, UsageError> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(UsageError::Stdin)?;
    let path = settings
        .stdin_filename
        .clone()
        .unwrap_or_else(|| PathBuf::from("-"));
    if settings.stdin_filename.is_some() && settings.force_excluded(&path)? {
        // Excluded: nothing to report, and under `--fix` the input goes back unchanged,
        // as an editor expects.
        return Ok(Outcome {
            reports: Vec::new(),
            stdin_fixed: (settings.fix_mode.is_some() && !settings.diff).then_some(bytes),
        });
    }
    let config = settings.resolver.for_file(&path)?;
    let lint = settings.lint_settings(config.as_deref(), &path);
    let decoded = match source::decode(bytes.clone()) {
        Ok(d) => d,
        Err(e) => {
            return Ok(Outcome {
                reports: vec![io_report(path, e.to_string())],
                stdin_fixed: None,
            });
        }
    };
    let (fix_mode, diff) = (settings.fix_mode, settings.diff);
    let mut report = if linter::needs_analysis(&decoded.text, &path, &lint) {
        let source = decoded.into_source(path.clone());
        with_big_stacks(|| lint_or_fix(&source, &lint, fix_mode, diff))
    } else {
        passed_over(path.clone())
    };
    report.fail_on = settings.fail_on(config.as_deref());
    // Unchanged input goes back byte for byte (whatever its encoding).
    let stdin_fixed = match (settings.fix_mode, settings.diff, &report.source) {
        (Some(_), false, Some(fixed)) if report.fixed > 0 => Some(encoded(fixed)),
        (Some(_), false, _) => Some(bytes),
        _ => None,
    };
    report.path = path;
    Ok(Outcome {
        reports: vec![report],
        stdin_fixed,
    })
}

/// Stack for the threads that parse and lint. The parser grows its own stack, but freeing
/// a deeply nested tree recurses; generated files nest thousands of levels deep. Only the
/// pages a thread touches are committed, so the reservation costs nothing otherwise.
const STACK_SIZE: usize = 512 << 20;

fn with_big_stacks<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match rayon::ThreadPoolBuilder::new()
        .stack_size(STACK_SIZE)
        .build()
    {
        Ok(pool) => pool.install(f),
        // Without a pool of our own, the global one still does the work.
        Err(_) => f(),
    }
}

fn io_report(path: PathBuf, message: String) -> FileReport {
    FileReport {
        diagnostics: vec![Diagnostic::new(
            Code::IoError,
            crate::ast::Range::default(),
            message,
            "",
        )],
        ..passed_over(path)
    }
}

/// A file the pre-filter passed over: read, with nothing to find.
fn passed_over(path: PathBuf) -> FileReport {
    FileReport {
        path,
        source: None,
        diagnostics: Vec::new(),
        fixed: 0,
        diff: None,
        fix_note: None,
        fail_on: Severity::Error,
        analysed: false,
    }
}

/// A file of a run, its settings, and the severity that fails the run.
type Job = (PathBuf, LintSettings, Severity);

/// A file to analyse (with its size) or to decide later (`None`).
type Work = (Option<u64>, Job);

/// A checked file's report, its original text when a fix is to be written, its settings.
type Checked = (FileReport, Option<SourceFile>, LintSettings);

/// What a file's first reading found.
enum Look {
    Unreadable(String),
    /// Its text needs the analysis; its size in bytes.
    Analyse(u64),
    /// Its text alone has nothing for the analysis; the project decides later.
    Wait,
}

fn first_look(path: &Path, lint: &LintSettings) -> Look {
    match source::read(path) {
        Err(e) => Look::Unreadable(e.to_string()),
        Ok(decoded) => match linter::needs_analysis_alone(&decoded.text, path, lint) {
            Need::Analysis => Look::Analyse(decoded.text.len() as u64),
            Need::ProjectSays => Look::Wait,
        },
    }
}

/// Reads and checks a file that needs the analysis. It is read again: keeping the text
/// of every such file from the first reading would hold all of them at once.
fn check_path(
    path: PathBuf,
    lint: &LintSettings,
    fix_mode: Option<FixMode>,
    diff: bool,
) -> (FileReport, Option<SourceFile>) {
    match source::read(&path) {
        Ok(decoded) => check_decoded(path, decoded, lint, fix_mode, diff),
        Err(e) => (io_report(path, e.to_string()), None),
    }
}

/// The report, and the original text when a fix is to be written.
fn check_decoded(
    path: PathBuf,
    decoded: source::Decoded,
    lint: &LintSettings,
    fix_mode: Option<FixMode>,
    diff: bool,
) -> (FileReport, Option<SourceFile>) {
    let source = decoded.into_source(path);
    let report = lint_or_fix(&source, lint, fix_mode, diff);
    let write = fix_mode.is_some() && !diff && report.fixed > 0;
    (report, write.then_some(source))
}

/// Writes a fixed file; when that fails, the report is the original's again.
fn write_fixed(
    mut report: FileReport,
    original: Option<SourceFile>,
    lint: &LintSettings,
    fix_mode: Option<FixMode>,
    diff: bool,
) -> FileReport {
    let write = fix_mode.is_some() && !diff && report.fixed > 0;
    if let Some(fixed) = report.source.as_ref().filter(|_| write)
        && let Some(source) = original
        && let Err(e) = write_atomically(&report.path, &encoded(fixed))
    {
        // Nothing was changed: report the original findings again.
        report.fix_note = Some(format!("could not write the fixed file: {e}"));
        report.diagnostics = linter::lint(&source, lint);
        report.source = Some(Arc::new(source));
        report.fixed = 0;
    }
    report
}

fn lint_or_fix(
    source: &SourceFile,
    lint: &LintSettings,
    fix_mode: Option<FixMode>,
    diff: bool,
) -> FileReport {
    let mut report = analyse(source, lint, fix_mode, diff);
    if report.diagnostics.is_empty() && report.fixed == 0 {
        report.source = None;
    }
    report
}

fn analyse(
    source: &SourceFile,
    lint: &LintSettings,
    fix_mode: Option<FixMode>,
    diff: bool,
) -> FileReport {
    // Rewriting a file in another encoding would need it re-encoded: leave it as it is.
    let Some(mode) = fix_mode.filter(|_| source.encoding.is_none()) else {
        let diagnostics = linter::lint(source, lint);
        let fixable = fix_mode.is_some_and(|m| {
            diagnostics
                .iter()
                .any(|d| d.fix.as_ref().is_some_and(|f| m.allows(f.applicability)))
        });
        return FileReport {
            path: source.path.clone(),
            diagnostics,
            source: Some(Arc::new(source.clone())),
            fixed: 0,
            diff: None,
            fail_on: Severity::Error,
            analysed: true,
            fix_note: fixable.then(|| {
                format!(
                    "not fixed: the file is encoded in {}, and fixes are written only to UTF-8 files",
                    source.encoding.as_deref().unwrap_or("another encoding")
                )
            }),
        };
    };
    let fixed = linter::fix(source, lint, mode);
    let changed = fixed.text != source.text;
    let diff_text =
        (diff && changed).then(|| unified_diff(&source.path, &source.text, &fixed.text));
    // With --diff nothing is written: the findings shown are those of the original.
    let (text, diagnostics) = if diff {
        (source.text.clone(), linter::lint(source, lint))
    } else {
        (fixed.text, fixed.remaining)
    };
    FileReport {
        path: source.path.clone(),
        source: Some(Arc::new(source.with_text(text))),
        diagnostics,
        fixed: if changed { fixed.fixed } else { 0 },
        diff: diff_text,
        fix_note: fixed.refused,
        fail_on: Severity::Error,
        analysed: true,
    }
}

pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let name = display_path(path);
    let name = name.trim_start_matches('/');
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

/// Writes through a temporary file in the same directory and renames it into place, so a
/// crash never leaves a half-written file. Permissions are kept.
/// The bytes to write for a fixed file: UTF-8, with the byte-order mark it came with.
fn encoded(source: &SourceFile) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(source.text.len() + 3);
    if source.bom {
        bytes.extend_from_slice(b"\xef\xbb\xbf");
    }
    bytes.extend_from_slice(source.text.as_bytes());
    bytes
}

fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    // Write where a link points, never replace the link itself.
    let path = &std::fs::canonicalize(path)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let permissions = std::fs::metadata(path)?.permissions();
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(text)?;
    tmp.as_file().sync_all()?;
    tmp.as_file().set_permissions(permissions)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
