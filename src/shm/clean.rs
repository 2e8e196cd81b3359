//! `--clean`: removes leaked entries, and nothing else.
//!
//! An entry is first renamed, within its directory, to a private name: from then on no
//! process can open it by its name, so what the checks find stays true. Then it must
//! still be the entry that was judged (device and inode), a regular file (a directory only
//! with `--include-dirs`, and then everything below it is checked too), the caller's own
//! (unless root with `--any-user`), old enough, and held by no process in a fresh scan of
//! `/proc`. Only then is it unlinked; otherwise it gets its name back. Everything happens
//! relative to a handle on the directory opened without following links.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, RenameFlags};

use super::inventory::{self, Kind};
use super::{Item, Options, Verdict, procs};

#[derive(Clone, Copy, Debug)]
pub struct CleanOptions {
    /// Really remove; otherwise only say what would be removed.
    pub yes: bool,
    /// Also remove leaked directories (joblib's memmapping folders) with their contents.
    pub include_dirs: bool,
    /// As root: also remove other users' entries.
    pub any_user: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Action {
    pub name: String,
    /// `removed`, `would-remove`, `refused`, `gone` (it disappeared meanwhile), or, for
    /// what is not leaked, `skipped` (likely leaked or unknown, with why) and `in-use`.
    pub outcome: &'static str,
    pub reason: String,
    pub bytes: u64,
}

/// Cleans the leaked items of a report. Items of other verdicts are not touched.
///
/// All candidates are set aside first, then one fresh scan of `/proc` decides for all
/// of them: nothing can open a set-aside entry by its name, so the scan cannot go stale.
pub fn clean(
    items: &[Item],
    options: &Options,
    clean: CleanOptions,
) -> std::io::Result<Vec<Action>> {
    let dir = inventory::open_dir(&options.dir)?;
    let mut actions = Vec::new();
    let mut set_aside: Vec<(&Item, CString, CString)> = Vec::new();
    let action = |item: &Item, outcome, reason: String| Action {
        name: item.name.clone(),
        outcome,
        reason,
        bytes: item.allocated,
    };
    // What is not leaked is never touched, but the user hears why.
    let euid = rustix::process::geteuid().as_raw();
    for item in items.iter().filter(|i| i.verdict != Verdict::Leaked) {
        let (outcome, reason) = match item.verdict {
            Verdict::InUse => ("in-use", item.reason.clone()),
            _ => ("skipped", skipped_reason(item, euid)),
        };
        actions.push(action(item, outcome, reason));
    }
    let leaked = items.iter().filter(|i| i.verdict == Verdict::Leaked);
    for (n, item) in leaked.enumerate() {
        if let Err(reason) = precheck(item, clean) {
            actions.push(action(item, "refused", reason));
            continue;
        }
        if !clean.yes {
            actions.push(action(
                item,
                "would-remove",
                "leaked; run with --yes to remove".into(),
            ));
            continue;
        }
        // Directory entry names never contain NUL; the private name is ours.
        let names = (
            CString::new(item.raw_name.clone()),
            CString::new(format!(".mpdoctor-clean-{}-{n}", std::process::id())),
        );
        let (Ok(name), Ok(private)) = names else {
            actions.push(action(item, "refused", "a name with a NUL byte".into()));
            continue;
        };
        match rustix::fs::renameat_with(&dir, &name, &dir, &private, RenameFlags::NOREPLACE) {
            Ok(()) => set_aside.push((item, name, private)),
            Err(rustix::io::Errno::NOENT) => {
                actions.push(action(item, "gone", "it disappeared before removal".into()))
            }
            Err(e) => actions.push(action(item, "refused", format!("cannot set it aside: {e}"))),
        }
    }
    if !set_aside.is_empty() {
        let dev = set_aside[0].0.dev;
        let fs = procs::ShmFs {
            dir: &options.dir,
            dev,
            known: &|_| true,
        };
        let scan = procs::scan(&options.proc_root, &fs)
            .map_err(|e| format!("cannot read the process table now: {e}"));
        for (item, name, private) in set_aside {
            let checked = scan
                .as_ref()
                .map_err(Clone::clone)
                .and_then(|scan| verify(&dir, &private, item, options, clean, scan));
            let (outcome, reason) = match checked {
                Ok(()) => match unlink(&dir, &private, item.kind, item.dev) {
                    Ok(()) => ("removed", "leaked".to_string()),
                    // Whatever is left keeps the private name; say so rather than hide it.
                    Err(e) => (
                        "refused",
                        format!(
                            "removal failed part way ({e}); what is left is named {}",
                            private.to_string_lossy()
                        ),
                    ),
                },
                Err(reason) => {
                    match rustix::fs::renameat_with(
                        &dir,
                        &private,
                        &dir,
                        &name,
                        RenameFlags::NOREPLACE,
                    ) {
                        Ok(()) => ("refused", reason),
                        Err(e) => (
                            "refused",
                            format!(
                                "{reason}; it could not get its name back ({e}) and is now named {}",
                                private.to_string_lossy()
                            ),
                        ),
                    }
                }
            };
            actions.push(action(item, outcome, reason));
        }
    }
    actions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(actions)
}

/// What can be refused from the scan alone, so that a dry run promises only what the
/// real run would do.
fn precheck(item: &Item, clean: CleanOptions) -> Result<(), String> {
    owned(item.uid, clean)?;
    match item.kind {
        Kind::File => Ok(()),
        Kind::Directory if clean.include_dirs => Ok(()),
        Kind::Directory => Err("a directory: add --include-dirs to remove it".into()),
        Kind::Symlink | Kind::Other => Err("not a regular file".into()),
    }
}

/// Everything that must hold at the moment of removal. Returns what lies below a
/// directory, to remove it entry by entry.
fn verify(
    dir: &OwnedFd,
    private: &CStr,
    item: &Item,
    options: &Options,
    clean: CleanOptions,
    scan: &procs::ProcScan,
) -> Result<(), String> {
    let now =
        inventory::stat_entry(dir, private).map_err(|e| format!("cannot stat it now: {e}"))?;
    if (now.dev, now.ino) != (item.dev, item.ino) {
        return Err("it was replaced since the scan".into());
    }
    precheck(item, clean)?;
    let below = match now.kind {
        Kind::Directory => inventory::tree(dir, private, now.dev)?,
        Kind::File => Vec::new(),
        _ => return Err("not a regular file".into()),
    };
    let euid = rustix::process::geteuid();
    for e in std::iter::once(&now).chain(&below) {
        if e.uid != euid.as_raw() && !(euid.is_root() && clean.any_user) {
            return Err(if euid.is_root() {
                "another user's entry: add --any-user to remove it".into()
            } else {
                "another user's entry".into()
            });
        }
        let age = options.now - e.existed_since();
        if age < options.min_age {
            return Err(format!("younger than --min-age ({age}s)"));
        }
    }
    let unreadable = scan
        .procs
        .iter()
        .find(|p| p.unreadable && !options.disregard.contains(&p.pid));
    if let Some(p) = unreadable {
        return Err(format!("process {} cannot be read now", p.pid));
    }
    for e in std::iter::once(&now).chain(&below) {
        if let Some(holders) = scan.holders.get(&(e.dev, e.ino)) {
            let pids: Vec<String> = holders.iter().map(|(p, _)| p.to_string()).collect();
            return Err(format!("held now by {}", pids.join(",")));
        }
    }
    Ok(())
}

/// Unlinks a file, or a directory with everything below it, never following a link and
/// never leaving the device.
fn unlink(dir: &impl AsFd, name: &CStr, kind: Kind, dev: u64) -> std::io::Result<()> {
    if kind != Kind::Directory {
        return Ok(rustix::fs::unlinkat(dir, name, AtFlags::empty())?);
    }
    let sub = inventory::open_subdir(dir, name)?;
    let children: Vec<(CString, Kind, u64)> = rustix::fs::Dir::read_from(&sub)?
        .filter_map(Result::ok)
        .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
        .filter_map(|e| {
            let st = rustix::fs::statat(&sub, e.file_name(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
            let child = inventory::from_stat(Vec::new(), &st);
            Some((e.file_name().to_owned(), child.kind, child.dev))
        })
        .collect();
    for (child, kind, child_dev) in children {
        if child_dev != dev {
            return Err(std::io::Error::other(
                "another filesystem is mounted inside",
            ));
        }
        unlink(&sub, &child, kind, dev)?;
    }
    Ok(rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR)?)
}

/// Why an entry that is not proven leaked was left alone, and what would settle it.
fn skipped_reason(item: &Item, euid: u32) -> String {
    let next = match item.verdict {
        Verdict::LikelyLeaked if euid == 0 => "see --disregard above",
        Verdict::LikelyLeaked if item.uid == euid => {
            "it is yours and may be removed once that is ruled out: `sudo mpdoctor shm \
             --clean` reads every process"
        }
        Verdict::LikelyLeaked => "`sudo mpdoctor shm --clean` reads every process",
        _ => "not proven leaked",
    };
    format!("{}: {}; {next}", item.verdict.as_str(), item.reason)
}

/// Whether the caller may remove something of user `uid`.
fn owned(uid: u32, clean: CleanOptions) -> Result<(), String> {
    let euid = rustix::process::geteuid();
    if uid == euid.as_raw() || (euid.is_root() && clean.any_user) {
        Ok(())
    } else if euid.is_root() {
        Err("another user's entry: add --any-user to remove it".into())
    } else {
        Err("another user's entry".into())
    }
}

/// Cleans the leaked System V segments of a report through `shmctl(IPC_RMID)`, each
/// checked again first.
pub fn clean_sysv(segments: &[super::sysv::Segment], clean: CleanOptions) -> Vec<Action> {
    segments
        .iter()
        .map(|s| {
            let (outcome, reason) = if s.verdict == Verdict::InUse {
                ("in-use", s.reason.clone())
            } else if s.verdict != Verdict::Leaked {
                ("skipped", format!("{}: {}", s.verdict.as_str(), s.reason))
            } else if let Err(why) = owned(s.uid, clean) {
                ("refused", why)
            } else if !clean.yes {
                (
                    "would-remove",
                    "leaked; run with --yes to remove".to_string(),
                )
            } else {
                match super::sysv::remove(s, clean.any_user) {
                    Ok(()) => ("removed", "leaked".to_string()),
                    Err(why) => ("refused", why),
                }
            };
            Action {
                name: format!("sysv:{} (key {})", s.shmid, s.key),
                outcome,
                reason,
                bytes: s.size,
            }
        })
        .collect()
}
