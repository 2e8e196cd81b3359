//! The process tree of a run: who descends from the watchdog, what each process is
//! doing, and how to stop them all.
//!
//! The watchdog is a child subreaper, so a process whose parent exits is re-parented to
//! it instead of to init: the whole tree stays below it and nothing escapes the count.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Serialize;

/// One line of `/proc/PID/stat`: what the tree walk needs.
#[derive(Clone, Debug)]
pub struct Stat {
    pub ppid: i32,
    pub state: char,
    pub comm: String,
    /// Clock ticks after boot: with the pid, it tells a process from a reuse of its pid.
    pub start: u64,
    /// Clock ticks spent running, in user and kernel mode.
    pub cpu: u64,
}

/// Parses `/proc/PID/stat`. The name is between the first `(` and the last `)`, and may
/// itself contain both.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    Some(Stat {
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        // Field 22 of the line; the rest starts at field 3.
        start: rest.get(19)?.parse().ok()?,
        // Fields 14 and 15: utime and stime.
        cpu: rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?,
        comm,
    })
}

pub fn stat(proc_root: &Path, pid: i32) -> Option<Stat> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    parse_stat(&text)
}

/// Every process's stat, by pid.
pub fn table(proc_root: &Path) -> HashMap<i32, Stat> {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return HashMap::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, stat(proc_root, pid)?)))
        .collect()
}

/// The live (not zombie) descendants of `root`, sorted.
pub fn descendants(table: &HashMap<i32, Stat>, root: i32) -> Vec<i32> {
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    for (pid, st) in table {
        children.entry(st.ppid).or_default().push(*pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        for child in children.get(&pid).into_iter().flatten() {
            // A pid cannot be its own ancestor, but a racing read could make it look so.
            if *child != root && !out.contains(child) {
                out.push(*child);
                stack.push(*child);
            }
        }
    }
    out.retain(|pid| table.get(pid).is_some_and(|s| s.state != 'Z'));
    out.sort_unstable();
    out
}

pub fn cmdline(proc_root: &Path, pid: i32) -> String {
    let bytes = std::fs::read(proc_root.join(pid.to_string()).join("cmdline")).unwrap_or_default();
    let args: Vec<String> = bytes
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(crate::shm::escape_name)
        .collect();
    args.join(" ")
}

/// A thread of a stuck process, and where in the kernel it waits.
#[derive(Clone, Debug, Serialize)]
pub struct ThreadState {
    pub tid: i32,
    pub name: String,
    pub state: char,
    /// The kernel function it sleeps in (`pipe_write`, `do_wait`, ...), if shown.
    pub wchan: Option<String>,
}

/// A process still alive when the run was judged to hang.
#[derive(Clone, Debug, Serialize)]
pub struct Stuck {
    pub pid: i32,
    pub ppid: i32,
    pub cmdline: String,
    pub state: char,
    pub threads: Vec<ThreadState>,
    /// What `py-spy dump` printed for it, when that tool is installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_stack: Option<String>,
}

impl Stuck {
    pub fn main_thread(&self) -> Option<&ThreadState> {
        self.threads.iter().find(|t| t.tid == self.pid)
    }
}

fn wchan(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path.join("wchan")).ok()?;
    let text = text.trim();
    // "0" means running, or that the kernel will not say.
    (!text.is_empty() && text != "0").then(|| text.to_string())
}

pub fn inspect(proc_root: &Path, pid: i32) -> Option<Stuck> {
    let base = proc_root.join(pid.to_string());
    let st = stat(proc_root, pid)?;
    let mut threads: Vec<ThreadState> = std::fs::read_dir(base.join("task"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| {
            let tid: i32 = t.file_name().to_str()?.parse().ok()?;
            let tst = parse_stat(&std::fs::read_to_string(t.path().join("stat")).ok()?)?;
            Some(ThreadState {
                tid,
                name: crate::shm::escape_name(tst.comm.as_bytes()),
                state: tst.state,
                wchan: wchan(&t.path()),
            })
        })
        .collect();
    threads.sort_by_key(|t| t.tid);
    Some(Stuck {
        pid,
        ppid: st.ppid,
        cmdline: cmdline(proc_root, pid),
        state: st.state,
        threads,
        python_stack: None,
    })
}

/// `py-spy dump` of a process, when py-spy is on PATH; bounded in time.
pub fn python_stack(pid: i32) -> Option<String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("py-spy").is_file()));
    if !found {
        return None;
    }
    let mut child = std::process::Command::new("py-spy")
        .args(["dump", "--nonblocking", "--pid", &pid.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut()?, &mut text).ok()?;
    let text = text.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// Whether a command line runs Python: a word before its first option is named
/// `python*`, so a launcher counts too (`bash .../pyenv-exec python3 -I ...`).
/// Kernel functions a thread sleeps in while it waits for another process or thread of
/// the run: a lock or semaphore (futex), a pipe or socket, a child (`do_wait`), or any of
/// several descriptors. Timed sleeps (`hrtimer_nanosleep`) are not among them.
pub fn is_blocking_wait(wchan: &str) -> bool {
    const WAITS: [&str; 13] = [
        "futex",
        "poll_schedule_timeout",
        "pipe_",
        "do_wait",
        "unix_stream",
        "sk_wait_data",
        "wait_woken",
        "inet_csk_accept",
        "do_select",
        "do_sys_poll",
        "core_sys_select",
        "ep_poll",
        "do_epoll_wait",
    ];
    WAITS.iter().any(|w| wchan.contains(w))
}

pub fn runs_python(cmdline: &str) -> bool {
    cmdline
        .split(' ')
        .take_while(|a| !a.starts_with('-'))
        .any(|a| a.rsplit('/').next().unwrap_or("").starts_with("python"))
}

/// The processes that clean up after others: stopping them first would leak what they
/// were about to remove.
pub fn is_cleanup_helper(cmdline: &str) -> bool {
    cmdline.contains("resource_tracker import main")
        || cmdline.contains("loky.backend.resource_tracker")
}

/// What the processes of the tree were, for the report: pid -> command line, kept after
/// they exit.
pub type Seen = BTreeMap<i32, String>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_names_may_hold_parentheses_and_spaces() {
        let line = "42 (a) b (c)) S 7 42 42 0 -1 4194304 1 0 0 0 11 12 0 0 20 0 1 0 12345 0 0";
        let st = parse_stat(line).unwrap();
        assert_eq!(st.comm, "a) b (c)");
        assert_eq!(st.state, 'S');
        assert_eq!(st.ppid, 7);
        assert_eq!(st.start, 12345);
        assert_eq!(st.cpu, 11 + 12);
    }

    #[test]
    fn blocking_waits_are_told_from_timed_sleeps() {
        for wait in [
            "futex_do_wait",
            "futex_wait_queue_me",
            "anon_pipe_read",
            "do_wait",
        ] {
            assert!(is_blocking_wait(wait), "{wait}");
        }
        assert!(!is_blocking_wait("hrtimer_nanosleep"));
        assert!(!is_blocking_wait("0"));
    }

    #[test]
    fn descendants_skip_zombies_and_strangers() {
        let mk = |ppid, state| Stat {
            ppid,
            state,
            comm: String::new(),
            start: 0,
            cpu: 0,
        };
        let table: HashMap<i32, Stat> = [
            (10, mk(1, 'S')),
            (11, mk(10, 'S')),
            (12, mk(11, 'Z')),
            (13, mk(11, 'R')),
            (20, mk(1, 'S')),
        ]
        .into_iter()
        .collect();
        assert_eq!(descendants(&table, 10), vec![11, 13]);
        assert!(descendants(&table, 13).is_empty());
    }
}
