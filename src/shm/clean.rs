//! `--clean`: removes leaked entries, and nothing else.
//!
//! Each removal re-checks, right before it happens, that the entry is still the one
//! judged (same device and inode, not a link), that no process holds it now, that it is
//! old enough and the caller's own (unless root with `--any-user`). Removal is relative
//! to a handle on the directory opened without following links.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, Mode, OFlags};

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
    /// `removed`, `would-remove` or `refused`.
    pub outcome: &'static str,
    pub reason: String,
    pub bytes: u64,
}

/// Cleans the leaked items of a report. Items of other verdicts are not touched.
pub fn clean(
    items: &[Item],
    options: &Options,
    clean: CleanOptions,
) -> std::io::Result<Vec<Action>> {
    let dir = inventory::open_dir(&options.dir)?;
    let euid = rustix::process::geteuid();
    let mut actions = Vec::new();
    for item in items.iter().filter(|i| i.verdict == Verdict::Leaked) {
        let (outcome, reason) =
            match check(&dir, item, options, clean, euid.as_raw(), euid.is_root()) {
                Err(reason) => ("refused", reason),
                Ok(()) if !clean.yes => (
                    "would-remove",
                    "leaked; run with --yes to remove".to_string(),
                ),
                Ok(()) => match remove(&dir, &item.raw_name, item.kind) {
                    Ok(()) => ("removed", "leaked".to_string()),
                    Err(e) => ("refused", format!("removal failed: {e}")),
                },
            };
        actions.push(Action {
            name: item.name.clone(),
            outcome,
            reason,
            bytes: item.allocated,
        });
    }
    Ok(actions)
}

/// Everything that must still hold at the moment of removal.
fn check(
    dir: &OwnedFd,
    item: &Item,
    options: &Options,
    clean: CleanOptions,
    euid: u32,
    root: bool,
) -> Result<(), String> {
    let name = OsStr::from_bytes(&item.raw_name);
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| format!("cannot stat it now: {e}"))?;
    let now = inventory::from_stat(item.raw_name.clone(), &st);
    if (now.dev, now.ino) != (item.dev, item.ino) {
        return Err("it was replaced since the scan".into());
    }
    match now.kind {
        Kind::File => {}
        Kind::Directory if clean.include_dirs => {}
        Kind::Directory => return Err("a directory: add --include-dirs to remove it".into()),
        Kind::Symlink | Kind::Other => return Err("not a regular file".into()),
    }
    if now.uid != euid && !(root && clean.any_user) {
        return Err(if root {
            "another user's entry: add --any-user to remove it".into()
        } else {
            "another user's entry".into()
        });
    }
    let age = options.now - now.existed_since();
    if age < options.min_age {
        return Err(format!("younger than --min-age ({age}s)"));
    }
    // Nothing may hold it now: scan the processes again, entries inside a directory too.
    let mut keys = vec![(now.dev, now.ino)];
    if now.kind == Kind::Directory {
        keys.extend(super::children(&options.dir.join(name)));
    }
    let scan = procs::scan(&options.proc_root, now.dev, &|_| true);
    if let Some((_, holders)) = keys.iter().find_map(|k| scan.holders.get_key_value(k)) {
        let pids: Vec<String> = holders.iter().map(|(p, _)| p.to_string()).collect();
        return Err(format!("held now by {}", pids.join(",")));
    }
    if let Some(p) = scan.procs.iter().find(|p| p.unreadable) {
        return Err(format!("process {} cannot be read now", p.pid));
    }
    Ok(())
}

/// Removes a file, or a directory tree, relative to `dir`, never following a link.
fn remove(dir: &impl AsFd, name: &[u8], kind: Kind) -> std::io::Result<()> {
    let cname = CString::new(name).map_err(std::io::Error::other)?;
    match kind {
        Kind::Directory => {
            let sub = rustix::fs::openat(
                dir,
                cname.as_c_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let names: Vec<(Vec<u8>, Kind)> = rustix::fs::Dir::read_from(&sub)?
                .filter_map(Result::ok)
                .filter(|e| !matches!(e.file_name().to_bytes(), b"." | b".."))
                .filter_map(|e| {
                    let st =
                        rustix::fs::statat(&sub, e.file_name(), AtFlags::SYMLINK_NOFOLLOW).ok()?;
                    let child = inventory::from_stat(e.file_name().to_bytes().to_vec(), &st);
                    Some((child.name, child.kind))
                })
                .collect();
            for (child, kind) in names {
                // Links and files inside are unlinked, never followed.
                let kind = if kind == Kind::Directory {
                    Kind::Directory
                } else {
                    Kind::File
                };
                remove(&sub, &child, kind)?;
            }
            rustix::fs::unlinkat(dir, cname.as_c_str(), AtFlags::REMOVEDIR)?;
        }
        _ => rustix::fs::unlinkat(dir, cname.as_c_str(), AtFlags::empty())?,
    }
    Ok(())
}
