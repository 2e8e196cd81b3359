//! Who holds what: every process's open files and mappings, by device and inode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use procfs::FromBufRead;
use procfs::process::{MMapPath, MemoryMaps, Process};

/// A process as the probe sees it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ProcInfo {
    pub pid: i32,
    pub uid: Option<u32>,
    pub cmdline: String,
    /// When it started, in seconds since the epoch, if known.
    pub started_at: Option<i64>,
    /// Its `fd/` or `maps` could not be read (another user, `hidepid`).
    pub unreadable: bool,
    /// Files on the scanned filesystem that it maps but that no longer have a name there:
    /// (dev, ino) -> mapped bytes.
    #[serde(skip)]
    pub deleted_mappings: HashMap<(u64, u64), u64>,
}

impl ProcInfo {
    pub fn deleted_mapped_bytes(&self) -> u64 {
        self.deleted_mappings.values().sum()
    }
}

/// How a process holds an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hold {
    Fd,
    Map,
}

#[derive(Debug, Default)]
pub struct ProcScan {
    pub procs: Vec<ProcInfo>,
    /// (dev, ino) -> holders (pid, how), sorted.
    pub holders: HashMap<(u64, u64), Vec<(i32, Hold)>>,
    /// System V segment id -> processes that have it attached (`/SYSV<key>` mappings,
    /// whose inode is the segment id), sorted.
    pub sysv: HashMap<u64, Vec<i32>>,
}

impl ProcScan {
    pub fn unreadable(&self) -> usize {
        self.procs.iter().filter(|p| p.unreadable).count()
    }

    pub fn process(&self, pid: i32) -> Option<&ProcInfo> {
        self.procs.iter().find(|p| p.pid == pid)
    }
}

/// The boot time, for turning a process's start time into a date.
fn boot_time(proc_root: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(proc_root.join("stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Where the scanned directory is: mappings of files below it whose inode `known` does
/// not list are deleted files.
pub struct ShmFs<'k> {
    pub dir: &'k Path,
    pub dev: u64,
    pub known: &'k (dyn Fn(u64) -> bool + Sync),
}

/// Reads every process under `proc_root`.
///
/// A process table that cannot be listed, or lists no process at all, is an error: an
/// empty answer would make every entry look unheld.
pub fn scan(proc_root: &Path, fs: &ShmFs<'_>) -> std::io::Result<ProcScan> {
    let mut out = ProcScan::default();
    let boot = boot_time(proc_root);
    let ticks = procfs::ticks_per_second() as i64;
    let mut pids: Vec<i32> = std::fs::read_dir(proc_root)?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    if pids.is_empty() {
        return Err(std::io::Error::other("it lists no process"));
    }
    // The real /proc must show this very process, or it is another pid namespace's view.
    if proc_root == Path::new("/proc") && !pids.contains(&(std::process::id() as i32)) {
        return Err(std::io::Error::other(
            "it does not list this process: it belongs to another pid namespace",
        ));
    }
    // Processes are independent: read them in parallel, then merge in pid order.
    use rayon::prelude::*;
    let read: Vec<Read> = pids
        .par_iter()
        .filter_map(|&pid| read_process(&proc_root.join(pid.to_string()), pid, boot, ticks, fs))
        .collect();
    for r in read {
        for (key, hold) in r.holds {
            out.holders.entry(key).or_default().push((r.info.pid, hold));
        }
        for id in r.sysv {
            out.sysv.entry(id).or_default().push(r.info.pid);
        }
        out.procs.push(r.info);
    }
    for pids in out.sysv.values_mut() {
        pids.sort_unstable();
        pids.dedup();
    }
    for holders in out.holders.values_mut() {
        holders.sort_unstable();
        holders.dedup();
    }
    Ok(out)
}

/// One process as read: what it is, what it holds, which System V segments it maps.
struct Read {
    info: ProcInfo,
    holds: Vec<((u64, u64), Hold)>,
    sysv: Vec<u64>,
}

fn read_process(
    path: &Path,
    pid: i32,
    boot: Option<i64>,
    ticks: i64,
    fs: &ShmFs<'_>,
) -> Option<Read> {
    let mut holds = Vec::new();
    let mut sysv = Vec::new();
    let process = Process::new_with_root(PathBuf::from(path)).ok()?;
    let uid = process.uid().ok();
    let cmdline = process
        .cmdline()
        .map(|args| args.join(" "))
        .unwrap_or_default();
    let stat = process.stat().ok();
    // Kernel threads hold no files, and their tables cannot be read by other users:
    // counting them would make every entry look possibly held.
    const PF_KTHREAD: u32 = 0x0020_0000;
    if stat.as_ref().is_some_and(|s| s.flags & PF_KTHREAD != 0) {
        return None;
    }
    let started_at = match (&stat, boot) {
        (Some(stat), Some(boot)) if ticks > 0 => Some(boot + stat.starttime as i64 / ticks),
        _ => None,
    };
    // A leader that exited while its threads run is a zombie with an empty fd table: what
    // the process holds is then only visible through its threads.
    let mut places = vec![path.to_path_buf()];
    if stat.as_ref().is_some_and(|s| s.state == 'Z') {
        let tasks = std::fs::read_dir(path.join("task")).into_iter().flatten();
        places.extend(tasks.flatten().map(|t| t.path()));
    }
    let mut unreadable = false;
    let mut deleted_mappings = HashMap::new();
    for place in &places {
        match std::fs::read_dir(place.join("fd")) {
            Ok(fds) => {
                for fd in fds.flatten() {
                    // stat follows the link to the open file itself, deleted or not.
                    if let Ok(meta) = std::fs::metadata(fd.path()) {
                        use std::os::unix::fs::MetadataExt;
                        holds.push(((meta.dev(), meta.ino()), Hold::Fd));
                    }
                }
            }
            // The process exited while we looked: it holds nothing any more.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => return None,
            Err(_) => unreadable = true,
        }
        let maps = std::fs::read(place.join("maps"))
            .ok()
            .and_then(|bytes| MemoryMaps::from_buf_read(&bytes[..]).ok());
        let Some(maps) = maps else {
            if !path.exists() {
                return None;
            }
            unreadable = true;
            continue;
        };
        // Threads of one process share their mappings: count each place's once, the
        // largest.
        let mut here: HashMap<(u64, u64), u64> = HashMap::new();
        for map in maps {
            if map.inode == 0 {
                continue;
            }
            let dev = rustix::fs::makedev(map.dev.0 as u32, map.dev.1 as u32);
            // `/SYSV<key> (deleted)`: a System V segment, whose inode is its id.
            if matches!(&map.pathname, MMapPath::Vsys(_)) {
                sysv.push(map.inode);
                continue;
            }
            holds.push(((dev, map.inode), Hold::Map));
            // A mapping of a file below the directory whose inode has no name there:
            // memory that `ls` cannot explain. (A live glibc semaphore is mapped under a
            // deleted temporary name, but its inode has a name: it is not counted.)
            let below = matches!(&map.pathname, MMapPath::Path(p) if p.starts_with(fs.dir));
            if below && dev == fs.dev && !(fs.known)(map.inode) {
                let bytes = map.address.1.saturating_sub(map.address.0);
                *here.entry((dev, map.inode)).or_insert(0) += bytes;
            }
        }
        for (key, bytes) in here {
            let slot = deleted_mappings.entry(key).or_insert(0);
            *slot = (*slot).max(bytes);
        }
    }
    Some(Read {
        info: ProcInfo {
            pid,
            uid,
            cmdline,
            started_at,
            unreadable,
            deleted_mappings,
        },
        holds,
        sysv,
    })
}
