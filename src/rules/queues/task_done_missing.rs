//! MP105 `task-done-missing`: a `JoinableQueue` consumer that can take an item without
//! marking it done, while someone waits in `join()` for all items to be done.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic, Severity};
use crate::rules::{Checker, Rule, Wants, first_line};
use crate::semantic::cfg::{Edge, Escape, EscapeKind, NodeKind};
use crate::semantic::failure::{Failure, failure_kind};
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, SharedKind};
use crate::semantic::objects::{MethodCall, Tracked};
use crate::semantic::paths::{Closing, FunctionPaths};

pub struct TaskDoneMissing;

impl Rule for TaskDoneMissing {
    fn code(&self) -> RuleCode {
        RuleCode::MP105
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        for f in cx.model.functions() {
            check_function(cx, f);
        }
    }
}

fn joinable(t: &Tracked<'_>) -> bool {
    matches!(
        t.shared(),
        Some((SharedKind::JoinableQueue, Family::Multiprocessing))
    )
}

fn check_function<'a>(cx: &mut Checker<'_, 'a>, f: &'a FunctionDef) {
    let objects = cx.objects;
    let gets: Vec<(MethodCall<'a>, Tracked<'a>)> = objects
        .method_calls(f.scope)
        .into_iter()
        .filter(|mc| matches!(mc.method, "get" | "get_nowait"))
        .filter_map(|mc| Some((mc, objects.track(mc.receiver, mc.scope).filter(joinable)?)))
        .collect();
    if gets.is_empty() {
        return;
    }
    let mut paths: Option<Option<FunctionPaths<'a>>> = None;
    for (get, queue) in gets {
        // Nobody waits for the items to be done: task_done() does not matter.
        let joins = objects.calls_on(&queue, &["join"]);
        let Some(join) = joins.first().copied() else {
            continue;
        };
        let puts = objects.calls_on(&queue, &["put", "put_nowait"]);
        // When the producer joins before it puts its sentinels, a consumer that stops at
        // a sentinel without marking it done holds nobody up.
        let sentinels_after_join = joins.iter().any(|j| {
            puts.iter()
                .any(|p| p.scope == j.scope && p.expr.range.start > j.expr.range.start)
        });
        let paths = paths.get_or_insert_with(|| FunctionPaths::new(objects, f));
        let Some(paths) = paths.as_ref() else { return };
        let accept =
            |e: &Escape| e.kind != EscapeKind::Exit || e.by_exception || !sentinels_after_join;
        // A call of a function of this file that marks the item done (`handle(jq, item)`
        // with `jq.task_done()` inside) counts as marking it done.
        let links = objects.links();
        let helper_calls: Vec<&Expr> = links
            .launches
            .iter()
            .filter(|l| {
                l.kind == LaunchKind::Call && cx.model.enclosing_function(l.scope) == Some(f.scope)
            })
            .filter(|l| {
                links.reachable(l.target).iter().any(|g| {
                    objects.method_calls(g.scope).iter().any(|mc| {
                        mc.method == "task_done"
                            && objects
                                .track(mc.receiver, mc.scope)
                                .is_some_and(|t| t.same_object(&queue))
                    })
                })
            })
            .map(|l| l.site)
            .collect();
        let helper_marks = |n: usize| {
            helper_calls
                .iter()
                .any(|site| paths.cfg.nodes_at(site.range).contains(&n))
        };
        for node in paths.nodes_of(&get) {
            // `self._process(self.tasks.get())`: the helper runs right after the get.
            if helper_marks(node) {
                continue;
            }
            let first: &[Edge] = match paths.cfg.nodes[node].kind {
                NodeKind::Stmt(_) => &[Edge::Normal],
                NodeKind::Test(_) => &[Edge::True, Edge::False],
                _ => continue,
            };
            if let Some(escape) = paths.unclosed(
                objects,
                node,
                first,
                &queue,
                &Closing {
                    methods: &["task_done"],
                    also: &helper_marks,
                    accept: &accept,
                },
            ) {
                report(cx, paths, &get, &join, escape);
                break;
            }
        }
    }
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    paths: &FunctionPaths<'a>,
    get: &MethodCall<'a>,
    join: &MethodCall<'a>,
    escape: Escape,
) {
    let queue = cx.text(get.receiver.range).to_string();
    let culprit = paths.blame(cx.model, &escape);
    let (why, label) = match (escape.kind, culprit) {
        (_, Some((_, range))) if escape.by_exception => (
            format!(
                "if `{}` raises ({})",
                first_line(cx.text(range)),
                failure_kind(escape.failure)
            ),
            "if this raises, the item is never marked done".to_string(),
        ),
        (EscapeKind::Again, _) => (
            "the loop takes the next item first".to_string(),
            "the next round takes another item without `task_done()`".to_string(),
        ),
        (_, Some((_, range))) => (
            format!(
                "the consumer stops at line {} without it",
                cx.line_of(range.start)
            ),
            "stops here without `task_done()` for the item it took".to_string(),
        ),
        (_, None) => (
            "the consumer can stop without it".to_string(),
            String::new(),
        ),
    };
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP105),
        get.expr.range,
        format!("an item taken from `{queue}` is not always marked done: {why}"),
        "takes an item here",
    )
    .with_annotation(join.expr.range, "waits until every item is marked done")
    .with_help(format!(
        "`join()` on a JoinableQueue returns only when `task_done()` has been called once \
         for every item ever put; one item that is never marked done makes it wait forever, \
         with no message. Call `{queue}.task_done()` for every item taken, on every path: \
         `item = {queue}.get()` followed by `try: ... finally: {queue}.task_done()`."
    ));
    if let Some((_, range)) = culprit {
        d = d.with_annotation(range, label);
    }
    if escape.failure == Failure::Possible {
        d = d.with_severity(Severity::Warning);
    }
    cx.report(d);
}
