//! MP504 `pool-task-exits`: a `multiprocessing.Pool` task that ends its worker process
//! (`sys.exit`, `os._exit`, `exit`/`quit`, `raise SystemExit`/`KeyboardInterrupt`/
//! `BaseException`): the pool replaces the worker, the task's result never comes, and
//! whoever waits for it waits forever.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::links::Launch;
use crate::semantic::mp::MpClass;

pub struct PoolTaskExits;

impl Rule for PoolTaskExits {
    fn code(&self) -> RuleCode {
        RuleCode::MP504
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        let links = objects.links();
        let mut found: Vec<(Exit<'_>, &Launch<'_>, &FunctionDef)> = Vec::new();
        for launch in links.launches.iter().filter(|l| on_process_pool(cx, l)) {
            for f in links.reachable(launch.target) {
                for exit in exits_in(cx, f) {
                    if !found.iter().any(|(e, _, _)| e.at.range == exit.at.range) {
                        found.push((exit, launch, f));
                    }
                }
            }
        }
        for (exit, launch, f) in found {
            report(cx, &exit, launch, f);
        }
    }
}

/// A task of a `multiprocessing.Pool` (not of an executor, which reports a dead worker).
fn on_process_pool<'a>(cx: &Checker<'_, 'a>, launch: &Launch<'a>) -> bool {
    // An initializer that exits makes the pool start workers forever, another failure.
    // A task defined inside a function never reaches a worker: pickling it fails first.
    if launch.pool_class(cx.model) != Some(MpClass::Pool)
        || launch.initializer_of(cx.model).is_some()
        || !launch.target_picklable(cx.model)
    {
        return false;
    }
    let Some(call) = launch.site.as_call() else {
        return false;
    };
    let ExprKind::Attribute { value, .. } = &call.func.kind else {
        return false;
    };
    // billiard's pool (Celery's fork) catches `BaseException` in its workers and hands
    // it back like any other exception.
    !cx.objects.track(value, launch.scope).is_some_and(|pool| {
        pool.sites.iter().any(|s| {
            s.call.as_call().is_some_and(|c| {
                cx.model
                    .resolve(&c.func, launch.scope)
                    .path()
                    .is_some_and(|p| p.split('.').next() == Some("billiard"))
            })
        })
    })
}

struct Exit<'a> {
    at: &'a Stmt,
    /// How it ends the worker, for the message: "`sys.exit()`", "`raise SystemExit`".
    how: String,
}

/// What ends a worker: the `BaseException`s that `Pool`'s worker loop does not catch.
const UNCAUGHT: [&str; 3] = ["SystemExit", "KeyboardInterrupt", "BaseException"];

/// The statements of `f` (not of functions defined in it) that end the process, outside
/// any `try` that catches what they raise.
fn exits_in<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef) -> Vec<Exit<'a>> {
    let mut out = Vec::new();
    walk(cx, &f.body, f.scope, &[], &mut out);
    out
}

fn walk<'a>(
    cx: &Checker<'_, 'a>,
    body: &'a [Stmt],
    scope: ScopeId,
    caught: &[&str],
    out: &mut Vec<Exit<'a>>,
) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            StmtKind::Try {
                body: tried,
                handlers,
                orelse,
                finalbody,
            } => {
                let mut inner: Vec<&str> = caught.to_vec();
                for h in handlers {
                    match &h.type_ {
                        None => inner.extend(UNCAUGHT),
                        Some(t) => inner.extend(UNCAUGHT.iter().filter(|n| names(t, n))),
                    }
                }
                walk(cx, tried, scope, &inner, out);
                for h in handlers {
                    walk(cx, &h.body, scope, caught, out);
                }
                walk(cx, orelse, scope, caught, out);
                walk(cx, finalbody, scope, caught, out);
            }
            StmtKind::Raise { exc: Some(exc), .. } => {
                let class = match &exc.kind {
                    ExprKind::Call(call) => &call.func,
                    _ => exc,
                };
                if let Some(name) = class.as_name()
                    && UNCAUGHT.contains(&name)
                    && !caught.contains(&name)
                    && cx.model.binding_scope(name, scope).is_none()
                {
                    out.push(Exit {
                        at: stmt,
                        how: format!("`raise {name}`"),
                    });
                }
            }
            _ => {
                let mut found = None;
                exec::for_each_child(stmt, |c| match c {
                    exec::Child::Expr(e) => exec::walk_expr_tree(e, scope, &mut |x, at| {
                        if found.is_none() && at == scope {
                            found = exit_call(cx, x, scope, caught);
                        }
                    }),
                    exec::Child::Block(b) => walk(cx, b, scope, caught, out),
                });
                if let Some(how) = found {
                    out.push(Exit { at: stmt, how });
                }
            }
        }
    }
}

/// Whether an `except` clause's type names `name` (alone or in a tuple).
fn names(t: &Expr, name: &str) -> bool {
    match &t.kind {
        ExprKind::Tuple(items) => items.iter().any(|i| names(i, name)),
        ExprKind::Name(n) => n == name || n == "BaseException",
        _ => false,
    }
}

/// `sys.exit(...)`, `exit(...)`, `quit(...)` (which raise `SystemExit`), `os._exit(...)`
/// and `os.abort()` (which end the process on the spot).
fn exit_call<'a>(
    cx: &Checker<'_, 'a>,
    expr: &'a Expr,
    scope: ScopeId,
    caught: &[&str],
) -> Option<String> {
    let call = expr.as_call()?;
    let raises_system_exit = !caught.contains(&"SystemExit");
    if let Some(name) = call.func.as_name()
        && matches!(name, "exit" | "quit")
        && cx.model.binding_scope(name, scope).is_none()
    {
        return raises_system_exit.then(|| format!("`{name}()`"));
    }
    match cx.model.resolve(&call.func, scope).path()? {
        "sys.exit" => raises_system_exit.then(|| "`sys.exit()`".to_string()),
        "os._exit" => Some("`os._exit()`".to_string()),
        "os.abort" => Some("`os.abort()`".to_string()),
        _ => None,
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, exit: &Exit<'a>, launch: &Launch<'a>, f: &FunctionDef) {
    let task = &launch.target.name.name;
    let through = if std::ptr::eq(f, launch.target) {
        String::new()
    } else {
        format!(" (through `{}()`, which it calls)", f.name.name)
    };
    let how = &exit.how;
    let range = Range::new(
        exit.at.range.start,
        exit.at.range.start + first_line_len(cx, exit.at.range),
    );
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP504),
            range,
            format!(
                "{how} in `{task}()`{through}, a `multiprocessing.Pool` task, ends the worker \
                 process: the pool starts a new worker, but the task's result never comes, \
                 and whatever waits for it (`map()`, `get()`, the end of `with`) waits forever"
            ),
            "ends the pool worker",
        )
        .with_annotation(launch.site.range, "run as a pool task here")
        .with_help(
            "`Pool` catches `Exception` in a task and hands it to the caller, but not \
             `SystemExit`, `KeyboardInterrupt` or other `BaseException`s, and nothing \
             survives `os._exit()`. Raise an ordinary exception instead (the caller's \
             `map()` or `get()` re-raises it), or return an error value. \
             `concurrent.futures.ProcessPoolExecutor` reports a worker that dies as \
             `BrokenProcessPool` instead of hanging.",
        )
        .with_no_fix("what the task should report instead is the program's decision"),
    );
}

fn first_line_len(cx: &Checker<'_, '_>, range: Range) -> u32 {
    let text = cx.text(range);
    text.find('\n').unwrap_or(text.len()) as u32
}
