//! MP402 `target-called-not-passed`: `Process(target=work())` or `executor.submit(work(x))`
//! calls the function right there, in the parent, and hands its result (`None`) over as
//! the callable. The work runs in the parent, one call after another, and the child does
//! nothing (a process) or fails (a pool task).

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::{LaunchKind, bound_callable, submission};
use crate::semantic::mp::MpClass;
use crate::semantic::{Value, exec};

pub struct TargetCalledNotPassed;

impl Rule for TargetCalledNotPassed {
    fn code(&self) -> RuleCode {
        RuleCode::MP402
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let mut found = Vec::new();
        for &(e, call, scope) in cx.objects.calls() {
            let (handed, site) = if let Some(sub) = submission(model, call, scope) {
                if sub.kind != LaunchKind::PoolTask {
                    continue;
                }
                (sub.func, Site::Task(sub.method))
            } else if let Value::Instance {
                class: MpClass::Process,
                ..
            } = model.resolve(e, scope)
                && !matches!(model.resolve(&call.func, scope), Value::Class(_))
                && let Some(target) = call.argument(1, "target")
            {
                (target, Site::Target)
            } else {
                continue;
            };
            let Some(inner) = handed.as_call() else {
                continue;
            };
            // A function, or a method through `self.run` / `obj.run`.
            if let Some(bound) = bound_callable(model, &inner.func, scope)
                && let f = bound.f
                && f.decorators.is_empty()
                && !exec::may_return_callable(f)
            {
                found.push((call, handed, inner, f, site));
            }
        }
        for (call, handed, inner, f, site) in found {
            report(cx, call, handed, inner, f, site);
        }
    }
}

#[derive(Clone, Copy)]
enum Site<'a> {
    Target,
    Task(&'a str),
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    call: &'a Call,
    handed: &'a Expr,
    inner: &'a Call,
    f: &'a FunctionDef,
    site: Site<'a>,
) {
    let name = f.name.name.as_str();
    let written = crate::rules::first_line(cx.text(handed.range)).to_string();
    let (message, label) = match site {
        Site::Target => (
            format!(
                "`{written}` runs `{name}` here, in the parent, and the process gets what it \
                 returns (`None`) as its target: the parent does the work, one call after \
                 another, and the child does nothing"
            ),
            format!("runs `{name}` in the parent"),
        ),
        Site::Task(method) => (
            format!(
                "`{written}` runs `{name}` here, in the parent, and `{method}()` gets what it \
                 returns (`None`) as the function to run: the parent does the work, and the \
                 task fails with `TypeError: 'NoneType' object is not callable`"
            ),
            format!("runs `{name}` in the parent"),
        ),
    };
    let fix = fix(cx, call, handed, inner, site);
    let mut d = Diagnostic::new(Code::Rule(RuleCode::MP402), handed.range, message, label)
        .with_help(format!(
            "Pass the function itself, and its arguments separately: \
             `Process(target={name}, args=(...))`, `executor.submit({name}, ...)`, \
             `pool.apply_async({name}, (...))`."
        ));
    d = match fix {
        Some(fix) => d.with_fix(Some(fix)),
        None => d.with_no_fix("the arguments cannot be moved as written: rewrite by hand"),
    };
    cx.report(d);
}

/// `target=work(a, b)` becomes `target=work, args=(a, b)`; `submit(work(a, k=1))` becomes
/// `submit(work, a, k=1)`; `apply_async(work(a))` becomes `apply_async(work, (a,))`; a
/// call without arguments loses its parentheses. Anything else (starred arguments,
/// arguments already given) is left to the reader.
fn fix<'a>(
    cx: &Checker<'_, 'a>,
    call: &'a Call,
    handed: &'a Expr,
    inner: &'a Call,
    site: Site<'a>,
) -> Option<Fix> {
    let func = cx.text(inner.func.range);
    let starred = inner
        .args
        .iter()
        .any(|a| matches!(a.kind, ExprKind::Starred(_)))
        || inner.keywords.iter().any(|k| k.arg.is_none());
    if starred {
        return None;
    }
    let args: Vec<&str> = inner.args.iter().map(|a| cx.text(a.range)).collect();
    let keywords: Vec<&str> = inner
        .keywords
        .iter()
        .filter_map(|k| {
            let start = k.arg.as_ref()?.range.start;
            Some(cx.text(Range {
                start,
                end: k.value.range.end,
            }))
        })
        .collect();
    let tuple = |items: &[&str]| match items {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    };
    let replacement = match site {
        _ if args.is_empty() && keywords.is_empty() => func.to_string(),
        Site::Target => {
            let taken = call.argument(3, "args").is_some()
                || call.argument(4, "kwargs").is_some()
                || call.args.len() > 2;
            if taken || !keywords.is_empty() {
                return None;
            }
            format!("{func}, args={}", tuple(&args))
        }
        Site::Task("submit") => {
            if call.args.len() > 1 || call.keywords.len() > usize::from(call.args.is_empty()) {
                return None;
            }
            let mut parts = vec![func];
            parts.extend(&args);
            parts.extend(&keywords);
            parts.join(", ")
        }
        Site::Task("apply" | "apply_async") => {
            if call.args.len() > 1 || !call.keywords.is_empty() || !keywords.is_empty() {
                return None;
            }
            format!("{func}, {}", tuple(&args))
        }
        Site::Task(_) => return None,
    };
    Some(Fix::new(
        Applicability::Unsafe,
        "pass the function, not its result",
        vec![Edit {
            range: handed.range,
            content: replacement,
        }],
    ))
}
