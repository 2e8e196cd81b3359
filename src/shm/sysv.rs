//! System V shared memory: the other half of what leaks (`shmget` segments live until
//! `IPC_RMID` or reboot, and have no name in any directory).
//!
//! The kernel counts attachments itself, so unlike a file in `/dev/shm` an unreadable
//! process cannot hide one: a segment with no attachment, older than `--min-age`, whose
//! creator and last user are both gone, is leaked. A process could still know its id and
//! attach later; that is why the creator and the last user must be gone, and why
//! `--clean` checks everything again with `IPC_STAT` right before `IPC_RMID`. A segment
//! made with a key (not `IPC_PRIVATE`) can be found again by that key, so it is never
//! judged leaked.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::procs::{ProcInfo, ProcScan};
use super::{Holder, Options, Verdict};

/// One line of `/proc/sysvipc/shm`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub key: i32,
    pub shmid: i32,
    pub mode: u32,
    pub size: u64,
    pub cpid: i32,
    pub lpid: i32,
    pub nattch: u64,
    pub uid: u32,
    pub cuid: u32,
    pub atime: i64,
    pub dtime: i64,
    pub ctime: i64,
    pub rss: Option<u64>,
}

/// Parses the table by its header, so columns added by later kernels do not matter.
pub fn parse(text: &str) -> Vec<Row> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let columns: Vec<&str> = header.split_whitespace().collect();
    let at = |name: &str| columns.iter().position(|c| *c == name);
    let idx = [
        "key", "shmid", "perms", "size", "cpid", "lpid", "nattch", "uid", "cuid", "atime", "dtime",
        "ctime",
    ]
    .map(at);
    let rss = at("rss");
    lines
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let get = |i: Option<usize>| f.get(i?).copied();
            let num = |i: Option<usize>| get(i)?.parse::<i64>().ok();
            Some(Row {
                key: num(idx[0])? as i32,
                shmid: num(idx[1])? as i32,
                mode: u32::from_str_radix(get(idx[2])?, 8).ok()?,
                size: get(idx[3])?.parse().ok()?,
                cpid: num(idx[4])? as i32,
                lpid: num(idx[5])? as i32,
                nattch: get(idx[6])?.parse().ok()?,
                uid: get(idx[7])?.parse().ok()?,
                cuid: get(idx[8])?.parse().ok()?,
                atime: num(idx[9])?,
                dtime: num(idx[10])?,
                ctime: num(idx[11])?,
                rss: get(rss).and_then(|r| r.parse().ok()),
            })
        })
        .collect()
}

/// The segments of the machine; none when the kernel has no System V IPC.
pub fn read(proc_root: &Path) -> Vec<Row> {
    std::fs::read_to_string(proc_root.join("sysvipc/shm"))
        .map(|t| parse(&t))
        .unwrap_or_default()
}

#[derive(Clone, Debug, Serialize)]
pub struct Segment {
    /// The key as `ipcs` shows it (`0x00000000` for `IPC_PRIVATE`).
    pub key: String,
    pub shmid: i32,
    pub size: u64,
    /// Resident bytes, where the kernel says.
    pub resident: Option<u64>,
    pub uid: u32,
    pub owner: Option<String>,
    pub mode: String,
    pub age_seconds: i64,
    pub attachments: u64,
    pub creator_pid: i32,
    pub creator_alive: bool,
    pub last_pid: i32,
    pub last_alive: bool,
    pub holders: Vec<Holder>,
    pub verdict: Verdict,
    pub reason: String,
    #[serde(skip)]
    pub row: Row,
}

/// Whether `pid` still runs the process that did something at `since`: a process with
/// that pid that started later is someone else.
fn alive(scan: &ProcScan, pid: i32, since: i64) -> bool {
    pid > 0
        && scan
            .process(pid)
            .is_some_and(|p: &ProcInfo| p.started_at.is_none_or(|t| t <= since + 1))
}

pub fn judge(
    rows: Vec<Row>,
    scan: &ProcScan,
    options: &Options,
    users: &HashMap<u32, String>,
) -> Vec<Segment> {
    rows.into_iter()
        .map(|row| {
            let holders: Vec<Holder> = scan
                .sysv
                .get(&(row.shmid as u64))
                .into_iter()
                .flatten()
                .map(|pid| {
                    let info = scan.process(*pid);
                    Holder {
                        pid: *pid,
                        how: vec![super::procs::Hold::Map],
                        uid: info.and_then(|p| p.uid),
                        cmdline: info.map(|p| p.cmdline.clone()).unwrap_or_default(),
                    }
                })
                .collect();
            let age = (options.now - row.ctime).max(0);
            let last_use = row.atime.max(row.dtime).max(row.ctime);
            let creator_alive = alive(scan, row.cpid, row.ctime);
            let last_alive = alive(scan, row.lpid, last_use);
            let (verdict, reason) = if row.nattch > 0 {
                (Verdict::InUse, format!("attached {} time(s)", row.nattch))
            } else if creator_alive {
                (
                    Verdict::Unknown,
                    format!(
                        "not attached, but its creator (pid {}) still runs and may attach again",
                        row.cpid
                    ),
                )
            } else if last_alive {
                (
                    Verdict::Unknown,
                    format!(
                        "not attached, but its last user (pid {}) still runs",
                        row.lpid
                    ),
                )
            } else if row.key != 0 {
                // A key is a name: a program that uses it attaches again after a restart.
                (
                    Verdict::Unknown,
                    format!(
                        "not attached, but made with key 0x{:08x}, which a program can attach \
                         to again; `ipcrm -m {}` once you know none will",
                        row.key as u32, row.shmid
                    ),
                )
            } else if age < options.min_age {
                (
                    Verdict::Unknown,
                    format!(
                        "not attached, but only {age}s old (--min-age {})",
                        options.min_age
                    ),
                )
            } else {
                (
                    Verdict::Leaked,
                    if row.lpid == 0 {
                        format!(
                            "never attached by anyone, and its creator (pid {}) is gone",
                            row.cpid
                        )
                    } else {
                        format!(
                            "not attached, and its creator (pid {}) and last user (pid {}) \
                             are gone",
                            row.cpid, row.lpid
                        )
                    },
                )
            };
            Segment {
                key: format!("0x{:08x}", row.key as u32),
                shmid: row.shmid,
                size: row.size,
                resident: row.rss,
                uid: row.uid,
                owner: users.get(&row.uid).cloned(),
                mode: format!("{:04o}", row.mode & 0o777),
                age_seconds: age,
                attachments: row.nattch,
                creator_pid: row.cpid,
                creator_alive,
                last_pid: row.lpid,
                last_alive,
                holders,
                verdict,
                reason,
                row,
            }
        })
        .filter(|s| {
            options.user.is_none_or(|u| s.uid == u)
                && (options.origins.is_empty() || options.origins.contains(&super::Origin::SysV))
                && (options.verdicts.is_empty() || options.verdicts.contains(&s.verdict))
        })
        .collect()
}

/// Removes one leaked segment after checking, with `IPC_STAT` on the segment itself, that
/// it is still the one judged (same creator and creation time) and still unattached.
pub fn remove(segment: &Segment, any_user: bool) -> Result<(), String> {
    // SAFETY: shmctl with a zeroed buffer of the right type.
    let mut ds: libc::shmid_ds = unsafe { std::mem::zeroed() };
    if unsafe { libc::shmctl(segment.shmid, libc::IPC_STAT, &mut ds) } != 0 {
        return Err(format!(
            "cannot check it now: {}",
            std::io::Error::last_os_error()
        ));
    }
    if ds.shm_cpid != segment.row.cpid || ds.shm_ctime != segment.row.ctime {
        return Err("it was replaced since the scan".into());
    }
    if ds.shm_nattch != 0 {
        return Err(format!("attached now ({} time(s))", ds.shm_nattch));
    }
    if ds.shm_lpid != segment.row.lpid {
        return Err("used since the scan".into());
    }
    let euid = rustix::process::geteuid();
    let mine = ds.shm_perm.uid == euid.as_raw() || ds.shm_perm.cuid == euid.as_raw();
    let allowed = mine || (euid.is_root() && any_user);
    if !allowed {
        return Err(if euid.is_root() {
            "another user's segment: add --any-user to remove it".into()
        } else {
            "another user's segment".into()
        });
    }
    // SAFETY: shmctl IPC_RMID takes no buffer.
    if unsafe { libc::shmctl(segment.shmid, libc::IPC_RMID, std::ptr::null_mut()) } != 0 {
        return Err(format!(
            "removal failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_by_header() {
        let text = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap\n\
                    1234    32769   1600                 65536  3961  3962      1     0     0     0     0 1796149917          0 1796149900                  4096                     0\n";
        let rows = parse(text);
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!((r.key, r.shmid, r.size), (1234, 32769, 65536));
        assert_eq!((r.cpid, r.lpid, r.nattch), (3961, 3962, 1));
        assert_eq!(r.mode, 0o1600);
        assert_eq!(
            (r.atime, r.ctime, r.rss),
            (1796149917, 1796149900, Some(4096))
        );
        assert!(parse("").is_empty());
    }
}
