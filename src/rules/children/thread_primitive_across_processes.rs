//! MP406 `thread-primitive-across-processes`: a `threading` lock, event, condition,
//! semaphore or barrier, or a `queue.Queue`, shared with a multiprocessing child. They
//! live in one process's memory: a pickled one raises `TypeError: cannot pickle
//! '_thread.lock' object`, and an inherited or re-imported one is a private copy that
//! excludes, signals or delivers nothing across processes.

use std::collections::HashSet;

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::globals::{ImportRun, Setter, child_functions, parent_reads};
use crate::semantic::links::{LaunchKind, process_arguments, submission};
use crate::semantic::mp::{Family, MpClass, SharedKind, StartMethod};
use crate::semantic::pickling::thread_object;
use crate::semantic::start::{self, Methods};
use crate::semantic::{Value, exec};

pub struct ThreadPrimitiveAcrossProcesses;

impl Rule for ThreadPrimitiveAcrossProcesses {
    fn code(&self) -> RuleCode {
        RuleCode::MP406
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let objects = cx.objects;
        let chosen = start::chosen(model);
        let mut found: Vec<Finding> = Vec::new();
        for &(e, call, scope) in objects.calls() {
            if let Some(sub) = submission(model, call, scope) {
                if sub.kind != LaunchKind::PoolTask {
                    continue;
                }
                if let Some(t) = sub
                    .payload
                    .iter()
                    .find_map(|p| thread_object(objects, p, scope))
                {
                    found.push(Finding {
                        at: t.expr,
                        kind: t.kind,
                        via: Via::Pool(sub.method),
                    });
                }
                continue;
            }
            let Value::Instance {
                class: MpClass::Process,
                method,
            } = model.resolve(e, scope)
            else {
                continue;
            };
            if let Some(t) = process_arguments(model, call, scope)
                .into_iter()
                .find_map(|a| thread_object(objects, a, scope))
            {
                let methods = Methods::of(method, chosen, cx.settings.start_methods);
                found.push(Finding {
                    at: t.expr,
                    kind: t.kind,
                    via: Via::Args(methods),
                });
            }
        }
        // Module-level objects that both the parent and a child use.
        let children = child_functions(objects.links());
        let child_scopes: HashSet<ScopeId> = children.iter().map(|(f, _)| f.scope).collect();
        let import_run = ImportRun::new(model, objects.links());
        let reads = parent_reads(model, &child_scopes);
        let mut seen: HashSet<&str> = HashSet::new();
        for &(f, _) in &children {
            exec::walk_all_exprs(&f.body, f.scope, &mut |e, scope| {
                let Some(name) = e.as_name() else { return };
                if seen.contains(name)
                    || model.binding_scope(name, scope) != Some(ScopeId::MODULE)
                    || !reads.contains_key(name)
                {
                    return;
                }
                let from_import = import_run
                    .setters(model, name)
                    .iter()
                    .all(|s| matches!(s, Setter::Import { .. }));
                if !from_import {
                    return;
                }
                if let Some((kind, Family::Threading)) = objects.shared(e, scope) {
                    seen.insert(name);
                    found.push(Finding {
                        at: e,
                        kind,
                        via: Via::Global(f),
                    });
                }
            });
        }
        for f in found {
            report(cx, f);
        }
    }
}

enum Via<'a> {
    /// `Process(args=...)`: pickled under spawn and forkserver, copied under fork.
    Args(Methods),
    /// A pool's or executor's task arguments: always pickled.
    Pool(&'a str),
    /// A module-level object the child's code uses and the parent's code too.
    Global(&'a FunctionDef),
}

struct Finding<'a> {
    at: &'a Expr,
    kind: SharedKind,
    via: Via<'a>,
}

/// The error pickling a `threading` or `queue` object raises.
fn pickle_error(kind: SharedKind) -> &'static str {
    match kind {
        SharedKind::RLock | SharedKind::Condition => "cannot pickle '_thread.RLock' object",
        SharedKind::SimpleQueue => "cannot pickle '_queue.SimpleQueue' object",
        _ => "cannot pickle '_thread.lock' object",
    }
}

/// What the object stops doing when each process has its own copy.
fn useless(kind: SharedKind) -> &'static str {
    match kind {
        SharedKind::Queue | SharedKind::JoinableQueue | SharedKind::SimpleQueue => {
            "what one process puts, no other process gets"
        }
        SharedKind::Event | SharedKind::Barrier => "it signals nobody in another process",
        _ => "it excludes nobody in another process",
    }
}

/// For a lock copied by fork: the trap on top of the lost exclusion.
fn held_copy(kind: SharedKind) -> &'static str {
    if kind.is_lock() {
        "; a copy made while some thread of the parent holds it stays held in the child \
         forever"
    } else {
        ""
    }
}

/// The `multiprocessing` name for the same thing.
fn replacement(kind: SharedKind) -> &'static str {
    match kind {
        SharedKind::Queue | SharedKind::SimpleQueue => "multiprocessing.Queue",
        other => match other.name() {
            "Lock" => "multiprocessing.Lock",
            "RLock" => "multiprocessing.RLock",
            "Event" => "multiprocessing.Event",
            "Condition" => "multiprocessing.Condition",
            "Semaphore" => "multiprocessing.Semaphore",
            "BoundedSemaphore" => "multiprocessing.BoundedSemaphore",
            "Barrier" => "multiprocessing.Barrier",
            _ => "its multiprocessing counterpart",
        },
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    let text = cx.text(f.at.range).to_string();
    let kind = f.kind;
    let what = match kind {
        SharedKind::Queue | SharedKind::SimpleQueue => format!("a `queue.{}`", kind.name()),
        _ => format!("a threading {}", kind.name()),
    };
    let copy = useless(kind);
    let error = pickle_error(kind);
    let message = match &f.via {
        Via::Pool(method) => format!(
            "`{text}` is {what}, which only threads of one process can share: `{method}()` \
             pickles it for a worker and raises `TypeError: {error}`"
        ),
        Via::Args(methods) => {
            let failing = methods.pickling();
            let fork = methods.set.contains(StartMethod::Fork);
            match (failing.is_empty(), fork) {
                (false, true) => format!(
                    "`{text}` is {what}, which only threads of one process can share: {} \
                     `start()` raises `TypeError: {error}`, and under fork the child gets a \
                     copy, so {copy}{}",
                    methods.describe_pickling(),
                    held_copy(kind)
                ),
                (false, false) => format!(
                    "`{text}` is {what}, which only threads of one process can share: {} \
                     `start()` pickles the arguments and raises `TypeError: {error}`",
                    methods.describe_pickling()
                ),
                _ => format!(
                    "`{text}` is {what}, which only threads of one process can share: under \
                     fork the child gets a copy, so {copy}{}; under spawn and forkserver \
                     `start()` raises `TypeError: {error}`",
                    held_copy(kind)
                ),
            }
        }
        Via::Global(reader) => format!(
            "`{text}` is {what} made at import time, and both the parent and `{}`, which \
             runs in a child process, use it: each process has its own (a copy under fork, \
             a new one under spawn and forkserver), so {copy}{}",
            reader.name.name,
            held_copy(kind)
        ),
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP406),
            f.at.range,
            message,
            "shared by threads only",
        )
        .with_help(format!(
            "Use `{}` (made under the main guard and passed to the child), or a manager's \
             proxy for a pool task.",
            replacement(kind)
        ))
        .with_no_fix(
            "the object's construction and how it reaches the child change together: do it by hand",
        ),
    );
}
