//! Finding the Python files to check.

use std::path::{Path, PathBuf};

use globset::{Glob, GlobSet, GlobSetBuilder};

/// Directories and files never walked into unless named on the command line; the same
/// defaults ruff uses.
pub const DEFAULT_EXCLUDES: &[&str] = &[
    ".bzr",
    ".direnv",
    ".eggs",
    ".git",
    ".git-rewrite",
    ".hg",
    ".ipynb_checkpoints",
    ".mypy_cache",
    ".nox",
    ".pants.d",
    ".pyenv",
    ".pytest_cache",
    ".pytype",
    ".ruff_cache",
    ".svn",
    ".tox",
    ".venv",
    ".vscode",
    "__pycache__",
    "__pypackages__",
    "_build",
    "buck-out",
    "build",
    "dist",
    "node_modules",
    "site-packages",
    "venv",
];

/// A path found by the walk.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Found {
    File {
        path: PathBuf,
        /// Named on the command line: checked whatever its name or the excludes say.
        explicit: bool,
    },
    /// Something the walk could not read (a directory without permission, a broken
    /// entry); reported as a finding for that path.
    Error { path: PathBuf, message: String },
}

#[derive(Debug)]
pub struct MissingPath(pub PathBuf);

/// Whether a file is Python source we check: `.py` and `.pyw`, not stubs.
pub fn is_python_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("py" | "pyw")
    )
}

pub fn exclude_set(extra: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for pattern in DEFAULT_EXCLUDES
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
    {
        builder.add(Glob::new(pattern)?);
    }
    builder.build()
}

/// Walks `paths` in parallel. Files named directly are always returned; directories
/// are walked without following links, honouring `.gitignore` and `excludes` (matched
/// against each entry's name and its path as walked). The result is sorted.
pub fn discover(paths: &[PathBuf], excludes: &GlobSet) -> Result<Vec<Found>, MissingPath> {
    let mut found = Vec::new();
    let mut dirs = Vec::new();
    for path in paths {
        match std::fs::symlink_metadata(path) {
            Err(_) if std::fs::metadata(path).is_err() && path.symlink_metadata().is_err() => {
                return Err(MissingPath(path.clone()));
            }
            Ok(meta) if meta.is_dir() => dirs.push(path.clone()),
            _ => found.push(Found::File {
                path: path.clone(),
                explicit: true,
            }),
        }
    }
    if !dirs.is_empty() {
        let mut builder = ignore::WalkBuilder::new(&dirs[0]);
        for dir in &dirs[1..] {
            builder.add(dir);
        }
        let excludes_for_filter = excludes.clone();
        builder
            .follow_links(false)
            .hidden(false)
            .require_git(false)
            .filter_entry(move |entry| {
                // The roots themselves were named explicitly. Patterns match an entry's
                // name, or its path as walked, with or without a leading `./`.
                let path = entry.path();
                entry.depth() == 0
                    || !(excludes_for_filter.is_match(entry.file_name())
                        || excludes_for_filter.is_match(path)
                        || path
                            .strip_prefix(".")
                            .is_ok_and(|p| excludes_for_filter.is_match(p)))
            });
        let (tx, rx) = std::sync::mpsc::channel();
        builder.build_parallel().run(|| {
            let tx = tx.clone();
            Box::new(move |entry: Result<ignore::DirEntry, ignore::Error>| {
                let item = match entry {
                    Ok(entry) => {
                        let is_file = entry.file_type().is_some_and(|t| t.is_file());
                        (is_file && is_python_file(entry.path())).then(|| Found::File {
                            path: entry.into_path(),
                            explicit: false,
                        })
                    }
                    Err(err) => Some(walk_error(err)),
                };
                if let Some(item) = item {
                    // The receiver outlives the walk; a send cannot fail.
                    let _ = tx.send(item);
                }
                ignore::WalkState::Continue
            })
        });
        drop(tx);
        found.extend(rx);
    }
    found.sort();
    // One walk without links never meets a file twice: only several paths can name the
    // same file twice.
    if paths.len() < 2 {
        return Ok(found);
    }
    // The same file named twice (`. a.py ./a.py`) is checked, and fixed, once.
    let mut seen = std::collections::HashSet::new();
    found.retain(|f| match f {
        Found::File { path, .. } => {
            seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.clone()))
        }
        Found::Error { .. } => true,
    });
    Ok(found)
}

fn walk_error(err: ignore::Error) -> Found {
    let path = error_path(&err).unwrap_or_default();
    Found::Error {
        path,
        message: err.to_string(),
    }
}

fn error_path(err: &ignore::Error) -> Option<PathBuf> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path.clone()),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child.clone()),
        _ => None,
    }
}
