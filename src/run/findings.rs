//! What a run's observations mean: each leak, hang and recognised message becomes a
//! finding that says what happened, why, and how to fix it, and names the static rule
//! that finds the cause in code when that rule exists.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Serialize, Serializer};

use super::messages::Message;
use super::tree::Stuck;
use super::{RunReport, Trigger};
use crate::codes::RuleCode;
use crate::diagnostics::Severity;
use crate::shm::origin::Origin;
use crate::shm::output::human;

/// The kinds `--fail-on` selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Shared memory or a socket folder the run created and left behind.
    Leak,
    /// The run did not exit, and was stopped.
    Hang,
    /// A warning of the resource tracker or the interpreter.
    Warning,
    /// A multiprocessing error in the run (a child that could not start or unpickle).
    Error,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Leak => "leak",
            Category::Hang => "hang",
            Category::Warning => "warning",
            Category::Error => "error",
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub category: Category,
    /// A stable identifier of the kind of finding (`leaked-segment`, `exit-hang`, ...).
    pub id: &'static str,
    pub severity: Severity,
    pub title: String,
    /// What happened in this run.
    pub message: String,
    pub why: String,
    pub fix: String,
    /// The static rule that finds the cause in code.
    #[serde(serialize_with = "code_name")]
    pub rule: Option<RuleCode>,
    pub details: Vec<String>,
}

/// What a kind of finding is, for rule catalogues (SARIF).
pub fn summary_of(id: &str) -> &'static str {
    match id {
        "leaked-shared-memory" => "The run left a shared-memory entry behind in /dev/shm.",
        "leaked-socket-folder" => "The run left a multiprocessing socket folder (pymp-*) behind.",
        "exit-hang" => "A program's main thread finished, but the process did not exit.",
        "outlived-command" => "Processes of the run outlived the command.",
        "timeout" => "The run went on past --timeout.",
        "deadlock" => "Every process of the run waited on another, with no CPU time spent.",
        "tracker-leaked-shared-memory" => {
            "Shared memory was never unlinked; the resource tracker removed it."
        }
        "tracker-leaked-semaphore" => {
            "Semaphores were left by dead processes; the resource tracker removed them."
        }
        "tracker-leaked" => "The resource tracker cleaned up leaked objects.",
        "tracker-missing-segment" => {
            "The resource tracker tried to remove a segment that was already gone."
        }
        "tracker-cleanup-failed" => "The resource tracker could not clean up a resource.",
        "tracker-relaunched" => "The resource tracker died and was relaunched.",
        "bootstrapping-error" => {
            "A child process started a process while importing the main module."
        }
        "broken-process-pool" => "A worker of a ProcessPoolExecutor died abruptly.",
        "missing-in-main" => "A child process could not find a function in the main module.",
        "unpicklable" => "Something sent to a child process cannot be pickled.",
        "fork-with-threads" => "A process that runs threads was forked.",
        "tracker-unregistered-twice" => {
            "A child of the creator unregistered a segment from the shared resource tracker."
        }
        "pool-joined-while-running" => "A pool was joined before it was closed.",
        "shared-memory-closed-with-views" => {
            "A SharedMemory was closed while a view of its buffer was alive."
        }
        "hooks-not-loaded" => "No Python process of the run loaded mpdoctor's sitecustomize.",
        "pool-work-dropped" => "A `with Pool()` block ended with tasks unfinished.",
        "pool-failures-unread" => "Pool tasks failed and nobody read their results.",
        "sync-object-pickled" => {
            "A lock, queue or shared value was sent to a process that was already running."
        }
        "child-name-error" => "A child process died with NameError: a global it needs is missing.",
        "child-arguments-mismatch" => {
            "A child process died because its arguments do not fit its target."
        }
        "child-semaphore-gone" => {
            "A child process died: a lock or queue it was given was freed before it started."
        }
        "child-daemon-children" => "A daemonic process tried to start processes.",
        "child-died" => "A child process died with an exception.",
        "child-exit-code" => "A child process ended with a non-zero exit code.",
        "child-killed" => "A child process was killed by a signal.",
        "pool-worker-died" => {
            "A Pool worker died: the task it ran is lost, and waiting for it never ends."
        }
        _ => "A finding of mpdoctor run.",
    }
}

fn code_name<S: Serializer>(rule: &Option<RuleCode>, s: S) -> Result<S::Ok, S::Error> {
    match rule {
        Some(code) => s.serialize_some(code.as_str()),
        None => s.serialize_none(),
    }
}

pub fn build(
    report: &RunReport,
    messages: &BTreeMap<Message, usize>,
    samples: &BTreeMap<Message, String>,
    before_stop: Option<&BTreeMap<Message, usize>>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for left in &report.left_behind {
        out.push(leak(report, left));
    }
    if let Some(trigger) = report.stopped
        && trigger != Trigger::Interrupted
    {
        out.push(hang(report, trigger, messages, before_stop));
    }
    out.extend(report.pool_events.iter().map(pool_event));
    out.extend(child_deaths(report));
    // A segment the tracker could not remove because it was gone was first counted
    // as leaked by the same tracker: one finding says it all.
    let missing: usize = messages
        .iter()
        .filter(|(m, _)| matches!(m, Message::TrackerMissing { .. }))
        .map(|(_, n)| n)
        .sum();
    for (message, count) in messages {
        // What the trackers said while the tree was being stopped belongs to the hang.
        let earlier = before_stop.map(|b| b.get(message).copied().unwrap_or(0));
        if earlier == Some(0) {
            continue;
        }
        if let Message::TrackerLeaked { kind, count, .. } = message
            && kind == "shared_memory"
            && *count as usize <= missing
        {
            continue;
        }
        let sample = samples.get(message).map(String::as_str).unwrap_or("");
        out.push(explain(message, earlier.unwrap_or(*count), sample, report));
    }
    let python_seen = report
        .processes
        .iter()
        .any(|p| super::tree::runs_python(&p.cmdline));
    let wanted = match (report.start_method, report.hang_timeout.is_some()) {
        (Some(method), _) => Some(format!("--start-method {method} reached no Python process")),
        (None, true) if python_seen => {
            Some("--hang-timeout cannot see when a Python program's main thread finishes".into())
        }
        _ => None,
    };
    if let Some(title) = wanted
        && report.python_processes == 0
    {
        out.push(Finding {
            category: Category::Warning,
            id: "hooks-not-loaded",
            severity: Severity::Warning,
            title,
            message: "No Python process of the run loaded the injected sitecustomize: the \
                      start method was not changed, and a hang at exit is seen only once the \
                      command has exited and other processes outlive it."
                .into(),
            why: "mpdoctor changes the start method through PYTHONPATH. Python ignores it \
                  under -E and -I, and a command may clear the environment."
                .into(),
            fix: "Run Python without -E/-I, or keep PYTHONPATH in the environment of the \
                  processes you want to test."
                .into(),
            rule: None,
            details: Vec::new(),
        });
    }
    out
}

fn holders(report: &RunReport, pids: &[i32]) -> String {
    pids.iter()
        .map(|pid| {
            let cmd = report
                .processes
                .iter()
                .find(|p| p.pid == *pid)
                .map(|p| p.cmdline.as_str())
                .unwrap_or("");
            format!("pid {pid} ({})", shorten(cmd))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn shorten(cmd: &str) -> String {
    const MAX: usize = 120;
    if cmd.chars().count() <= MAX {
        cmd.to_string()
    } else {
        let cut: String = cmd.chars().take(MAX).collect();
        format!("{cut}...")
    }
}

fn leak(report: &RunReport, left: &super::LeftBehind) -> Finding {
    let mut held = if left.held_by.is_empty() {
        "a process of the run registered it with its resource tracker".to_string()
    } else {
        format!(
            "held by {} while the run lasted",
            holders(report, &left.held_by)
        )
    };
    if report.stopped.is_some() {
        held.push_str(
            ". mpdoctor stopped the run, and a process that is killed cannot clean up: this \
             may be a consequence of the stop",
        );
    }
    let (what, why, fix) = if left.place == "socket-folder" {
        (
            "multiprocessing's folder for forkserver and manager sockets",
            "CPython creates it on first use and removes it when the interpreter exits \
             normally. It stays when the process that made it is killed or ends with \
             os._exit().",
            "Let the main process exit normally (no os._exit(), no SIGKILL); shut managers \
             down with `with Manager() as m:` or m.shutdown().",
        )
    } else {
        match left.origin {
            Origin::PythonSharedMemory => (
                "a multiprocessing.shared_memory segment",
                "A SharedMemory segment lives until something unlinks it. Its creator never \
                 called unlink(), and no resource tracker removed it: the tracker was killed, \
                 or died with its program.",
                "Call shm.unlink() once, in the process that created the segment, after every \
                 user is done with it (in a finally block), or create it through \
                 SharedMemoryManager so the manager removes it.",
            ),
            Origin::PythonSemaphore => (
                "a named semaphore of a multiprocessing lock, queue or event",
                "Under spawn and forkserver every Lock, Semaphore, Event, Condition and Queue \
                 is a named POSIX semaphore. Its process and the resource tracker both died \
                 before removing it.",
                "Let the processes that use locks and queues end normally (join them), rather \
                 than killing them or calling os._exit().",
            ),
            _ => (
                "an entry in shared memory",
                "The run created it and no process removed it before the run ended.",
                "Remove it in the program that creates it, once it is no longer used.",
            ),
        }
    };
    Finding {
        category: Category::Leak,
        id: if left.place == "socket-folder" {
            "leaked-socket-folder"
        } else {
            "leaked-shared-memory"
        },
        severity: Severity::Error,
        title: format!("the run left {} behind", left.path),
        message: format!(
            "{} ({what}, {}) was created during the run and is still there after every \
             process of the run exited; {held}.",
            left.path,
            human(left.size)
        ),
        why: why.into(),
        fix: format!(
            "{fix} {}",
            remove_leaked(&left.path, left.place == "socket-folder")
        ),
        rule: None,
        details: Vec::new(),
    }
}

/// How to remove what the run leaked. No process held it when the run ended, which is
/// exactly what `rm` needs; `shm --clean` instead judges every entry and keeps whatever
/// a process it cannot read might hold, which on a VM whose init cannot be read is
/// everything unless told `--disregard 1`.
fn remove_leaked(path: &str, folder: bool) -> String {
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c));
    let rm = if folder { "rm -r --" } else { "rm --" };
    if plain {
        format!(
            "To remove it now: `{rm} {path}` (no process of the run held it when the run \
             ended). `mpdoctor shm --clean --yes` removes every leaked entry older than \
             --min-age that no process holds, and names any process it cannot read."
        )
    } else {
        "To remove it: `mpdoctor shm --clean --yes` removes every leaked entry older than \
         --min-age that no process holds, and names any process it cannot read."
            .to_string()
    }
}

/// Pool work the hook saw lost without a word.
fn pool_event(e: &super::PoolEvent) -> Finding {
    let (pid, count, at) = (e.pid, e.count, &e.at);
    if e.kind == "dropped" {
        Finding {
            category: Category::Error,
            id: "pool-work-dropped",
            severity: Severity::Error,
            title: format!("a `with Pool()` block ended with {count} task(s) unfinished ({at})"),
            message: format!(
                "In pid {pid}, the `with` block over a multiprocessing.Pool ended at {at} while \
                 {count} submitted task(s) had not finished: the pool's __exit__ calls \
                 terminate(), which drops them without a word, and a get() on their results \
                 afterwards waits forever."
            ),
            why: "Pool.__exit__ terminates the pool. Work started with apply_async, map_async \
             or imap and not waited for inside the block is killed."
                .into(),
            fix: "Read every result inside the block (get(), or iterate imap), or call \
             pool.close() and pool.join() before the block ends."
                .into(),
            rule: Some(RuleCode::MP501),
            details: Vec::new(),
        }
    } else {
        let exception = e.exception.as_deref().unwrap_or("exception");
        Finding {
            category: Category::Error,
            id: "pool-failures-unread",
            severity: Severity::Error,
            title: format!("{count} pool task(s) failed and nobody read the result ({at})"),
            message: format!(
                "In pid {pid}, {count} pool task(s) raised (the first a {exception}, submitted \
                 at {at}), had no error_callback, and the program ended without calling get() \
                 or successful() on their results: the failures vanished."
            ),
            why: "apply_async and map_async store a task's exception in its result, where \
             only get() re-raises it. Nobody asked, so the run looked successful."
                .into(),
            fix: "Keep the results and call get() on them, or pass error_callback= a function \
             that logs or re-raises."
                .into(),
            rule: Some(RuleCode::MP505),
            details: Vec::new(),
        }
    }
}

/// The why and the fix of a hang, chosen by the evidence: the rule the diagnosis names,
/// a queue feeder seen writing, or text that says it is generic.
fn hang_text(
    id: &str,
    diagnosis: &Diagnosis,
    feeder_blocked: bool,
) -> (&'static str, &'static str) {
    match diagnosis.rule {
        Some(RuleCode::MP504) => (
            "A pool worker died while its pool was in use. The pool starts a replacement, \
             but the task the dead worker held is lost, so the map(), get() or join() that \
             waits for its result waits forever.",
            "Do not end the process from a task (sys.exit(), os._exit()): raise, and read \
             the exception through get(). Where a worker may be killed, use get(timeout=...) \
             or ProcessPoolExecutor, which reports a dead worker as BrokenProcessPool \
             instead of waiting forever.",
        ),
        Some(RuleCode::MP501) => (
            "The `with` block over a Pool ended while tasks were unfinished: Pool.__exit__ \
             calls terminate(), the tasks are dropped, and a later get() on their results \
             waits for results that never come.",
            "Read every result inside the block (get(), or iterate imap), or call \
             pool.close() and pool.join() before the block ends.",
        ),
        _ if feeder_blocked => (
            "A multiprocessing program exits only when its non-daemon children have exited, \
             and a child exits only when its queue feeder threads have flushed into the \
             pipe, which holds about 64 KiB. Anything that stops the reading side (a join \
             before the read, a queue nobody reads) stops the exit.",
            "Read every queue a child writes before joining the child, or give the child a \
             daemon flag only when losing its data is acceptable.",
        ),
        _ if id == "deadlock" => (
            "No process of the run could go on: each was asleep waiting for something that \
             only another one could give (a lock held by a process that waits for another \
             lock, a queue nobody fills, a child that waits for its parent). Nothing names \
             a more precise cause here; where each thread waits is listed below.",
            "Take locks in one order everywhere (or with acquire(timeout=...)), release \
             every lock on every path (with blocks), and make sure what each process \
             waits for is sent; the listed waits (and py-spy stacks) show who waits on what.",
        ),
        _ if diagnosis.causes.is_empty() => (
            "The program did not exit: a non-daemon thread still runs, an exit handler \
             (atexit, the join of multiprocessing children) waits, or a process outlives \
             its parent. Where each thread waits is listed below.",
            "Find what the listed threads wait for (py-spy dump shows Python stacks); end \
             helper threads or make them daemon threads, and make sure every child process \
             can finish.",
        ),
        _ => (
            "A process waits for another that does not end or does not send: a parent in \
             join() (or in the join of non-daemon children at exit), or a Connection.send() \
             into a full pipe. Nothing names a more precise cause; where each thread waits \
             is listed below.",
            "Make sure every child can finish before it is joined, and that what is sent is \
             received; py-spy dump shows the Python stacks of the listed threads.",
        ),
    }
}

/// Why a stuck tree is stuck, from where its threads wait in the kernel.
struct Diagnosis {
    causes: Vec<String>,
    rule: Option<RuleCode>,
}

/// `pipe_write`, or `anon_pipe_write` on kernels from 6.13.
fn is_pipe_write(wchan: &str) -> bool {
    wchan.ends_with("pipe_write")
}

fn main_wchan(s: &Stuck) -> Option<&str> {
    s.main_thread().and_then(|t| t.wchan.as_deref())
}

fn diagnose(report: &RunReport) -> Diagnosis {
    let mut causes = Vec::new();
    let mut rule = None;
    for s in &report.stuck {
        let writers: Vec<i32> = s
            .threads
            .iter()
            .filter(|t| t.tid != s.pid && t.wchan.as_deref().is_some_and(is_pipe_write))
            .map(|t| t.tid)
            .collect();
        if !writers.is_empty() {
            causes.push(format!(
                "pid {} has a thread blocked writing into a full pipe: a multiprocessing \
                 Queue's feeder thread that cannot flush what was put, because nothing reads \
                 the queue (a process cannot exit until its feeder has flushed)",
                s.pid
            ));
            rule = Some(RuleCode::MP102);
        } else if main_wchan(s).is_some_and(is_pipe_write) {
            causes.push(format!(
                "pid {} is blocked sending into a full pipe (Connection.send() of more than \
                 the pipe holds, with nobody receiving)",
                s.pid
            ));
        }
        let server = |c: &Stuck| {
            is_forkserver(&c.cmdline)
                && !report
                    .stuck
                    .iter()
                    .any(|q| q.pid == c.ppid && is_forkserver(&q.cmdline))
        };
        // Only a process that waits for a child: waitpid() (fork, spawn) or a poll of the
        // child's sentinel (forkserver). Not a pool waiting on a condition.
        let waits = main_wchan(s).is_some_and(|w| w.starts_with("do_wait") || w.contains("poll"));
        if server(s) || !waits {
            continue;
        }
        // Its children, and under forkserver the forkserver's children it started.
        let servers: Vec<i32> = report
            .stuck
            .iter()
            .filter(|c| c.ppid == s.pid && server(c))
            .map(|c| c.pid)
            .collect();
        let stuck_children: Vec<i32> = report
            .stuck
            .iter()
            .filter(|c| c.ppid == s.pid || servers.contains(&c.ppid))
            .filter(|c| !super::tree::is_cleanup_helper(&c.cmdline) && !server(c))
            .map(|c| c.pid)
            .collect();
        if !stuck_children.is_empty() {
            causes.push(format!(
                "pid {} waits for its child {} to exit (Process.join(), or the join of \
                 non-daemon children at exit)",
                s.pid,
                join_pids(&stuck_children)
            ));
        }
    }
    // Pool workers that ended while the pool was in use, as their parents saw them, in
    // order: a Pool replaces a dead worker, but the task it held is lost and its result
    // never comes. What ended after mpdoctor began to stop the run is not in the list.
    let mut gone: Vec<&super::ChildExit> = report
        .child_exits
        .iter()
        .filter(|e| is_pool_worker(e) && e.exception.is_none())
        .collect();
    gone.sort_by(|a, b| a.seconds.partial_cmp(&b.seconds).unwrap_or(Ordering::Equal));
    let pool_waits = report
        .stuck
        .iter()
        .any(|s| !is_forkserver(&s.cmdline) && main_wchan(s).is_some_and(|w| w.contains("futex")));
    // A `with Pool()` block that dropped work: a later get() waits for a result that the
    // terminated pool will never deliver.
    if rule.is_none()
        && let Some(dropped) = report.pool_events.iter().find(|e| e.kind == "dropped")
    {
        causes.push(format!(
            "pid {}'s `with Pool()` block ended at {} with {} task(s) unfinished: its exit \
             terminated the pool, so a get() on those results waits forever",
            dropped.pid, dropped.at, dropped.count
        ));
        rule = Some(RuleCode::MP501);
    }
    // Pool workers that die while starting (importing the main module, running the
    // initializer) are replaced by workers that die the same way, forever.
    let failing: Vec<&super::ChildExit> = report
        .child_exits
        .iter()
        .filter(|e| is_pool_worker(e) && e.exception.is_some())
        .collect();
    if failing.len() > 1 && rule.is_none() {
        let first = failing[0];
        causes.push(format!(
            "{} pool workers died {} with {} (the first, {}, {:.1} s into the run): the \
             pool replaces each dead worker with one that dies the same way, so its tasks \
             never run",
            failing.len(),
            if first.phase == "start" {
                "while starting (before their first task)"
            } else {
                "in their initializer or task"
            },
            first.exception.as_deref().unwrap_or("an exception"),
            first.pid,
            first.seconds.unwrap_or(0.0)
        ));
    }
    if let Some(first) = gone.first()
        && pool_waits
        && rule.is_none()
    {
        let others = match gone.len() {
            1 => String::new(),
            2 => ", and one more after it".to_string(),
            n => format!(", and {} more after it", n - 1),
        };
        causes.push(format!(
            "pool worker {}{} ended with {}, {:.1} s into the run{others}: the task it held \
             is lost, and the pool waits for that result forever",
            first.pid,
            first
                .name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            ending(first),
            first.seconds.unwrap_or(0.0)
        ));
        rule = Some(RuleCode::MP504);
    }
    if rule == Some(RuleCode::MP102) && causes.iter().any(|c| c.contains("its child")) {
        causes.push(
            "joining a child before reading what it put is the deadlock MP101 \
             join-before-drain describes; a queue that nobody reads at all is MP102 \
             queue-never-drained"
                .into(),
        );
    }
    Diagnosis { causes, rule }
}

fn is_forkserver(cmdline: &str) -> bool {
    cmdline.contains("from multiprocessing.forkserver import main")
}

/// Up to five pids in full; of more, three and how many others.
fn join_pids(pids: &[i32]) -> String {
    const SHOWN: usize = 3;
    let list = |pids: &[i32]| {
        pids.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if pids.len() <= 5 {
        list(pids)
    } else {
        format!("{} and {} more", list(&pids[..SHOWN]), pids.len() - SHOWN)
    }
}

fn hang(
    report: &RunReport,
    trigger: Trigger,
    messages: &BTreeMap<Message, usize>,
    before_stop: Option<&BTreeMap<Message, usize>>,
) -> Finding {
    let (id, title) = match trigger {
        Trigger::ExitHang { pid, seconds } => (
            "exit-hang",
            format!(
                "the main thread of pid {pid} finished but the process had not exited \
                 {seconds:.1}s later (--hang-timeout)"
            ),
        ),
        Trigger::Outlived { seconds } => (
            "outlived-command",
            format!("processes of the run were still alive {seconds:.1}s after the command exited"),
        ),
        Trigger::Timeout { seconds } => (
            "timeout",
            format!("the run was still going after {seconds:.1}s (--timeout)"),
        ),
        Trigger::Interrupted => ("interrupted", "the run was interrupted".into()),
        Trigger::Deadlock { seconds } => (
            "deadlock",
            format!(
                "every process of the run waited (on a lock, a pipe, a socket or a child) \
                 with no CPU time spent for {seconds:.1}s while the program ran \
                 (--hang-timeout)"
            ),
        ),
    };
    let diagnosis = diagnose(report);
    // The queue feeder's story is told only where a thread is seen writing to a pipe.
    let feeder_blocked = report.stuck.iter().any(|s| {
        s.threads
            .iter()
            .any(|t| t.wchan.as_deref().is_some_and(is_pipe_write))
    });
    let mut details: Vec<String> = report.stuck.iter().map(describe).collect();
    for s in &report.stuck {
        if let Some(stack) = &s.python_stack {
            details.push(format!("py-spy dump of pid {}:\n{stack}", s.pid));
        }
    }
    for (message, count) in messages {
        let earlier = before_stop
            .and_then(|b| b.get(message))
            .copied()
            .unwrap_or(0);
        if *count > earlier
            && let Message::TrackerLeaked { kind, count, .. } = message
        {
            details.push(format!(
                "after the stop, the resource tracker removed {count} {kind} object(s) the \
                 stopped processes had left"
            ));
        }
    }
    let (why, fix) = hang_text(id, &diagnosis, feeder_blocked);
    let message = if diagnosis.causes.is_empty() {
        format!(
            "mpdoctor stopped {} process(es). Where each waits is listed below.",
            report.stuck.len()
        )
    } else {
        format!(
            "mpdoctor stopped {} process(es). Likely cause: {}.",
            report.stuck.len(),
            diagnosis.causes.join("; ")
        )
    };
    Finding {
        category: Category::Hang,
        id,
        severity: Severity::Error,
        title,
        message,
        why: why.into(),
        fix: fix.into(),
        rule: diagnosis.rule,
        details,
    }
}

fn describe(s: &Stuck) -> String {
    let threads: Vec<String> = s
        .threads
        .iter()
        .map(|t| {
            let role = if t.tid == s.pid {
                "main thread"
            } else {
                "thread"
            };
            format!(
                "{role} {} ({}) {} in {}",
                t.tid,
                t.name,
                t.state,
                t.wchan.as_deref().unwrap_or("?")
            )
        })
        .collect();
    format!(
        "pid {} (parent {}) {}: {}",
        s.pid,
        s.ppid,
        shorten(&s.cmdline),
        threads.join("; ")
    )
}

fn explain(message: &Message, count: usize, sample: &str, report: &RunReport) -> Finding {
    let times = if count > 1 {
        format!(" ({count} times)")
    } else {
        String::new()
    };
    let said = format!("Standard error said{times}: {sample}");
    let spawnlike = match report.start_method {
        Some(m) => format!(" (the run forced --start-method {m})"),
        None => String::new(),
    };
    let f = |category, id, title: String, why: &str, fix: &str, rule| Finding {
        category,
        id,
        severity: if category == Category::Warning {
            Severity::Warning
        } else {
            Severity::Error
        },
        message: said.clone(),
        title,
        why: why.into(),
        fix: fix.into(),
        rule,
        details: Vec::new(),
    };
    let mut finding = match message {
        Message::TrackerLeaked { kind, count, .. } if kind == "shared_memory" => f(
            Category::Warning,
            "tracker-leaked-shared-memory",
            format!("the resource tracker found {count} shared_memory segment(s) never unlinked"),
            "A SharedMemory created with create=True was never unlink()ed. The resource \
             tracker removed it when the program ended and warned; had the tracker been \
             killed with the program, the segment would stay in /dev/shm until reboot.",
            "Call shm.unlink() once, in the process that created the segment, after every \
             user is done (in a finally block), or use SharedMemoryManager. `mpdoctor \
             check` finds the creating code (MP301).",
            Some(RuleCode::MP301),
        ),
        Message::TrackerLeaked { kind, count, .. } if kind == "semaphore" => f(
            Category::Warning,
            "tracker-leaked-semaphore",
            format!("the resource tracker found {count} semaphore(s) left by dead processes"),
            "Under spawn and forkserver every Lock, Semaphore, Event, Condition and Queue is a \
             named semaphore that its creator removes when the object is collected. A process \
             that was killed or ended with os._exit() while holding one left it to the \
             tracker.",
            "End processes normally (join them) instead of killing them or calling \
             os._exit(); do not keep multiprocessing objects alive in globals of a process \
             that is terminated.",
            None,
        ),
        Message::TrackerLeaked { kind, count, .. } => f(
            Category::Warning,
            "tracker-leaked",
            format!("the resource tracker cleaned up {count} leaked {kind} object(s)"),
            "A resource registered with the tracker (by multiprocessing, loky or joblib) was \
             not released by the program before it ended.",
            "Release the resource in the program (close, unlink, shut down the executor) \
             before it exits.",
            None,
        ),
        Message::TrackerMissing { name } => f(
            Category::Warning,
            "tracker-missing-segment",
            format!("the resource tracker could not remove {name}: it was already gone"),
            "A process that only attached to a segment with SharedMemory(name=...) registered \
             it with its resource tracker as if it had created it (CPython issue bpo-39959). \
             The creator unlinked it, and the other tracker tried again at shutdown. Worse: \
             if the attaching process exits first, its tracker removes the segment while \
             the creator still uses it.",
            "On Python 3.13 and later pass track=False when attaching. Before 3.13, \
             unregister after attaching: resource_tracker.unregister(shm._name, \
             \"shared_memory\"), only in a program outside the creator's process tree \
             (inside it, see MP304). Only the creator should unlink (MP302). `mpdoctor \
             check` finds the attaching code (MP303).",
            Some(RuleCode::MP303),
        ),
        Message::TrackerFailed { name, error } => f(
            Category::Warning,
            "tracker-cleanup-failed",
            format!("the resource tracker could not remove {name}: {error}"),
            "The tracker tried to clean up a resource the program left, and failed.",
            "Release the resource in the program before it exits.",
            None,
        ),
        Message::TrackerRelaunched => f(
            Category::Warning,
            "tracker-relaunched",
            "the resource tracker died and was relaunched".into(),
            "The resource tracker process was killed (or crashed). What the old tracker had \
             registered is no longer tracked, and leaks if the program does not remove it.",
            "Do not kill the resource tracker (it is a child of the main process: killing \
             the process group kills it too); remove shared memory explicitly with unlink().",
            None,
        ),
        Message::Bootstrapping => f(
            Category::Error,
            "bootstrapping-error",
            format!("a child process started a process while importing the main module{spawnlike}"),
            "Under spawn and forkserver (the default from Python 3.14 on Linux, and on macOS \
             and Windows), each child re-imports the main module. Code that starts processes \
             at import time runs again in the child, which refuses with this RuntimeError.",
            "Move the code that starts processes under `if __name__ == \"__main__\":`.",
            Some(RuleCode::MP001),
        ),
        Message::BrokenPool => f(
            Category::Error,
            "broken-process-pool",
            "a worker of a ProcessPoolExecutor died abruptly".into(),
            "A worker was killed by a signal (the OOM killer, a crash in C code) or ended \
             with os._exit() or sys.exit() inside a task; every pending future failed with \
             BrokenProcessPool.",
            "Find why the worker died (exit codes, `dmesg` for the OOM killer); never exit \
             the process from inside a task.",
            None,
        ),
        Message::MissingInMain { attribute } => f(
            Category::Error,
            "missing-in-main",
            format!("a child process could not find `{attribute}` in the main module{spawnlike}"),
            "Under spawn and forkserver the child re-imports the main module and looks the \
             target up by name. A function defined inside `if __name__ == \"__main__\":`, in \
             an interactive session or in `python -c`, does not exist there.",
            "Define the function at the top level of an importable module.",
            Some(RuleCode::MP404),
        ),
        Message::Unpicklable { what } => f(
            Category::Error,
            "unpicklable",
            format!("something sent to a child process cannot be pickled: {what}{spawnlike}"),
            "Under spawn and forkserver everything a child needs (its target, its arguments, \
             pool tasks and results) is pickled. Lambdas, local functions, open files, \
             sockets and thread locks cannot be.",
            "Pass module-level functions and plain data; create locks and connections in the \
             child, or pass multiprocessing's own objects as Process arguments.",
            unpicklable_rule(what),
        ),
        Message::TrackerKeyError { name } => f(
            Category::Warning,
            "tracker-unregistered-twice",
            format!(
                "the resource tracker failed with KeyError on {name}: it was unregistered twice"
            ),
            "The tracker keeps a set of names, shared by a program and its multiprocessing \
             children. A child that called resource_tracker.unregister() on a segment it \
             attached to removed the creator's registration, and the creator's own unlink \
             then unregistered a name the tracker no longer had.",
            "Remove the unregister call from the child: children of the creator just attach \
             and close. The workaround is only for programs outside the creator's process \
             tree; from Python 3.13 use track=False instead.",
            Some(RuleCode::MP304),
        ),
        Message::ExportedBuffer => f(
            Category::Warning,
            "shared-memory-closed-with-views",
            "a SharedMemory was closed while a view of its buffer was alive".into(),
            "close() (or the SharedMemory's garbage collection, which calls it) cannot unmap \
             a buffer that a memoryview, a slice or np.frombuffer still exports: the object \
             is left half-closed, and its mapping and file descriptor live on.",
            "Keep the SharedMemory object alive as long as any view of its buffer, release \
             or delete the views before close(), or copy the data out.",
            Some(RuleCode::MP305),
        ),
        Message::PoolStillRunning => f(
            Category::Error,
            "pool-joined-while-running",
            "a pool was joined before it was closed".into(),
            "Pool.join() waits for the workers to exit, which they do only once the pool \
             takes no more work; on a pool that is still open it raises ValueError, and the \
             results the program was about to wait for are never collected.",
            "Call pool.close() (or terminate()) before pool.join().",
            Some(RuleCode::MP503),
        ),
        Message::ForkWithThreads => f(
            Category::Warning,
            "fork-with-threads",
            "a process that runs threads was forked".into(),
            "Forking copies only the calling thread. A lock that another thread held at that \
             moment stays held forever in the child, which can then deadlock; Python 3.12 and \
             later warn about it.",
            "Use the forkserver or spawn start method (multiprocessing.get_context(\
             \"forkserver\")), or start processes before any thread.",
            Some(RuleCode::MP602),
        ),
        Message::ContextAlreadySet => f(
            Category::Error,
            "start-method-set-twice",
            "set_start_method() was called after the start method was already set".into(),
            "The start method can be set once per process. A call at import time runs again \
             in every spawn or forkserver child, whose method is already set; a call after a \
             lock, queue or pool was made through the default context fails the same way.",
            "Call set_start_method() once, first thing under if __name__ == \"__main__\":, \
             or use a context (multiprocessing.get_context(\"spawn\")).",
            Some(RuleCode::MP601),
        ),
        Message::SharedThroughInheritance { what } => f(
            Category::Error,
            "sync-object-pickled",
            format!("a {what} was sent to a process that was already running"),
            "Locks, queues, events and shared values can reach a child only when it starts \
             (as arguments of Process, or inherited). Sent later, through a queue, a pipe \
             or a pool task, they cannot be pickled, and the send raised this RuntimeError.",
            "Pass them as Process arguments or a pool's initializer=/initargs=, or use a \
             Manager's proxies, which can be sent. `mpdoctor check` finds where (MP103).",
            Some(RuleCode::MP103),
        ),
    };
    finding.details = segment_details(message, report);
    finding
}

/// Where the segments a tracker message is about were made and opened, as the injected
/// hook recorded it: "created at loader.py:42, never unlinked (MP301)".
fn segment_details(message: &Message, report: &RunReport) -> Vec<String> {
    let created = |o: &&super::SegmentOrigin| o.kind == "create";
    match message {
        Message::TrackerLeaked { kind, names, .. } if kind == "shared_memory" => report
            .segments
            .iter()
            .filter(created)
            .filter(|o| !o.unlinked)
            // 3.13 names them; before, every segment created and never unlinked is one.
            .filter(|o| names.is_empty() || names.contains(&o.name))
            .map(|o| {
                format!(
                    "{} created at {} (pid {}), never unlinked (MP301)",
                    o.name, o.at, o.pid
                )
            })
            .collect(),
        Message::TrackerMissing { name } => {
            let creator = report
                .segments
                .iter()
                .find(|o| &o.name == name && o.kind == "create");
            let mut out: Vec<String> = creator
                .map(|o| format!("{name} created at {} (pid {})", o.at, o.pid))
                .into_iter()
                .collect();
            out.extend(
                report
                    .segments
                    .iter()
                    .filter(|o| &o.name == name && o.kind == "attach")
                    .map(|o| {
                        format!(
                            "{name} attached at {} (pid {}) with tracking on: outside the \
                             creator's process tree, its tracker unlinks the segment (MP303)",
                            o.at, o.pid
                        )
                    }),
            );
            out
        }
        _ => Vec::new(),
    }
}

/// The rule that prevents a pickling error, by what could not be pickled: a lambda or a
/// local definition (MP401), a thread lock or `queue` object (MP406).
fn unpicklable_rule(what: &str) -> Option<RuleCode> {
    if what.contains("local object") || what.contains("<lambda>") {
        Some(RuleCode::MP401)
    } else if ["'_thread.lock'", "'_thread.RLock'", "'_queue.SimpleQueue'"]
        .iter()
        .any(|t| what.contains(t))
    {
        Some(RuleCode::MP406)
    } else {
        None
    }
}

/// Children that died, grouped by cause: one finding per cause and exception text, with
/// the rule that prevents it where one does. Deaths whose message standard error already
/// explains (the bootstrapping error, `Can't get attribute`, pickling errors) are left to
/// that finding.
fn child_deaths(report: &RunReport) -> Vec<Finding> {
    let mut groups: BTreeMap<(&'static str, String), Vec<&super::ChildExit>> = BTreeMap::new();
    // (The first of a group says what the others said.)
    for exit in &report.child_exits {
        let text = exit.exception.as_deref().unwrap_or("");
        if text.contains("finished its bootstrapping phase")
            || text.contains("Can't get attribute")
            || text.contains("pickle")
            || text.contains("should only be shared between processes through inheritance")
        {
            continue;
        }
        let id = child_cause(exit);
        // One finding per kind of exception where it was raised; the first one's text.
        let key = match &exit.exception {
            Some(e) => format!(
                "{} {}",
                e.split(':').next().unwrap_or(e),
                exit.raised_in.as_deref().unwrap_or("")
            ),
            None => ending(exit),
        };
        groups.entry((id, key)).or_default().push(exit);
    }
    groups
        .into_values()
        .map(|exits| {
            let first = exits[0];
            child_finding(report, child_cause(first), &ending(first), &exits)
        })
        .collect()
}

fn is_pool_worker(exit: &super::ChildExit) -> bool {
    exit.name
        .as_deref()
        .is_some_and(|n| n.contains("PoolWorker"))
}

/// `SIGKILL` for 9: the signals a child is likely to die of.
fn signal_name(signal: i32) -> String {
    let name = match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// What a child's end says, for a title: its exception, its signal or its exit code.
fn ending(exit: &super::ChildExit) -> String {
    match (&exit.exception, exit.signal) {
        (Some(e), _) => e.clone(),
        (None, Some(signal)) => signal_name(signal),
        (None, None) => format!("exit code {}", exit.exit_code),
    }
}

/// The known cause of a child's death, as a finding id.
fn child_cause(exit: &super::ChildExit) -> &'static str {
    let Some(text) = exit.exception.as_deref() else {
        // A pool worker never ends on its own while its pool is in use: a task's
        // exception goes back to the caller, so an exit, a signal or sys.exit() took the
        // task it ran with it. (A worker the pool itself stops is never marked.)
        if is_pool_worker(exit) {
            return "pool-worker-died";
        }
        return if exit.signal.is_some() {
            "child-killed"
        } else {
            "child-exit-code"
        };
    };
    let at = exit.raised_in.as_deref().unwrap_or("");
    // A NameError while the main module is imported again is that module's own code
    // failing outside its guard, not a global the child lacks.
    if text.starts_with("NameError: ") && at != "<module>" {
        "child-name-error"
    } else if text.starts_with("TypeError: ")
        && at == "run"
        && (text.contains("positional argument")
            || text.contains("keyword argument")
            || text.contains("keyword-only argument"))
    {
        // Raised in `BaseProcess.run`, by the call of the target itself.
        "child-arguments-mismatch"
    } else if text.starts_with("FileNotFoundError: ")
        && exit.phase == "start"
        && matches!(at, "_rebuild" | "__setstate__")
    {
        // SemLock.__setstate__ reopening a named semaphore that no longer exists.
        "child-semaphore-gone"
    } else if text.contains("daemonic processes are not allowed to have children") {
        "child-daemon-children"
    } else {
        "child-died"
    }
}

fn child_finding(
    report: &RunReport,
    id: &'static str,
    said: &str,
    exits: &[&super::ChildExit],
) -> Finding {
    let mut pids: Vec<i32> = exits.iter().map(|e| e.pid).collect();
    pids.sort_unstable();
    let who = if pids.len() == 1 {
        format!("child process {}", pids[0])
    } else {
        format!("{} child processes ({})", pids.len(), join_pids(&pids))
    };
    let method = match report.start_method {
        Some(m) => format!(" under {m}"),
        None => String::new(),
    };
    let its = if exits.len() == 1 { "its" } else { "their" };
    let phase = if exits.iter().all(|e| e.phase == "start") {
        format!("before {its} target ran")
    } else {
        format!("in {its} target")
    };
    let (title, why, fix, rule): (String, &str, &str, Option<RuleCode>) = match id {
        "child-name-error" => (
            format!("{who} died{method} with {said}"),
            "Under spawn and forkserver a child does not inherit the parent's memory: it \
             imports the main module again (as __mp_main__), and a global that the main \
             program sets only under its main guard, or in a function, does not exist there. \
             Under fork the child would have had a copy of it.",
            "Pass the value to the child as an argument (args=...), or set it at module \
             level. `mpdoctor check` finds the global and the child that reads it (MP404).",
            Some(RuleCode::MP404),
        ),
        "child-arguments-mismatch" => (
            format!("{who} died{method}: the arguments do not fit the target ({said})"),
            "The Process's args= or kwargs= do not match the target's parameters (a bound \
             method counts self). The child dies at its first line with this TypeError, and \
             the parent carries on as if it had run.",
            "Make args= and kwargs= fit the target's signature; a one-element tuple needs a \
             comma: args=(x,). `mpdoctor check` compares them (MP403).",
            Some(RuleCode::MP403),
        ),
        "child-semaphore-gone" => (
            format!("{who} died{method} before {its} target ran: {said}"),
            "Under spawn and forkserver a child opens the locks and queues it was given by \
             name while it starts. The parent freed them first (they were temporaries in \
             the arguments, or the parent exited without joining), so the semaphore was \
             gone.",
            "Keep the lock or queue in a variable until the child is joined, and join \
             children before the parent exits. `mpdoctor check` finds temporaries in \
             arguments (MP104).",
            Some(RuleCode::MP104),
        ),
        "child-daemon-children" => (
            format!("{who} died{method}: {said}"),
            "A daemonic process (every Pool worker is one) may not start processes: when it \
             ends, its children would be orphaned.",
            "Start the processes from the parent, or use a non-daemonic Process that joins \
             its children. `mpdoctor check` finds it (MP506).",
            Some(RuleCode::MP506),
        ),
        "child-killed" => (
            format!("{who} was killed by {said}{method}"),
            "Its parent saw it end by a signal that neither it nor mpdoctor sent through \
             terminate() or kill(): SIGKILL from the kernel's out-of-memory killer or \
             another process, SIGSEGV, SIGBUS or SIGABRT from a crash in C code (an \
             extension module; under fork, often a library that was not fork-safe). No \
             Python code ran to say why.",
            "For SIGKILL, look for the out-of-memory killer (`journalctl -k`, or `dmesg` \
             as root) and give each child less to hold; for a crash, run the child alone \
             with `python3 -X faulthandler`, and under fork try spawn or forkserver.",
            None,
        ),
        "pool-worker-died" => (
            format!(
                "{} of a multiprocessing.Pool died{method} with {said}",
                who.replace("child process", "worker")
            ),
            "A pool worker runs each task inside `except Exception` and sends the exception \
             back to the caller, so a worker only ends while its pool is in use when a task \
             ended the process (sys.exit(), os._exit(), SystemExit) or a signal killed it \
             (a crash, the out-of-memory killer). The pool starts a replacement, but the \
             task the worker held is lost: map(), get() without a timeout, imap iteration \
             and join() wait for its result forever.",
            "Do not end the process from a task: raise an exception (it reaches the caller \
             through get()), or return a value that says what happened. Use a timeout on \
             get() where a worker may be killed, or concurrent.futures.ProcessPoolExecutor, \
             which fails the futures with BrokenProcessPool instead of waiting. `mpdoctor \
             check` finds exits in tasks (MP504).",
            Some(RuleCode::MP504),
        ),
        "child-exit-code" if exits.iter().all(|e| e.phase == "parent") => (
            format!("{who} ended{method} with {said} and no Python exception"),
            "Its parent saw it end with a non-zero code that no Python exception and no \
             sys.exit() in its target explains: os._exit(), or exit() in C code.",
            "Check the child's exit code (Process.exitcode) in the parent and handle it; \
             this is only a finding when the program does not expect it.",
            None,
        ),
        "child-exit-code" => (
            format!("{who} ended{method} with {said}"),
            "The child's target called sys.exit() with a non-zero code (or returned from \
             the child's bootstrap with one); nothing was raised.",
            "Check the child's exit code (Process.exitcode) in the parent and handle it; \
             this is only a finding when the program does not expect it.",
            None,
        ),
        _ => (
            format!("{who} died{method} {phase} with {said}"),
            "An exception ended the child. multiprocessing prints its traceback on \
             standard error, but the parent is not told: the child's exit code is 1, and \
             the parent carries on unless it checks Process.exitcode.",
            "Read the traceback above in standard error; check exitcode after join(), or \
             send the outcome back (a pool or an executor passes exceptions to the parent).",
            None,
        ),
    };
    let severity = if id == "child-exit-code" {
        Severity::Warning
    } else {
        Severity::Error
    };
    let codes: BTreeSet<(i32, Option<i32>)> =
        exits.iter().map(|e| (e.exit_code, e.signal)).collect();
    let codes: Vec<String> = codes
        .iter()
        .map(|(code, signal)| match signal {
            Some(s) => format!("{code} ({})", signal_name(*s)),
            None => code.to_string(),
        })
        .collect();
    Finding {
        category: if severity == Severity::Warning {
            Category::Warning
        } else {
            Category::Error
        },
        id,
        severity,
        title,
        message: {
            let mut m = match &exits[0].raised_in {
                Some(f) if exits[0].exception.is_some() => format!(
                    "Exit code {}; the exception was raised in {f}() {phase}.",
                    codes.join(", ")
                ),
                _ => format!("Exit code {}.", codes.join(", ")),
            };
            // The first to end, by the time its parent saw it.
            if let Some(first) = exits
                .iter()
                .filter(|e| e.seconds.is_some())
                .min_by(|a, b| a.seconds.partial_cmp(&b.seconds).unwrap_or(Ordering::Equal))
            {
                let name = first
                    .name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default();
                let lead = if exits.len() == 1 {
                    format!("It{name}")
                } else {
                    format!("The first, {}{name},", first.pid)
                };
                m.push_str(&format!(
                    " {lead} ended {:.1} s into the run.",
                    first.seconds.unwrap_or(0.0)
                ));
            }
            m
        },
        why: why.into(),
        fix: fix.into(),
        rule,
        details: Vec::new(),
    }
}

#[cfg(test)]
mod rule_of_pickling_errors {
    use super::*;

    #[test]
    fn pickling_errors_name_the_rule_that_prevents_them() {
        let rule = |line: &str| match crate::run::messages::recognise(line) {
            Some(Message::Unpicklable { what }) => unpicklable_rule(&what),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            rule("AttributeError: Can't pickle local object 'main.<locals>.inner'"),
            Some(RuleCode::MP401)
        );
        assert_eq!(
            rule(
                "_pickle.PicklingError: Can't pickle <function <lambda> at 0x7f>: attribute lookup <lambda> on __main__ failed"
            ),
            Some(RuleCode::MP401)
        );
        assert_eq!(
            rule("TypeError: cannot pickle '_thread.lock' object"),
            Some(RuleCode::MP406)
        );
        assert_eq!(rule("TypeError: cannot pickle 'generator' object"), None);
    }

    #[test]
    fn child_deaths_are_classified_by_exception_and_place() {
        let exit = |phase: &str, at: &str, text: &str| super::super::ChildExit {
            pid: 1,
            exit_code: 1,
            phase: phase.into(),
            signal: None,
            name: None,
            seconds: None,
            raised_in: Some(at.into()),
            exception: Some(text.into()),
        };
        let cause = |phase, at, text| super::child_cause(&exit(phase, at, text));
        assert_eq!(
            cause("run", "work", "NameError: name 'SCALE' is not defined"),
            "child-name-error"
        );
        assert_eq!(
            cause(
                "run",
                "run",
                "TypeError: work() takes 2 positional arguments but 3 were given"
            ),
            "child-arguments-mismatch"
        );
        // The same words raised inside the target are the program's own error.
        assert_eq!(
            cause(
                "run",
                "work",
                "TypeError: f() takes 2 positional arguments but 3 were given"
            ),
            "child-died"
        );
        assert_eq!(
            cause(
                "start",
                "__setstate__",
                "FileNotFoundError: [Errno 2] No such file or directory"
            ),
            "child-semaphore-gone"
        );
        assert_eq!(
            cause(
                "run",
                "load",
                "FileNotFoundError: [Errno 2] No such file or directory"
            ),
            "child-died"
        );
        let mut plain = exit("run", "-", "");
        plain.exception = None;
        assert_eq!(super::child_cause(&plain), "child-exit-code");
        let mut killed = exit("parent", "-", "");
        (killed.exception, killed.signal, killed.exit_code) = (None, Some(9), -9);
        assert_eq!(super::child_cause(&killed), "child-killed");
        // A pool worker's exit, by signal or not, loses the task it held.
        killed.name = Some("SpawnPoolWorker-2".into());
        assert_eq!(super::child_cause(&killed), "pool-worker-died");
        plain.name = Some("ForkPoolWorker-1".into());
        assert_eq!(super::child_cause(&plain), "pool-worker-died");
        // A NameError from importing the main module again is that module's own code.
        assert_eq!(
            cause("start", "<module>", "NameError: name 'mp' is not defined"),
            "child-died"
        );
        // An initializer that raises is the program's own exception, shown as such.
        let init = exit("run", "init", "ValueError: bad config");
        assert_eq!(super::child_cause(&init), "child-died");
    }
}
