//! What is in the shared-memory directory: every entry, by `lstat`, links never followed.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags, Stat};

/// The kind of a directory entry, from its own mode (a link is a link, not its target).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Directory,
    Symlink,
    Other,
}

#[derive(Clone, Debug)]
pub struct Entry {
    /// The name as the kernel has it: bytes, not assumed to be UTF-8.
    pub name: Vec<u8>,
    pub kind: Kind,
    pub size: u64,
    /// Bytes really in use (tmpfs files are sparse).
    pub allocated: u64,
    pub uid: u32,
    pub mode: u32,
    /// When it was created at the earliest, in seconds since the epoch: its birth time
    /// where the filesystem keeps one, else its last status change. Never the
    /// modification time, which anyone who can write the file can set to the past.
    pub created: i64,
    pub dev: u64,
    pub ino: u64,
    /// For a 32-byte `sem.*` file: the semaphore's value (glibc keeps it first).
    pub semaphore_value: Option<u32>,
}

impl Entry {
    /// Since when the entry has certainly existed.
    pub fn existed_since(&self) -> i64 {
        self.created
    }
}

pub fn from_stat(name: Vec<u8>, st: &Stat) -> Entry {
    let kind = match st.st_mode & S_IFMT {
        0o100000 => Kind::File,
        0o040000 => Kind::Directory,
        0o120000 => Kind::Symlink,
        _ => Kind::Other,
    };
    Entry {
        name,
        kind,
        size: st.st_size.max(0) as u64,
        allocated: (st.st_blocks as u64).saturating_mul(512),
        uid: st.st_uid,
        mode: st.st_mode & 0o7777,
        created: st.st_ctime,
        dev: st.st_dev,
        ino: st.st_ino,
        semaphore_value: None,
    }
}

/// The file-type bits of a mode.
const S_IFMT: u32 = 0o170000;

/// Opens a directory without following a link in its last component.
pub fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(dir, DIR_FLAGS, Mode::empty())
}

/// A directory's handle: never through a link, never inherited by children.
const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// Opens the directory `name` inside `parent`, without following a link.
pub fn open_subdir(
    parent: &impl std::os::fd::AsFd,
    name: &std::ffi::CStr,
) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty())
}

/// Lists the directory: every entry with its `lstat`. Entries that vanish while being
/// listed are skipped; anything else that fails is an error for the whole scan.
pub fn scan(dir: &Path) -> std::io::Result<(OwnedFd, Vec<Entry>)> {
    let fd = open_dir(dir).map_err(std::io::Error::from)?;
    let mut entries = Vec::new();
    let listing = rustix::fs::Dir::read_from(&fd).map_err(std::io::Error::from)?;
    for item in listing {
        let item = item.map_err(std::io::Error::from)?;
        let name = item.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let mut entry = match stat_entry(&fd, item.file_name()) {
            Ok(entry) => entry,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        if entry.kind == Kind::File && entry.size == 32 && name.starts_with(b"sem.") {
            entry.semaphore_value = semaphore_value(&fd, item.file_name());
        }
        entries.push(entry);
    }
    Ok((fd, entries))
}

/// Everything about one entry in one system call where the kernel has `statx` (with its
/// birth time, which tmpfs records); `lstat` and the change time otherwise.
pub fn stat_entry(
    dir: &impl std::os::fd::AsFd,
    name: &std::ffi::CStr,
) -> rustix::io::Result<Entry> {
    use rustix::fs::StatxFlags;
    match rustix::fs::statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS | StatxFlags::BTIME,
    ) {
        Ok(x) => {
            let mode = u32::from(x.stx_mode);
            let kind = match mode & S_IFMT {
                0o100000 => Kind::File,
                0o040000 => Kind::Directory,
                0o120000 => Kind::Symlink,
                _ => Kind::Other,
            };
            let created = if x.stx_mask & StatxFlags::BTIME.bits() != 0 {
                x.stx_btime.tv_sec
            } else {
                x.stx_ctime.tv_sec
            };
            Ok(Entry {
                name: name.to_bytes().to_vec(),
                kind,
                size: x.stx_size,
                allocated: x.stx_blocks.saturating_mul(512),
                uid: x.stx_uid,
                mode: mode & 0o7777,
                created,
                dev: rustix::fs::makedev(x.stx_dev_major, x.stx_dev_minor),
                ino: x.stx_ino,
                semaphore_value: None,
            })
        }
        Err(rustix::io::Errno::NOSYS) => {
            let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
            Ok(from_stat(name.to_bytes().to_vec(), &st))
        }
        Err(e) => Err(e),
    }
}

/// The first little-endian u32 of a glibc semaphore file: its value (x86-64 `new_sem`).
fn semaphore_value(dir: &OwnedFd, name: &std::ffi::CStr) -> Option<u32> {
    let file = rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .ok()?;
    let mut buf = [0u8; 4];
    let n = rustix::io::read(&file, &mut buf).ok()?;
    (n == 4).then(|| u32::from_le_bytes(buf))
}

/// Everything below a directory entry, walked through directory handles opened without
/// following links. A mount point inside (another device) or an unreadable directory is
/// an error: what is below it cannot be judged.
pub fn tree(
    parent: &impl std::os::fd::AsFd,
    name: &std::ffi::CStr,
    dev: u64,
) -> Result<Vec<Entry>, String> {
    let dir = open_subdir(parent, name)
        .map_err(|e| format!("cannot open {}: {e}", name.to_string_lossy()))?;
    let mut out = Vec::new();
    let listing =
        rustix::fs::Dir::read_from(&dir).map_err(|e| format!("cannot read inside: {e}"))?;
    for item in listing {
        let item = item.map_err(|e| format!("cannot read inside: {e}"))?;
        let child = item.file_name();
        if matches!(child.to_bytes(), b"." | b"..") {
            continue;
        }
        let entry = stat_entry(&dir, child).map_err(|e| format!("cannot stat inside: {e}"))?;
        if entry.dev != dev {
            return Err("another filesystem is mounted inside".into());
        }
        if entry.kind == Kind::Directory {
            out.extend(tree(&dir, child, dev)?);
        }
        out.push(entry);
    }
    Ok(out)
}
