//! Applying fixes: non-overlapping edits, re-applied until the file is stable.

use crate::diagnostics::{Applicability, Diagnostic, Fix};

/// Which fixes may be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixMode {
    SafeOnly,
    IncludeUnsafe,
}

impl FixMode {
    pub fn allows(self, a: Applicability) -> bool {
        match self {
            FixMode::SafeOnly => a == Applicability::Safe,
            FixMode::IncludeUnsafe => true,
        }
    }
}

/// Applies every allowed fix that does not overlap one applied before it (by position).
/// Identical fixes offered by several findings are applied once. Returns the new text and
/// how many findings the applied fixes address, or `None` when nothing applies.
pub fn apply(text: &str, diagnostics: &[Diagnostic], mode: FixMode) -> Option<(String, usize)> {
    let mut fixes: Vec<&Fix> = diagnostics
        .iter()
        .filter_map(|d| d.fix.as_ref())
        .filter(|f| mode.allows(f.applicability) && !f.edits.is_empty())
        .collect();
    fixes.sort_by_key(|f| (f.edits[0].range.start, f.edits[0].range.end));
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0usize;
    let mut applied: Vec<&Fix> = Vec::new();
    let mut addressed = 0;
    for fix in fixes {
        if applied.contains(&fix) {
            addressed += 1;
            continue;
        }
        let first = fix.edits[0].range.start as usize;
        if first < cursor
            || fix
                .edits
                .iter()
                .any(|e| text.get(e.range.as_usize()).is_none())
        {
            continue;
        }
        for edit in &fix.edits {
            let r = edit.range.as_usize();
            if r.start < cursor {
                break;
            }
            out.push_str(&text[cursor..r.start]);
            out.push_str(&edit.content);
            cursor = r.end;
        }
        applied.push(fix);
        addressed += 1;
    }
    if applied.is_empty() {
        return None;
    }
    out.push_str(&text[cursor..]);
    Some((out, addressed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ast::Range;
    use crate::diagnostics::{Code, Edit};

    fn with_fix(start: u32, end: u32, content: &str, a: Applicability) -> Diagnostic {
        Diagnostic::new(Code::SyntaxError, Range::new(start, end), "m", "l").with_fix(Some(
            Fix::new(
                a,
                "f",
                vec![Edit {
                    range: Range::new(start, end),
                    content: content.into(),
                }],
            ),
        ))
    }

    #[test]
    fn overlapping_and_unsafe_fixes_are_skipped() {
        let text = "abcdef";
        let ds = [
            with_fix(0, 2, "X", Applicability::Safe),
            with_fix(1, 3, "Y", Applicability::Safe),
            with_fix(4, 5, "Z", Applicability::Unsafe),
        ];
        assert_eq!(
            apply(text, &ds, FixMode::SafeOnly),
            Some(("Xcdef".into(), 1))
        );
        assert_eq!(
            apply(text, &ds, FixMode::IncludeUnsafe),
            Some(("XcdZf".into(), 2))
        );
    }

    #[test]
    fn identical_fixes_apply_once() {
        let ds = [
            with_fix(0, 1, "X", Applicability::Safe),
            with_fix(0, 1, "X", Applicability::Safe),
        ];
        assert_eq!(apply("ab", &ds, FixMode::SafeOnly), Some(("Xb".into(), 2)));
    }
}
