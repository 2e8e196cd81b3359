//! MP502 `pool-not-closed`: a `Pool` or `ProcessPoolExecutor` made in a function, bound
//! to a name and used only there, that some path returns from without `close()`,
//! `terminate()`, `shutdown()` or a `with` over it: it is left to the garbage collector.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::cfg::{Cfg, Edge, NodeKind};
use crate::semantic::mp::MpClass;
use crate::semantic::objects::{MethodCall, Tracked};
use crate::semantic::paths::FunctionPaths;

pub struct PoolNotClosed;

impl Rule for PoolNotClosed {
    fn code(&self) -> RuleCode {
        RuleCode::MP502
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let mut found = Vec::new();
        for f in model.functions() {
            for (name, made) in pools_bound_in(cx, f) {
                if crate::semantic::segments::used_only_through_attributes(f, name)
                    && let Some(closes) = left_open(cx, f, made)
                {
                    found.push((made, name, closes));
                }
            }
        }
        for (made, name, closes) in found {
            report(cx, made, name, closes);
        }
    }
}

/// `name = Pool(...)` / `name = ProcessPoolExecutor(...)` statements of `f` itself.
fn pools_bound_in<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef) -> Vec<(&'a str, &'a Expr)> {
    let mut out = Vec::new();
    crate::semantic::segments::walk_stmts(&f.body, f.scope, &mut |s, scope| {
        if scope != f.scope {
            return;
        }
        if let StmtKind::Assign { targets, value } = &s.kind
            && let [target] = targets.as_slice()
            && let Some(name) = target.as_name()
            && value.as_call().is_some()
            && matches!(
                cx.model.resolve(value, scope).instance(),
                Some((MpClass::Pool | MpClass::ProcessPoolExecutor, _))
            )
        {
            out.push((name, value));
        }
    });
    out
}

/// How the pool is closed where it is, when some normal path from its construction
/// reaches the end of the function without closing it: `None` when every path closes it.
fn left_open<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef, made: &'a Expr) -> Option<usize> {
    let objects = cx.objects;
    let paths = FunctionPaths::new(objects, f)?;
    let pool: Tracked<'a> = objects.track(made, f.scope)?;
    let on_pool = |mc: &MethodCall<'a>| {
        objects
            .track(mc.receiver, mc.scope)
            .is_some_and(|t| t.same_object(&pool))
    };
    let closing = |mc: &MethodCall<'a>| {
        matches!(mc.method, "close" | "terminate" | "shutdown") && on_pool(mc)
    };
    // A `join()` ends the question too: after a `close()` it waits for the workers, and
    // without one it raises (MP503 reports that).
    let stops = |id: usize| {
        paths
            .calls_at(id)
            .any(|mc| closing(mc) || (mc.method == "join" && on_pool(mc)))
            || matches!(paths.cfg.nodes[id].kind, NodeKind::WithExit(item)
                if objects.track(&item.context, f.scope).is_some_and(|t| t.same_object(&pool)))
    };
    let start = paths.cfg.nodes_at(made.range).into_iter().next()?;
    paths
        .cfg
        .reaches(start, &[Edge::Normal], &|id| id == Cfg::EXIT, &stops)?;
    let closes = objects
        .every_method_call()
        .iter()
        .filter(|mc| closing(mc))
        .count();
    Some(closes)
}

fn report<'a>(cx: &mut Checker<'_, 'a>, made: &'a Expr, name: &str, closes: usize) {
    let text = cx.text(made.range).to_string();
    let executor = cx
        .model
        .resolve(made, ScopeId::MODULE)
        .instance()
        .is_some_and(|(c, _)| c == MpClass::ProcessPoolExecutor);
    let how = if closes == 0 {
        "is never closed"
    } else {
        "is not closed on every path that returns"
    };
    let (what, then) = if executor {
        (
            "`shutdown()`",
            "its worker processes stay up until the garbage collector reaches it",
        )
    } else {
        (
            "`close()` and `join()` (or `terminate()`)",
            "the garbage collector finds it still running, warns `ResourceWarning: unclosed \
             running multiprocessing pool` and its worker processes stay up until then",
        )
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP502),
            made.range,
            format!("`{name} = {text}` {how}: when the function returns, {then}"),
            "not closed before the function returns",
        )
        .with_help(format!(
            "Use the pool in a `with` block, or call {what} on every path, in a `finally` \
             if the work can raise. The documentation warns that relying on the garbage \
             collector to end a pool \"can lead to the process hanging on finalization\"."
        ))
        .with_no_fix("where the work ends is the program's decision: add the `with` by hand"),
    );
}
