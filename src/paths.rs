//! Paths as the kernel sees them, for comparing a file with a project root however either
//! was spelled: `a.py`, `./sub/../a.py`, or an absolute path through a symlinked checkout.

use std::path::{Component, Path, PathBuf};

/// The real path when it exists; otherwise the absolute path with `.` and `..` removed.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    if let Ok(real) = std::fs::canonicalize(path) {
        return Some(real);
    }
    let absolute = std::path::absolute(path).ok()?;
    let mut out = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// A file's real folder joined with its own name: links in the folders are followed, a
/// link as the file itself is not (it is checked where it is named). The file need not
/// exist (standard input under `--stdin-filename`).
pub fn resolve_file(path: &Path) -> Option<PathBuf> {
    match folder_and_name(path) {
        Some((folder, name)) => Some(resolve(folder)?.join(name)),
        None => resolve(path),
    }
}

/// The folder a file is named in (`.` for a bare name) and its name; `None` for `/`, `..`.
pub fn folder_and_name(path: &Path) -> Option<(&Path, &std::ffi::OsStr)> {
    let (parent, name) = (path.parent()?, path.file_name()?);
    let folder = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    Some((folder, name))
}

/// The file's path below `base`, or `None` when it lies elsewhere.
pub fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let base = resolve(base)?;
    let file = resolve_file(path)?;
    file.strip_prefix(&base).ok().map(Path::to_path_buf)
}

/// A path as shown to users and CI tools: forward slashes, no leading `./`.
pub fn display_path(path: &Path) -> String {
    let s = path.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_agree() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("sub")).unwrap();
        std::os::unix::fs::symlink(&project, dir.path().join("link")).unwrap();
        for spelling in [
            project.join("sub/a.py"),
            project.join("sub/../sub/./a.py"),
            dir.path().join("link/sub/a.py"),
        ] {
            assert_eq!(
                relative_to(&spelling, &project),
                Some(PathBuf::from("sub/a.py")),
                "{spelling:?}"
            );
        }
        assert_eq!(relative_to(Path::new("/elsewhere/b.py"), &project), None);
    }
}
