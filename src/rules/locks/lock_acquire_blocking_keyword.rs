//! MP202 `lock-acquire-blocking-keyword`: `blocking=` passed to a multiprocessing lock.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::Family;

pub struct LockAcquireBlockingKeyword;

impl Rule for LockAcquireBlockingKeyword {
    fn code(&self) -> RuleCode {
        RuleCode::MP202
    }

    fn wants(&self) -> Wants {
        Wants {
            module: false,
            exprs: true,
            concurrency_only: true,
        }
    }

    fn check_expr<'a>(&self, cx: &mut Checker<'_, 'a>, expr: &'a Expr, scope: ScopeId) {
        let Some(call) = expr.as_call() else { return };
        let ExprKind::Attribute { value, attr } = &call.func.kind else {
            return;
        };
        if attr.name != "acquire" {
            return;
        }
        let Some(keyword) = call
            .keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.name == "blocking"))
        else {
            return;
        };
        // threading locks and manager lock proxies take `blocking`; only the semaphore
        // locks of multiprocessing itself name it `block`.
        let Some((kind, Family::Multiprocessing)) = cx.objects.shared(value, scope) else {
            return;
        };
        if !kind.is_lock() {
            return;
        }
        let Some(name) = &keyword.arg else { return };
        let receiver = cx.text(value.range).to_string();
        // Renaming is safe only where it cannot collide with an argument already given
        // for `block`, and where every object that reaches this call is a multiprocessing
        // lock (a threading lock passed in elsewhere needs `blocking`).
        let collides = !call.args.is_empty() || call.keyword("block").is_some();
        let fixable = !collides && cx.objects.known_everywhere(value, scope);
        let fix = fixable.then(|| {
            Fix::new(
                Applicability::Safe,
                "Rename the keyword to `block`",
                vec![Edit {
                    range: name.range,
                    content: "block".to_string(),
                }],
            )
        });
        cx.report(
            Diagnostic::new(
                Code::Rule(RuleCode::MP202),
                name.range,
                format!(
                    "`{receiver}.acquire()` takes `block=`, not `blocking=`: this raises TypeError"
                ),
                format!(
                    "a multiprocessing {} names this parameter `block`",
                    kind.name()
                ),
            )
            .with_help(
                "multiprocessing locks are not threading locks: their `acquire(block=True, \
                 timeout=None)` rejects `blocking=` with \"TypeError: 'blocking' is an invalid \
                 keyword argument for acquire()\". Pass `block=` (or the value positionally).",
            )
            .with_fix(fix),
        );
    }
}
