//! MP002 `ineffective-main-guard`: a main-guard look-alike that is always false or fragile.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::guard::{MainComparison, main_comparison};

pub struct IneffectiveMainGuard;

impl Rule for IneffectiveMainGuard {
    fn code(&self) -> RuleCode {
        RuleCode::MP002
    }

    fn wants(&self) -> Wants {
        Wants {
            module: false,
            exprs: true,
            concurrency_only: false,
        }
    }

    fn check_expr<'a>(&self, cx: &mut Checker<'_, 'a>, expr: &'a Expr, _scope: ScopeId) {
        let Some((comparison, negated)) = main_comparison(expr) else {
            return;
        };
        let outcome = if negated {
            "always true"
        } else {
            "always false"
        };
        let code = Code::Rule(RuleCode::MP002);
        let diagnostic = match comparison {
            MainComparison::Correct => return,
            MainComparison::Identity { negated, operator } => {
                let op = if negated { "is not" } else { "is" };
                let replacement = if negated { "!=" } else { "==" };
                let spelled = cx.text(operator).split_whitespace().collect::<Vec<_>>().join(" ");
                let fix = (spelled == op).then(|| {
                    Fix::new(
                        Applicability::Safe,
                        format!("Use `{replacement}`"),
                        vec![Edit {
                            range: operator,
                            content: format!(" {replacement} "),
                        }],
                    )
                });
                Diagnostic::new(
                    code,
                    expr.range,
                    format!("`__name__ {op} \"__main__\"` compares identity, not equality"),
                    format!("`{op}` with a string literal"),
                )
                .with_help(format!(
                    "it works only because CPython happens to intern both strings, and \
                     Python 3.8+ warns `SyntaxWarning: \"is\" with a literal`; use `{replacement}`"
                ))
                .with_fix(fix)
            }
            MainComparison::QuotedName { name } => Diagnostic::new(
                code,
                name,
                format!(
                    "`{}` is a string literal, so this guard is {outcome}",
                    cx.text(name)
                ),
                "the string \"__name__\", not the variable",
            )
            .with_help(if negated {
                "the code it guards always runs; compare the variable `__name__`"
            } else {
                "the code it guards never runs; compare the variable `__name__`"
            })
            .with_fix(Some(Fix::new(
                Applicability::Safe,
                "Remove the quotes around `__name__`",
                vec![Edit {
                    range: name,
                    content: "__name__".to_string(),
                }],
            ))),
            // In `main.py`, `__name__ == "main"` asks whether the file was imported as
            // the module `main`: a real question, not a misspelt guard.
            MainComparison::NearMiss { text, .. } if module_stem(cx) == Some(text.as_str()) => {
                return;
            }
            MainComparison::NearMiss { literal, text } => Diagnostic::new(
                code,
                literal,
                format!(
                    "`__name__` is never {:?}: the main module is named \"__main__\", so this guard is {outcome}",
                    text
                ),
                "not \"__main__\"",
            )
            .with_help("compare with \"__main__\"")
            .with_fix(Some(Fix::new(
                Applicability::Safe,
                "Compare with \"__main__\"",
                vec![Edit {
                    range: literal,
                    content: quoted_like(cx.text(literal)),
                }],
            ))),
            MainComparison::UnquotedMain { name } => Diagnostic::new(
                code,
                name,
                format!("`__main__` is a name, not the string \"__main__\", so this guard is {outcome} or raises NameError"),
                "not a string",
            )
            .with_help("quote it: `__name__ == \"__main__\"`")
            .with_fix(Some(Fix::new(
                Applicability::Safe,
                "Quote `__main__`",
                vec![Edit {
                    range: name,
                    content: "\"__main__\"".to_string(),
                }],
            ))),
        };
        cx.report(diagnostic);
    }
}

fn module_stem<'c>(cx: &Checker<'c, '_>) -> Option<&'c str> {
    cx.source.path.file_stem().and_then(|s| s.to_str())
}

/// `"__main__"` in the quote character the replaced literal used.
fn quoted_like(literal: &str) -> String {
    let quote = literal
        .chars()
        .find(|c| *c == '\'' || *c == '"')
        .unwrap_or('"');
    format!("{quote}__main__{quote}")
}
