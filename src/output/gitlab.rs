//! GitLab CI code quality reports (`artifacts: reports: codequality:`): a JSON array of
//! issues that GitLab shows in merge requests and compares against the target branch.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{display_path, fingerprints, relative_to, span};
use crate::check::Outcome;
use crate::diagnostics::Severity;
use crate::paths::resolve_file;

pub fn render(outcome: &Outcome, out: &mut dyn Write) -> io::Result<()> {
    let project_dir = std::env::var_os("CI_PROJECT_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let cwd = std::env::current_dir().ok();
    let base = project_dir.or(cwd);
    let path_of = |path: &Path| repository_path(path, base.as_deref());
    let issues: Vec<Value> = outcome
        .diagnostics()
        .zip(fingerprints(outcome, path_of))
        .map(|((report, d), fingerprint)| {
            let (start, end) = span(report, d);
            json!({
                "check_name": d.code.as_str(),
                "description": format!("{}: {}", d.code.as_str(), d.message),
                "severity": match d.severity() {
                    Severity::Error => "major",
                    Severity::Warning => "minor",
                },
                "fingerprint": fingerprint,
                "location": {
                    "path": path_of(&report.path),
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
/// `CI_PROJECT_DIR`; elsewhere the working directory stands in for it. A file outside it
/// keeps its absolute path: a `../` path would name a file inside the repository.
fn repository_path(path: &Path, base: Option<&Path>) -> String {
    base.and_then(|b| relative_to(path, b))
        .unwrap_or_else(|| display_path(&resolve_file(path).unwrap_or_else(|| path.to_path_buf())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_project_or_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("sub")).unwrap();
        std::fs::create_dir_all(dir.path().join("other")).unwrap();
        let with_dots = repository_path(&project.join("sub/../sub/a.py"), Some(&project));
        assert_eq!(with_dots, "sub/a.py");
        let outside = repository_path(&dir.path().join("other/b.py"), Some(&project));
        assert!(
            outside.starts_with('/') && outside.ends_with("other/b.py"),
            "{outside}"
        );
    }
}
