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
    /// Seconds since the epoch of the last modification and status change.
    pub mtime: i64,
    pub ctime: i64,
    pub dev: u64,
    pub ino: u64,
    /// For a 32-byte `sem.*` file: the semaphore's value (glibc keeps it first).
    pub semaphore_value: Option<u32>,
}

impl Entry {
    /// When the entry existed at the latest: its oldest timestamp.
    pub fn existed_since(&self) -> i64 {
        self.mtime.min(self.ctime)
    }
}

pub fn from_stat(name: Vec<u8>, st: &Stat) -> Entry {
    let kind = match st.st_mode & libc_s_ifmt() {
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
        mtime: st.st_mtime,
        ctime: st.st_ctime,
        dev: st.st_dev,
        ino: st.st_ino,
        semaphore_value: None,
    }
}

const fn libc_s_ifmt() -> u32 {
    0o170000
}

/// Opens a directory without following a link in its last component.
pub fn open_dir(dir: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
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
        let st = match rustix::fs::statat(&fd, item.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut entry = from_stat(name.to_vec(), &st);
        if entry.kind == Kind::File && entry.size == 32 && name.starts_with(b"sem.") {
            entry.semaphore_value = semaphore_value(&fd, item.file_name());
        }
        entries.push(entry);
    }
    Ok((fd, entries))
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
