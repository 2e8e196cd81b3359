//! MP103 `sync-object-passed-by-pickle`: a lock, queue, event or shared value of
//! `multiprocessing` handed to a pool task, an executor, a queue or a pipe, all of which
//! pickle it: `RuntimeError: ... objects should only be shared between processes through
//! inheritance`.

use crate::ast::Expr;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::{LaunchKind, submission};
use crate::semantic::mp::{Family, SharedKind};
use crate::semantic::objects::MethodCall;
use crate::semantic::pickling::{InheritanceOnly, bound_method_state, inheritance_only};

pub struct SyncObjectPassedByPickle;

impl Rule for SyncObjectPassedByPickle {
    fn code(&self) -> RuleCode {
        RuleCode::MP103
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        for mc in objects.every_method_call() {
            if let Some(sub) = submission(cx.model, mc.call, mc.scope) {
                if sub.kind != LaunchKind::PoolTask {
                    continue;
                }
                let found = std::iter::once(sub.func)
                    .chain(sub.payload)
                    .find_map(|e| inheritance_only(objects, e, mc.scope));
                if let Some(found) = found {
                    report(cx, mc, found, Via::Pool);
                } else if let Some((attr, kind)) = bound_method_state(objects, sub.func, mc.scope) {
                    report_bound_method(cx, mc, sub.func, attr, kind);
                }
            } else if let Some(via) = channel(cx, mc)
                && let Some(item) = mc.call.argument(0, "obj")
                && let Some(found) = inheritance_only(objects, item, mc.scope)
            {
                report(cx, mc, found, via);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Via {
    Pool,
    /// A multiprocessing queue: a feeder thread pickles the item later.
    Queue,
    /// A manager's queue, a simple queue or a pipe: pickled in the call.
    Direct,
}

/// `q.put(x)` on a queue of `multiprocessing` or of a manager, `conn.send(x)` on a pipe.
fn channel<'a>(cx: &Checker<'_, 'a>, mc: &MethodCall<'a>) -> Option<Via> {
    let (kind, family) = cx.objects.shared(mc.receiver, mc.scope)?;
    match (mc.method, kind, family) {
        (_, _, Family::Threading) => None,
        ("put" | "put_nowait", SharedKind::Queue | SharedKind::JoinableQueue, f) => {
            Some(if f == Family::Multiprocessing {
                Via::Queue
            } else {
                Via::Direct
            })
        }
        ("put", SharedKind::SimpleQueue, _) => Some(Via::Direct),
        ("send", SharedKind::Pipe | SharedKind::Connection, Family::Multiprocessing) => {
            Some(Via::Direct)
        }
        _ => None,
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, mc: &MethodCall<'a>, found: InheritanceOnly<'a>, via: Via) {
    let object = cx.text(found.expr.range).to_string();
    let kind = found.kind.name();
    let receiver = cx.text(mc.receiver.range).to_string();
    let method = mc.method;
    let managed = match found.kind {
        SharedKind::RawValue => "Value",
        SharedKind::RawArray => "Array",
        SharedKind::SimpleQueue => "Queue",
        k => k.name(),
    };
    let (crossing, outcome) = match via {
        Via::Pool => (
            format!("`{receiver}.{method}()` pickles it to send it to a worker"),
            match method {
                "submit" => "the task never runs, and the future's `result()` raises",
                "apply_async" | "map_async" | "starmap_async" => {
                    "the task never runs, and only the result's `get()` tells"
                }
                "imap" | "imap_unordered" => "the task never runs, and reading the results raises",
                _ => "the task never runs, and the call raises",
            },
        ),
        Via::Queue => (
            format!("`{receiver}.{method}()` pickles it in the queue's feeder thread"),
            "the feeder thread prints the error (or nothing, once the program is exiting) \
             and drops the item, so a reader waits for it forever",
        ),
        Via::Direct => (
            format!("`{receiver}.{method}()` pickles it"),
            "the call raises",
        ),
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP103),
            found.expr.range,
            format!(
                "`{object}` is a multiprocessing {kind}, and {crossing}: it raises \
                 `RuntimeError: ... objects should only be shared between processes through \
                 inheritance`; {outcome}"
            ),
            format!("a {kind} can reach another process only when that process starts"),
        )
        .with_annotation(mc.expr.range, "pickled here")
        .with_help(format!(
            "Locks, semaphores, events, queues and shared values are handed over when a \
             process starts: as `Process(target=f, args=({object},))`, or to every worker of \
             a pool with `Pool(initializer=init, initargs=({object},))` (or \
             `ProcessPoolExecutor(initializer=..., initargs=...)`) where `init` stores it in \
             a global the task reads. A manager's objects (`multiprocessing.Manager().{managed}()`) \
             are proxies, which can be passed anywhere."
        ))
        .with_no_fix(
            "the task must find the object another way (a global set by an initializer, or \
             a manager proxy): rewrite by hand",
        ),
    );
}

/// `pool.map(self.work, ...)` where the instance holds a lock: the method pickles it.
fn report_bound_method<'a>(
    cx: &mut Checker<'_, 'a>,
    mc: &MethodCall<'a>,
    method: &'a Expr,
    attr: &str,
    kind: SharedKind,
) {
    let text = cx.text(method.range).to_string();
    let receiver = cx.text(mc.receiver.range).to_string();
    let name = kind.name();
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP103),
            method.range,
            format!(
                "`{text}` is a bound method: `{receiver}.{}()` pickles it with its object, \
                 whose `{attr}` is a multiprocessing {name}, and raises `RuntimeError: ... \
                 objects should only be shared between processes through inheritance`",
                mc.method
            ),
            format!("pickles the object, and its {name} with it"),
        )
        .with_annotation(mc.expr.range, "pickled here")
        .with_help(format!(
            "Run a module-level function instead of a method, and give it the {name} when \
             the workers start (`Pool(initializer=init, initargs=(lock,))`, `init` storing \
             it in a global); or use a manager's {name} (a proxy pickles), or leave the \
             attribute out of the pickled state (`__getstate__`)."
        ))
        .with_no_fix("the task must find the object another way: rewrite by hand"),
    );
}
