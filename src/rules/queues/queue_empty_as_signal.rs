//! MP106 `queue-empty-as-signal`: `empty()` of a multiprocessing queue decides that the
//! work is finished.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::{Family, SharedKind};
use crate::semantic::objects::MethodCall;

pub struct QueueEmptyAsSignal;

impl Rule for QueueEmptyAsSignal {
    fn code(&self) -> RuleCode {
        RuleCode::MP106
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let body = &cx.model.module.body;
        visit(cx, body, ScopeId::MODULE);
    }
}

fn visit<'a>(cx: &mut Checker<'_, 'a>, body: &'a [Stmt], scope: ScopeId) {
    visit_in(cx, body, scope, &[]);
}

/// `flags` are the names the enclosing `while` loops test (`while keep_going:`): setting
/// one to a false constant ends the work as surely as `break`.
fn visit_in<'a>(cx: &mut Checker<'_, 'a>, body: &'a [Stmt], scope: ScopeId, flags: &[&'a str]) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => visit_in(cx, &f.body, f.scope, &[]),
            StmtKind::ClassDef(c) => visit_in(cx, &c.body, c.scope, &[]),
            StmtKind::While { test, body, orelse } => {
                // `while not q.empty():` stops when the queue looks empty; `while
                // q.empty():` waits for data and decides nothing about the end.
                if let Some(inner) = negated(test) {
                    signal_in(
                        cx,
                        inner,
                        scope,
                        "the loop stops as soon as `empty()` is true",
                    );
                }
                let mut inner_flags = flags.to_vec();
                inner_flags.extend(test.as_name());
                visit_in(cx, body, scope, &inner_flags);
                visit_in(cx, orelse, scope, flags);
            }
            StmtKind::If { branches } => {
                for (i, branch) in branches.iter().enumerate() {
                    // The `else` of `if not q.empty():` runs when `empty()` is true.
                    let test = match &branch.test {
                        Some(test) if negated(test).is_none() => Some(test),
                        Some(_) => None,
                        None if i == 1 => branches[0].test.as_ref().and_then(negated),
                        None => None,
                    };
                    if let Some(test) = test
                        && ends_work(&branch.body, flags)
                    {
                        signal_in(cx, test, scope, "the work is declared finished here");
                    }
                    visit_in(cx, &branch.body, scope, flags);
                }
            }
            _ => crate::semantic::exec::for_each_child(stmt, |c| {
                if let crate::semantic::exec::Child::Block(b) = c {
                    visit_in(cx, b, scope, flags);
                }
            }),
        }
    }
}

/// `break`, `return`, or a false constant stored in a flag an enclosing loop tests.
fn ends_work(body: &[Stmt], flags: &[&str]) -> bool {
    body.iter().any(|s| match &s.kind {
        StmtKind::Break | StmtKind::Return(_) => true,
        StmtKind::Assign { targets, value } => {
            matches!(value.kind, ExprKind::Constant(Some(false)))
                && targets
                    .iter()
                    .any(|t| t.as_name().is_some_and(|n| flags.contains(&n)))
        }
        _ => false,
    })
}

/// The `X.empty()` call of `not X.empty()` or `X.empty() is False` (also `== False`).
fn negated(test: &Expr) -> Option<&Expr> {
    match &test.kind {
        ExprKind::Not(inner) => Some(inner),
        _ => match test.single_comparison()? {
            (left, CmpOp::Is | CmpOp::Eq, right)
                if matches!(right.kind, ExprKind::Constant(Some(false))) =>
            {
                Some(left)
            }
            _ => None,
        },
    }
}

/// Reports `q.empty()` when it is the whole test (a test with other conditions, such as
/// `any(p.is_alive() for p in procs) or not q.empty()`, does not rest on it alone).
fn signal_in<'a>(cx: &mut Checker<'_, 'a>, test: &'a Expr, scope: ScopeId, consequence: &str) {
    let mut found = Vec::new();
    match test.single_comparison() {
        Some((left, CmpOp::Is | CmpOp::Eq, right))
            if matches!(right.kind, ExprKind::Constant(Some(true))) =>
        {
            collect_whole(left, &mut found)
        }
        _ => collect_whole(test, &mut found),
    }
    for (call_expr, receiver) in found {
        let Some((kind, Family::Multiprocessing)) = cx.objects.shared(receiver, scope) else {
            continue;
        };
        // A SimpleQueue has no feeder thread, but its `empty()` still says nothing of
        // the items producers have yet to put.
        if !matches!(
            kind,
            SharedKind::Queue | SharedKind::JoinableQueue | SharedKind::SimpleQueue
        ) {
            continue;
        }
        if producers_joined_before(cx, scope, call_expr) {
            continue;
        }
        let queue = cx.text(receiver.range).to_string();
        cx.report(
            Diagnostic::new(
                Code::Rule(RuleCode::MP106),
                call_expr.range,
                format!("`{queue}.empty()` is used to decide that the work is finished"),
                format!("{consequence}, but `empty()` is only a guess"),
            )
            .with_help(format!(
                "a multiprocessing queue is filled by a background feeder thread in each \
                 producer, so `empty()` is true while items are still on their way (and even \
                 right after a `put()` in the same process): the loop ends early and results \
                 are lost, or the next `get()` blocks forever. Have each producer put a \
                 sentinel (`None`) when it is done and read until every sentinel has arrived, \
                 or use `{queue}.get(timeout=...)` and catch `queue.Empty`."
            )),
        );
    }
}

/// Whether every producer is known to have exited before `at` runs: after an untimed
/// `join()` of a process, or a loop that waits until no process `is_alive()` (or every
/// `exitcode` is set), earlier in the same body; or inside a process started only after
/// such a join. An exited producer has flushed its feeder: the data is in the pipe and
/// `empty()` tells the truth. (Joining before draining is its own hazard, MP101.)
fn producers_joined_before(cx: &Checker<'_, '_>, scope: ScopeId, at: &Expr) -> bool {
    let body = cx
        .model
        .enclosing_function(scope)
        .unwrap_or(ScopeId::MODULE);
    if finished_before(cx, body, at.range.start) {
        return true;
    }
    // A consumer process started only after the producers were joined.
    let Some(f) = cx.model.function(body) else {
        return false;
    };
    let mut launches = cx.objects.links().of(f).peekable();
    launches.peek().is_some()
        && launches.all(|l| {
            l.kind.in_child_process() && {
                let there = cx
                    .model
                    .enclosing_function(l.scope)
                    .unwrap_or(ScopeId::MODULE);
                finished_before(cx, there, l.site.range.start)
            }
        })
}

fn finished_before(cx: &Checker<'_, '_>, body: ScopeId, offset: u32) -> bool {
    use crate::semantic::mp::MpClass;
    let untimed = |mc: &MethodCall<'_>| {
        mc.method == "join" && mc.call.args.is_empty() && mc.call.keywords.is_empty()
    };
    let joins_process = |scope: ScopeId| {
        cx.objects.method_calls(scope).iter().any(|mc| {
            untimed(mc)
                && cx
                    .objects
                    .track(mc.receiver, mc.scope)
                    .is_some_and(|t| t.class == MpClass::Process)
        })
    };
    let joined = cx.objects.method_calls(body).iter().any(|mc| {
        if !untimed(mc) || mc.expr.range.end > offset {
            return false;
        }
        match cx.objects.track(mc.receiver, mc.scope) {
            Some(t) if t.class == MpClass::Process => true,
            // A thread that starts a process and joins it before it ends.
            Some(t) if t.class == MpClass::Thread => cx.objects.links().launches.iter().any(|l| {
                l.kind == crate::semantic::links::LaunchKind::Thread
                    && t.sites.iter().any(|s| std::ptr::eq(s.call, l.site))
                    && joins_process(l.target.scope)
            }),
            _ => false,
        }
    });
    joined
        || cx.model.body(body).is_some_and(|stmts| {
            let mut waited = false;
            waits_for_exit(stmts, offset, &mut waited);
            waited
        })
}

/// A `while` before `offset` whose test asks `is_alive()` or `exitcode`: it ends only when
/// the processes it asks about have exited.
fn waits_for_exit(body: &[Stmt], offset: u32, found: &mut bool) {
    for stmt in body {
        if stmt.range.start > offset || *found {
            continue;
        }
        match &stmt.kind {
            StmtKind::While { test, .. } if stmt.range.end <= offset => {
                let mut asks = false;
                crate::semantic::exec::walk_expr_tree(test, ScopeId::MODULE, &mut |e, _| {
                    asks |= matches!(&e.kind, ExprKind::Attribute { attr, .. }
                        if matches!(attr.name.as_str(), "is_alive" | "exitcode"));
                });
                *found |= asks;
            }
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            _ => crate::semantic::exec::for_each_child(stmt, |c| {
                if let crate::semantic::exec::Child::Block(b) = c {
                    waits_for_exit(b, offset, found);
                }
            }),
        }
    }
}

/// `expr` itself, when it is an `X.empty()` call.
fn collect_whole<'a>(expr: &'a Expr, out: &mut Vec<(&'a Expr, &'a Expr)>) {
    if let Some(call) = expr.as_call()
        && let ExprKind::Attribute { value, attr } = &call.func.kind
        && attr.name == "empty"
        && call.args.is_empty()
    {
        out.push((expr, value));
    }
}
