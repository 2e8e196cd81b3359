//! MP101 `join-before-drain`: a process is joined before the parent reads what it put
//! into a queue or sent on a pipe.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic, Severity};
use crate::rules::{Checker, Rule, Wants, small_literal};
use crate::semantic::cfg::Edge;
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, MpClass, SharedKind};
use crate::semantic::objects::{MethodCall, Objects, Tracked};
use crate::semantic::paths::FunctionPaths;

const ALL_EDGES: [Edge; 4] = [Edge::Normal, Edge::True, Edge::False, Edge::Exception];

pub struct JoinBeforeDrain;

/// Methods that hand data to the other side, and methods that take it.
const PUTS: [&str; 4] = ["put", "put_nowait", "send", "send_bytes"];
const READS: [&str; 5] = ["get", "get_nowait", "recv", "recv_bytes", "recv_bytes_into"];

impl Rule for JoinBeforeDrain {
    fn code(&self) -> RuleCode {
        RuleCode::MP101
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        if !objects
            .links()
            .launches
            .iter()
            .any(|l| l.kind == LaunchKind::Process)
        {
            return;
        }
        for (body, scope) in cx.model.bodies() {
            let calls = objects.method_calls(scope);
            let mut paths = None;
            let joins: Vec<MethodCall<'_>> = calls
                .iter()
                .filter(|mc| mc.method == "join" && untimed(cx, mc.call))
                .copied()
                .collect();
            for join in &joins {
                check_join(cx, &calls, join, &mut paths, body, scope);
            }
        }
    }
}

/// `join()` or `join(None)`: waits for as long as it takes.
fn untimed(cx: &Checker<'_, '_>, call: &Call) -> bool {
    call.argument(0, "timeout")
        .is_none_or(|t| cx.text(t.range) == "None")
}

/// A queue or pipe end of multiprocessing itself (manager queues and `queue.Queue` have
/// no feeder thread and no pipe to fill).
fn channel(t: &Tracked<'_>) -> bool {
    matches!(
        t.shared(),
        Some((
            SharedKind::Queue
                | SharedKind::JoinableQueue
                | SharedKind::SimpleQueue
                | SharedKind::Connection,
            Family::Multiprocessing
        ))
    )
}

fn check_join<'a>(
    cx: &mut Checker<'_, 'a>,
    calls: &[MethodCall<'a>],
    join: &MethodCall<'a>,
    paths: &mut Option<Option<FunctionPaths<'a>>>,
    body: &'a [Stmt],
    scope: ScopeId,
) {
    let objects = cx.objects;
    let Some(process) = objects.track(join.receiver, join.scope) else {
        return;
    };
    if process.class != MpClass::Process {
        return;
    }
    let links = objects.links();
    for launch in links.launches.iter().filter(|l| {
        l.kind == LaunchKind::Process && process.sites.iter().any(|s| std::ptr::eq(s.call, l.site))
    }) {
        // What the child puts, into which queue.
        let mut puts: Vec<(MethodCall<'a>, Tracked<'a>)> = Vec::new();
        let mut cancelled: Vec<Tracked<'a>> = Vec::new();
        for f in links.reachable(launch.target) {
            for mc in objects.method_calls(f.scope) {
                let tracked = objects.track_in_launch(mc.receiver, mc.scope, launch);
                let Some(t) = tracked.filter(channel) else {
                    continue;
                };
                if PUTS.contains(&mc.method) {
                    puts.push((mc, t));
                } else if mc.method == "cancel_join_thread" {
                    cancelled.push(t);
                }
            }
        }
        for (put, queue) in &puts {
            if cancelled.iter().any(|c| c.same_object(queue)) {
                continue;
            }
            let reads: Vec<&MethodCall<'a>> = calls
                .iter()
                .filter(|mc| READS.contains(&mc.method))
                .filter(|mc| reads_from(objects, mc, queue))
                .collect();
            // Nothing read here at all is a different problem (MP102).
            if reads.is_empty() || consumed_elsewhere(objects, launch.site, queue, join) {
                continue;
            }
            let paths = paths.get_or_insert_with(|| FunctionPaths::for_body(objects, body, scope));
            let Some(paths) = paths.as_ref() else { return };
            let read_nodes: Vec<usize> = reads.iter().flat_map(|r| paths.nodes_of(r)).collect();
            let join_nodes = paths.nodes_of(join);
            // A read that can come before the join drains (at least part of) it first.
            let drained_first = read_nodes.iter().any(|&r| {
                paths
                    .cfg
                    .reaches(r, &ALL_EDGES, &|n| join_nodes.contains(&n), &|_| false)
                    .is_some()
            });
            if drained_first {
                continue;
            }
            // And the parent must go on to read after the join on some path.
            let read_after = join_nodes.iter().find_map(|&j| {
                paths
                    .cfg
                    .reaches(j, &[Edge::Normal], &|n| read_nodes.contains(&n), &|_| false)
            });
            let Some(read_node) = read_after else {
                continue;
            };
            let Some(first_read) = reads
                .iter()
                .find(|r| paths.nodes_of(r).contains(&read_node))
                .map(|r| r.expr)
            else {
                continue;
            };
            let mine = || puts.iter().filter(|(_, q)| q.same_object(queue));
            // A bounded number of small scalars (`q.put((worker_id, count))` once, after
            // the loop) cannot fill a pipe: no hang to report.
            if mine().all(|(p, _)| bounded_scalar_put(cx, launch, p)) {
                continue;
            }
            // Small literal items fill the pipe only when there are very many of them:
            // still a latent hang, reported as a warning.
            let tiny = mine().all(|(p, _)| p.call.args.first().is_some_and(small_literal));
            report(cx, join, put, first_read, queue, tiny);
            return;
        }
    }
}

/// Whether a read takes from `queue` (from either end of the same pipe).
fn reads_from<'a>(objects: &Objects<'_, 'a>, mc: &MethodCall<'a>, queue: &Tracked<'a>) -> bool {
    objects
        .track(mc.receiver, mc.scope)
        .filter(channel)
        .is_some_and(|t| t.same_origin(queue))
}

/// Another thread or process, created by the same code before the join, that reads the
/// queue while the parent waits.
fn consumed_elsewhere<'a>(
    objects: &Objects<'_, 'a>,
    producer: &Expr,
    queue: &Tracked<'a>,
    join: &MethodCall<'a>,
) -> bool {
    let links = objects.links();
    let model = objects.model;
    let body = model.enclosing_function(join.scope);
    links
        .launches
        .iter()
        .filter(|l| matches!(l.kind, LaunchKind::Process | LaunchKind::Thread))
        .filter(|l| !std::ptr::eq(l.site, producer))
        .filter(|l| {
            model.enclosing_function(l.scope) == body && l.site.range.start < join.expr.range.start
        })
        .any(|l| {
            links.reachable(l.target).iter().any(|f| {
                objects
                    .method_calls(f.scope)
                    .iter()
                    .any(|mc| READS.contains(&mc.method) && reads_from(objects, mc, queue))
            })
        })
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    join: &MethodCall<'a>,
    put: &MethodCall<'a>,
    first_read: &Expr,
    queue: &Tracked<'a>,
    tiny: bool,
) {
    let process = cx.text(join.receiver.range).to_string();
    let channel = cx.text(put.receiver.range).to_string();
    let pipe = matches!(queue.shared(), Some((SharedKind::Connection, _)));
    let what = if pipe {
        "sends on a pipe"
    } else {
        "puts into a queue"
    };
    let fix = if pipe {
        "receive everything the child sends before joining it"
    } else {
        "get everything the child puts (for example until a sentinel) before joining it"
    };
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP101),
        join.expr.range,
        format!("`{process}.join()` waits for a process that {what} before the parent reads it"),
        "joined here, before the data is read",
    )
    .with_annotation(
        put.expr.range,
        format!("the child writes to `{channel}` here"),
    )
    .with_annotation(
        first_read.range,
        "the parent reads only here, after the join",
    )
    .with_help(format!(
        "a child that has written to a queue or pipe does not exit until the data has \
             gone into the pipe, and a pipe holds only about 64 KiB; so once the data is \
             larger, the child waits for the parent to read and the parent waits in \
             `join()` for the child: both hang, with no message. Small test data passes, \
             production data hangs. Fix: {fix}, or join with a timeout in a loop that \
             keeps reading."
    ));
    if tiny {
        d = d.with_severity(Severity::Warning);
        d.message
            .push_str(" (the items are small literals: it hangs once there are many)");
    }
    cx.report(d);
}

/// A put that runs at most once per child (in the target itself, outside any loop) of
/// a value that pickles to a few bytes: a literal, or a name that only ever holds ints,
/// or a short tuple of those.
fn bounded_scalar_put<'a>(
    cx: &Checker<'_, 'a>,
    launch: &crate::semantic::links::Launch<'a>,
    put: &MethodCall<'a>,
) -> bool {
    let f = launch.target;
    put.scope == f.scope
        && !crate::semantic::exec::repeats(&f.body, put.expr.range)
        && put
            .call
            .args
            .first()
            .is_some_and(|v| small_scalar(cx, launch, v, 0))
}

fn small_scalar<'a>(
    cx: &Checker<'_, 'a>,
    launch: &crate::semantic::links::Launch<'a>,
    value: &'a Expr,
    depth: u32,
) -> bool {
    match &value.kind {
        _ if small_literal(value) => true,
        ExprKind::Tuple(items) => {
            depth < 2
                && items.len() <= 8
                && items.iter().all(|i| small_scalar(cx, launch, i, depth + 1))
        }
        ExprKind::Name(_) => int_only(cx, launch, value),
        _ => false,
    }
}

/// Whether every binding of the name `value` that can be in effect where it is read, in
/// the launched function, gives it an int: a literal, `+=` of a literal, a loop over
/// `range(...)`, or a parameter this launch passes an int literal or a `range` loop
/// variable.
fn int_only<'a>(
    cx: &Checker<'_, 'a>,
    launch: &crate::semantic::links::Launch<'a>,
    value: &'a Expr,
) -> bool {
    use crate::semantic::BindingKind;
    let Some(name) = value.as_name() else {
        return false;
    };
    let f = launch.target;
    let Some((found, bindings)) = cx.model.bindings_at(name, f.scope, value.range.start) else {
        return false;
    };
    let range_variable = |arg: &'a Expr| {
        arg.as_name().is_some_and(|n| {
            cx.model
                .bindings_at(n, launch.scope, arg.range.start)
                .is_some_and(|(_, bs)| {
                    bs.iter()
                        .all(|b| matches!(b.kind, BindingKind::Iterate(it) if is_range(it)))
                })
        })
    };
    found == f.scope
        && bindings.iter().all(|b| match b.kind {
            BindingKind::Assign(v) | BindingKind::AugAssign(v) => {
                matches!(v.kind, ExprKind::Constant(_))
            }
            BindingKind::Iterate(iter) => is_range(iter),
            BindingKind::Param(index) => launch
                .bindings
                .iter()
                .find(|(i, _)| *i == index)
                .is_some_and(|(_, arg)| {
                    matches!(arg.kind, ExprKind::Constant(_)) || range_variable(arg)
                }),
            _ => false,
        })
}

fn is_range(e: &Expr) -> bool {
    e.as_call()
        .is_some_and(|c| matches!(c.func.as_name(), Some("range" | "xrange")))
}
