//! Which shared-memory entries and multiprocessing socket folders the run created and
//! left behind.
//!
//! An entry counts as the run's only when a process of the run was seen holding it (an
//! open descriptor or a mapping, matched by inode) or the run's resource tracker named
//! it. New entries that no process of the run touched may belong to anyone on the host:
//! they are listed as unattributed, never blamed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::shm::inventory::{self, Kind};
use crate::shm::origin::{self, Origin};

/// How long to gather creation events before looking.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Where CPython keeps the folders of its forkserver and manager sockets.
pub const PYMP_PREFIX: &[u8] = b"pymp-";

/// An entry the run created and left behind.
#[derive(Clone, Debug, Serialize)]
pub struct LeftBehind {
    /// The full path, escaped for a terminal.
    pub path: String,
    pub kind: Kind,
    pub size: u64,
    pub origin: Origin,
    /// `shared-memory` for `/dev/shm`, `socket-folder` for a `pymp-*` folder.
    pub place: &'static str,
    /// Processes of the run that held it while they ran.
    pub held_by: Vec<i32>,
    /// Whether a process of the run registered it with a resource tracker, or the
    /// run's tracker named it in a warning.
    pub tracked: bool,
    #[serde(skip)]
    pub key: (u64, u64),
}

/// New entries no process of the run was seen holding: listed, not blamed.
#[derive(Clone, Debug, Serialize)]
pub struct Unattributed {
    pub path: String,
    pub size: u64,
}

pub struct Watch {
    shm_dir: PathBuf,
    shm_prefix: Vec<u8>,
    shm_dev: u64,
    tmp_dir: PathBuf,
    before_shm: HashSet<(Vec<u8>, u64)>,
    before_tmp: HashSet<(Vec<u8>, u64)>,
    /// Inodes on the shared-memory filesystem held by processes of the run -> pids.
    held: HashMap<u64, BTreeSet<i32>>,
    /// New `pymp-*` folders -> pids of the run holding a socket bound inside.
    pymp: BTreeMap<Vec<u8>, BTreeSet<i32>>,
    inotify: Option<OwnedFd>,
    dirty: bool,
    uid: u32,
}

fn listing(dir: &Path, keep: impl Fn(&[u8]) -> bool) -> HashSet<(Vec<u8>, u64)> {
    let Ok(fd) = inventory::open_dir(dir) else {
        return HashSet::new();
    };
    let Ok(entries) = rustix::fs::Dir::read_from(&fd) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_bytes();
            n != b"." && n != b".." && keep(n)
        })
        .map(|e| (e.file_name().to_bytes().to_vec(), e.ino()))
        .collect()
}

impl Watch {
    /// Records what exists before the command starts.
    pub fn start(shm_dir: &Path, tmp_dir: &Path) -> std::io::Result<Watch> {
        // The directory itself must be readable, or nothing the run leaves can be told.
        inventory::open_dir(shm_dir).map_err(std::io::Error::from)?;
        let shm_dev = std::fs::symlink_metadata(shm_dir)?.dev();
        let mut shm_prefix = shm_dir.as_os_str().as_bytes().to_vec();
        if !shm_prefix.ends_with(b"/") {
            shm_prefix.push(b'/');
        }
        let mut watch = Watch {
            shm_dir: shm_dir.to_path_buf(),
            shm_prefix,
            shm_dev,
            tmp_dir: tmp_dir.to_path_buf(),
            before_shm: listing(shm_dir, |_| true),
            before_tmp: listing(tmp_dir, |n| n.starts_with(PYMP_PREFIX)),
            held: HashMap::new(),
            pymp: BTreeMap::new(),
            inotify: None,
            dirty: true,
            uid: rustix::process::getuid().as_raw(),
        };
        watch.inotify = watch.init_inotify();
        Ok(watch)
    }

    fn init_inotify(&self) -> Option<OwnedFd> {
        // SAFETY: plain system calls on a descriptor this function owns.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC);
            if fd < 0 {
                return None;
            }
            let fd = OwnedFd::from_raw_fd(fd);
            let mask = libc::IN_CREATE | libc::IN_MOVED_TO;
            for dir in [&self.shm_dir, &self.tmp_dir] {
                let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
                if libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) < 0 {
                    return None;
                }
            }
            Some(fd)
        }
    }

    /// Sleeps up to `timeout`, waking early when something is created in a watched
    /// directory: a new entry is then looked at while its creator still holds it.
    pub fn wait(&mut self, timeout: std::time::Duration) {
        let Some(fd) = &self.inotify else {
            std::thread::sleep(timeout);
            self.dirty = true;
            return;
        };
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a read into a buffer of its own length.
        unsafe {
            libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int);
            if pfd.revents & libc::POLLIN != 0 {
                // A burst of creations becomes one look, not one look each.
                std::thread::sleep(COALESCE);
                let mut buf = [0u8; 4096];
                while libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) > 0 {}
                self.dirty = true;
            }
        }
    }

    /// Whether something was created since the last look.
    pub fn dirty(&self) -> bool {
        self.dirty
    }

    /// Notes what the processes of the run hold right now.
    pub fn observe(&mut self, proc_root: &Path, tree: &[i32]) {
        let mut sockets: HashMap<u64, i32> = HashMap::new();
        for &pid in tree {
            let base = proc_root.join(pid.to_string());
            for fd in std::fs::read_dir(base.join("fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let Ok(target) = std::fs::read_link(fd.path()) else {
                    continue;
                };
                let target = target.as_os_str().as_bytes();
                if target.starts_with(&self.shm_prefix) {
                    if let Ok(meta) = std::fs::metadata(fd.path())
                        && meta.dev() == self.shm_dev
                    {
                        self.held.entry(meta.ino()).or_default().insert(pid);
                    }
                } else if let Some(inode) = target
                    .strip_prefix(b"socket:[")
                    .and_then(|r| r.strip_suffix(b"]"))
                    .and_then(|r| std::str::from_utf8(r).ok()?.parse().ok())
                {
                    sockets.insert(inode, pid);
                }
            }
            let Ok(maps) = std::fs::read(base.join("maps")) else {
                continue;
            };
            for line in maps.split(|b| *b == b'\n') {
                if !contains(line, &self.shm_prefix) {
                    continue;
                }
                // address perms offset dev inode path
                let inode = line
                    .split(|b| *b == b' ')
                    .filter(|f| !f.is_empty())
                    .nth(4)
                    .and_then(|f| std::str::from_utf8(f).ok()?.parse::<u64>().ok());
                if let Some(inode) = inode.filter(|i| *i != 0) {
                    self.held.entry(inode).or_default().insert(pid);
                }
            }
        }
        if self.dirty {
            self.dirty = false;
            let before = &self.before_tmp;
            for (name, ino) in listing(&self.tmp_dir, |n| n.starts_with(PYMP_PREFIX)) {
                if !before.contains(&(name.clone(), ino)) {
                    self.pymp.entry(name).or_default();
                }
            }
        }
        if !sockets.is_empty() && !self.pymp.is_empty() {
            self.attribute_sockets(proc_root, &sockets);
        }
    }

    /// A folder is the run's when a process of the run has a socket bound inside it.
    fn attribute_sockets(&mut self, proc_root: &Path, sockets: &HashMap<u64, i32>) {
        let Ok(table) = std::fs::read(proc_root.join("net/unix")) else {
            return;
        };
        let mut prefix = self.tmp_dir.as_os_str().as_bytes().to_vec();
        prefix.push(b'/');
        for line in table.split(|b| *b == b'\n').skip(1) {
            // Num RefCount Protocol Flags Type St Inode Path
            let fields: Vec<&[u8]> = line
                .split(|b| *b == b' ')
                .filter(|f| !f.is_empty())
                .collect();
            let (Some(inode), Some(path)) = (fields.get(6), fields.get(7)) else {
                continue;
            };
            let Some(inode) = std::str::from_utf8(inode).ok().and_then(|i| i.parse().ok()) else {
                continue;
            };
            let (Some(pid), Some(rest)) = (sockets.get(&inode), path.strip_prefix(&prefix[..]))
            else {
                continue;
            };
            let folder = rest.split(|b| *b == b'/').next().unwrap_or(rest);
            if let Some(holders) = self.pymp.get_mut(folder) {
                holders.insert(*pid);
            }
        }
    }

    /// What the run left behind, judged after all its processes are gone. `named` are
    /// the names the run registered with a resource tracker or that its tracker printed
    /// (with or without the leading `/`).
    pub fn finish(&self, named: &BTreeSet<String>) -> (Vec<LeftBehind>, Vec<Unattributed>) {
        let mut left = Vec::new();
        let mut unattributed = Vec::new();
        let entries = match inventory::scan(&self.shm_dir) {
            Ok((fd, entries)) => entries
                .into_iter()
                .map(|e| {
                    // A folder (joblib's) is the run's when anything below it was held.
                    let below = if e.kind == Kind::Directory {
                        CString::new(e.name.clone())
                            .ok()
                            .and_then(|n| inventory::tree(&fd, &n, e.dev).ok())
                            .unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    (e, below)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for (entry, below) in entries {
            if self.before_shm.contains(&(entry.name.clone(), entry.ino)) {
                continue;
            }
            let mut held_by: BTreeSet<i32> = BTreeSet::new();
            for ino in std::iter::once(entry.ino).chain(below.iter().map(|b| b.ino)) {
                held_by.extend(self.held.get(&ino).into_iter().flatten());
            }
            let shown = crate::shm::escape_name(&entry.name);
            let tracked = named.contains(&shown) || named.contains(&format!("/{shown}"));
            let size = entry.size + below.iter().map(|b| b.size).sum::<u64>();
            let path = format!("{}/{shown}", self.shm_dir.display());
            if held_by.is_empty() && !tracked {
                if entry.uid == self.uid {
                    unattributed.push(Unattributed { path, size });
                }
                continue;
            }
            left.push(LeftBehind {
                path,
                kind: entry.kind,
                size,
                origin: origin::classify(&entry.name).0,
                place: "shared-memory",
                held_by: held_by.into_iter().collect(),
                tracked,
                key: (entry.dev, entry.ino),
            });
        }
        let now = listing(&self.tmp_dir, |n| n.starts_with(PYMP_PREFIX));
        for (name, ino) in now {
            if self.before_tmp.contains(&(name.clone(), ino)) {
                continue;
            }
            let path = format!(
                "{}/{}",
                self.tmp_dir.display(),
                crate::shm::escape_name(&name)
            );
            match self.pymp.get(&name) {
                Some(holders) if !holders.is_empty() => left.push(LeftBehind {
                    path,
                    kind: Kind::Directory,
                    size: 0,
                    origin: Origin::Other,
                    place: "socket-folder",
                    held_by: holders.iter().copied().collect(),
                    tracked: false,
                    key: (0, ino),
                }),
                _ if self.owns(&self.tmp_dir.join(std::ffi::OsStr::from_bytes(&name))) => {
                    unattributed.push(Unattributed { path, size: 0 })
                }
                _ => {}
            }
        }
        left.sort_by(|a, b| a.path.cmp(&b.path));
        unattributed.sort_by(|a, b| a.path.cmp(&b.path));
        (left, unattributed)
    }
}

impl Watch {
    fn owns(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok_and(|m| m.uid() == self.uid)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
