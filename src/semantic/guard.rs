//! `if __name__ == "__main__":` and its look-alikes.

use crate::ast::*;

/// What an `if` test means for when its body runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardTest {
    /// The body runs only when the module is the main program (`==`, also `is`).
    OnlyAsMain,
    /// The body runs only when the module is imported (`!=`): its `else` is guarded.
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

/// A string literal that a reader would take for `"__main__"` but is not.
pub fn is_near_miss(text: &str) -> bool {
    text != "__main__"
        && text
            .trim()
            .trim_matches('_')
            .trim()
            .eq_ignore_ascii_case("main")
}

/// Classifies a single comparison between the module name and the main-module name.
/// Returns the comparison and whether its operator is negated (`!=`, `is not`).
pub fn main_comparison(expr: &Expr) -> Option<(MainComparison, bool)> {
    let ExprKind::Compare {
        left,
        ops,
        comparators,
    } = &expr.kind
    else {
        return None;
    };
    let ([op], [right]) = (ops.as_slice(), comparators.as_slice()) else {
        return None;
    };
    let negated = match op {
        CmpOp::Eq | CmpOp::Is => false,
        CmpOp::NotEq | CmpOp::IsNot => true,
        _ => return None,
    };
    let identity = matches!(op, CmpOp::Is | CmpOp::IsNot);
    let (a, b) = (left.as_ref(), right);
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
        assert_eq!(test_of("if __name__ == '__mp_main__': pass"), None);
        assert_eq!(test_of("if __name__ != 'main': pass"), None);
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
        for s in ["__main__", "__mp_main__", "domain", "main_loop", ""] {
            assert!(!is_near_miss(s), "{s}");
        }
    }
}
