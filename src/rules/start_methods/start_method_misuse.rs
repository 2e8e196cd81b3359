//! MP601 `start-method-misuse`: `set_start_method()` where it raises `RuntimeError:
//! context has already been set`: at import time (a spawn or forkserver child imports the
//! module again and calls it a second time), twice on one path, or after something
//! already fixed the default context (a `Lock()`, a `Queue()`, a `Pool()`,
//! `get_start_method()`).

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::globals::ImportRun;
use crate::semantic::guard::{GuardTest, classify};
use crate::semantic::mp::{MpClass, SharedKind, StartMethod};
use crate::semantic::{Model, Value, exec};

pub struct StartMethodMisuse;

impl Rule for StartMethodMisuse {
    fn code(&self) -> RuleCode {
        RuleCode::MP601
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    /// It judges calls of `set_start_method`, a context's too.
    fn words(&self) -> &'static [&'static str] {
        &["set_start_method"]
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let caught = caught_ranges(&model.module.body);
        let mut found = Vec::new();
        // At import time, at module level or in a function the import calls
        // (`_configure()`): runs again in every spawn and forkserver child.
        let mut at_import: Vec<&Expr> = Vec::new();
        let import_run = ImportRun::new(model, cx.objects.links());
        let bodies = std::iter::once((&model.module.body[..], ScopeId::MODULE)).chain(
            model
                .functions()
                .filter(|f| import_run.runs(f))
                .map(|f| (&f.body[..], f.scope)),
        );
        for (body, scope) in bodies {
            exec::walk(model, body, scope, &mut |event, scope| {
                if let exec::Event::Call { expr, call } = event
                    && let Some(set) = as_set(model, expr, call, scope, &caught)
                    && !set.force
                    && !set.caught
                    && set.method.is_some_and(StartMethod::reimports_main)
                {
                    at_import.push(expr);
                }
            });
        }
        for &e in &at_import {
            found.push(Finding::AtImport(e));
        }
        for (body, scope) in model.bodies() {
            let mut state = State::default();
            scan(model, body, scope, true, &caught, &mut state, &mut found);
        }
        found.retain(|f| match f {
            Finding::AtImport(_) => true,
            Finding::Twice { call, .. } | Finding::AfterFix { call, .. } => {
                !at_import.iter().any(|e| std::ptr::eq(*e, *call))
            }
        });
        for f in found {
            report(cx, f);
        }
    }
}

enum Finding<'a> {
    AtImport(&'a Expr),
    Twice { call: &'a Expr, first: &'a Expr },
    AfterFix { call: &'a Expr, fixer: &'a Expr },
}

/// What has happened, certainly, on the path so far.
#[derive(Default)]
struct State<'a> {
    set: Option<&'a Expr>,
    fixed: Option<&'a Expr>,
}

struct Set {
    force: bool,
    caught: bool,
    method: Option<StartMethod>,
}

fn as_set<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    call: &'a Call,
    scope: ScopeId,
    caught: &[Range],
) -> Option<Set> {
    let path = model.qualified_name(&call.func, scope)?;
    if path != "multiprocessing.set_start_method" {
        return None;
    }
    // A context's own `set_start_method` is the same global call.
    let force = call
        .argument(1, "force")
        .is_some_and(|f| !matches!(f.kind, ExprKind::Constant(Some(false))));
    Some(Set {
        force,
        caught: caught
            .iter()
            .any(|r| r.start <= expr.range.start && expr.range.end <= r.end),
        method: call
            .argument(0, "method")
            .and_then(|m| m.as_str())
            .and_then(StartMethod::parse),
    })
}

/// Whether evaluating `call` fixes the default context: making a lock, queue, value, pool,
/// manager or executor through it, or asking for the method.
fn fixes_context<'a>(model: &Model<'a>, expr: &'a Expr, call: &'a Call, scope: ScopeId) -> bool {
    match model.qualified_name(&call.func, scope).as_deref() {
        Some("multiprocessing.get_start_method") => {
            return !call
                .argument(0, "allow_none")
                .is_some_and(|a| !matches!(a.kind, ExprKind::Constant(Some(false))));
        }
        Some("multiprocessing.get_context") => {
            return call.args.is_empty() && call.keywords.is_empty();
        }
        _ => {}
    }
    match model.resolve(expr, scope) {
        Value::Instance {
            class: MpClass::Shared(kind, crate::semantic::mp::Family::Multiprocessing),
            method: None,
        } => !matches!(
            kind,
            SharedKind::Pipe | SharedKind::Connection | SharedKind::RawValue | SharedKind::RawArray
        ),
        Value::Instance {
            class: MpClass::Pool | MpClass::StartedManager | MpClass::ProcessPoolExecutor,
            method: None,
        } => true,
        _ => false,
    }
}

/// The bodies of `try` statements whose handlers catch `RuntimeError`.
fn caught_ranges(body: &[Stmt]) -> Vec<Range> {
    let mut out = Vec::new();
    exec::any_stmt(body, &mut |stmt| {
        if let StmtKind::Try { body, handlers, .. } = &stmt.kind
            && handlers
                .iter()
                .any(|h| catches_runtime_error(h.type_.as_ref()))
            && let (Some(first), Some(last)) = (body.first(), body.last())
        {
            out.push(Range {
                start: first.range.start,
                end: last.range.end,
            });
        }
        None
    });
    out
}

fn catches_runtime_error(type_: Option<&Expr>) -> bool {
    let Some(t) = type_ else { return true };
    let one = |e: &Expr| {
        matches!(
            e.as_name(),
            Some("RuntimeError" | "Exception" | "BaseException")
        )
    };
    match &t.kind {
        ExprKind::Tuple(items) => items.iter().any(one),
        _ => one(t),
    }
}

/// Walks `body` in order. `certain`: every statement of it runs when the body does (as
/// far as this scan knows). A later call is reported only against an earlier certain one.
fn scan<'a>(
    model: &Model<'a>,
    body: &'a [Stmt],
    scope: ScopeId,
    certain: bool,
    caught: &[Range],
    state: &mut State<'a>,
    out: &mut Vec<Finding<'a>>,
) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            StmtKind::If { branches } => {
                for b in branches {
                    if let Some(t) = &b.test {
                        events(model, t, scope, certain, caught, state, out);
                    }
                    let main = scope == ScopeId::MODULE
                        && b.test.as_ref().and_then(classify) == Some(GuardTest::OnlyAsMain);
                    scan(model, &b.body, scope, certain && main, caught, state, out);
                }
            }
            StmtKind::With { items, body, .. } => {
                for item in items {
                    events(model, &item.context, scope, certain, caught, state, out);
                }
                scan(model, body, scope, certain, caught, state, out);
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                scan(model, body, scope, certain, caught, state, out);
                for h in handlers {
                    scan(model, &h.body, scope, false, caught, state, out);
                }
                scan(model, orelse, scope, false, caught, state, out);
                scan(model, finalbody, scope, certain, caught, state, out);
            }
            _ => exec::for_each_child(stmt, |c| match c {
                exec::Child::Expr(e) => events(model, e, scope, certain, caught, state, out),
                exec::Child::Block(b) => scan(model, b, scope, false, caught, state, out),
            }),
        }
    }
}

/// The calls `expr` makes (not those of lambdas it defines), in order.
fn events<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    scope: ScopeId,
    certain: bool,
    caught: &[Range],
    state: &mut State<'a>,
    out: &mut Vec<Finding<'a>>,
) {
    if matches!(expr.kind, ExprKind::Lambda(_) | ExprKind::Comprehension(_)) {
        return;
    }
    exec::for_each_subexpr(expr, |e| {
        events(model, e, scope, certain, caught, state, out)
    });
    let Some(call) = expr.as_call() else { return };
    if let Some(set) = as_set(model, expr, call, scope, caught) {
        if !set.force && !set.caught {
            if let Some(first) = state.set {
                out.push(Finding::Twice { call: expr, first });
            } else if let Some(fixer) = state.fixed {
                out.push(Finding::AfterFix { call: expr, fixer });
            }
        }
        if certain && !set.caught && state.set.is_none() {
            state.set = Some(expr);
        }
    } else if certain
        && state.set.is_none()
        && state.fixed.is_none()
        && fixes_context(model, expr, call, scope)
    {
        state.fixed = Some(expr);
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    let shown = |e: &Expr| crate::rules::first_line(cx.text(e.range)).to_string();
    let d = match f {
        Finding::AtImport(call) => Diagnostic::new(
            Code::Rule(RuleCode::MP601),
            call.range,
            format!(
                "`{}` runs at import time: a spawn or forkserver child imports this module \
                 again, after its start method was set, and the call raises there \
                 (`RuntimeError: context has already been set`): the child dies with exit \
                 code 1",
                shown(call)
            ),
            "runs again in every child",
        )
        .with_help(
            "Call it under `if __name__ == \"__main__\":`, once. A library should not set \
             the global start method at all: take a context, \
             `ctx = multiprocessing.get_context(\"spawn\")`, and use `ctx.Process`, \
             `ctx.Pool`, `ctx.Queue`.",
        ),
        Finding::Twice { call, first } => Diagnostic::new(
            Code::Rule(RuleCode::MP601),
            call.range,
            format!(
                "`{}` runs after `{}` (line {}) already set the start method, without \
                 `force=True`: it raises `RuntimeError: context has already been set`",
                shown(call),
                shown(first),
                cx.line_of(first.range.start)
            ),
            "the second call raises",
        )
        .with_annotation(first.range, "sets it first")
        .with_help(
            "Set the start method once, in the main program; code that needs a particular \
             method elsewhere takes a context (`multiprocessing.get_context(\"spawn\")`).",
        ),
        Finding::AfterFix { call, fixer } => Diagnostic::new(
            Code::Rule(RuleCode::MP601),
            call.range,
            format!(
                "`{}` runs after `{}` (line {}) used the default context, which fixed the \
                 start method: it raises `RuntimeError: context has already been set`",
                shown(call),
                shown(fixer),
                cx.line_of(fixer.range.start)
            ),
            "the start method is already fixed",
        )
        .with_annotation(fixer.range, "fixes the start method")
        .with_help(
            "Call `set_start_method()` first, before any lock, queue, value, pool or \
             manager is made; or make those from a context \
             (`ctx = multiprocessing.get_context(\"spawn\")`, `ctx.Lock()`).",
        ),
    };
    cx.report(d.with_no_fix("where the start method is chosen is the program's decision"));
}
