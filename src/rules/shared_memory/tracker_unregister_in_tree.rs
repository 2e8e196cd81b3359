//! MP304 `tracker-unregister-in-tree`: `resource_tracker.unregister(..., "shared_memory")`
//! in a multiprocessing child, which shares its creator's tracker.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants, delete_statement_fix};
use crate::semantic::segments;

pub struct TrackerUnregisterInTree;

impl Rule for TrackerUnregisterInTree {
    fn code(&self) -> RuleCode {
        RuleCode::MP304
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    /// It judges calls of `resource_tracker.unregister`.
    fn words(&self) -> &'static [&'static str] {
        &["unregister"]
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let mut calls = Vec::new();
        crate::semantic::exec::walk_all_exprs(
            &cx.model.module.body,
            ScopeId::MODULE,
            &mut |e, at| {
                if let Some(call) = e.as_call()
                    && cx
                        .model
                        .qualified_name(&call.func, at)
                        .is_some_and(|q| q == "multiprocessing.resource_tracker.unregister")
                    && call
                        .argument(1, "rtype")
                        .is_none_or(|t| t.as_str().is_none_or(|s| s == "shared_memory"))
                    && segments::runs_in_child(cx.objects, at)
                    && !own_segment(cx, call, at)
                {
                    calls.push(e);
                }
            },
        );
        for e in calls {
            let mut d = Diagnostic::new(
                Code::Rule(RuleCode::MP304),
                e.range,
                "`resource_tracker.unregister()` in a multiprocessing child: the child shares \
                 its creator's resource tracker, whose registry is a set of names, so this \
                 removes the creator's registration too; when the creator unlinks the \
                 segment, the tracker fails with `KeyError: '/psm_...'`"
                    .to_string(),
                "unregisters from the tracker this process shares with its parent",
            )
            .with_help(
                "A child of the creator needs no workaround: attaching registers the name in \
                 the same set, and the creator's `unlink()` removes it once. Just attach and \
                 `close()`. The unregister workaround is only for programs outside the \
                 creator's process tree (MP303), and from Python 3.13 `track=False` replaces \
                 it.",
            );
            let fix = delete_statement_fix(cx, e, "Remove the `unregister` call");
            if fix.is_none() {
                d = d.with_no_fix("the call is not a statement of its own: remove it by hand");
            }
            cx.report(d.with_fix(fix));
        }
    }
}

/// Whether the name unregistered is that of a segment the same function creates: a child
/// that creates a segment, unregisters it and hands its name to the parent is the creator,
/// and takes nothing from anyone.
fn own_segment<'a>(cx: &Checker<'_, 'a>, call: &'a Call, at: ScopeId) -> bool {
    let Some(first) = call.args.first() else {
        return false;
    };
    let ExprKind::Attribute { value, .. } = &first.kind else {
        return false;
    };
    let here = cx.model.enclosing_function(at);
    cx.objects.track(value, at).is_some_and(|t| {
        segments::sites_of(&segments::find(cx.model), &t)
            .iter()
            .any(|s| {
                s.opening == segments::Opening::Create
                    && cx.model.enclosing_function(s.scope) == here
            })
    })
}
