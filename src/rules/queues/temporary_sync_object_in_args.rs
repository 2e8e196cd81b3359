//! MP104 `temporary-sync-object-in-args`: a lock, queue, event or shared value handed to
//! a `Process` that is gone before the child has opened it. Under spawn and forkserver the
//! child rebuilds the object from its name; when the parent's last reference dies first,
//! its semaphore is unlinked and the child fails with `FileNotFoundError` in
//! `SemLock._rebuild` (python/cpython#94765).

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::process_arguments;
use crate::semantic::mp::{Family, MethodSet, MpClass, SharedKind, StartMethod};
use crate::semantic::{Value, exec};

pub struct TemporarySyncObjectInArgs;

impl Rule for TemporarySyncObjectInArgs {
    fn code(&self) -> RuleCode {
        RuleCode::MP104
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let chosen = crate::semantic::start::chosen(model);
        let mut processes: Vec<(&Expr, &Call, ScopeId, Option<StartMethod>)> = Vec::new();
        exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, scope| {
            // A subclass of this file keeps what its constructor takes on the object,
            // which outlives `start()`: only `Process(...)` itself is judged.
            if let Some(call) = e.as_call()
                && let Value::Instance {
                    class: MpClass::Process,
                    method,
                } = model.resolve(e, scope)
                && !matches!(model.resolve(&call.func, scope), Value::Class(_))
            {
                processes.push((e, call, scope, method));
            }
        });
        let mut found = Vec::new();
        for (process, call, scope, method) in processes {
            let failing: MethodSet = match method {
                Some(m) => MethodSet::single(m),
                None => chosen.unwrap_or(cx.settings.start_methods),
            }
            .iter()
            .filter(|m| m.reimports_main())
            .collect();
            if failing.is_empty() {
                continue;
            }
            for arg in process_arguments(model, call, scope) {
                if let Some(f) = check_arg(cx, process, arg, scope) {
                    found.push((f, failing));
                }
            }
        }
        for (f, failing) in found {
            report(cx, f, failing);
        }
    }
}

/// Kinds whose pickled form names a semaphore the child opens.
fn has_semaphore(kind: SharedKind) -> bool {
    !matches!(
        kind,
        SharedKind::Pipe | SharedKind::Connection | SharedKind::RawValue | SharedKind::RawArray
    )
}

struct Finding<'a> {
    object: &'a Expr,
    kind: SharedKind,
    process: &'a Expr,
    why: Why<'a>,
}

enum Why<'a> {
    /// Made in the argument list: `start()` drops the process's reference at once.
    Inline,
    /// The body that made it returns or ends after `start()` without waiting.
    Ends { start: &'a Expr, module: bool },
}

fn check_arg<'a>(
    cx: &Checker<'_, 'a>,
    process: &'a Expr,
    arg: &'a Expr,
    scope: ScopeId,
) -> Option<Finding<'a>> {
    let objects = cx.objects;
    let object = objects.track(arg, scope)?;
    let (kind, Family::Multiprocessing) = object.shared()? else {
        return None;
    };
    if !has_semaphore(kind) {
        return None;
    }
    if object.sites.iter().any(|s| std::ptr::eq(s.call, arg)) {
        return Some(Finding {
            object: arg,
            kind,
            process,
            why: Why::Inline,
        });
    }
    // A name of this body, made here.
    let name = arg.as_name()?;
    let body_scope = cx.model.body_scope(scope);
    if cx.model.binding_scope(name, scope) != Some(body_scope) {
        return None;
    }
    let module = body_scope == ScopeId::MODULE;
    // At import time, without a main guard, a spawned child fails earlier, re-running the
    // start (MP001 reports that).
    if module && !under_main_guard(&cx.model.module.body, process.range) {
        return None;
    }
    if !module && !only_handed_to_processes(cx, name, body_scope) {
        return None;
    }
    let start = unwaited_start(cx, process, body_scope)?;
    Some(Finding {
        object: arg,
        kind,
        process,
        why: Why::Ends { start, module },
    })
}

fn under_main_guard(body: &[Stmt], range: Range) -> bool {
    use crate::semantic::guard::{GuardTest, classify};
    body.iter().any(|s| match &s.kind {
        StmtKind::If { branches } => branches.first().is_some_and(|b| {
            b.test.as_ref().and_then(classify) == Some(GuardTest::OnlyAsMain)
                && b.range.start <= range.start
                && range.end <= b.range.end
        }),
        _ => false,
    })
}

/// Whether every use of `name` in the function binds it, is an item of a `Process`'s
/// arguments, or reaches an attribute of it: anything else (returned, stored, passed on,
/// captured) may keep it alive.
fn only_handed_to_processes(cx: &Checker<'_, '_>, name: &str, scope: ScopeId) -> bool {
    let model = cx.model;
    let Some(body) = model.body(scope) else {
        return false;
    };
    let mut allowed: Vec<*const Expr> = Vec::new();
    let mut uses: Vec<(*const Expr, ScopeId)> = Vec::new();
    let mut global = false;
    crate::semantic::segments::walk_stmts(body, scope, &mut |s, _| match &s.kind {
        StmtKind::Assign { targets, .. } => {
            allowed.extend(targets.iter().map(|t| t as *const Expr));
        }
        StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
            global |= names.iter().any(|n| n.name == name);
        }
        _ => {}
    });
    exec::walk_all_exprs(body, scope, &mut |e, at| match &e.kind {
        ExprKind::Attribute { value, .. } if value.as_name() == Some(name) => {
            allowed.push(&**value as *const Expr);
        }
        ExprKind::Call(call)
            if matches!(
                model.resolve(e, at),
                Value::Instance {
                    class: MpClass::Process,
                    ..
                }
            ) && !matches!(model.resolve(&call.func, at), Value::Class(_)) =>
        {
            allowed.extend(
                process_arguments(model, call, at)
                    .into_iter()
                    .map(|a| a as *const Expr),
            );
        }
        ExprKind::Name(n) if n == name => uses.push((e as *const Expr, at)),
        _ => {}
    });
    !global
        && uses
            .iter()
            .all(|(u, at)| *at == scope && allowed.contains(u))
}

/// The `start()` of the process after which some path reaches the end of the body with
/// nothing that waits: only more starts, appends, prints or constructors of processes.
fn unwaited_start<'a>(cx: &Checker<'_, 'a>, process: &'a Expr, scope: ScopeId) -> Option<&'a Expr> {
    let objects = cx.objects;
    let model = cx.model;
    let body = model.body(scope)?;
    let proc_object = objects.track(process, scope)?;
    // What does not wait for the child: more starts, list building, printing, making
    // processes or threads, counting.
    let harmless_call = |c: &'a Call| match &c.func.kind {
        ExprKind::Attribute { attr, .. } => {
            matches!(attr.name.as_str(), "start" | "append" | "extend" | "add")
        }
        ExprKind::Name(n) if model.binding_scope(n, scope).is_none() => {
            matches!(n.as_str(), "print" | "range" | "len" | "enumerate" | "zip")
        }
        _ => matches!(
            model.qualified_name(&c.func, scope).as_deref(),
            Some("multiprocessing.Process" | "threading.Thread")
        ),
    };
    let quiet = |stmts: &'a [Stmt]| {
        let mut quiet = true;
        exec::walk_all_exprs(stmts, scope, &mut |e, at| {
            // Comprehensions run there and then (`[p.join() for p in procs]`); lambdas
            // and functions defined here run later.
            let now =
                at == scope || model.scope_kind(at) == crate::semantic::ScopeKind::Comprehension;
            if now && let ExprKind::Call(c) = &e.kind {
                quiet &= harmless_call(c);
            }
        });
        quiet
    };
    objects
        .calls_on(&proc_object, &["start"])
        .into_iter()
        .filter(|mc| model.body_scope(mc.scope) == scope)
        .find(|start| rest_is_quiet(body, start.expr.range, &quiet))
        .map(|start| start.expr)
}

/// Whether the code that can run after `range` in `body` (the statements after it in
/// its suite and every enclosing one, and the whole of every loop around it) makes only
/// calls `quiet` accepts: nothing there can be waiting for a child.
fn rest_is_quiet<'a>(body: &'a [Stmt], range: Range, quiet: &dyn Fn(&'a [Stmt]) -> bool) -> bool {
    let Some(index) = body
        .iter()
        .position(|s| s.range.start <= range.start && range.end <= s.range.end)
    else {
        return false;
    };
    if !quiet(&body[index + 1..]) {
        return false;
    }
    let stmt = &body[index];
    if matches!(stmt.kind, StmtKind::For { .. } | StmtKind::While { .. })
        && !quiet(std::slice::from_ref(stmt))
    {
        return false;
    }
    let mut inner = None;
    exec::for_each_child(stmt, |c| {
        if let exec::Child::Block(b) = c
            && b.iter()
                .any(|s| s.range.start <= range.start && range.end <= s.range.end)
        {
            inner = Some(b);
        }
    });
    match inner {
        Some(b) => rest_is_quiet(b, range, quiet),
        // The statement of the start itself.
        None => true,
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>, failing: MethodSet) {
    let object = cx.text(f.object.range).to_string();
    let kind = f.kind.name();
    let methods = failing.describe();
    let (message, label, annotation) = match f.why {
        Why::Inline => (
            format!(
                "`{object}` is made inside the process's arguments: `start()` drops the \
                 process's reference to it, so under {methods} it is freed, and its \
                 semaphore unlinked, before the child can open it: the child fails with \
                 `FileNotFoundError` in `SemLock._rebuild`"
            ),
            format!("a temporary {kind}"),
            None,
        ),
        Why::Ends { start, module } => {
            let end = if module {
                "the program ends"
            } else {
                "the function returns"
            };
            (
                format!(
                    "`{object}` is handed to a process, and then {end} without waiting for \
                     it: under {methods} the {kind} is freed, and its semaphore unlinked, \
                     before the child can open it, and the child fails with \
                     `FileNotFoundError` in `SemLock._rebuild`"
                ),
                format!("the {kind} dies when {end}"),
                Some((
                    start.range,
                    format!("started here; nothing waits for it before {end}"),
                )),
            )
        }
    };
    let mut d = Diagnostic::new(Code::Rule(RuleCode::MP104), f.object.range, message, label)
        .with_annotation(f.process.range, "handed to this process")
        .with_help(
            "Keep the object alive until the child has it: bind it to a name in the code \
             that waits for the process, and `join()` the process (or read what it sends) \
             before that code returns or ends. Under fork the child inherits the object \
             instead, which is why this works on Linux before Python 3.14.",
        )
        .with_no_fix("where the program should wait is its decision: add the `join()` by hand");
    if let Some((range, label)) = annotation {
        d = d.with_annotation(range, label);
    }
    cx.report(d);
}
