//! The project stays consistent: every rule has its document, implementation, fixtures
//! and runtime proof, and its documented examples behave as documented.

use std::collections::BTreeSet;

use mpdoctor::codes::{FixSafety, RuleCode, parse_doc};
use mpdoctor::diagnostics::Code;
use mpdoctor::linter::{self, LintSettings};
use mpdoctor::source::SourceFile;

use crate::support::*;

#[test]
fn every_rule_document_parses_and_matches_its_code() {
    for &code in RuleCode::ALL {
        let doc = parse_doc(code.yaml()).unwrap_or_else(|e| panic!("{code}: {e}"));
        assert_eq!(doc.code, code.as_str());
        assert!(
            doc.name.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{code}: name {:?} is not kebab-case",
            doc.name
        );
        assert!(
            !doc.name.starts_with("no-") && !doc.name.starts_with("disallow-"),
            "{code}: names describe the pattern"
        );
        for field in [
            &doc.summary,
            &doc.what_it_does,
            &doc.why,
            &doc.fix,
            &doc.bad,
            &doc.good,
        ] {
            assert!(
                !field.trim().is_empty(),
                "{code}: a documentation field is empty"
            );
        }
        assert!(!doc.symptoms.is_empty(), "{code}: no symptom text");
        assert!(!doc.references.is_empty(), "{code}: no references");
        for r in &doc.references {
            assert!(
                r.url.starts_with("https://"),
                "{code}: reference {:?}",
                r.url
            );
        }
    }
}

#[test]
fn every_yaml_file_belongs_to_a_rule_and_every_rule_has_its_files() {
    let yaml: BTreeSet<String> = std::fs::read_dir(root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let codes: BTreeSet<String> = RuleCode::ALL
        .iter()
        .map(|c| format!("{}.yaml", c.as_str()))
        .collect();
    assert_eq!(yaml, codes, "rules/*.yaml and the rule table disagree");
    for &code in RuleCode::ALL {
        let module = code.name().replace('-', "_");
        // One folder per family, by the hundreds of the code.
        let family = match &code.as_str()[..3] {
            "MP0" => "main_guard",
            "MP1" => "queues",
            "MP2" => "locks",
            "MP3" => "shared_memory",
            "MP4" => "children",
            "MP5" => "pools",
            "MP6" => "start_methods",
            other => panic!("{code}: no folder for the family {other}xx"),
        };
        let implementation = root()
            .join("src/rules")
            .join(family)
            .join(format!("{module}.rs"));
        assert!(
            implementation.is_file(),
            "{code}: no {}",
            implementation.display()
        );
        let fixtures = root().join("fixtures").join(code.as_str());
        let names: Vec<String> = std::fs::read_dir(&fixtures)
            .unwrap_or_else(|_| panic!("{code}: no fixtures/{code}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(
            names.iter().any(|n| n.starts_with("bad_")),
            "{code}: no bad fixture"
        );
        assert!(
            names.iter().any(|n| n.starts_with("good_")),
            "{code}: no good fixture"
        );
    }
}

#[test]
fn documented_examples_behave_as_documented() {
    for &code in RuleCode::ALL {
        let doc = code.doc();
        // A fix that needs a recent Python (MP303's `track=False`) is documented for a
        // project whose `target-version` allows it.
        let settings = LintSettings {
            rules: vec![code],
            rule_settings: mpdoctor::rules::RuleSettings {
                target: mpdoctor::config::PythonVersion::NEWEST,
                ..Default::default()
            },
            ..Default::default()
        };
        let bad = linter::lint(&SourceFile::new("bad.py", doc.bad.clone()), &settings);
        assert!(
            bad.iter().any(|d| d.code == Code::Rule(code)),
            "{code}: the documented bad example does not fire"
        );
        let good = linter::lint(&SourceFile::new("good.py", doc.good.clone()), &settings);
        assert!(
            good.is_empty(),
            "{code}: the documented good example fires: {good:?}"
        );
        let offers_fix = bad.iter().any(|d| d.fix.is_some());
        assert_eq!(
            offers_fix,
            doc.fix_safety != FixSafety::None,
            "{code}: fix-safety disagrees with the fix the bad example gets"
        );
    }
}

/// Every rule fires in at least one fixture, so no rule ships untested.
#[test]
fn every_rule_fires_in_its_fixtures() {
    for &code in RuleCode::ALL {
        let fired = fixtures()
            .iter()
            .filter(|p| fixture_name(p).starts_with(code.as_str()))
            .any(|p| {
                expected_marks(&std::fs::read_to_string(p).unwrap())
                    .iter()
                    .any(|(_, c)| c.split_whitespace().nth(1) == Some(code.as_str()))
            });
        assert!(fired, "{code}: no fixture marks a finding");
    }
}
