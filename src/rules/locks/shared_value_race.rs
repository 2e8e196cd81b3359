//! MP203 `shared-value-race`: a read-modify-write of a shared `Value` or `Array` in code
//! that several processes run at once, without its lock.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants, first_line};
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, SharedKind};

pub struct SharedValueRace;

impl Rule for SharedValueRace {
    fn code(&self) -> RuleCode {
        RuleCode::MP203
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let links = cx.objects.links();
        // Functions that run in several child processes at the same time.
        let mut concurrent: Vec<&FunctionDef> = Vec::new();
        for launch in links.launches.iter().filter(|l| l.kind.in_child_process()) {
            let siblings = links
                .of(launch.target)
                .filter(|l| l.kind == LaunchKind::Process)
                .count();
            if !(launch.repeated || siblings > 1) || one_at_a_time(cx, launch.target) {
                continue;
            }
            for f in links.reachable(launch.target) {
                if !concurrent.iter().any(|g| std::ptr::eq(*g, f)) {
                    concurrent.push(f);
                }
            }
        }
        for f in concurrent {
            if called_under_lock(cx, f) {
                continue;
            }
            let mut guards = Vec::new();
            visit(cx, f, &f.body, &mut guards);
        }
    }
}

/// Walks a function body with the `with` contexts around each statement.
fn visit<'a>(
    cx: &mut Checker<'_, 'a>,
    f: &'a FunctionDef,
    body: &'a [Stmt],
    guards: &mut Vec<&'a Expr>,
) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            StmtKind::With { items, body, .. } => {
                let depth = guards.len();
                guards.extend(items.iter().map(|i| &i.context));
                visit(cx, f, body, guards);
                guards.truncate(depth);
            }
            StmtKind::AugAssign { target, .. } => check_write(cx, f, stmt, target, guards),
            StmtKind::Assign { targets, value } => {
                for t in targets {
                    if let Some(object) = shared_cell(t)
                        && reads(value, cx.text(object.range), cx)
                    {
                        check_write(cx, f, stmt, t, guards);
                    }
                }
            }
            _ => crate::semantic::exec::for_each_child(stmt, |c| {
                if let crate::semantic::exec::Child::Block(b) = c {
                    visit(cx, f, b, guards);
                }
            }),
        }
    }
}

/// `X.value` or `X[...]`: the object whose memory a write goes to.
fn shared_cell(target: &Expr) -> Option<&Expr> {
    match &target.kind {
        ExprKind::Attribute { value, attr } if attr.name == "value" => Some(value),
        ExprKind::Subscript { value, .. } => Some(value),
        _ => None,
    }
}

/// Whether `value` reads the same shared object (`v.value = v.value + 1`).
fn reads(value: &Expr, object: &str, cx: &Checker<'_, '_>) -> bool {
    let mut found = false;
    crate::semantic::exec::for_each_subexpr(value, |e| {
        if let Some(inner) = shared_cell(e) {
            found |= cx.text(inner.range) == object;
        }
        found |= reads(e, object, cx);
    });
    if let Some(inner) = shared_cell(value) {
        found |= cx.text(inner.range) == object;
    }
    found
}

fn check_write<'a>(
    cx: &mut Checker<'_, 'a>,
    f: &'a FunctionDef,
    stmt: &'a Stmt,
    target: &'a Expr,
    guards: &[&'a Expr],
) {
    let Some(object) = shared_cell(target) else {
        return;
    };
    let Some(tracked) = cx.objects.track(object, f.scope) else {
        return;
    };
    let Some((kind, Family::Multiprocessing)) = tracked.shared() else {
        return;
    };
    let cell_matches = matches!(
        (kind, &target.kind),
        (
            SharedKind::Value | SharedKind::RawValue,
            ExprKind::Attribute { .. }
        ) | (
            SharedKind::Array | SharedKind::RawArray,
            ExprKind::Subscript { .. }
        )
    );
    if !cell_matches || protected(cx, f, guards, stmt) {
        return;
    }
    // `arr[i] += ...` with `i` a parameter: each process is handed its own cell, a
    // single writer per cell, which loses nothing.
    if let ExprKind::Subscript { index, .. } = &target.kind
        && let Some(name) = index.as_name()
        && cx
            .model
            .bindings_at(name, f.scope, index.range.start)
            .is_some_and(|(found, bs)| {
                found == f.scope
                    && bs
                        .iter()
                        .all(|b| matches!(b.kind, crate::semantic::BindingKind::Param(_)))
            })
    {
        return;
    }
    if one_writer_each(cx, f, object) {
        return;
    }
    let name = cx.text(object.range).to_string();
    let raw = matches!(kind, SharedKind::RawValue | SharedKind::RawArray);
    let (message, help) = if raw {
        (
            format!(
                "`{}` updates a shared {} that has no lock, from several processes at once",
                first_line(cx.text(stmt.range)),
                kind.name()
            ),
            format!(
                "`{}` runs in several processes at the same time, and a `RawValue`, \
                 `RawArray` or `lock=False` object has no lock: concurrent updates overwrite \
                 each other and the result is silently wrong. Create it with a lock \
                 (`Value(...)`, the default) and update it under `with {name}.get_lock():`, \
                 or protect it with a `Lock` passed to every process.",
                f.name.name
            ),
        )
    } else {
        (
            format!(
                "`{}` is a read-modify-write of a shared {} outside `with {name}.get_lock():`",
                first_line(cx.text(stmt.range)),
                kind.name()
            ),
            format!(
                "`{}` runs in several processes at the same time. The lock of a shared \
                 `Value` or `Array` protects each single read and each single write, not \
                 `+=`, which reads, adds and writes: two processes read the same old value \
                 and one update is lost, silently. Hold the lock for the whole update: \
                 `with {name}.get_lock(): ...`.",
                f.name.name
            ),
        )
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP203),
            stmt.range,
            message,
            "not atomic: updates from other processes can be lost",
        )
        .with_annotation(f.name.range, "runs in several processes at once")
        .with_help(help),
    );
}

/// Under `with X.get_lock():` for the same object, or under any lock (`with lock:`, or
/// after an `acquire()` earlier in the function).
fn protected<'a>(
    cx: &Checker<'_, 'a>,
    f: &'a FunctionDef,
    guards: &[&'a Expr],
    stmt: &Stmt,
) -> bool {
    guards.iter().any(|g| is_lock_context(cx, g, f.scope))
        || cx.objects.method_calls(f.scope).iter().any(|mc| {
            mc.method == "acquire"
                && mc.expr.range.start < stmt.range.start
                && lockish(cx, mc.receiver, f.scope)
        })
}

/// A `with` context that holds a lock: `v.get_lock()`, a tracked lock, or a plain name
/// or attribute called like one (`self._lock`), which the analysis may not follow.
fn is_lock_context<'a>(cx: &Checker<'_, 'a>, context: &'a Expr, scope: ScopeId) -> bool {
    if let Some(call) = context.as_call() {
        return matches!(&call.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "get_lock");
    }
    lockish(cx, context, scope)
}

fn lockish<'a>(cx: &Checker<'_, 'a>, expr: &'a Expr, scope: ScopeId) -> bool {
    if let Some((kind, _)) = cx.objects.shared(expr, scope) {
        return kind.is_lock();
    }
    let last = match &expr.kind {
        ExprKind::Name(n) => n.as_str(),
        ExprKind::Attribute { attr, .. } => attr.name.as_str(),
        _ => return false,
    };
    let last = last.to_ascii_lowercase();
    last.contains("lock") || last.contains("mutex")
}

/// Whether every call of `g` from this file sits under a lock held by its caller
/// (`with counter.get_lock(): bump(counter)`).
fn called_under_lock<'a>(cx: &Checker<'_, 'a>, g: &'a FunctionDef) -> bool {
    let calls: Vec<_> = cx
        .objects
        .links()
        .of(g)
        .filter(|l| l.kind == LaunchKind::Call)
        .collect();
    !calls.is_empty()
        && calls.iter().all(|l| {
            let Some(caller) = cx
                .model
                .enclosing_function(l.scope)
                .and_then(|s| cx.model.function(s))
            else {
                return false;
            };
            let mut guards = Vec::new();
            guarded_at(cx, &caller.body, l.site.range, caller.scope, &mut guards)
        })
}

/// Whether the statement holding `at` in `body` is inside a `with` over a lock.
fn guarded_at<'a>(
    cx: &Checker<'_, 'a>,
    body: &'a [Stmt],
    at: Range,
    scope: ScopeId,
    guards: &mut Vec<&'a Expr>,
) -> bool {
    for stmt in body {
        if !(stmt.range.start <= at.start && at.end <= stmt.range.end) {
            continue;
        }
        if let StmtKind::With { items, body, .. } = &stmt.kind {
            let depth = guards.len();
            guards.extend(items.iter().map(|i| &i.context));
            let found = guarded_at(cx, body, at, scope, guards)
                || guards.iter().any(|g| is_lock_context(cx, g, scope));
            guards.truncate(depth);
            return found;
        }
        let mut found = false;
        crate::semantic::exec::for_each_child(stmt, |c| {
            if let crate::semantic::exec::Child::Block(b) = c {
                found |= guarded_at(cx, b, at, scope, guards);
            }
        });
        return found || guards.iter().any(|g| is_lock_context(cx, g, scope));
    }
    false
}

/// Whether the processes that run `f` never overlap: each is started and joined (without
/// a timeout) before the next one starts, also round by round in a loop that starts and
/// joins within the same round.
fn one_at_a_time<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef) -> bool {
    let objects = cx.objects;
    let model = cx.model;
    let mut spans: Vec<(u32, u32)> = Vec::new();
    let mut home = None;
    for launch in objects.links().of(f).filter(|l| l.kind.in_child_process()) {
        if launch.kind != LaunchKind::Process {
            return false;
        }
        let Some(process) = objects.track(launch.site, launch.scope) else {
            return false;
        };
        let body = model.enclosing_function(launch.scope);
        if *home.get_or_insert(body) != body {
            return false;
        }
        let starts = objects.calls_on(&process, &["start"]);
        let joins: Vec<_> = objects
            .calls_on(&process, &["join"])
            .into_iter()
            .filter(|j| j.call.args.is_empty() && j.call.keywords.is_empty())
            .collect();
        let ([start], [join, ..]) = (starts.as_slice(), joins.as_slice()) else {
            return false;
        };
        if start.expr.range.start > join.expr.range.start
            || [start.scope, join.scope]
                .iter()
                .any(|s| model.enclosing_function(*s) != body)
        {
            return false;
        }
        if launch.repeated {
            // Round by round: the innermost loop around the launch holds its start and
            // its join too (a comprehension of processes started later does not).
            let Some(stmts) = model.body(body.unwrap_or(ScopeId::MODULE)) else {
                return false;
            };
            let Some(round) = innermost_loop(stmts, launch.site.range) else {
                return false;
            };
            let inside = |r: Range| round.start <= r.start && r.end <= round.end;
            if !(inside(start.expr.range) && inside(join.expr.range)) {
                return false;
            }
        }
        spans.push((start.expr.range.start, join.expr.range.start));
    }
    spans.sort();
    !spans.is_empty() && spans.windows(2).all(|w| w[0].1 < w[1].0)
}

/// The range of the innermost `for` or `while` body statement list around `at`: the
/// whole loop statement.
fn innermost_loop(body: &[Stmt], at: Range) -> Option<Range> {
    let stmt = body
        .iter()
        .find(|s| s.range.start <= at.start && at.end <= s.range.end)?;
    if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return None;
    }
    let mut inner = None;
    crate::semantic::exec::for_each_child(stmt, |c| {
        if let crate::semantic::exec::Child::Block(b) = c
            && inner.is_none()
        {
            inner = innermost_loop(b, at);
        }
    });
    let looping = matches!(stmt.kind, StmtKind::For { .. } | StmtKind::While { .. });
    inner.or(looping.then_some(stmt.range))
}

/// A write through a parameter of `f` where every process running `f` is handed its own
/// object, once: one writer per `Value`, which loses nothing.
fn one_writer_each<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef, object: &'a Expr) -> bool {
    let Some(name) = object.as_name() else {
        return false;
    };
    let Some(index) = f.params.params.iter().position(|p| p.name.name == name) else {
        return false;
    };
    let objects = cx.objects;
    let mut handed: Vec<crate::semantic::objects::Tracked<'a>> = Vec::new();
    for launch in objects.links().of(f) {
        if launch.repeated {
            return false;
        }
        let Some(arg) = launch
            .bindings
            .iter()
            .find(|(i, _)| *i == index)
            .and_then(|(_, a)| objects.track(a, launch.scope))
        else {
            return false;
        };
        if handed.iter().any(|h| h.same_object(&arg)) {
            return false;
        }
        handed.push(arg);
    }
    handed.len() > 1
}
