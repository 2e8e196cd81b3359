//! `mpdoctor shm`: what is in `/dev/shm`, who holds it, who made it, and what leaked.
//!
//! Read-only unless `--clean --yes` is given. Entries are read with `lstat` relative to a
//! directory handle (links are never followed) and matched to processes by device and
//! inode, never by path: a live glibc semaphore is mapped under a temporary name that
//! was since unlinked, and Python's `mmap` keeps a duplicate descriptor.

pub mod clean;
pub mod inventory;
pub mod origin;
pub mod output;
pub mod procs;
pub mod sysv;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use inventory::{Entry, Kind};
use origin::Origin;
use procs::{Hold, ProcInfo, ProcScan};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Some process has it open or mapped.
    InUse,
    /// Nothing holds it, every process could be read, and it is older than `--min-age`.
    Leaked,
    /// Nothing readable holds it, it is old enough, its creator (where known) is gone,
    /// and only processes that cannot be read could still hold it.
    LikelyLeaked,
    /// It cannot be told: a process could not be read, it is too young, or it is a link.
    Unknown,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::InUse,
        Verdict::Leaked,
        Verdict::LikelyLeaked,
        Verdict::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::InUse => "in-use",
            Verdict::Leaked => "leaked",
            Verdict::LikelyLeaked => "likely-leaked",
            Verdict::Unknown => "unknown",
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!("unknown verdict `{s}` (expected in-use, leaked, likely-leaked or unknown)")
            })
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub dir: PathBuf,
    pub proc_root: PathBuf,
    /// Seconds an unheld entry must have existed before it counts as leaked.
    pub min_age: i64,
    pub user: Option<u32>,
    pub origins: Vec<Origin>,
    pub verdicts: Vec<Verdict>,
    /// Unreadable processes the user vouches hold nothing here (`--disregard`).
    pub disregard: Vec<i32>,
    /// "Now", in seconds since the epoch (a parameter so tests can fix it).
    pub now: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    pub pid: i32,
    pub how: Vec<Hold>,
    pub uid: Option<u32>,
    pub cmdline: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Item {
    /// The name with control characters and invalid UTF-8 escaped (`\x1b`).
    pub name: String,
    /// The name's exact bytes, in hex.
    pub name_hex: String,
    pub kind: Kind,
    pub size: u64,
    pub allocated: u64,
    pub uid: u32,
    pub owner: Option<String>,
    pub mode: String,
    pub age_seconds: i64,
    pub dev: u64,
    pub ino: u64,
    pub origin: Origin,
    /// The creator's pid, when the name encodes one.
    pub origin_pid: Option<i32>,
    /// Whether that creator still runs (a reused pid counts as dead).
    pub creator_alive: Option<bool>,
    pub semaphore_value: Option<u32>,
    pub holders: Vec<Holder>,
    /// For `likely-leaked` and `unknown`: the processes that cannot be read and could
    /// hold it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub could_hold: Vec<Holder>,
    pub verdict: Verdict,
    pub reason: String,
    #[serde(skip)]
    pub raw_name: Vec<u8>,
}

#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct FsUsage {
    pub size: u64,
    pub free: u64,
    pub available: u64,
}

impl FsUsage {
    pub fn used(&self) -> u64 {
        self.size.saturating_sub(self.free)
    }

    pub fn percent_used(&self) -> f64 {
        if self.size == 0 {
            0.0
        } else {
            self.used() as f64 * 100.0 / self.size as f64
        }
    }
}

/// A helper process of multiprocessing or loky that cleans up after a process tree.
#[derive(Clone, Debug, Serialize)]
pub struct Helper {
    pub pid: i32,
    pub kind: &'static str,
    pub cmdline: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct DeletedMapping {
    pub pid: i32,
    pub bytes: u64,
    pub cmdline: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub dir: String,
    /// After the filters, largest first.
    pub items: Vec<Item>,
    pub filesystem: Option<FsUsage>,
    pub processes_scanned: usize,
    pub unreadable_processes: usize,
    /// The processes that could not be read (those `--disregard` names excepted).
    pub unreadable_pids: Vec<i32>,
    /// The first three of them, short: `pid 1 (root, init)`.
    #[serde(skip)]
    pub unreadable: Vec<String>,
    /// What to do about them, when there are any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable_advice: Option<String>,
    pub helpers: Vec<Helper>,
    pub deleted_mappings: Vec<DeletedMapping>,
    /// Memory of deleted files mapped by any process, each file counted once.
    pub deleted_mapped_bytes: u64,
    /// System V shared memory segments (after the filters).
    pub sysv: Vec<sysv::Segment>,
}

impl Report {
    pub fn leaked(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.verdict == Verdict::Leaked)
    }

    /// Leaked entries and System V segments.
    pub fn leaked_count(&self) -> usize {
        self.leaked().count()
            + self
                .sysv
                .iter()
                .filter(|s| s.verdict == Verdict::Leaked)
                .count()
    }

    pub fn likely_leaked(&self) -> impl Iterator<Item = &Item> {
        self.items
            .iter()
            .filter(|i| i.verdict == Verdict::LikelyLeaked)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShmError {
    #[error("cannot read {}: {source}", .path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the process table at {}: {source}", .path.display())]
    Proc {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Escapes a name for a terminal: printable UTF-8 stays, control characters and
/// invalid bytes become `\xNN`, so a hostile name cannot drive the terminal.
pub fn escape_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for chunk in name.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() || c == '\\' || is_invisible_format(c) {
                if c == '\\' {
                    out.push_str("\\\\");
                } else {
                    for b in c.to_string().bytes() {
                        out.push_str(&format!("\\x{b:02x}"));
                    }
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Characters that change how text is shown without being seen: bidirectional controls
/// (a name can hide `exe` behind `\u{202e}`), zero-width characters, soft hyphens.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{ad}' | '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A user given by name or number.
pub fn uid_of(user: &str) -> Option<u32> {
    user.parse().ok().or_else(|| {
        user_names()
            .into_iter()
            .find(|(_, n)| n == user)
            .map(|(u, _)| u)
    })
}

/// User names from `/etc/passwd`.
fn user_names() -> std::collections::HashMap<u32, String> {
    let Ok(text) = std::fs::read_to_string("/etc/passwd") else {
        return Default::default();
    };
    text.lines()
        .filter_map(|l| {
            let mut parts = l.split(':');
            let name = parts.next()?;
            let uid = parts.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// Whether `/proc` hides other users' processes from us (mounted with `hidepid`).
fn hides_processes(proc_root: &Path) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(proc_root.join("self/mountinfo")) else {
        return false;
    };
    text.lines().any(|l| {
        l.contains(" - proc ")
            && l.split([',', ' '])
                .any(|o| o.starts_with("hidepid=") && !matches!(o, "hidepid=0" | "hidepid=off"))
    })
}

/// Scans the directory and the process table once.
pub fn inspect(options: &Options) -> Result<Report, ShmError> {
    let (dir_fd, entries) = inventory::scan(&options.dir).map_err(|source| ShmError::Dir {
        path: options.dir.clone(),
        source,
    })?;
    if !options.proc_root.is_dir() {
        return Err(ShmError::Proc {
            path: options.proc_root.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let dir_dev = std::fs::symlink_metadata(&options.dir)
        .map(|m| std::os::unix::fs::MetadataExt::dev(&m))
        .unwrap_or(0);
    // A directory (joblib's folders) is in use when anything below it is, and its size
    // is what is below it.
    let inside: Vec<Result<Vec<Entry>, String>> = entries
        .iter()
        .map(|e| match e.kind {
            Kind::Directory => match std::ffi::CString::new(e.name.clone()) {
                Ok(name) => inventory::tree(&dir_fd, &name, e.dev),
                Err(err) => Err(err.to_string()),
            },
            _ => Ok(Vec::new()),
        })
        .collect();
    let inodes: HashSet<u64> = entries
        .iter()
        .map(|e| e.ino)
        .chain(inside.iter().flatten().flatten().map(|e| e.ino))
        .collect();
    let fs = procs::ShmFs {
        dir: &options.dir,
        dev: dir_dev,
        known: &|ino| inodes.contains(&ino),
    };
    let scan = procs::scan(&options.proc_root, &fs).map_err(|source| ShmError::Proc {
        path: options.proc_root.clone(),
        source,
    })?;
    let users = user_names();
    let hidden = hides_processes(&options.proc_root);
    let mut items: Vec<Item> = entries
        .into_iter()
        .zip(inside)
        .map(|(entry, inside)| judge(entry, inside, &scan, options, &users, hidden))
        .filter(|item| {
            options.user.is_none_or(|u| item.uid == u)
                && (options.origins.is_empty() || options.origins.contains(&item.origin))
                && (options.verdicts.is_empty() || options.verdicts.contains(&item.verdict))
        })
        .collect();
    items.sort_by(|a, b| {
        (b.size, b.allocated)
            .cmp(&(a.size, a.allocated))
            .then(a.raw_name.cmp(&b.raw_name))
    });
    let filesystem = rustix::fs::statvfs(&options.dir).ok().map(|s| FsUsage {
        size: s.f_blocks * s.f_frsize,
        free: s.f_bfree * s.f_frsize,
        available: s.f_bavail * s.f_frsize,
    });
    let helpers = scan
        .procs
        .iter()
        .filter_map(|p| {
            let kind = helper_kind(&p.cmdline)?;
            Some(Helper {
                pid: p.pid,
                kind,
                cmdline: p.cmdline.clone(),
            })
        })
        .collect();
    let deleted_mappings = scan
        .procs
        .iter()
        .filter(|p| p.deleted_mapped_bytes() > 0)
        .map(|p| DeletedMapping {
            pid: p.pid,
            bytes: p.deleted_mapped_bytes(),
            cmdline: p.cmdline.clone(),
        })
        .collect();
    // Shared by several processes, a deleted file still uses its memory once.
    let mut unique: std::collections::HashMap<(u64, u64), u64> = Default::default();
    for p in &scan.procs {
        for (key, bytes) in &p.deleted_mappings {
            let slot = unique.entry(*key).or_insert(0);
            *slot = (*slot).max(*bytes);
        }
    }
    let deleted_mapped_bytes = unique.values().sum();
    let sysv = sysv::judge(sysv::read(&options.proc_root), &scan, options, &users);
    let unreadable: Vec<&ProcInfo> = scan
        .procs
        .iter()
        .filter(|p| p.unreadable && !options.disregard.contains(&p.pid))
        .collect();
    Ok(Report {
        dir: options.dir.display().to_string(),
        items,
        filesystem,
        processes_scanned: scan.procs.len(),
        unreadable_processes: scan.unreadable(),
        unreadable_pids: unreadable.iter().map(|p| p.pid).collect(),
        unreadable_advice: (!unreadable.is_empty()).then(|| {
            let pids: Vec<i32> = unreadable.iter().map(|p| p.pid).collect();
            unreadable_advice(&pids, rustix::process::geteuid().is_root())
        }),
        unreadable: {
            let mut shown: Vec<String> = unreadable
                .iter()
                .take(3)
                .map(|p| short_process(p.pid, p.uid, &p.cmdline, &users))
                .collect();
            if unreadable.len() > 3 {
                shown.push(format!("and {} more", unreadable.len() - 3));
            }
            shown
        },
        helpers,
        deleted_mappings,
        deleted_mapped_bytes,
        sysv,
    })
}

fn helper_kind(cmdline: &str) -> Option<&'static str> {
    if cmdline.contains("from multiprocessing.resource_tracker import main") {
        Some("python-resource-tracker")
    } else if cmdline.contains("from multiprocessing.forkserver import main") {
        Some("python-forkserver")
    } else if cmdline.contains("loky.backend.resource_tracker") {
        Some("loky-resource-tracker")
    } else {
        None
    }
}

/// Holders, origin and verdict of one entry.
fn judge(
    mut entry: Entry,
    inside: Result<Vec<Entry>, String>,
    scan: &ProcScan,
    options: &Options,
    users: &std::collections::HashMap<u32, String>,
    hidden: bool,
) -> Item {
    let (inside, unreadable_inside) = match inside {
        Ok(below) => (below, None),
        Err(why) => (Vec::new(), Some(why)),
    };
    entry.size += inside.iter().map(|e| e.size).sum::<u64>();
    entry.allocated += inside.iter().map(|e| e.allocated).sum::<u64>();
    let mut by_pid: std::collections::BTreeMap<i32, Vec<Hold>> = Default::default();
    let keys = std::iter::once((entry.dev, entry.ino)).chain(inside.iter().map(|e| (e.dev, e.ino)));
    for key in keys {
        for (pid, how) in scan.holders.get(&key).into_iter().flatten() {
            let list = by_pid.entry(*pid).or_default();
            if !list.contains(how) {
                list.push(*how);
            }
        }
    }
    let holders: Vec<Holder> = by_pid
        .into_iter()
        .map(|(pid, how)| {
            let info = scan.process(pid);
            Holder {
                pid,
                how,
                uid: info.and_then(|p| p.uid),
                cmdline: info.map(|p| p.cmdline.clone()).unwrap_or_default(),
            }
        })
        .collect();
    let (origin, origin_pid) = origin::classify(&entry.name);
    let creator_alive = origin_pid.map(|pid| creator_alive(scan.process(pid), &entry));
    let age = (options.now - entry.existed_since()).max(0);
    let could_hold = |p: &ProcInfo| {
        p.unreadable
            && !options.disregard.contains(&p.pid)
            && match p.uid {
                None | Some(0) => true,
                // Group members and others may open it when its mode lets them.
                Some(uid) => uid == entry.uid || entry.mode & 0o066 != 0,
            }
    };
    let could: Vec<Holder> = scan
        .procs
        .iter()
        .filter(|p| could_hold(p))
        .map(|p| Holder {
            pid: p.pid,
            how: Vec::new(),
            uid: p.uid,
            cmdline: p.cmdline.clone(),
        })
        .collect();
    let (verdict, reason) = if !holders.is_empty() {
        (
            Verdict::InUse,
            format!("held by {} process(es)", holders.len()),
        )
    } else if entry.kind == Kind::Symlink {
        (
            Verdict::Unknown,
            "a symbolic link: never followed".to_string(),
        )
    } else if !could.is_empty() {
        likely_or_unknown(
            &could,
            &unreadable_inside,
            hidden,
            age,
            options,
            (origin_pid, creator_alive),
            users,
        )
    } else if let Some(why) = unreadable_inside {
        (
            Verdict::Unknown,
            format!("what is inside cannot be judged: {why}"),
        )
    } else if hidden {
        (
            Verdict::Unknown,
            "/proc hides other users' processes (hidepid), and any of them could hold it"
                .to_string(),
        )
    } else if age < options.min_age {
        (
            Verdict::Unknown,
            format!(
                "no holder, but only {age}s old (--min-age {})",
                options.min_age
            ),
        )
    } else {
        let mut reason = "no process holds it".to_string();
        let vouched: Vec<String> = scan
            .procs
            .iter()
            .filter(|p| p.unreadable && options.disregard.contains(&p.pid))
            .map(|p| p.pid.to_string())
            .collect();
        if !vouched.is_empty() {
            reason.push_str(&format!(
                " (disregarding unreadable process(es) {}, as --disregard asks)",
                vouched.join(",")
            ));
        }
        if let (Some(pid), Some(false)) = (origin_pid, creator_alive) {
            reason.push_str(&format!("; its creator (pid {pid}) is gone"));
        }
        match entry.semaphore_value {
            Some(0) => reason.push_str(
                "; semaphore value 0: a lock left held by a dead process, or the internal \
                 semaphore of an Event or Condition",
            ),
            Some(0x7fff_ffff) => reason.push_str("; semaphore at its maximum: a Queue's bound"),
            _ => {}
        }
        (Verdict::Leaked, reason)
    };
    Item {
        name: escape_name(&entry.name),
        name_hex: hex(&entry.name),
        kind: entry.kind,
        size: entry.size,
        allocated: entry.allocated,
        uid: entry.uid,
        owner: users.get(&entry.uid).cloned(),
        mode: format!("{:04o}", entry.mode),
        age_seconds: age,
        dev: entry.dev,
        ino: entry.ino,
        origin,
        origin_pid,
        creator_alive,
        semaphore_value: entry.semaphore_value,
        holders,
        could_hold: if matches!(verdict, Verdict::LikelyLeaked | Verdict::Unknown) {
            could
        } else {
            Vec::new()
        },
        verdict,
        reason,
        raw_name: entry.name,
    }
}

/// An entry that no readable process holds while unreadable ones could: `likely-leaked`
/// when everything else that can be checked says leaked, else `unknown`.
fn likely_or_unknown(
    could: &[Holder],
    unreadable_inside: &Option<String>,
    hidden: bool,
    age: i64,
    options: &Options,
    // The pid its name gives, and whether that process still runs.
    (origin_pid, creator_alive): (Option<i32>, Option<bool>),
    users: &std::collections::HashMap<u32, String>,
) -> (Verdict, String) {
    let first = &could[0];
    let unknown = |why: String| (Verdict::Unknown, why);
    if let Some(why) = unreadable_inside {
        return unknown(format!("what is inside cannot be judged: {why}"));
    }
    if hidden {
        return unknown(
            "/proc hides other users' processes (hidepid), and any of them could hold it".into(),
        );
    }
    if age < options.min_age {
        return unknown(format!(
            "process {} could hold it but cannot be read, and it is only {age}s old",
            first.pid
        ));
    }
    if creator_alive == Some(true) {
        return unknown(format!(
            "its creator (pid {}) still runs, and process {} could hold it but cannot be read",
            origin_pid.unwrap_or(0),
            first.pid
        ));
    }
    let names: Vec<String> = could
        .iter()
        .take(3)
        .map(|h| short_process(h.pid, h.uid, &h.cmdline, users))
        .collect();
    let more = if could.len() > 3 {
        format!(" and {} more", could.len() - 3)
    } else {
        String::new()
    };
    // What to do about them is said once, under the table.
    let mut reason = format!(
        "no readable process holds it; only {} unreadable process(es) could: {}{more}",
        could.len(),
        names.join(", "),
    );
    if let (Some(pid), Some(false)) = (origin_pid, creator_alive) {
        reason.push_str(&format!("; its creator (pid {pid}) is gone"));
    }
    (Verdict::LikelyLeaked, reason)
}

/// `pid 1 (root, process_api)`: an unreadable process, short; its full command line is in
/// the JSON (`could_hold`).
pub fn short_process(
    pid: i32,
    uid: Option<u32>,
    cmdline: &str,
    users: &std::collections::HashMap<u32, String>,
) -> String {
    let user = match uid {
        Some(uid) => users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()),
        None => "?".into(),
    };
    let program = cmdline.split(' ').next().unwrap_or("");
    let program = program.rsplit('/').next().unwrap_or(program);
    let mut short = escape_name(program.as_bytes());
    if short.chars().count() > 32 {
        short = short.chars().take(31).collect::<String>() + "…";
    }
    if short.is_empty() {
        short = "a kernel thread".into();
    }
    format!("pid {pid} ({user}, {short})")
}

/// What to do about processes that could hold an entry but cannot be read. Root cannot be
/// told to use sudo: what root cannot read, the kernel protects (a VM's or sandbox's
/// init is the usual one).
pub fn unreadable_advice(pids: &[i32], root: bool) -> String {
    if !root {
        return "`sudo mpdoctor shm` can read them".into();
    }
    let list: Vec<String> = pids.iter().map(i32::to_string).collect();
    if pids == [1] {
        "even root cannot read pid 1 here: this system's init (a VM's or sandbox's, which \
         the kernel protects), and an init does not hold programs' shared memory. If you \
         know it holds nothing here, `--disregard 1` counts such entries as leaked and lets \
         --clean remove them"
            .into()
    } else {
        format!(
            "even root cannot read them (the kernel protects them). If you know they hold \
             nothing here, `--disregard {}` counts such entries as leaked and lets --clean \
             remove them",
            list.join(" --disregard ")
        )
    }
}

/// Whether the process named in an entry is its creator and still runs: a process with
/// that pid that started after the entry existed is someone else (the pid was reused).
fn creator_alive(process: Option<&ProcInfo>, entry: &Entry) -> bool {
    match process {
        None => false,
        // A second of slack: start times are rounded to clock ticks.
        Some(p) => p.started_at.is_none_or(|t| t <= entry.existed_since() + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_escaped() {
        assert_eq!(escape_name(b"psm_1"), "psm_1");
        assert_eq!(escape_name(b"a\x1b[31mred"), "a\\x1b[31mred");
        assert_eq!(escape_name(b"x\ny"), "x\\x0ay");
        assert_eq!(escape_name(b"\xff\xfeok"), "\\xff\\xfeok");
        assert_eq!(escape_name("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape_name(b"a\\b"), "a\\\\b");
        assert_eq!(
            escape_name("psm_\u{202e}fdp.exe".as_bytes()),
            "psm_\\xe2\\x80\\xaefdp.exe"
        );
    }
}
