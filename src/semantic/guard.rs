//! `if __name__ == "__main__":` and its look-alikes.

use crate::ast::*;

/// What an `if` test means for when its body runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardTest {
    /// The body never runs when a spawned child re-imports the main module (where
    /// `__name__` is `"__mp_main__"`): `== "__main__"`, also `is`, `!= "__mp_main__"`.
    OnlyAsMain,
    /// The body runs when the module is imported (`!= "__main__"`): its `else` is guarded.
    OnlyWhenImported,
    /// The body never runs (a look-alike that is always false).
    Never,
}

/// How a comparison involving `__name__` and `"__main__"` is spelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MainComparison {
    /// `__name__ == "__main__"` (either order, `==` or `!=`).
    Correct,
    /// `__name__ is "__main__"`: works by string interning only, and CPython warns.
    Identity {
        negated: bool,
        /// The text between the operands (`is` / `is not` with its spacing).
        operator: Range,
    },
    /// `"__name__" == "__main__"`: two literals, never equal.
    QuotedName { name: Range },
    /// `__name__ == "main"` and other near misses of the literal.
    NearMiss { literal: Range, text: String },
    /// `__name__ == __main__`: the module name compared with a name, not a string.
    UnquotedMain { name: Range },
}

impl MainComparison {
    /// Whether the comparison can ever be true when spelled `==`.
    fn can_match(&self) -> bool {
        matches!(self, Self::Correct | Self::Identity { .. })
    }
}

/// A string literal that a reader would take for `"__main__"` but is not: `main` once
/// underscores, whitespace and case are stripped, or a one-letter typo that keeps the
/// dunder shape (`"__mian__"`, `"__mains__"`); real module names never look like that.
pub fn is_near_miss(text: &str) -> bool {
    if text == "__main__" {
        return false;
    }
    let core = text.trim().trim_matches('_').trim();
    if core.eq_ignore_ascii_case("main") {
        return true;
    }
    let dunder = text.starts_with("__") && text.ends_with("__") && text.len() > 4;
    dunder && core != "mp_main" && one_edit_apart(&core.to_ascii_lowercase(), "main")
}

/// Whether one insertion, deletion, substitution or swap of neighbours turns `a` into `b`.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => {
            ra[1..] == rb[1..]
                || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..])
        }
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

/// Classifies a single comparison between the module name and the main-module name.
/// Returns the comparison and whether its operator is negated (`!=`, `is not`).
pub fn main_comparison(expr: &Expr) -> Option<(MainComparison, bool)> {
    let (left, op, right) = expr.single_comparison()?;
    let negated = match op {
        CmpOp::Eq | CmpOp::Is => false,
        CmpOp::NotEq | CmpOp::IsNot => true,
        _ => return None,
    };
    let identity = matches!(op, CmpOp::Is | CmpOp::IsNot);
    let (a, b) = (left, right);
    let comparison = [(a, b), (b, a)]
        .into_iter()
        .find_map(|(x, y)| match (&x.kind, &y.kind) {
            (ExprKind::Name(n), ExprKind::Str(s)) if n == "__name__" => {
                if s == "__main__" {
                    Some(if identity {
                        MainComparison::Identity {
                            negated,
                            operator: Range::new(left.range.end, right.range.start),
                        }
                    } else {
                        MainComparison::Correct
                    })
                } else if is_near_miss(s) {
                    Some(MainComparison::NearMiss {
                        literal: y.range,
                        text: s.clone(),
                    })
                } else {
                    None
                }
            }
            (ExprKind::Str(n), ExprKind::Str(s)) if n == "__name__" && s == "__main__" => {
                Some(MainComparison::QuotedName { name: x.range })
            }
            (ExprKind::Name(n), ExprKind::Name(m)) if n == "__name__" && m == "__main__" => {
                Some(MainComparison::UnquotedMain { name: y.range })
            }
            _ => None,
        })?;
    Some((comparison, negated))
}

/// What an `if` test says about when its body runs, if it is about the main module.
pub fn classify(test: &Expr) -> Option<GuardTest> {
    match &test.kind {
        ExprKind::Compare { .. } => {
            if let Some(found) = child_name_test(test) {
                return Some(found);
            }
            let (comparison, negated) = main_comparison(test)?;
            match (comparison.can_match(), negated) {
                (true, false) => Some(GuardTest::OnlyAsMain),
                (true, true) => Some(GuardTest::OnlyWhenImported),
                (false, false) => Some(GuardTest::Never),
                // `__name__ != "main"` is always true: no guard at all.
                (false, true) => None,
            }
        }
        ExprKind::Not(inner) => match classify(inner)? {
            GuardTest::OnlyAsMain => Some(GuardTest::OnlyWhenImported),
            GuardTest::OnlyWhenImported => Some(GuardTest::OnlyAsMain),
            GuardTest::Never => None,
        },
        ExprKind::BoolOp {
            op: BoolOp::And,
            values,
        } => {
            // `a and b` runs its body only if every operand holds: one guard operand is
            // enough to guard it, and one never-true operand makes it dead.
            let tests: Vec<GuardTest> = values.iter().filter_map(classify).collect();
            if tests.contains(&GuardTest::Never) {
                Some(GuardTest::Never)
            } else if tests.contains(&GuardTest::OnlyAsMain) {
                Some(GuardTest::OnlyAsMain)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Tests that tell the main module from its re-import in a spawned child without the
/// usual spelling: `__name__ != "__mp_main__"` and `__name__ in ("__main__",)`.
fn child_name_test(test: &Expr) -> Option<GuardTest> {
    let (left, op, right) = test.single_comparison()?;
    if left.as_name() != Some("__name__") {
        return None;
    }
    // (runs in the main module, runs in a re-importing child)
    let (in_main, in_child) = match (op, &right.kind) {
        (CmpOp::Eq | CmpOp::NotEq, ExprKind::Str(s)) if s == "__mp_main__" => (false, true),
        (CmpOp::In | CmpOp::NotIn, ExprKind::Tuple(items) | ExprKind::List(items)) => {
            let strings: Option<Vec<&str>> = items.iter().map(Expr::as_str).collect();
            let strings = strings?;
            (
                strings.contains(&"__main__"),
                strings.contains(&"__mp_main__"),
            )
        }
        _ => return None,
    };
    let (in_main, in_child) = match op {
        CmpOp::NotEq | CmpOp::NotIn => (!in_main, !in_child),
        _ => (in_main, in_child),
    };
    match (in_main, in_child) {
        (true, false) => Some(GuardTest::OnlyAsMain),
        (false, true) => Some(GuardTest::OnlyWhenImported),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python;

    fn test_of(src: &str) -> Option<GuardTest> {
        let parsed = python::parse(src);
        let StmtKind::If { branches } = &parsed.module.body[0].kind else {
            panic!("not an if")
        };
        classify(branches[0].test.as_ref().unwrap())
    }

    #[test]
    fn guard_spellings() {
        assert_eq!(
            test_of("if __name__ == '__main__': pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if '__main__' == __name__: pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if __name__ != '__main__': pass"),
            Some(GuardTest::OnlyWhenImported)
        );
        assert_eq!(
            test_of("if __name__ is '__main__': pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if __name__ == '__main__' and x: pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if not __name__ == '__main__': pass"),
            Some(GuardTest::OnlyWhenImported)
        );
        assert_eq!(test_of("if __name__ == '__main__' or x: pass"), None);
        assert_eq!(
            test_of("if '__name__' == '__main__': pass"),
            Some(GuardTest::Never)
        );
        assert_eq!(
            test_of("if __name__ == 'main': pass"),
            Some(GuardTest::Never)
        );
        assert_eq!(
            test_of("if __name__ == '__mp_main__': pass"),
            Some(GuardTest::OnlyWhenImported)
        );
        assert_eq!(test_of("if __name__ != 'main': pass"), None);
        assert_eq!(
            test_of("if __name__ != '__mp_main__': pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if __name__ in ('__main__',): pass"),
            Some(GuardTest::OnlyAsMain)
        );
        assert_eq!(
            test_of("if __name__ in ['__main__', '__mp_main__']: pass"),
            None
        );
        assert_eq!(
            test_of("if __name__ not in ('__main__',): pass"),
            Some(GuardTest::OnlyWhenImported)
        );
    }

    #[test]
    fn near_misses() {
        for s in [
            "main",
            "__main",
            "_main_",
            "__Main__",
            " __main__",
            "__MAIN__",
        ] {
            assert!(is_near_miss(s), "{s}");
        }
        for s in ["__mian__", "__mains__", "__man__", "__maim__"] {
            assert!(is_near_miss(s), "{s}");
        }
        for s in [
            "__main__",
            "__mp_main__",
            "domain",
            "main_loop",
            "",
            "mail",
            "mian",
            "__init__",
            "____",
        ] {
            assert!(!is_near_miss(s), "{s}");
        }
    }
}
