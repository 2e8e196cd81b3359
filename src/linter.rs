//! One file, start to end: parse, analyse, run the rules, apply `# noqa`, sort; and the
//! fix loop on top of it.

use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::fix::{self, FixMode};
use crate::noqa::Directives;
use crate::python;
use crate::registry;
use crate::rules::{self, RuleSettings};
use crate::semantic::Model;
use crate::semantic::project::Project;
use crate::source::SourceFile;
use std::sync::Arc;

/// What to check in one file.
#[derive(Clone, Debug)]
pub struct LintSettings {
    /// Enabled rules, sorted.
    pub rules: Vec<RuleCode>,
    pub rule_settings: RuleSettings,
    /// The other modules of the project, shared by every file of a run.
    pub project: Arc<Project>,
    /// Analyse only files that can have findings ([`crate::semantic::prefilter`]).
    pub prefilter: bool,
}

impl Default for LintSettings {
    fn default() -> Self {
        Self {
            rules: RuleCode::ALL.to_vec(),
            rule_settings: RuleSettings::default(),
            project: Arc::default(),
            prefilter: true,
        }
    }
}

/// Whether the file needs parsing and analysis at all: without the pre-filter, every
/// file does.
pub fn needs_analysis(text: &str, path: &std::path::Path, settings: &LintSettings) -> bool {
    let path = (path.as_os_str() != "-").then_some(path);
    !settings.prefilter || crate::semantic::prefilter::relevant(text, path, &settings.project)
}

/// What a file of a run needs, from its text alone.
pub enum Need {
    Analysis,
    /// Only when something it imports from the project starts processes: ask
    /// [`imports_may_start`] once every file of the run has been read.
    ProjectSays,
}

/// [`needs_analysis`] in two steps, for a run of many files: what the text says now, and
/// the project's answer later, when the import lines of every file read are known and
/// the project reads no file twice. The file's import lines are kept for that.
pub fn needs_analysis_alone(text: &str, path: &std::path::Path, settings: &LintSettings) -> Need {
    // The import lines of every file read: queries about it from other files need not
    // read it again.
    settings.project.remember(path, text);
    if !settings.prefilter || crate::semantic::prefilter::relevant_alone(text) {
        return Need::Analysis;
    }
    Need::ProjectSays
}

/// The second step of [`needs_analysis_alone`].
pub fn imports_may_start(path: &std::path::Path, settings: &LintSettings) -> bool {
    settings.project.file_imports_may_start(path)
}

/// Checks one file's text. Findings come back sorted and free of duplicates.
pub fn lint(source: &SourceFile, settings: &LintSettings) -> Vec<Diagnostic> {
    if let Some(e) = python::nested_too_deep(&source.text) {
        return vec![Diagnostic::new(
            Code::SyntaxError,
            e.range,
            format!("syntax error: {}", e.message),
            "here",
        )];
    }
    let parsed = python::parse(&source.text);
    // One finding per file: after the first error the parser's recovery produces
    // follow-on errors (a Python 2 file has one per print statement).
    let mut out: Vec<Diagnostic> = parsed
        .syntax_errors
        .first()
        .map(|e| {
            let more = match parsed.syntax_errors.len() - 1 {
                0 => String::new(),
                1 => " (and 1 more syntax error in this file)".to_string(),
                n => format!(" (and {n} more syntax errors in this file)"),
            };
            Diagnostic::new(
                Code::SyntaxError,
                e.range,
                format!("syntax error: {}{more}", visible(&e.message)),
                "here",
            )
            .with_help(
                "mpdoctor reads Python 3 syntax up to 3.14; the rest of the file was still \
                 checked, using what the parser could recover",
            )
        })
        .into_iter()
        .collect();
    if let Some(range) = parsed.truncated {
        out.push(
            Diagnostic::new(
                Code::TooDeep,
                range,
                format!(
                    "code nested more than {} levels deep was not analysed: findings inside \
                     it may be missing",
                    python::MAX_DEPTH
                ),
                "the analysis stops here",
            )
            .with_help(
                "a chain of hundreds of operators or calls, or brackets nested hundreds of \
                 levels deep (CPython refuses more than 200); the rest of the file was \
                 checked",
            ),
        );
    }
    let model = Model::new(&parsed.module);
    let directives = Directives::parse(&parsed.comments, &source.text, &source.index);
    let enabled: Vec<&'static dyn rules::Rule> =
        settings.rules.iter().map(|&c| registry::rule(c)).collect();
    let found = rules::run(
        source,
        &parsed,
        &model,
        &directives,
        &enabled,
        settings.rule_settings,
        &settings.project,
    );
    out.extend(found.into_iter().filter(|d| match d.code {
        Code::Rule(code) => !directives.suppresses_range(code, d.range, &source.index),
        _ => true,
    }));
    out.extend(directives.invalid);
    // A fix is judged by parsing the result, which a file with syntax errors cannot pass:
    // say so up front rather than offer fixes that `--fix` then refuses.
    if !parsed.syntax_errors.is_empty() {
        for d in &mut out {
            if d.fix.take().is_some() {
                d.no_fix = Some(
                    "the file has syntax errors (Python 2?), and fixes are applied only to \
                     files that parse"
                        .to_string(),
                );
            }
        }
    }
    out.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    out.dedup();
    out
}

/// The parser quotes the offending token, which may be a NUL or an escape sequence:
/// control characters are shown escaped, never sent to a terminal.
fn visible(message: &str) -> String {
    message
        .chars()
        .map(|c| {
            if c.is_control() {
                format!("\\x{:02x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The result of fixing one file.
#[derive(Debug)]
pub struct Fixed {
    /// The text after all fixes that applied.
    pub text: String,
    /// How many findings the applied fixes addressed.
    pub fixed: usize,
    /// Findings left in the fixed text.
    pub remaining: Vec<Diagnostic>,
    /// Why fixing stopped early, if it did.
    pub refused: Option<String>,
}

/// Enough rounds for fixes that enable each other; real ones converge in two.
const MAX_ROUNDS: usize = 10;

/// Applies fixes until none is left to apply. A round whose result would not parse is
/// refused, and files that already have syntax errors are not touched.
pub fn fix(source: &SourceFile, settings: &LintSettings, mode: FixMode) -> Fixed {
    let mut current = source.clone();
    let mut diagnostics = lint(&current, settings);
    let mut fixed = 0;
    let mut refused = None;
    if diagnostics.iter().any(|d| d.code == Code::SyntaxError) {
        let has_fix = diagnostics
            .iter()
            .any(|d| d.fix.as_ref().is_some_and(|f| mode.allows(f.applicability)));
        if has_fix {
            refused = Some("the file has syntax errors, so no fix was applied".to_string());
        }
        return Fixed {
            text: current.text,
            fixed,
            remaining: diagnostics,
            refused,
        };
    }
    for round in 0.. {
        let Some((text, addressed)) = fix::apply(&current.text, &diagnostics, mode) else {
            break;
        };
        if round == MAX_ROUNDS {
            refused = Some(format!("fixes did not converge after {MAX_ROUNDS} rounds"));
            break;
        }
        if !python::is_valid_syntax(&text) {
            refused = Some(
                "a fix would have introduced a syntax error, so it was not applied".to_string(),
            );
            break;
        }
        current = current.with_text(text);
        diagnostics = lint(&current, settings);
        fixed += addressed;
    }
    Fixed {
        text: current.text,
        fixed,
        remaining: diagnostics,
        refused,
    }
}
