//! MP101 `join-before-drain`: a process is joined before the parent reads what it put
//! into a queue or sent on a pipe.

use crate::ast::*;
use crate::diagnostics::{Code, Diagnostic};
use crate::registry::RuleCode;
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, MpClass, SharedKind};
use crate::semantic::objects::{MethodCall, Objects, Tracked};

pub struct JoinBeforeDrain;

/// Methods that hand data to the other side, and methods that take it.
const PUTS: [&str; 4] = ["put", "put_nowait", "send", "send_bytes"];
const READS: [&str; 5] = ["get", "get_nowait", "recv", "recv_bytes", "recv_bytes_into"];

impl Rule for JoinBeforeDrain {
    fn code(&self) -> RuleCode {
        RuleCode::MP101
    }

    fn wants(&self) -> Wants {
        Wants {
            module: true,
            exprs: false,
            concurrency_only: true,
        }
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
        let scopes = std::iter::once(ScopeId::MODULE).chain(cx.model.functions().map(|f| f.scope));
        for scope in scopes.collect::<Vec<_>>() {
            let calls = objects.method_calls(scope);
            for join in calls
                .iter()
                .filter(|mc| mc.method == "join" && untimed(mc.call))
            {
                check_join(cx, &calls, join);
            }
        }
    }
}

/// `join()` or `join(None)`: waits for as long as it takes.
fn untimed(call: &Call) -> bool {
    let timeout = call.argument(0, "timeout");
    timeout
        .is_none_or(|t| matches!(t.kind, ExprKind::Constant(Some(false))) && t.as_name().is_none())
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

fn check_join<'a>(cx: &mut Checker<'_, 'a>, calls: &[MethodCall<'a>], join: &MethodCall<'a>) {
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
            // Nothing read here at all is a different problem (MP102); something read
            // before the join drains (at least part of) it first.
            let Some(first_read) = reads.iter().map(|mc| mc.expr).min_by_key(|e| e.range.start)
            else {
                continue;
            };
            if first_read.range.start < join.expr.range.start {
                continue;
            }
            if consumed_elsewhere(objects, launch.site, queue) {
                continue;
            }
            report(cx, join, put, first_read, queue);
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

/// Another thread or process of this file that reads the queue while the parent joins.
fn consumed_elsewhere<'a>(objects: &Objects<'_, 'a>, producer: &Expr, queue: &Tracked<'a>) -> bool {
    let links = objects.links();
    links
        .launches
        .iter()
        .filter(|l| matches!(l.kind, LaunchKind::Process | LaunchKind::Thread))
        .filter(|l| !std::ptr::eq(l.site, producer))
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
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP101),
            join.expr.range,
            format!(
                "`{process}.join()` waits for a process that {what} before the parent reads it"
            ),
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
        )),
    );
}
