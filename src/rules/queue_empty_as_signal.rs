//! MP106 `queue-empty-as-signal`: `empty()` of a multiprocessing queue decides that the
//! work is finished.

use crate::ast::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::registry::RuleCode;
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::{Family, SharedKind};

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
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => visit(cx, &f.body, f.scope),
            StmtKind::ClassDef(c) => visit(cx, &c.body, c.scope),
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
                visit(cx, body, scope);
                visit(cx, orelse, scope);
            }
            StmtKind::If { branches } => {
                for branch in branches {
                    if let Some(test) = &branch.test
                        && negated(test).is_none()
                        && branch
                            .body
                            .iter()
                            .any(|s| matches!(s.kind, StmtKind::Break | StmtKind::Return(_)))
                    {
                        signal_in(cx, test, scope, "the work is declared finished here");
                    }
                    visit(cx, &branch.body, scope);
                }
            }
            _ => crate::semantic::exec::for_each_child(stmt, |c| {
                if let crate::semantic::exec::Child::Block(b) = c {
                    visit(cx, b, scope);
                }
            }),
        }
    }
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
        if !matches!(kind, SharedKind::Queue | SharedKind::JoinableQueue) {
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

/// After an untimed `join()` of a process the producers are done and their feeders have
/// flushed: the data is in the pipe and `empty()` tells the truth. (Joining before
/// draining is its own hazard, MP101.)
fn producers_joined_before(cx: &Checker<'_, '_>, scope: ScopeId, at: &Expr) -> bool {
    let body = cx
        .model
        .enclosing_function(scope)
        .unwrap_or(ScopeId::MODULE);
    cx.objects.method_calls(body).iter().any(|mc| {
        mc.method == "join"
            && mc.call.args.is_empty()
            && mc.call.keywords.is_empty()
            && mc.expr.range.end <= at.range.start
            && cx
                .objects
                .track(mc.receiver, mc.scope)
                .is_some_and(|t| t.class == crate::semantic::mp::MpClass::Process)
    })
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
