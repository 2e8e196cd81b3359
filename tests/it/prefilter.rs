//! The pre-filter passes over files that cannot have a finding: with it and without it
//! (`--no-prefilter`), the fixtures, the precision corpus and this machine's standard
//! library give the same findings. The one difference allowed is a syntax error in a file
//! passed over, which is then not parsed.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use crate::support::{python_available, root, skipped};

/// (file, code, line, column, message) of every finding.
type Finding = (String, String, u64, u64, String);

fn findings(paths: &[PathBuf], extra: &[&str]) -> BTreeSet<Finding> {
    let mut args: Vec<std::ffi::OsString> = extra.iter().map(Into::into).collect();
    args.extend(paths.iter().map(Into::into));
    let doc = crate::support::check_json(&args, &root());
    doc.as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["filename"].as_str().unwrap_or_default().to_string(),
                f["code"].as_str().unwrap_or_default().to_string(),
                f["location"]["line"].as_u64().unwrap_or(0),
                f["location"]["column"].as_u64().unwrap_or(0),
                f["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_prefilter_loses_no_finding() {
    let root = root();
    let mut paths = vec![root.join("fixtures")];
    let corpus = root.join("target/corpus");
    if corpus.is_dir() {
        paths.push(corpus);
    }
    if python_available() {
        let out = Command::new("python3")
            .args([
                "-c",
                "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
            ])
            .output()
            .unwrap();
        paths.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    } else {
        skipped("python3 is not installed: the standard library is not compared");
    }
    let with = findings(&paths, &[]);
    let without = findings(&paths, &["--no-prefilter"]);
    let lost: Vec<&Finding> = without.difference(&with).collect();
    let gained: Vec<&Finding> = with.difference(&without).collect();
    assert!(gained.is_empty(), "only with the pre-filter: {gained:#?}");
    // A file passed over is not parsed, so its syntax errors are not reported (an
    // analysed file reports its own either way); nothing else may go.
    let real: Vec<&&Finding> = lost.iter().filter(|f| f.1 != "syntax-error").collect();
    assert!(real.is_empty(), "lost by the pre-filter: {real:#?}");
    assert!(
        without.len() > 100,
        "{} findings: a corpus is missing",
        without.len()
    );
}
