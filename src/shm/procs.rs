//! Who holds what: every process's open files and mappings, by device and inode.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use procfs::process::{MMapPath, Process};

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
    /// Bytes of mappings of files on the scanned filesystem that no longer have a name.
    pub deleted_mapped_bytes: u64,
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
}

impl ProcScan {
    pub fn unreadable(&self) -> usize {
        self.procs.iter().filter(|p| p.unreadable).count()
    }

    pub fn process(&self, pid: i32) -> Option<&ProcInfo> {
        self.procs.iter().find(|p| p.pid == pid)
    }
}

/// The boot time and clock tick, for turning a process's start time into a date.
fn boot_time(proc_root: &Path) -> Option<i64> {
    let text = std::fs::read_to_string(proc_root.join("stat")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads every process under `proc_root`. `shm_dev` is the device of the scanned
/// directory: mappings on it whose inode `known` does not list are deleted files.
pub fn scan(proc_root: &Path, shm_dev: u64, known: &dyn Fn(u64) -> bool) -> ProcScan {
    let mut out = ProcScan::default();
    let boot = boot_time(proc_root);
    let ticks = procfs::ticks_per_second() as i64;
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return out;
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let path = proc_root.join(pid.to_string());
        if let Some(info) = read_process(&path, pid, boot, ticks, shm_dev, known, &mut out.holders)
        {
            out.procs.push(info);
        }
    }
    for holders in out.holders.values_mut() {
        holders.sort_unstable();
        holders.dedup();
    }
    out
}

fn read_process(
    path: &Path,
    pid: i32,
    boot: Option<i64>,
    ticks: i64,
    shm_dev: u64,
    known: &dyn Fn(u64) -> bool,
    holders: &mut HashMap<(u64, u64), Vec<(i32, Hold)>>,
) -> Option<ProcInfo> {
    let process = Process::new_with_root(PathBuf::from(path)).ok()?;
    let uid = process.uid().ok();
    let cmdline = process
        .cmdline()
        .map(|args| args.join(" "))
        .unwrap_or_default();
    let started_at = match (process.stat(), boot) {
        (Ok(stat), Some(boot)) if ticks > 0 => Some(boot + stat.starttime as i64 / ticks),
        _ => None,
    };
    let mut unreadable = false;
    match std::fs::read_dir(path.join("fd")) {
        Ok(fds) => {
            for fd in fds.flatten() {
                // stat follows the link to the open file itself, deleted or not.
                if let Ok(meta) = std::fs::metadata(fd.path()) {
                    use std::os::unix::fs::MetadataExt;
                    holders
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .push((pid, Hold::Fd));
                }
            }
        }
        // The process exited while we looked: it holds nothing any more.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.exists() => return None,
        Err(_) => unreadable = true,
    }
    let mut deleted_mapped_bytes = 0;
    match process.maps() {
        Ok(maps) => {
            for map in maps {
                if map.inode == 0 {
                    continue;
                }
                let dev = rustix::fs::makedev(map.dev.0 as u32, map.dev.1 as u32);
                holders
                    .entry((dev, map.inode))
                    .or_default()
                    .push((pid, Hold::Map));
                // A mapping on the filesystem whose inode has no name in it: memory that
                // `ls` cannot explain. (A live glibc semaphore is mapped under a deleted
                // temporary name, but its inode has a name: it is not counted.)
                let on_fs = matches!(map.pathname, MMapPath::Path(_)) && dev == shm_dev;
                if on_fs && !known(map.inode) {
                    deleted_mapped_bytes += map.address.1.saturating_sub(map.address.0);
                }
            }
        }
        Err(procfs::ProcError::NotFound(_)) if !path.exists() => return None,
        Err(_) => unreadable = true,
    }
    Some(ProcInfo {
        pid,
        uid,
        cmdline,
        started_at,
        unreadable,
        deleted_mapped_bytes,
    })
}
