//! `# noqa` suppression: `# noqa`, `# noqa: MP001, MP002`, and file-level
//! `# mpdoctor: noqa` (optionally with codes).

use std::collections::HashMap;

use crate::ast::Range;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::python::Comment;
use crate::source::LineIndex;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Scope {
    All,
    Codes(Vec<RuleCode>),
}

impl Scope {
    fn covers(&self, code: RuleCode) -> bool {
        match self {
            Scope::All => true,
            Scope::Codes(codes) => codes.contains(&code),
        }
    }
}

#[derive(Debug, Default)]
pub struct Directives {
    file: Option<Scope>,
    lines: HashMap<usize, Scope>,
    /// Unknown `MP` codes named in directives.
    pub invalid: Vec<Diagnostic>,
}

impl Directives {
    pub fn parse(comments: &[Comment], source: &str, index: &LineIndex) -> Self {
        let mut d = Directives::default();
        for comment in comments {
            let text = comment.text.as_str();
            // A file-wide directive stands on a line of its own, never after code.
            let line_start = index.line_start(index.line_of(comment.range.start)) as usize;
            let own_line = source[line_start..comment.range.start as usize]
                .trim()
                .is_empty();
            if let Some(rest) = file_directive(text).filter(|_| own_line) {
                let scope = d.codes(rest, comment.range);
                d.file = Some(merge(d.file.take(), scope));
            } else if let Some(rest) = line_directive(text) {
                let scope = d.codes(rest, comment.range);
                let line = index.line_of(comment.range.start);
                let merged = merge(d.lines.remove(&line), scope);
                d.lines.insert(line, merged);
            }
        }
        d
    }

    /// Whether a finding with this code and range is suppressed.
    pub fn suppresses_range(&self, code: RuleCode, range: Range, index: &LineIndex) -> bool {
        let first = index.line_of(range.start);
        let last = index.line_of(range.end.saturating_sub(1).max(range.start));
        self.suppresses(code, first, last)
    }

    /// Whether a finding with this code, starting or ending on these lines, is suppressed.
    pub fn suppresses(&self, code: RuleCode, first_line: usize, last_line: usize) -> bool {
        self.file.as_ref().is_some_and(|s| s.covers(code))
            || [first_line, last_line]
                .iter()
                .any(|l| self.lines.get(l).is_some_and(|s| s.covers(code)))
    }

    /// Parses what follows `noqa`: nothing (all codes) or `: CODE, CODE`.
    fn codes(&mut self, rest: &str, range: Range) -> Scope {
        let Some(list) = rest.trim_start().strip_prefix(':') else {
            return Scope::All;
        };
        let mut codes = Vec::new();
        for word in list.split([',', ' ', '\t']).filter(|w| !w.is_empty()) {
            // A code is letters then digits (`MP001`, `E501`); anything else is prose.
            let letters = word.chars().take_while(char::is_ascii_alphabetic).count();
            let is_code = letters > 0
                && word.len() > letters
                && word[letters..].chars().all(|c| c.is_ascii_digit());
            if !is_code {
                // The code list ends where prose begins: `# noqa: MP001 -- reason`.
                break;
            }
            if !word.to_ascii_uppercase().starts_with("MP") {
                // Another tool's code (ruff's E501): not ours to judge.
                continue;
            }
            match word.parse::<RuleCode>() {
                Ok(code) => codes.push(code),
                Err(e) => self.invalid.push(Diagnostic::new(
                    Code::InvalidNoqa,
                    range,
                    format!("`# noqa` names {e}"),
                    "unknown code",
                )),
            }
        }
        Scope::Codes(codes)
    }
}

fn merge(old: Option<Scope>, new: Scope) -> Scope {
    match (old, new) {
        (Some(Scope::All), _) | (_, Scope::All) => Scope::All,
        (Some(Scope::Codes(mut a)), Scope::Codes(b)) => {
            a.extend(b);
            Scope::Codes(a)
        }
        (None, new) => new,
    }
}

/// `# mpdoctor: noqa...` anywhere in a comment; returns the text after `noqa`.
fn file_directive(comment: &str) -> Option<&str> {
    let lower = comment.to_ascii_lowercase();
    let at = lower.find("mpdoctor:")?;
    let after = lower[at + "mpdoctor:".len()..].trim_start();
    let rest_at = comment.len() - after.len();
    after
        .starts_with("noqa")
        .then(|| &comment[rest_at + "noqa".len()..])
}

/// `# noqa...` at the start of a comment or of a `#`-separated part of it.
fn line_directive(comment: &str) -> Option<&str> {
    let lower = comment.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find("noqa") {
        let at = search + found;
        let before = lower[..at].trim_end();
        if before.ends_with('#')
            && !before
                .trim_end_matches('#')
                .trim_end()
                .ends_with("mpdoctor:")
        {
            return Some(&comment[at + "noqa".len()..]);
        }
        search = at + "noqa".len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directives(src: &str) -> Directives {
        let parsed = crate::python::parse(src);
        Directives::parse(&parsed.comments, src, &LineIndex::new(src))
    }

    #[test]
    fn line_directives() {
        let d = directives("a  # noqa\nb  # noqa: MP001, E501\nc  # NOQA:MP002\nd  # noqa: E501\n");
        assert!(d.suppresses(RuleCode::MP001, 0, 0));
        assert!(d.suppresses(RuleCode::MP002, 0, 0));
        assert!(d.suppresses(RuleCode::MP001, 1, 1));
        assert!(!d.suppresses(RuleCode::MP002, 1, 1));
        assert!(d.suppresses(RuleCode::MP002, 2, 2));
        assert!(!d.suppresses(RuleCode::MP001, 3, 3));
        assert!(d.invalid.is_empty());
    }

    #[test]
    fn file_directive_and_unknown_codes() {
        let d = directives("# mpdoctor: noqa: MP002\nx  # noqa: MP999\n");
        assert!(d.suppresses(RuleCode::MP002, 5, 5));
        assert!(!d.suppresses(RuleCode::MP001, 5, 5));
        assert_eq!(d.invalid.len(), 1);
        assert!(directives("# mpdoctor: noqa\n").suppresses(RuleCode::MP001, 9, 9));
    }

    #[test]
    fn noqa_inside_prose_is_not_a_directive() {
        let d = directives("x  # this is not noqa\n");
        assert!(!d.suppresses(RuleCode::MP001, 0, 0));
        // A reason after the codes is prose, even when a word starts with "mp".
        let d = directives("x  # noqa: MP001 mpi4py needs it\n");
        assert!(d.suppresses(RuleCode::MP001, 0, 0) && d.invalid.is_empty());
        // After code, `# mpdoctor: noqa` is not a file-wide directive.
        let d = directives("x = 1  # mpdoctor: noqa\ny = 2\n");
        assert!(!d.suppresses(RuleCode::MP001, 1, 1));
    }
}
