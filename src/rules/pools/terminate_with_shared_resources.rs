//! MP507 `terminate-with-shared-resources`: `terminate()` or `kill()` on a process that
//! was given a queue, a pipe, a lock or shared memory. The process dies where it stands:
//! a lock it holds stays held, a queue or pipe it was writing may be left corrupt.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::{Family, MpClass, SharedKind};
use crate::semantic::objects::{MethodCall, Tracked};

pub struct TerminateWithSharedResources;

impl Rule for TerminateWithSharedResources {
    fn code(&self) -> RuleCode {
        RuleCode::MP507
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        let mut found = Vec::new();
        for mc in objects.every_method_call() {
            if !matches!(mc.method, "terminate" | "kill") {
                continue;
            }
            let Some(process) = objects.track(mc.receiver, mc.scope) else {
                continue;
            };
            if process.class != MpClass::Process || waited_first(cx, mc) {
                continue;
            }
            for site in &process.sites {
                let Some(call) = site.call.as_call() else {
                    continue;
                };
                if let Some((given, what)) = shared_argument(cx, call, mc.scope, mc) {
                    found.push((*mc, site.call, given, what));
                    break;
                }
            }
        }
        for (mc, made, given, what) in found {
            report(cx, &mc, made, given, what);
        }
    }
}

/// The first argument of `Process(..., args=..., kwargs=...)` that is a multiprocessing
/// queue, pipe end, lock (or other synchronisation object) or shared memory and that the
/// code uses again after `kill`, with what it is.
fn shared_argument<'a>(
    cx: &Checker<'_, 'a>,
    call: &'a Call,
    scope: ScopeId,
    kill: &MethodCall<'a>,
) -> Option<(&'a Expr, &'static str)> {
    let objects = cx.objects;
    crate::semantic::links::process_arguments(cx.model, call, scope)
        .into_iter()
        .find_map(|item| {
            let tracked = objects.track(item, scope)?;
            if !used_after(cx, &tracked, kill) {
                return None;
            }
            let what = match tracked.class {
                MpClass::Segment(..) => "shared memory",
                MpClass::Shared(kind, Family::Multiprocessing) => match kind {
                    SharedKind::Queue | SharedKind::JoinableQueue | SharedKind::SimpleQueue => {
                        "a queue"
                    }
                    SharedKind::Pipe | SharedKind::Connection => "a pipe",
                    SharedKind::Value | SharedKind::Array => "a shared value and its lock",
                    SharedKind::RawValue | SharedKind::RawArray => return None,
                    _ => "a lock",
                },
                _ => return None,
            };
            Some((item, what))
        })
}

/// Whether the object (or the other end of its pipe) is used after `kill` in the same
/// body: a lock acquired, a queue or pipe read, the object handed on. Only then does what
/// the killed process left behind matter.
fn used_after<'a>(cx: &Checker<'_, 'a>, object: &Tracked<'a>, kill: &MethodCall<'a>) -> bool {
    let model = cx.model;
    let scope = model.body_scope(kill.scope);
    let Some(body) = model.body(scope) else {
        return false;
    };
    let mut used = false;
    crate::semantic::exec::walk_all_exprs(body, scope, &mut |e, at| {
        used |= !used
            && e.range.start >= kill.expr.range.end
            && e.as_name().is_some()
            && cx
                .objects
                .track(e, at)
                .is_some_and(|t| t.same_origin(object));
    });
    used
}

/// Whether the same body waits for the process with a timeout before this call
/// (`p.join(5)` then `p.terminate()`): terminate as the documented last resort.
fn waited_first(cx: &Checker<'_, '_>, kill: &MethodCall<'_>) -> bool {
    let scope = cx.model.body_scope(kill.scope);
    cx.objects.every_method_call().iter().any(|mc| {
        mc.method == "join"
            && !(mc.call.args.is_empty() && mc.call.keywords.is_empty())
            && cx.model.body_scope(mc.scope) == scope
            && mc.expr.range.end <= kill.expr.range.start
            && cx.text(mc.receiver.range) == cx.text(kill.receiver.range)
    })
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    kill: &MethodCall<'a>,
    made: &'a Expr,
    given: &'a Expr,
    what: &str,
) {
    let call = cx.text(kill.expr.range).to_string();
    let object = cx.text(given.range).to_string();
    let consequence = match what {
        "a queue" => {
            "an item it was putting may be cut off halfway, and the queue is then \
                      corrupt for every reader"
        }
        "a pipe" => {
            "a message it was sending may be cut off halfway, and the pipe is then \
                     corrupt for the reader"
        }
        "shared memory" => {
            "what it was writing is left half-written, and it never closes \
                            the segment"
        }
        _ => {
            "a lock it holds stays held forever, and every process that needs it next \
              waits forever"
        }
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP507),
            kill.expr.range,
            format!(
                "`{call}` kills a process that was given `{object}` ({what}): it dies \
                 wherever it is, without running `finally` or `with` exits, so {consequence}"
            ),
            "stops a process that shares resources",
        )
        .with_annotation(given.range, format!("{what} handed to the process here"))
        .with_annotation(made.range, "the process")
        .with_help(
            "Ask the process to stop and let it finish cleanly: put a sentinel on its \
             queue, or set a `multiprocessing.Event` it checks, then `join()` it. Keep \
             `terminate()` as a last resort after `join(timeout)`, when it did not stop.",
        )
        .with_no_fix("how the process should be told to stop is the program's decision"),
    );
}
