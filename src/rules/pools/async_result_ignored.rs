//! MP505 `async-result-ignored`: `apply_async`/`map_async` whose result nobody reads and
//! that has no `error_callback`: an exception in the task disappears.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::mp::MpClass;
use crate::semantic::objects::MethodCall;

pub struct AsyncResultIgnored;

impl Rule for AsyncResultIgnored {
    fn code(&self) -> RuleCode {
        RuleCode::MP505
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        let calls: Vec<MethodCall<'_>> = objects
            .every_method_call()
            .iter()
            .filter(|mc| {
                matches!(mc.method, "apply_async" | "map_async" | "starmap_async")
                    && mc.call.keyword("error_callback").is_none()
                    && objects
                        .track(mc.receiver, mc.scope)
                        .is_some_and(|t| t.class == MpClass::Pool)
            })
            .copied()
            .collect();
        for call in calls {
            if ignored(cx, &call) && !in_open_with(cx, &call) && task_may_raise(cx, &call) {
                report(cx, &call);
            }
        }
    }
}

/// Whether the call's result is dropped, or bound to a name nothing reads.
fn ignored<'a>(cx: &Checker<'_, 'a>, call: &MethodCall<'a>) -> bool {
    let Some(body) = cx.model.body(cx.model.body_scope(call.scope)) else {
        return false;
    };
    let Some((suite, index)) = crate::semantic::segments::suite_of(body, call.expr.range) else {
        return false;
    };
    match &suite[index].kind {
        StmtKind::Expr(e) => std::ptr::eq(e, call.expr),
        StmtKind::Assign { targets, value } if std::ptr::eq(value, call.expr) => {
            let [t] = targets.as_slice() else {
                return false;
            };
            let Some(name) = t.as_name() else {
                return false;
            };
            let mut reads = 0;
            exec::walk_all_exprs(body, cx.model.body_scope(call.scope), &mut |e, _| {
                if e.as_name() == Some(name) && !std::ptr::eq(e, t) {
                    reads += 1;
                }
            });
            reads == 0
        }
        _ => false,
    }
}

/// Inside `with` over the same pool and without `join()` there: MP501 reports it (the
/// work is dropped before it can fail).
fn in_open_with<'a>(cx: &Checker<'_, 'a>, call: &MethodCall<'a>) -> bool {
    let objects = cx.objects;
    let Some(pool) = objects.track(call.receiver, call.scope) else {
        return false;
    };
    let mut open = false;
    crate::semantic::segments::walk_stmts(&cx.model.module.body, ScopeId::MODULE, &mut |s, at| {
        if let StmtKind::With { items, body, .. } = &s.kind
            && s.range.start <= call.expr.range.start
            && call.expr.range.end <= s.range.end
            && items.iter().any(|i| {
                objects
                    .track(&i.context, at)
                    .is_some_and(|t| t.same_object(&pool))
            })
        {
            let mut joined = false;
            exec::walk_all_exprs(body, at, &mut |e, _| {
                if let Some(c) = e.as_call()
                    && matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "join")
                {
                    joined = true;
                }
            });
            open |= !joined;
        }
    });
    open
}

fn report<'a>(cx: &mut Checker<'_, 'a>, call: &MethodCall<'a>) {
    let pool = cx.text(call.receiver.range).to_string();
    let method = call.method;
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP505),
            call.expr.range,
            format!(
                "nothing reads the result of `{pool}.{method}()` and it has no \
                 `error_callback`: if the task raises, the exception is stored in a result \
                 nobody looks at, and the failure vanishes without a trace"
            ),
            "its result is never read",
        )
        .with_help(
            "Keep the result and call `.get()` on it (which re-raises the task's exception), \
             or pass `error_callback=` a function that logs or re-raises; for fire-and-forget \
             work, `concurrent.futures.ProcessPoolExecutor` with `future.add_done_callback` \
             makes failures visible too.",
        )
        .with_no_fix(
            "what to do with a failure is the program's decision: add the handling by hand",
        ),
    );
}

/// Whether the task can raise at all: a function of this file whose body only does what
/// the failure model knows cannot fail (printing, sleeping, arithmetic on its arguments)
/// loses nothing. Unknown tasks may raise.
fn task_may_raise<'a>(cx: &Checker<'_, 'a>, call: &MethodCall<'a>) -> bool {
    use crate::semantic::failure::{Failure, Origins, expr_failure};
    let Some(task) = call.call.argument(0, "func") else {
        return true;
    };
    let crate::semantic::Value::Function(f) = cx.model.resolve(task, call.scope) else {
        return true;
    };
    let origins = Origins::of(f, false);
    let mut raises = false;
    crate::semantic::segments::walk_stmts(&f.body, f.scope, &mut |s, _| match &s.kind {
        StmtKind::Raise { .. } | StmtKind::Assert { .. } => raises = true,
        _ => exec::for_each_child(s, |c| {
            if let exec::Child::Expr(e) = c {
                raises |= expr_failure(e, &origins) > Failure::Never;
            }
        }),
    });
    raises
}
