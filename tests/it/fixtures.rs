//! Every fixture states its own expectations: the lines marked `# error: CODE` or
//! `# warning: CODE` are exactly the findings, with that severity, and the rendered report and fix diff match the snapshot.

use mpdoctor::cli::OutputFormat;
use mpdoctor::diagnostics::Code;
use mpdoctor::fix::FixMode;
use mpdoctor::linter::{self, LintSettings};
use mpdoctor::python;

use crate::support::*;

#[test]
fn fixtures_fire_exactly_on_marked_lines() {
    let mut failures = Vec::new();
    let settings = LintSettings::default();
    for path in fixtures() {
        let source = load(&path);
        let expected = expected_marks(&source.text);
        let mut actual: Vec<(u32, String)> = linter::lint(&source, &settings)
            .iter()
            .map(|d| {
                (
                    source.location(d.range.start).line,
                    format!("{} {}", d.severity().as_str(), d.code.as_str()),
                )
            })
            .collect();
        actual.sort();
        if actual != expected {
            let missing: Vec<_> = expected.iter().filter(|e| !actual.contains(e)).collect();
            let unexpected: Vec<_> = actual.iter().filter(|a| !expected.contains(a)).collect();
            failures.push(format!(
                "{}:\n  missing (line, code): {missing:?}\n  unexpected: {unexpected:?}",
                fixture_name(&path)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fixture_snapshots() {
    let settings = LintSettings::default();
    for path in fixtures() {
        let source = load(&path);
        let report = report_for(&source, &settings);
        let rendered = render(report, OutputFormat::Full, FixMode::SafeOnly);
        let fixed = linter::fix(&source, &settings, FixMode::IncludeUnsafe);
        let diff = if fixed.text == source.text {
            "(no fix)\n".to_string()
        } else {
            mpdoctor::check::unified_diff(&source.path, &source.text, &fixed.text)
        };
        let snapshot =
            format!("{rendered}\n--- fixes applied with --fix --unsafe-fixes ---\n{diff}");
        let name = fixture_name(&path).replace(['/', '.'], "__");
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, snapshot);
        });
    }
}

/// ruff's harness rule: every fix converges, leaves valid syntax and removes the finding
/// it was offered for.
#[test]
fn fixes_converge_and_parse() {
    let settings = LintSettings::default();
    let mut failures = Vec::new();
    for path in fixtures() {
        let source = load(&path);
        let before = linter::lint(&source, &settings);
        if !before.iter().any(|d| d.fix.is_some()) {
            continue;
        }
        let fixed = linter::fix(&source, &settings, FixMode::IncludeUnsafe);
        let name = fixture_name(&path);
        if let Some(refused) = &fixed.refused {
            failures.push(format!("{name}: {refused}"));
        }
        if !python::is_valid_syntax(&fixed.text) {
            failures.push(format!("{name}: fixed text does not parse"));
        }
        if fixed.remaining.iter().any(|d| d.fix.is_some()) {
            failures.push(format!("{name}: fixable findings remain after fixing"));
        }
        if fixed.remaining.iter().any(|d| d.code == Code::SyntaxError) {
            failures.push(format!("{name}: syntax errors after fixing"));
        }
        let again = linter::fix(
            &mpdoctor::source::SourceFile::new(source.path.clone(), fixed.text.clone()),
            &settings,
            FixMode::IncludeUnsafe,
        );
        if again.text != fixed.text {
            failures.push(format!("{name}: a second fix run changed the text"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
