//! MP102 `queue-never-drained`: a multiprocessing queue that is fed but never read, so the
//! process that fed it cannot exit; and the close/join_thread/cancel_join_thread misuses
//! that go with a queue's feeder thread.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic, Severity};
use crate::rules::{Checker, Rule, Wants, small_literal};
use crate::semantic::cfg::Edge;
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, SharedKind};
use crate::semantic::objects::{MethodCall, Objects, Tracked};
use crate::semantic::paths::FunctionPaths;
use crate::semantic::{BindingKind, Value};

pub struct QueueNeverDrained;

const PUTS: [&str; 2] = ["put", "put_nowait"];
const READS: [&str; 2] = ["get", "get_nowait"];

impl Rule for QueueNeverDrained {
    fn code(&self) -> RuleCode {
        RuleCode::MP102
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        let calls = objects.every_method_call();
        let relevant = |mc: &&MethodCall<'_>| {
            matches!(
                mc.method,
                "put" | "put_nowait" | "close" | "join_thread" | "cancel_join_thread"
            )
        };
        if !calls.iter().filter(relevant).any(|mc| {
            objects.track(mc.receiver, mc.scope).is_some_and(|t| {
                feeder_queue(&t)
                    || matches!(
                        t.shared(),
                        Some((SharedKind::SimpleQueue, Family::Multiprocessing))
                    )
            })
        }) {
            return;
        }
        for (body, scope) in cx.model.bodies() {
            feeder_misuse(cx, body, scope);
        }
        never_read(cx);
    }
}

/// A queue with a feeder thread: multiprocessing's `Queue` and `JoinableQueue`.
fn feeder_queue(t: &Tracked<'_>) -> bool {
    matches!(
        t.shared(),
        Some((
            SharedKind::Queue | SharedKind::JoinableQueue,
            Family::Multiprocessing
        ))
    )
}

/// `put()` after `close()`, `join_thread()` before `close()`, `cancel_join_thread()`.
fn feeder_misuse<'a>(cx: &mut Checker<'_, 'a>, body: &'a [Stmt], scope: ScopeId) {
    let objects = cx.objects;
    let calls: Vec<(MethodCall<'a>, Tracked<'a>)> = objects
        .method_calls(scope)
        .into_iter()
        .filter(|mc| {
            matches!(
                mc.method,
                "close" | "join_thread" | "cancel_join_thread" | "put" | "put_nowait"
            )
        })
        .filter_map(|mc| {
            Some((
                mc,
                objects.track(mc.receiver, mc.scope).filter(feeder_queue)?,
            ))
        })
        .collect();
    if calls.is_empty() {
        return;
    }
    let closes: Vec<&(MethodCall<'a>, Tracked<'a>)> = calls
        .iter()
        .filter(|(mc, _)| mc.method == "close")
        .collect();
    if !closes.is_empty()
        && let Some(paths) = FunctionPaths::for_body(objects, body, scope)
    {
        let mut reported: Vec<*const Expr> = Vec::new();
        for (close, queue) in &closes {
            for node in paths.nodes_of(close) {
                let is_put = |n: usize| {
                    paths.calls_at(n).any(|mc| {
                        PUTS.contains(&mc.method)
                            && objects
                                .track(mc.receiver, mc.scope)
                                .is_some_and(|t| t.same_object(queue))
                    })
                };
                // A new queue made on the way (`q = Queue()` in the next round) is not the
                // closed one.
                let remade = |n: usize| {
                    queue
                        .sites
                        .iter()
                        .any(|site| paths.cfg.node_at(site.call.range) == Some(n))
                };
                let Some(hit) = paths.cfg.reaches(node, &[Edge::Normal], &is_put, &remade) else {
                    continue;
                };
                let Some(put) = paths
                    .calls_at(hit)
                    .find(|mc| PUTS.contains(&mc.method))
                    .copied()
                else {
                    continue;
                };
                if reported.contains(&(put.expr as *const Expr)) {
                    continue;
                }
                reported.push(put.expr);
                let name = cx.text(put.receiver.range).to_string();
                cx.report(
                    Diagnostic::new(
                        Code::Rule(RuleCode::MP102),
                        put.expr.range,
                        format!(
                            "`{name}.{}()` after `{name}.close()` raises ValueError",
                            put.method
                        ),
                        "the queue can already be closed here",
                    )
                    .with_annotation(close.expr.range, "closed here")
                    .with_help(
                        "`close()` tells the queue that this process will put nothing more; a \
                         later `put()` raises \"ValueError: Queue ... is closed\" (Python 3.8+). \
                         Close a queue only after the last `put()`.",
                    ),
                );
            }
        }
    }
    for (call, queue) in &calls {
        let name = cx.text(call.receiver.range).to_string();
        match call.method {
            "join_thread" => {
                let closed_before = closes.iter().any(|(c, q)| {
                    q.same_object(queue) && c.expr.range.start < call.expr.range.start
                });
                if !closed_before {
                    cx.report(
                        Diagnostic::new(
                            Code::Rule(RuleCode::MP102),
                            call.expr.range,
                            format!("`{name}.join_thread()` without `{name}.close()` before it"),
                            "the queue is not closed yet",
                        )
                        .with_help(format!(
                            "`join_thread()` waits for the feeder thread, which ends only after \
                             `close()`; multiprocessing asserts that the queue is closed \
                             (AssertionError). Call `{name}.close()` first, once this process \
                             has put its last item."
                        )),
                    );
                }
            }
            "cancel_join_thread" => cx.report(
                Diagnostic::new(
                    Code::Rule(RuleCode::MP102),
                    call.expr.range,
                    format!(
                        "`{name}.cancel_join_thread()` lets this process exit with its items unsent"
                    ),
                    "queued items may be lost",
                )
                .with_severity(Severity::Warning)
                .with_help(
                    "the documentation suggests a better name for this method: \
                     `allow_exit_without_flush()`. Items still in the feeder's buffer when the \
                     process exits are dropped, silently. It hides a queue nobody drains; read \
                     what the process puts instead, before joining it.",
                ),
            ),
            _ => {}
        }
    }
}

/// Queues that are fed and never read anywhere: the feeding process blocks at exit.
fn never_read(cx: &mut Checker<'_, '_>) {
    let objects = cx.objects;
    let mut seen: Vec<Tracked<'_>> = Vec::new();
    for put in objects.every_method_call() {
        if !PUTS.contains(&put.method) {
            continue;
        }
        // An item that cannot be pickled never reaches the pipe (MP103 reports it), so it
        // holds nobody up at exit.
        if put.call.args.first().is_some_and(|item| {
            crate::semantic::pickling::inheritance_only(objects, item, put.scope).is_some()
        }) {
            continue;
        }
        let Some(queue) = objects.track(put.receiver, put.scope).filter(|t| {
            feeder_queue(t)
                || matches!(
                    t.shared(),
                    Some((SharedKind::SimpleQueue, Family::Multiprocessing))
                )
        }) else {
            continue;
        };
        if seen.iter().any(|s| s.same_object(&queue)) {
            continue;
        }
        seen.push(queue.clone());
        let reads = objects.calls_on(&queue, &READS);
        if !objects.calls_on(&queue, &["cancel_join_thread"]).is_empty()
            || !in_sight(objects, &queue)
        {
            continue;
        }
        if !reads.is_empty() {
            few_reads(cx, put, &reads);
            continue;
        }
        let Some(who) = producer(cx, objects, put) else {
            continue;
        };
        // A few small literals fit in the pipe (about 64 KiB): the feeder flushes them and
        // the process exits. Only puts in a loop can outgrow it.
        let puts = objects.calls_on(&queue, &PUTS);
        let small = |mc: &MethodCall<'_>| mc.call.args.first().is_some_and(small_literal);
        let repeated = |mc: &MethodCall<'_>| {
            cx.model.scope_kind(mc.scope) == crate::semantic::ScopeKind::Comprehension
                || cx
                    .model
                    .body(cx.model.body_scope(mc.scope))
                    .is_some_and(|b| {
                        crate::semantic::segments::innermost_loop(b, mc.expr.range).is_some()
                    })
        };
        if puts.iter().all(|mc| small(mc) && !repeated(mc)) {
            continue;
        }
        let small_only = puts.iter().all(small);
        let name = cx.text(put.receiver.range).to_string();
        let first_site = queue.sites[0].call;
        let mut d = Diagnostic::new(
            Code::Rule(RuleCode::MP102),
            put.expr.range,
            format!(
                "`{name}` is fed here but nothing ever reads it: {} cannot exit",
                who.describe()
            ),
            "puts into a queue nobody reads",
        )
        .with_annotation(first_site.range, "the queue is created here")
        .with_help(
            "a process that has put items into a multiprocessing queue waits at exit until \
             its feeder thread has written them all into the pipe, and a pipe holds about \
             64 KiB: with nobody reading, a non-daemon child never ends and the parent \
             hangs when it joins it at exit; a parent that fed the queue itself hangs in \
             interpreter shutdown. Read everything that is put (until a sentinel), or do \
             not use a queue for data nobody needs.",
        );
        if small_only {
            d = d.with_severity(Severity::Warning);
            d.message
                .push_str(" (the items are small literals: it hangs once there are many)");
        }
        cx.report(d);
    }
}

/// A queue that a child fills in a loop while the parent reads a fixed number of items
/// (each `get()` outside any loop or comprehension) and never reads the rest: the child
/// cannot exit with the rest unflushed, and the parent hangs joining it, explicitly or at
/// exit. A loop that reads keeps up and is not judged here.
fn few_reads<'a>(cx: &mut Checker<'_, 'a>, put: &MethodCall<'a>, reads: &[MethodCall<'a>]) {
    let model = cx.model;
    let body_of = |scope: ScopeId| {
        model
            .body(model.enclosing_function(scope).unwrap_or(ScopeId::MODULE))
            .unwrap_or(&[])
    };
    let Some(function) = model
        .enclosing_function(put.scope)
        .and_then(|s| model.function(s))
    else {
        return;
    };
    // A child that takes its input from a queue or pipe (`for job in iter(jobs.get,
    // None)`) puts as many items as it is given: the parent that sends one job and reads
    // one result is right.
    let mut takes_input = false;
    crate::semantic::exec::walk_all_exprs(&function.body, function.scope, &mut |e, _| {
        takes_input |= matches!(&e.kind, ExprKind::Attribute { attr, .. }
            if matches!(attr.name.as_str(), "get" | "get_nowait" | "recv" | "recv_bytes"));
    });
    if takes_input
        || !crate::semantic::exec::repeats(&function.body, put.expr.range)
        || reads
            .iter()
            .any(|r| crate::semantic::exec::repeats(body_of(r.scope), r.expr.range))
        // Reads in a function that a child runs, or that is called in a loop, may run
        // any number of times.
        || reads.iter().any(|r| {
            model
                .enclosing_function(r.scope)
                .and_then(|s| model.function(s))
                .is_some_and(|g| {
                    let links = cx.objects.links();
                    !links.child_launches(g).is_empty()
                        || links.of(g).next().is_none()
                        || links.of(g).any(|l| l.repeated)
                })
        })
    {
        return;
    }
    if producer(cx, cx.objects, put) != Some(Producer::Child) {
        return;
    }
    let name = cx.text(put.receiver.range).to_string();
    let count = reads.len();
    let small = put.call.args.first().is_some_and(small_literal);
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP102),
        put.expr.range,
        format!(
            "`{name}` is fed here in a loop, but the parent reads only {count} item{}: the \
             child process cannot exit with the rest unread",
            if count == 1 { "" } else { "s" }
        ),
        "puts in a loop",
    )
    .with_annotation(
        reads[0].expr.range,
        "the parent reads a fixed number of items",
    );
    for r in &reads[1..] {
        d = d.with_annotation(r.expr.range, "and here");
    }
    d = d.with_help(
        "a process that has put items into a multiprocessing queue waits at exit until its \
         feeder thread has written them all into the pipe, and a pipe holds about 64 KiB: \
         what the parent does not read keeps the child alive, and the parent hangs when it \
         joins it, at the latest at its own exit. Read until a sentinel the child puts last, \
         or have the child put only what the parent reads.",
    );
    if small {
        d = d.with_severity(Severity::Warning);
        d.message
            .push_str(" (the items are small literals: it hangs once there are many)");
    }
    cx.report(d);
}

/// Whether everything done with the queue happens where the analysis sees it: it is made
/// by `name = Queue()` and every use of that name, and of the parameters it is passed
/// to, is a method call or an argument to a function of this file.
fn in_sight<'a>(objects: &Objects<'_, 'a>, queue: &Tracked<'a>) -> bool {
    let links = objects.links();
    queue.sites.iter().all(|site| {
        let Some((name, scope)) = bound_name(objects, site.call) else {
            return false;
        };
        if !objects.fully_visible(name, scope) {
            return false;
        }
        // Every parameter this queue reaches must stay in sight as well.
        links.launches.iter().all(|l| {
            l.bindings.iter().all(|(index, arg)| {
                let passes = objects
                    .track(arg, l.scope)
                    .is_some_and(|t| t.same_object(queue));
                if !passes {
                    return true;
                }
                let Some(param) = l.target.params.params.get(*index) else {
                    return false;
                };
                objects.fully_visible(&param.name.name, l.target.scope)
            })
        })
    })
}

/// The variable a construction call is assigned to, with its scope: `q = Queue()`.
fn bound_name<'a>(objects: &Objects<'_, 'a>, call: &'a Expr) -> Option<(&'a str, ScopeId)> {
    let model = objects.model;
    for (body, scope) in model.bodies() {
        if let Some(name) = assigned_name(body, call) {
            // The name must be bound by that assignment in this scope.
            let bound_here = model
                .bindings_at(name, scope, u32::MAX)
                .is_some_and(|(found, bs)| {
                    found == scope
                        && bs.iter().any(
                            |b| matches!(b.kind, BindingKind::Assign(v) if std::ptr::eq(v, call)),
                        )
                });
            return bound_here.then_some((name, scope));
        }
    }
    None
}

fn assigned_name<'a>(body: &'a [Stmt], call: &Expr) -> Option<&'a str> {
    for stmt in body {
        if let StmtKind::Assign { targets, value } = &stmt.kind
            && std::ptr::eq(value, call)
            && let [target] = targets.as_slice()
        {
            return target.as_name();
        }
        if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            continue;
        }
        let mut found = None;
        crate::semantic::exec::for_each_child(stmt, |c| {
            if found.is_none()
                && let crate::semantic::exec::Child::Block(b) = c
            {
                found = assigned_name(b, call);
            }
        });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Who cannot exit while the queue holds unread items.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Producer {
    /// The put runs in a non-daemon child.
    Child,
    /// The parent itself puts.
    Program,
}

impl Producer {
    fn describe(self) -> &'static str {
        match self {
            Producer::Child => "the child process",
            Producer::Program => "this program",
        }
    }
}

/// Who puts; `None` when the child is a daemon (it is terminated at exit) or runs in a
/// pool.
fn producer<'a>(
    cx: &Checker<'_, 'a>,
    objects: &Objects<'_, 'a>,
    put: &MethodCall<'a>,
) -> Option<Producer> {
    let links = objects.links();
    let model = cx.model;
    let Some(function) = model
        .enclosing_function(put.scope)
        .and_then(|s| model.function(s))
    else {
        return Some(Producer::Program);
    };
    let launches = links.child_launches(function);
    if launches.is_empty() {
        // A function no child runs: the parent puts (when it is called at all).
        let called = links.of(function).next().is_some();
        return called.then_some(Producer::Program);
    }
    let daemon_anywhere = model.attr_assigns().iter().any(|a| a.attr == "daemon");
    let all_plain_processes = launches.iter().all(|l| {
        l.kind == LaunchKind::Process
            && !daemon_anywhere
            && l.site.as_call().is_none_or(|c| {
                c.keyword("daemon")
                    .is_none_or(|d| matches!(d.kind, ExprKind::Constant(Some(false))))
            })
            && !matches!(model.resolve(l.site, l.scope), Value::Unknown)
    });
    all_plain_processes.then_some(Producer::Child)
}
