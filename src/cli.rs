//! The command line, in two steps: clap parses raw flags ([`Cli`]), then [`CheckSettings`]
//! validates them into ready-to-use settings before any work starts.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::codes::Selector;
use crate::semantic::mp::StartMethod;

#[derive(Debug, Parser)]
#[command(
    name = "mpdoctor",
    version,
    about = "Finds multiprocessing, ProcessPoolExecutor and shared_memory bugs in Python code",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check Python files for multiprocessing pitfalls.
    Check(CheckArgs),
    /// Explain one rule.
    Rule(RuleArgs),
    /// List all rules.
    Rules(RulesArgs),
    /// Inspect shared memory, POSIX (/dev/shm) and System V: who holds each entry, who
    /// made it, what leaked.
    #[command(
        long_about = "Inspect shared memory, POSIX and System V: who holds each entry, who made \
                      it, what leaked.\n\n\
                      POSIX shared memory is the files in --dir (/dev/shm): \
                      multiprocessing.shared_memory segments (psm_*), semaphores (sem.*), \
                      joblib and loky folders, torch's and others'. An entry is leaked when no \
                      process holds or maps it and it is older than --min-age. System V \
                      segments (shmget(), `ipcs -m`) are read from /proc/sysvipc/shm: one that \
                      nobody has attached, whose creator and last user are gone and that has \
                      no key, is leaked. --clean --yes removes leaked entries of both kinds \
                      (System V through IPC_RMID), each checked again first; nothing else is \
                      ever removed, and symbolic links are never followed."
    )]
    Shm(ShmArgs),
    /// Run a command and report the shared memory it leaks, hangs at exit and
    /// multiprocessing warnings.
    Run(RunArgs),
    /// Print the completion script for a shell.
    Completions(CompletionsArgs),
    /// Write the man pages (mpdoctor.1 and one page per subcommand) into a folder.
    Manpages(ManpagesArgs),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Install, for example:\n  \
    bash: mpdoctor completions bash > ~/.local/share/bash-completion/completions/mpdoctor\n  \
    zsh:  mpdoctor completions zsh > ~/.zfunc/_mpdoctor  (with fpath+=(~/.zfunc) before compinit)\n  \
    fish: mpdoctor completions fish > ~/.config/fish/completions/mpdoctor.fish")]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManpagesArgs {
    /// The folder to write the pages into (created if missing), e.g.
    /// `~/.local/share/man/man1`.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    /// A summary on standard error.
    Human,
    /// The whole report as JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions annotations.
    Github,
}

/// What `--fail-on` can turn into a failing exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Leak,
    Hang,
    Warning,
    Error,
    All,
}

#[derive(Debug, clap::Args)]
#[command(
    override_usage = "mpdoctor run [OPTIONS] -- <COMMAND>...",
    after_help = "Exit codes: the command's own (128+N when signal N ended it); 124 when \
                  mpdoctor stopped a hung run; 3 when the command exited 0 but --fail-on \
                  matched; 125 mpdoctor could not start; 126 the command cannot run; 127 it \
                  was not found."
)]
pub struct RunArgs {
    /// Stop and report the run when a program's main thread has finished but the
    /// process has not exited this many seconds later, or when processes outlive the
    /// command by this long (default for the latter: 10).
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub hang_timeout: Option<std::time::Duration>,

    /// Stop and report the run when the command runs longer than this.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<std::time::Duration>,

    /// Change the default start method of every Python program in the run.
    #[arg(long, value_name = "METHOD", value_parser = parse_method)]
    pub start_method: Option<StartMethod>,

    /// Exit with 3 when the command succeeded but the run found these (leak, hang,
    /// warning, error, all).
    #[arg(long, value_delimiter = ',', value_enum, value_name = "KIND")]
    pub fail_on: Vec<FailOn>,

    /// The report's format.
    #[arg(long, value_enum, default_value_t = RunFormat::Human)]
    pub output_format: RunFormat,

    /// Same as --output-format json.
    #[arg(long, conflicts_with = "output_format")]
    pub json: bool,

    /// Write the report to FILE (`-`: standard output). Without it, the report goes to
    /// standard error after the command's own output, so the command's standard output
    /// stays its own; `github` goes to standard output, where the runner reads workflow
    /// commands.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// List every new entry the run is not blamed for (one line sums them up otherwise).
    #[arg(short, long)]
    pub verbose: bool,

    /// The shared-memory directory to watch.
    #[arg(long, default_value = "/dev/shm", value_name = "DIR")]
    pub shm_dir: PathBuf,

    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 nothing leaked (or every leak removed); 1 leaks; \
                        2 an error; 3 nothing is proven leaked but some entries are \
                        likely-leaked."
)]
pub struct ShmArgs {
    /// The shared-memory directory to scan.
    #[arg(long, default_value = "/dev/shm", value_name = "DIR")]
    pub dir: PathBuf,

    /// The process table to read holders from.
    #[arg(long = "proc", default_value = "/proc", value_name = "DIR")]
    pub proc_root: PathBuf,

    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also write metrics in the Prometheus textfile-collector format to FILE.
    #[arg(long, value_name = "FILE")]
    pub prometheus: Option<PathBuf>,

    /// Only entries owned by this user (name or uid).
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// Only entries of these origins (python-shared-memory, python-semaphore, loky, ...).
    #[arg(long, value_delimiter = ',', value_name = "ORIGIN")]
    pub origin: Vec<crate::shm::origin::Origin>,

    /// Only entries with these verdicts (in-use, leaked, likely-leaked, unknown).
    #[arg(long, value_delimiter = ',', value_name = "VERDICT")]
    pub verdict: Vec<crate::shm::Verdict>,

    /// Seconds an entry nobody holds must have existed before it counts as leaked.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub min_age: i64,

    /// Processes that cannot be read and that you know hold nothing here (a VM's init,
    /// root's daemons): entries only they could hold count as leaked, and --clean may
    /// remove them.
    #[arg(long, value_delimiter = ',', value_name = "PID")]
    pub disregard: Vec<i32>,

    /// Remove leaked entries, POSIX and System V (only prints what it would remove
    /// without --yes); every entry it leaves is listed with the reason.
    #[arg(long)]
    pub clean: bool,

    /// With --clean: really remove.
    #[arg(long, requires = "clean")]
    pub yes: bool,

    /// With --clean: also remove leaked directories with their contents.
    #[arg(long, requires = "clean")]
    pub include_dirs: bool,

    /// With --clean, as root: also remove other users' entries.
    #[arg(long, requires = "clean")]
    pub any_user: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Rich report with the source snippet, the reason and the fix.
    Full,
    /// One line per finding: `path:line:col: CODE message`.
    Concise,
    /// A JSON array of findings (1-based lines and columns, fixes included).
    Json,
    /// One JSON object per line.
    JsonLines,
    /// SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.
    Sarif,
    /// GitHub Actions workflow commands (annotations on the pull request).
    Github,
    /// JUnit XML, for CI systems that show test reports.
    Junit,
    /// GitLab CI code quality report (JSON), for merge request widgets.
    Gitlab,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit codes: 0 nothing fails the run; 1 findings at or above --fail-on \
                        (errors by default: warnings are printed but do not fail; with \
                        --diff: changes to show); 2 an error (a missing path, a bad flag, a \
                        broken configuration)."
)]
pub struct CheckArgs {
    /// Files or directories to check; `-` reads from standard input. Default: `.`.
    pub paths: Vec<PathBuf>,

    /// Rules to enable: codes, prefixes (`MP`), `ALL`, or `NEW-DEFAULT` (the rules whose
    /// bugs appear only without fork). Overrides the configuration.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub select: Option<Vec<Selector>>,

    /// Rules to disable. Overrides the configuration.
    #[arg(long, value_delimiter = ',', value_name = "RULE")]
    pub ignore: Option<Vec<Selector>>,

    /// More glob patterns to exclude, on top of the defaults and the configuration.
    #[arg(long, value_delimiter = ',', value_name = "PATTERN")]
    pub extend_exclude: Vec<String>,

    /// Start methods the code must work under. Default: all the target versions can use.
    #[arg(long, value_delimiter = ',', value_name = "METHOD", value_parser = parse_method)]
    pub start_methods: Option<Vec<StartMethod>>,

    /// The oldest Python version to support (py38 ... py314).
    #[arg(long, value_name = "VERSION")]
    pub target_version: Option<String>,

    /// Apply the excludes also to files named on the command line, as pre-commit and
    /// editors name them.
    #[arg(long)]
    pub force_exclude: bool,

    /// Use this configuration file instead of discovering `pyproject.toml`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// How to print findings.
    #[arg(long, value_enum, default_value_t = OutputFormat::Full, env = "MPDOCTOR_OUTPUT_FORMAT")]
    pub output_format: OutputFormat,

    /// Print a count of findings per rule, and how many files were read, analysed and
    /// passed over.
    #[arg(long)]
    pub statistics: bool,

    /// Parse and analyse every file, also those that name no process-starting library
    /// and import nothing of the project that does (slower; they have nothing to find,
    /// but their syntax errors are then reported too).
    #[arg(long)]
    pub no_prefilter: bool,

    /// Exit with 1 on findings of this severity or worse: `error` (the default; warnings
    /// are printed but do not fail) or `warning` (any finding fails).
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<crate::diagnostics::Severity>,

    /// Exit with 0 even when there are findings.
    #[arg(long)]
    pub exit_zero: bool,

    /// Print findings only, no summary.
    #[arg(long, short)]
    pub quiet: bool,

    /// When to use colour (default: when writing to a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Apply safe fixes.
    #[arg(long)]
    pub fix: bool,

    /// Also apply unsafe fixes (with --fix or --diff), or show them as available.
    #[arg(long)]
    pub unsafe_fixes: bool,

    /// Print the fixes as a unified diff and change nothing.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,

    /// The file name to use for standard input (for configuration and messages).
    #[arg(long, value_name = "PATH")]
    pub stdin_filename: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// A rule code (`MP001`) or name (`missing-main-guard`).
    pub rule: crate::codes::RuleCode,

    #[arg(long, value_enum, default_value_t = DocFormat::Text)]
    pub output_format: DocFormat,
}

#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[arg(long, value_enum, default_value_t = DocFormat::Text)]
    pub output_format: DocFormat,
}

fn parse_seconds(s: &str) -> Result<std::time::Duration, String> {
    let seconds: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("`{s}`: expected a positive number of seconds"));
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

fn parse_method(s: &str) -> Result<StartMethod, String> {
    StartMethod::parse(s)
        .ok_or_else(|| format!("unknown start method `{s}` (expected spawn, forkserver or fork)"))
}
