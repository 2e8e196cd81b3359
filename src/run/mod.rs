//! `mpdoctor run -- COMMAND`: runs a command as a watchdog would, and reports what
//! multiprocessing left behind (shared memory, socket folders), hangs at exit, and the
//! resource tracker's warnings, each explained.
//!
//! The watchdog becomes a child subreaper, so every process of the run stays below it
//! even when its parent exits; it polls that tree ten times a second (and at once when
//! something appears in `/dev/shm`) and never leaves a process of it behind.

pub mod findings;
pub mod messages;
pub mod output;
pub mod signals;
pub mod tree;
pub mod watch;

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::semantic::mp::StartMethod;
pub use findings::{Category, Finding};
use messages::{Message, Scanner};
use tree::{Seen, Stuck};
use watch::{LeftBehind, Unattributed, Watch};

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub command: Vec<OsString>,
    /// How long a program may take to exit once its main thread has finished, and how
    /// long processes may outlive the command.
    pub hang_timeout: Option<Duration>,
    /// How long the whole command may run.
    pub timeout: Option<Duration>,
    pub start_method: Option<StartMethod>,
    pub shm_dir: PathBuf,
}

/// The command line shown for a process of the run that ended before the tree was read,
/// known from a mark of the hook (its own, or its parent's).
const UNSEEN: &str = "(a process that ended before mpdoctor read its command line)";

/// Processes that outlive the command get this long when `--hang-timeout` is not given:
/// enough for resource trackers, which exit as soon as their program is gone.
pub const DEFAULT_LEFTOVER_GRACE: Duration = Duration::from_secs(10);
/// After an interrupt, how long the tree gets to exit before it is stopped.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);
const TICK: Duration = Duration::from_millis(100);

/// Why the watchdog stopped the tree.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Trigger {
    /// A program's main thread finished, and the process was still alive this long after.
    ExitHang { pid: i32, seconds: f64 },
    /// The command exited, and processes of the run were still alive this long after.
    Outlived { seconds: f64 },
    /// `--timeout` passed.
    Timeout { seconds: f64 },
    /// While the command ran, every process of the run was asleep in a blocking wait,
    /// with no CPU time spent, this long (`--hang-timeout`).
    Deadlock { seconds: f64 },
    /// The user interrupted the run, and the tree did not exit in time.
    Interrupted,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProcessSeen {
    pub pid: i32,
    pub ppid: i32,
    pub cmdline: String,
}

/// Where a process of the run made or opened a shared-memory segment: the first frame
/// outside `multiprocessing`, as the injected hook saw it when the segment registered.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentOrigin {
    pub name: String,
    pub pid: i32,
    /// `create`, `attach`, or `unknown`.
    pub kind: String,
    /// `file:line` of the user's call.
    pub at: String,
    /// Whether some process of the run unregistered it again (`unlink()` does).
    pub unlinked: bool,
}

/// Pool work the injected hook saw lost: a `with Pool()` block that ended with tasks
/// unfinished (`dropped`), or failed results nobody read (`unread-failure`).
#[derive(Clone, Debug, Serialize)]
pub struct PoolEvent {
    pub kind: &'static str,
    pub pid: i32,
    pub count: u64,
    /// The exception's type, for a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
    /// `file:line`: the end of the `with` block, or the first failed call.
    pub at: String,
}

/// A multiprocessing child that ended with a non-zero exit code, as the injected hook saw
/// it from inside: a child that mpdoctor itself killed never says so.
#[derive(Clone, Debug, Serialize)]
pub struct ChildExit {
    pub pid: i32,
    /// multiprocessing's `exitcode`: negative for a signal.
    pub exit_code: i32,
    /// `start`: it died before its target ran (importing the main module, unpickling the
    /// process); `run`: its target raised or exited; `parent`: only its parent saw it end
    /// (a signal, os._exit(), a crash), so no Python exception is known.
    pub phase: String,
    /// The signal that ended it (its exit code is then minus the signal, as
    /// multiprocessing's `exitcode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Its `Process` name, as its parent knew it (`SpawnPoolWorker-2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When it ended, in seconds from the start of the run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds: Option<f64>,
    /// The function that raised, innermost.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raised_in: Option<String>,
    /// `Type: message`, on one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub command: Vec<String>,
    /// The command's own exit code; 128 + N when signal N ended it.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub duration_seconds: f64,
    pub start_method: Option<&'static str>,
    /// `--hang-timeout`, in seconds, if given.
    pub hang_timeout: Option<f64>,
    /// Python processes that loaded the injected `sitecustomize`.
    pub python_processes: usize,
    pub processes: Vec<ProcessSeen>,
    pub interrupted: bool,
    /// Why mpdoctor stopped the tree, if it did.
    pub stopped: Option<Trigger>,
    pub findings: Vec<Finding>,
    pub left_behind: Vec<LeftBehind>,
    pub unattributed: Vec<Unattributed>,
    pub stuck: Vec<Stuck>,
    /// Shared-memory segments the run made or opened, with where.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<SegmentOrigin>,
    /// Pool work lost without a word.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pool_events: Vec<PoolEvent>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub child_exits: Vec<ChildExit>,
}

impl RunReport {
    pub fn has(&self, category: Category) -> bool {
        self.findings.iter().any(|f| f.category == category)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

impl RunError {
    /// The exit code `timeout(1)` and shells use: 127 not found, 126 not runnable.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 127,
            RunError::Spawn { .. } => 126,
            // The code `timeout(1)` uses for its own failures.
            RunError::Setup(_) => 125,
        }
    }
}

/// Python's temporary directory, found the way `tempfile.gettempdir()` finds it.
pub fn python_temp_dir() -> PathBuf {
    for var in ["TMPDIR", "TEMP", "TMP"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            let dir = PathBuf::from(dir);
            if dir.is_dir() {
                return dir;
            }
        }
    }
    ["/tmp", "/var/tmp", "/usr/tmp"]
        .into_iter()
        .map(PathBuf::from)
        .find(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

const SITECUSTOMIZE: &str = include_str!("sitecustomize.py");

/// Runs the command and judges the run. The command's output passes through; its
/// standard error is read on the way to look for multiprocessing's messages.
pub fn run(options: &RunOptions) -> Result<RunReport, RunError> {
    let proc_root = Path::new("/proc");
    let program = options
        .command
        .first()
        .ok_or_else(|| RunError::Setup("no command given".into()))?;
    let setup = |what: &str, e: std::io::Error| RunError::Setup(format!("{what}: {e}"));
    let tmp_dir = python_temp_dir();
    let mut watch = Watch::start(&options.shm_dir, &tmp_dir)
        .map_err(|e| setup(&format!("cannot read {}", options.shm_dir.display()), e))?;
    let inject = tempfile::Builder::new()
        .prefix("mpdoctor-run-")
        .tempdir()
        .map_err(|e| setup("cannot create a temporary directory", e))?;
    std::fs::write(inject.path().join("sitecustomize.py"), SITECUSTOMIZE)
        .and_then(|()| std::fs::write(inject.path().join(".mpdoctor-run"), ""))
        .map_err(|e| setup("cannot write sitecustomize.py", e))?;
    let marks = inject.path().join("marks");
    signals::install();
    signals::become_subreaper();

    let mut command = Command::new(program);
    command
        .args(&options.command[1..])
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .env("PYTHONPATH", python_path(inject.path()))
        .env("MPDOCTOR_RUN_MARKER", &marks);
    if let Some(method) = options.start_method {
        command.env("MPDOCTOR_RUN_START_METHOD", method.as_str());
    }
    // At a terminal the command stays in the foreground group, so ^C and job control
    // reach it as they would without mpdoctor. Elsewhere it gets its own group: a signal
    // sent to mpdoctor's group (by `timeout`, a CI runner) then reaches it once, passed
    // on by mpdoctor, instead of twice.
    // SAFETY: isatty on a descriptor number.
    let own_group = unsafe { libc::isatty(0) } == 0;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // If the watchdog itself is killed, the command goes with it.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            if own_group {
                libc::setpgid(0, 0);
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| RunError::Spawn {
        program: program.to_string_lossy().into_owned(),
        source,
    })?;
    let scanner = Arc::new(Mutex::new(Scanner::default()));
    let (eof_tx, eof_rx) = mpsc::channel();
    if let Some(mut stderr) = child.stderr.take() {
        let scanner = Arc::clone(&scanner);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                match stderr.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        // Passed on first, so the user sees it as it comes.
                        let _ = std::io::stderr().write_all(&buf[..n]);
                        if let Ok(mut s) = scanner.lock() {
                            s.feed(&buf[..n]);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
            if let Ok(mut s) = scanner.lock() {
                s.finish();
            }
            let _ = eof_tx.send(());
        });
    }

    let mut sup = Supervisor {
        proc_root,
        me: std::process::id() as i32,
        main: child.id() as i32,
        main_status: None,
        main_exited_at: None,
        seen: Seen::new(),
        parents: HashMap::new(),
        tree: Vec::new(),
        marks_path: marks,
        marks_read: 0,
        shutdown_at: HashMap::new(),
        starts: HashMap::new(),
        ticks: 0,
        pythons: BTreeSet::new(),
        registered: BTreeSet::new(),
        origins: Vec::new(),
        pool_events: Vec::new(),
        child_exits: Vec::new(),
        unregistered: BTreeSet::new(),
        signals_seen: 0,
        interrupted_at: None,
        started_clock: monotonic(),
        cutoff_clock: None,
        quiet: None,
    };
    let shown: Vec<String> = options
        .command
        .iter()
        .map(|a| crate::shm::escape_name(std::os::unix::ffi::OsStrExt::as_bytes(a.as_os_str())))
        .collect();
    sup.seen.insert(sup.main, shown.join(" "));
    let mut stuck = Vec::new();
    let mut stopped = None;
    let mut messages_before_stop = None;
    loop {
        watch.wait(TICK);
        sup.tick(&mut watch);
        if sup.main_status.is_some() && sup.tree.is_empty() {
            break;
        }
        if let Some(trigger) = sup.trigger(options, started) {
            if trigger != Trigger::Interrupted {
                stuck = sup.inspect_tree();
            }
            messages_before_stop = scanner.lock().ok().map(|s| s.found.clone());
            stopped = Some(trigger);
            sup.stop(&mut watch);
            break;
        }
    }
    // The resource trackers print their warnings as they exit: the stream ends when the
    // last process holding it is gone.
    let _ = eof_rx.recv_timeout(Duration::from_secs(2));
    let (found, samples) = scanner
        .lock()
        .map(|s| (s.found.clone(), s.samples.clone()))
        .unwrap_or_default();
    let mut named: BTreeSet<String> = found
        .keys()
        .flat_map(|m| match m {
            Message::TrackerMissing { name } | Message::TrackerFailed { name, .. } => {
                vec![name.clone()]
            }
            // 3.13 names semaphores without their `sem.` prefix: `/mp-abc`.
            Message::TrackerLeaked { names, kind, .. } if kind == "semaphore" => names
                .iter()
                .map(|n| format!("sem.{}", n.trim_start_matches('/')))
                .collect(),
            Message::TrackerLeaked { names, .. } => names.clone(),
            _ => Vec::new(),
        })
        .collect();
    named.extend(sup.registered.iter().cloned());
    let (mut left_behind, unattributed) = watch.finish(&named);
    drop_held_elsewhere(&mut left_behind, &options.shm_dir, proc_root);
    let status = sup.main_status.unwrap_or(0);
    let (exit_code, signal) = decode_status(status);
    let mut report = RunReport {
        command: options
            .command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        exit_code,
        signal,
        duration_seconds: started.elapsed().as_secs_f64(),
        start_method: options.start_method.map(|m| m.as_str()),
        hang_timeout: options.hang_timeout.map(|d| d.as_secs_f64()),
        python_processes: sup.pythons.len(),
        // Every process the run had, counted once: a Python process that ended between
        // two looks at the tree is still known from its hook's mark.
        processes: sup
            .seen
            .iter()
            .map(|(pid, cmdline)| (*pid, cmdline.clone()))
            .chain(
                sup.pythons
                    .iter()
                    .chain(sup.child_exits.iter().map(|e| &e.pid))
                    .filter(|pid| !sup.seen.contains_key(pid))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|pid| (*pid, UNSEEN.to_string())),
            )
            .map(|(pid, cmdline)| ProcessSeen {
                pid,
                ppid: sup.parents.get(&pid).copied().unwrap_or(0),
                cmdline,
            })
            .collect(),
        interrupted: sup.interrupted_at.is_some(),
        stopped,
        findings: Vec::new(),
        left_behind,
        unattributed,
        stuck,
        pool_events: sup.pool_events.clone(),
        child_exits: sup.child_exits.clone(),
        segments: sup
            .origins
            .iter()
            .map(|o| SegmentOrigin {
                unlinked: sup.unregistered.contains(&o.name),
                ..o.clone()
            })
            .collect(),
    };
    report.processes.sort_by_key(|p| p.pid);
    report.findings = findings::build(&report, &found, &samples, messages_before_stop.as_ref());
    Ok(report)
}

/// `CLOCK_MONOTONIC` in seconds: Python's `time.monotonic()`, which the hook's marks carry.
fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime with a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn python_path(inject: &Path) -> OsString {
    let mut value = inject.as_os_str().to_os_string();
    if let Some(old) = std::env::var_os("PYTHONPATH").filter(|p| !p.is_empty()) {
        value.push(":");
        value.push(old);
    }
    value
}

/// A wait status as a shell reports it: the exit code, or 128 + the signal.
fn decode_status(status: i32) -> (i32, Option<i32>) {
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        (128 + sig, Some(sig))
    } else {
        (libc::WEXITSTATUS(status), None)
    }
}

/// An entry the run left that a process outside the run holds now was handed on, not
/// leaked.
fn drop_held_elsewhere(left: &mut Vec<LeftBehind>, shm_dir: &Path, proc_root: &Path) {
    if !left.iter().any(|l| l.place == "shared-memory") {
        return;
    }
    let dev = std::fs::symlink_metadata(shm_dir)
        .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        .unwrap_or(0);
    let fs = crate::shm::procs::ShmFs {
        dir: shm_dir,
        dev,
        known: &|_| true,
    };
    let Ok(scan) = crate::shm::procs::scan(proc_root, &fs) else {
        return;
    };
    left.retain(|l| l.place != "shared-memory" || !scan.holders.contains_key(&l.key));
}

struct Supervisor<'a> {
    proc_root: &'a Path,
    me: i32,
    main: i32,
    main_status: Option<i32>,
    main_exited_at: Option<Instant>,
    seen: Seen,
    parents: HashMap<i32, i32>,
    tree: Vec<i32>,
    marks_path: PathBuf,
    marks_read: usize,
    /// Programs whose main thread has finished -> (their start time, when). The start
    /// time tells them from a later process that got the same pid.
    shutdown_at: HashMap<i32, (u64, Instant)>,
    /// Start times of the processes in the tree.
    starts: HashMap<i32, u64>,
    ticks: u64,
    pythons: BTreeSet<i32>,
    /// Names that processes of the run registered with a resource tracker.
    registered: BTreeSet<String>,
    /// Where shared-memory segments were made or opened, in the order the hook saw.
    origins: Vec<SegmentOrigin>,
    pool_events: Vec<PoolEvent>,
    child_exits: Vec<ChildExit>,
    /// Shared-memory names unregistered again (by `unlink()`, or by hand).
    unregistered: BTreeSet<String>,
    signals_seen: usize,
    interrupted_at: Option<Instant>,
    /// `CLOCK_MONOTONIC` when the run started, and when mpdoctor began to stop or pass on
    /// a signal to it: what ends after that is not the program's doing.
    started_clock: f64,
    cutoff_clock: Option<f64>,
    /// The CPU time of the whole tree, and since when it has not changed.
    quiet: Option<(u64, Instant)>,
}

impl Supervisor<'_> {
    fn tick(&mut self, watch: &mut Watch) {
        self.reap();
        // Before the slow reads of /proc: a signal is passed on as soon as it is seen.
        self.take_signals();
        // What was just created is looked at first, while its creator may still hold it.
        // Without news, the descriptors and mappings of the tree are read twice a second.
        self.ticks += 1;
        let look = watch.dirty() || self.ticks.is_multiple_of(5);
        let mut known = self.tree.clone();
        if self.main_status.is_none() && !known.contains(&self.main) {
            known.push(self.main);
        }
        if look {
            watch.observe(self.proc_root, &known);
        }
        let table = tree::table(self.proc_root);
        let before = std::mem::take(&mut self.tree);
        self.tree = tree::descendants(&table, self.me);
        // The tree is quiet while the same processes spend no CPU time at all.
        let cpu: u64 = self
            .tree
            .iter()
            .filter_map(|pid| table.get(pid))
            .map(|st| st.cpu)
            .sum();
        match &self.quiet {
            Some((last, _)) if *last == cpu && before == self.tree => {}
            _ => self.quiet = Some((cpu, Instant::now())),
        }
        for &pid in &self.tree {
            // The main process's line is read again while it runs: a shim may exec the
            // real interpreter after the first look.
            if pid == self.main {
                let line = tree::cmdline(self.proc_root, pid);
                if !line.is_empty() {
                    self.seen.insert(pid, line);
                }
            }
            if !self.seen.contains_key(&pid) {
                self.seen.insert(pid, tree::cmdline(self.proc_root, pid));
            }
            if let Some(st) = table.get(&pid) {
                self.parents.insert(pid, st.ppid);
                self.starts.insert(pid, st.start);
            }
        }
        let fresh: Vec<i32> = self
            .tree
            .iter()
            .copied()
            .filter(|pid| !known.contains(pid))
            .collect();
        watch.observe(self.proc_root, &fresh);
        self.read_marks();
        self.take_signals();
    }

    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid on any child with a valid status pointer.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                break;
            }
            if pid == self.main {
                self.main_status = Some(status);
                self.main_exited_at = Some(Instant::now());
            }
        }
    }

    fn read_marks(&mut self) {
        let Ok(text) = std::fs::read(&self.marks_path) else {
            return;
        };
        let Some(new) = text.get(self.marks_read..) else {
            return;
        };
        // Only whole lines: a writer may be between its bytes.
        let Some(end) = new.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        for line in String::from_utf8_lossy(&new[..=end]).lines() {
            let mut parts = line.splitn(4, ' ');
            let (Some(tag), Some(pid)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Ok(pid) = pid.trim().parse::<i32>() else {
                continue;
            };
            match tag {
                "R" => {
                    if let (Some(rtype), Some(name)) = (parts.next(), parts.next()) {
                        self.registered.insert(match rtype {
                            // The semaphore `/mp-abc` is the file `sem.mp-abc`.
                            "semaphore" => format!("sem.{}", name.trim_start_matches('/')),
                            _ => name.to_string(),
                        });
                    }
                }
                "O" => {
                    // "O pid name kind file:line": the path comes last, spaces and all.
                    let rest = parts.collect::<Vec<_>>().join(" ");
                    let mut fields = rest.splitn(3, ' ');
                    if let (Some(name), Some(kind), Some(at)) =
                        (fields.next(), fields.next(), fields.next())
                    {
                        self.origins.push(SegmentOrigin {
                            name: name.to_string(),
                            pid,
                            kind: kind.to_string(),
                            at: at.to_string(),
                            unlinked: false,
                        });
                    }
                }
                // "W pid count file:line", "F pid count exception file:line".
                "W" | "F" => {
                    let rest = parts.collect::<Vec<_>>().join(" ");
                    let mut fields = rest.splitn(if tag == "W" { 2 } else { 3 }, ' ');
                    let count = fields.next().and_then(|c| c.parse::<u64>().ok());
                    let exception = (tag == "F").then(|| fields.next()).flatten();
                    if let (Some(count), Some(at)) = (count, fields.next()) {
                        self.pool_events.push(PoolEvent {
                            kind: if tag == "W" {
                                "dropped"
                            } else {
                                "unread-failure"
                            },
                            pid,
                            count,
                            exception: exception.map(str::to_string),
                            at: at.to_string(),
                        });
                    }
                }
                // "X pid code seconds phase where exception...": the child's own word.
                "X" => {
                    let rest = parts.collect::<Vec<_>>().join(" ");
                    let mut fields = rest.splitn(5, ' ');
                    let code = fields.next().and_then(|c| c.parse::<i32>().ok());
                    let at = fields.next().and_then(|t| t.parse::<f64>().ok());
                    if let (Some(exit_code), Some(at), Some(phase), Some(raised)) =
                        (code, at, fields.next(), fields.next())
                        && self.before_cutoff(at)
                    {
                        let known = |v: &str| (v != "-" && !v.is_empty()).then(|| v.to_string());
                        self.child_exits.push(ChildExit {
                            pid,
                            exit_code,
                            phase: phase.to_string(),
                            signal: None,
                            name: None,
                            seconds: Some(self.since_start(at)),
                            raised_in: known(raised),
                            exception: fields.next().and_then(known),
                        });
                    }
                }
                // "D pid child code seconds name": what the parent saw; after the child's
                // own mark, if it left one.
                "D" => {
                    let rest = parts.collect::<Vec<_>>().join(" ");
                    let mut fields = rest.splitn(4, ' ');
                    let child = fields.next().and_then(|c| c.parse::<i32>().ok());
                    let code = fields.next().and_then(|c| c.parse::<i32>().ok());
                    let at = fields.next().and_then(|t| t.parse::<f64>().ok());
                    if let (Some(child), Some(code), Some(at)) = (child, code, at)
                        && self.before_cutoff(at)
                    {
                        let name = fields.next().filter(|n| *n != "-").map(str::to_string);
                        let seconds = self.since_start(at);
                        match self.child_exits.iter_mut().find(|e| e.pid == child) {
                            Some(known) => {
                                known.name = name;
                                known.signal = (code < 0).then_some(-code);
                            }
                            None => self.child_exits.push(ChildExit {
                                pid: child,
                                exit_code: code,
                                phase: "parent".into(),
                                signal: (code < 0).then_some(-code),
                                name,
                                seconds: Some(seconds),
                                raised_in: None,
                                exception: None,
                            }),
                        }
                    }
                }
                "U" => {
                    if let (Some("shared_memory"), Some(name)) = (parts.next(), parts.next()) {
                        self.unregistered.insert(name.to_string());
                    }
                }
                "S" => {
                    self.pythons.insert(pid);
                }
                "E" => {
                    if let Some(st) = tree::stat(self.proc_root, pid) {
                        self.shutdown_at
                            .entry(pid)
                            .or_insert_with(|| (st.start, Instant::now()));
                    }
                }
                _ => {}
            }
        }
        self.marks_read += end + 1;
    }

    fn before_cutoff(&self, clock: f64) -> bool {
        self.cutoff_clock.is_none_or(|cutoff| clock < cutoff)
    }

    fn since_start(&self, clock: f64) -> f64 {
        ((clock - self.started_clock).max(0.0) * 1000.0).round() / 1000.0
    }

    fn take_signals(&mut self) {
        let (count, last, from_terminal) = signals::pending();
        if count == self.signals_seen {
            return;
        }
        self.signals_seen = count;
        if self.interrupted_at.is_none() {
            self.interrupted_at = Some(Instant::now());
            self.cutoff_clock.get_or_insert_with(monotonic);
        }
        // A terminal already sent it to the whole foreground group, the command included.
        if !from_terminal {
            // The command itself too, before the tree has first been read.
            let main = (self.main_status.is_none() && !self.tree.contains(&self.main))
                .then_some(self.main);
            for &pid in self.tree.iter().chain(main.iter()) {
                // SAFETY: kill(2) with a pid of our own tree.
                unsafe { libc::kill(pid, last) };
            }
        }
    }

    /// Whether the run has to be stopped now, and why.
    fn trigger(&self, options: &RunOptions, started: Instant) -> Option<Trigger> {
        let now = Instant::now();
        if let Some(at) = self.interrupted_at {
            let (count, _, _) = signals::pending();
            if count > 1 || now.duration_since(at) > INTERRUPT_GRACE {
                return Some(Trigger::Interrupted);
            }
        }
        if let Some(limit) = options.hang_timeout {
            let mut hung: Vec<(i32, Duration)> = self
                .shutdown_at
                .iter()
                .filter(|(pid, (start, _))| {
                    self.tree.contains(pid) && self.starts.get(pid) == Some(start)
                })
                .map(|(pid, (_, at))| (*pid, now.duration_since(*at)))
                .filter(|(_, waited)| *waited > limit)
                .collect();
            hung.sort();
            if let Some((pid, waited)) = hung.first() {
                return Some(Trigger::ExitHang {
                    pid: *pid,
                    seconds: waited.as_secs_f64(),
                });
            }
        }
        if let (Some(limit), None, Some((_, since))) =
            (options.hang_timeout, self.main_status, &self.quiet)
        {
            let quiet = now.duration_since(*since);
            // A program whose main thread has finished is hung at exit: that is timed
            // from its end, above.
            let exiting = self
                .tree
                .iter()
                .any(|pid| self.shutdown_at.contains_key(pid));
            if quiet > limit && !exiting && self.all_blocked() {
                return Some(Trigger::Deadlock {
                    seconds: quiet.as_secs_f64(),
                });
            }
        }
        if let Some(at) = self.main_exited_at {
            let grace = options.hang_timeout.unwrap_or(DEFAULT_LEFTOVER_GRACE);
            let waited = now.duration_since(at);
            if waited > grace {
                return Some(Trigger::Outlived {
                    seconds: waited.as_secs_f64(),
                });
            }
        }
        if let Some(limit) = options.timeout
            && now.duration_since(started) > limit
        {
            return Some(Trigger::Timeout {
                seconds: limit.as_secs_f64(),
            });
        }
        None
    }

    /// Whether every thread of every process of the run sleeps in a blocking wait.
    fn all_blocked(&self) -> bool {
        !self.tree.is_empty()
            && self.tree.iter().all(|&pid| {
                tree::inspect(self.proc_root, pid).is_some_and(|p| {
                    !p.threads.is_empty()
                        && p.threads.iter().all(|t| {
                            matches!(t.state, 'S' | 'D')
                                && t.wchan.as_deref().is_some_and(tree::is_blocking_wait)
                        })
                })
            })
    }

    fn inspect_tree(&self) -> Vec<Stuck> {
        self.tree
            .iter()
            .filter_map(|&pid| {
                let mut stuck = tree::inspect(self.proc_root, pid)?;
                // Forked children never ran the sitecustomize: go by the program name too.
                if tree::runs_python(&stuck.cmdline) || self.pythons.contains(&pid) {
                    stuck.python_stack = tree::python_stack(pid);
                }
                Some(stuck)
            })
            .collect()
    }

    /// Stops every process of the run: SIGTERM to all but the cleanup helpers, then
    /// SIGKILL; the resource trackers go last, once what they guard is gone, so they can
    /// still remove it.
    fn stop(&mut self, watch: &mut Watch) {
        self.read_marks();
        self.cutoff_clock.get_or_insert_with(monotonic);
        let helpers: BTreeSet<i32> = self
            .tree
            .iter()
            .copied()
            .filter(|pid| {
                self.seen
                    .get(pid)
                    .is_some_and(|c| tree::is_cleanup_helper(c))
            })
            .collect();
        // The deepest processes first: once a stuck child is gone, its parent's join
        // returns and the parent can still exit normally, cleaning up after itself.
        let leaves: Vec<i32> = self
            .tree
            .iter()
            .copied()
            .filter(|pid| *pid != self.main && !helpers.contains(pid))
            .filter(|pid| {
                !self
                    .tree
                    .iter()
                    .any(|c| self.parents.get(c) == Some(pid) && !helpers.contains(c))
            })
            .collect();
        if !leaves.is_empty() {
            for &pid in &leaves {
                // SAFETY: kill(2) with a pid of our own tree.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            let until = Instant::now() + Duration::from_secs(1);
            while Instant::now() < until && !self.tree.is_empty() {
                watch.wait(Duration::from_millis(50));
                self.tick(watch);
            }
        }
        // (signal, to the helpers too, how long to wait, wait for the helpers too)
        let rounds = [
            (libc::SIGTERM, false, Duration::from_secs(1), false),
            (libc::SIGKILL, false, Duration::from_secs(2), true),
            (libc::SIGKILL, true, Duration::from_secs(5), true),
        ];
        for (signal, to_helpers, wait, all) in rounds {
            for &pid in &self.tree {
                if to_helpers || !helpers.contains(&pid) {
                    // SAFETY: kill(2) with a pid of our own tree.
                    unsafe { libc::kill(pid, signal) };
                }
            }
            let until = Instant::now() + wait;
            while Instant::now() < until {
                watch.wait(Duration::from_millis(50));
                self.tick(watch);
                if !self.tree.iter().any(|pid| all || !helpers.contains(pid)) {
                    break;
                }
            }
            if self.tree.is_empty() {
                break;
            }
        }
        // The main process was killed if it had not exited: collect its status.
        for _ in 0..50 {
            if self.main_status.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            self.reap();
        }
    }
}
