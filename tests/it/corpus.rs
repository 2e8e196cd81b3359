//! The precision corpus: correct programs written by others (`tests/corpus/manifest.tsv`,
//! fetched into `target/corpus/` by `tests/corpus/fetch.sh`). `check` must give no error
//! on any of them, and every warning it gives must be listed and judged in
//! `tests/corpus/warnings.tsv`; a judgement that no longer matches a finding is stale and
//! fails too.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::skipped;

fn manifest_ids(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("tests/corpus/manifest.tsv")).unwrap();
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn precision_corpus_has_no_errors_and_every_warning_is_judged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("target/corpus");
    let ids = manifest_ids(root);
    let present: Vec<&String> = ids
        .iter()
        .filter(|id| corpus.join(format!("{id}.py")).is_file())
        .collect();
    let required = std::env::var_os("MPDOCTOR_REQUIRE_TOOLS").is_some_and(|v| v == "1");
    if present.len() < ids.len() {
        let why = format!(
            "precision corpus: {} of {} programs fetched; run `bash tests/corpus/fetch.sh`",
            present.len(),
            ids.len()
        );
        assert!(!required, "{why}");
        skipped(&why);
        if present.is_empty() {
            return;
        }
    }
    let files: Vec<String> = present
        .iter()
        .map(|id| corpus.join(format!("{id}.py")).display().to_string())
        .collect();
    let mut args = vec!["--select".to_string(), "ALL".to_string()];
    args.extend(files);
    let findings = crate::support::check_json(&args, root);
    let mut errors = Vec::new();
    let mut warnings = BTreeSet::new();
    for f in findings.as_array().unwrap() {
        let file = f["filename"].as_str().unwrap();
        let id = Path::new(file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let line = f["location"]["line"].as_u64().unwrap();
        let code = f["code"].as_str().unwrap().to_string();
        let what = format!("{id}:{line}: {code} {}", f["message"].as_str().unwrap());
        match f["severity"].as_str().unwrap() {
            "error" => errors.push(what),
            _ => {
                warnings.insert((id, line, code));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "errors on correct programs:\n{}",
        errors.join("\n")
    );
    let judged_text = std::fs::read_to_string(root.join("tests/corpus/warnings.tsv")).unwrap();
    let mut judged = BTreeSet::new();
    for row in judged_text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = row.split('\t').collect();
        assert!(
            cols.len() == 5,
            "warnings.tsv: five columns expected: {row}"
        );
        assert!(
            matches!(cols[3], "false alarm" | "true" | "latent"),
            "warnings.tsv: verdict must be `false alarm`, `true` or `latent`: {row}"
        );
        judged.insert((
            cols[0].to_string(),
            cols[1].parse::<u64>().unwrap(),
            cols[2].to_string(),
        ));
    }
    let unjudged: Vec<_> = warnings.difference(&judged).collect();
    assert!(
        unjudged.is_empty(),
        "warnings not judged in tests/corpus/warnings.tsv: {unjudged:?}"
    );
    let fetched: BTreeSet<&str> = present.iter().map(|s| s.as_str()).collect();
    let stale: Vec<_> = judged
        .iter()
        .filter(|(id, _, _)| fetched.contains(id.as_str()))
        .filter(|j| !warnings.contains(*j))
        .collect();
    assert!(
        stale.is_empty(),
        "judgements in tests/corpus/warnings.tsv that match no finding: {stale:?}"
    );
}
