//! GitLab CI code quality reports (`artifacts: reports: codequality:`): a JSON array of
//! issues that GitLab shows in merge requests and compares against the target branch.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{display_path, fingerprints, fnv1a, span};
use crate::check::Outcome;
use crate::diagnostics::Severity;

pub fn render(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let project_dir = std::env::var_os("CI_PROJECT_DIR").map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    let issues: Vec<Value> = outcome
        .diagnostics()
        .zip(fingerprints(outcome))
        .map(|((report, d), fingerprint)| {
            let (start, end) = span(report, d);
            let path = repository_path(&report.path, project_dir.as_deref(), cwd.as_deref());
            json!({
                "check_name": d.code.as_str(),
                "description": format!("{}: {}", d.code.as_str(), d.message),
                "severity": match d.severity() {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                // GitLab wants a plain string, unique per report; the line-hash
                // fingerprint already is, but hashing it again keeps it one token.
                "fingerprint": format!("{:016x}", fnv1a(&format!("{fingerprint}\0{path}"))),
                "location": {
                    "path": path,
                    "positions": {
                        "begin": {"line": start.line, "column": start.column},
                        "end": {"line": end.line, "column": end.column},
                    },
                },
            })
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &issues)?;
    writeln!(out)
}

/// GitLab resolves paths against the repository root, which its runners export as
/// `CI_PROJECT_DIR`; elsewhere the working directory stands in for it.
fn repository_path(path: &Path, project_dir: Option<&Path>, cwd: Option<&Path>) -> String {
    let absolute = match cwd {
        Some(cwd) if path.is_relative() => cwd.join(path),
        _ => path.to_path_buf(),
    };
    let absolute = normalize(&absolute);
    for base in [project_dir, cwd].into_iter().flatten() {
        if let Ok(relative) = absolute.strip_prefix(normalize(base)) {
            return display_path(relative);
        }
    }
    display_path(path)
}

/// Drops `.` and resolves `..` lexically, without touching the file system (the file
/// may be standard input under a made-up name).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_project() {
        let cwd = Path::new("/builds/group/project/sub");
        let project = Path::new("/builds/group/project");
        assert_eq!(
            repository_path(Path::new("./a.py"), Some(project), Some(cwd)),
            "sub/a.py"
        );
        assert_eq!(
            repository_path(Path::new("../b/c.py"), Some(project), Some(cwd)),
            "b/c.py"
        );
        assert_eq!(
            repository_path(Path::new("./a.py"), None, Some(cwd)),
            "a.py"
        );
        assert_eq!(
            repository_path(Path::new("/elsewhere/d.py"), Some(project), Some(cwd)),
            "/elsewhere/d.py"
        );
    }
}
