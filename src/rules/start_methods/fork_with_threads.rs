//! MP602 `fork-with-threads`: a process forked while other threads of the program run.
//! `fork()` copies only the calling thread; a lock another thread held at that moment
//! (in the program, in `logging`, in `print`'s buffer) stays held in the child forever.
//! Python 3.12 and newer emit a `DeprecationWarning` that is hidden by default.

use crate::ast::*;
use crate::codes::{RuleCode, Severity};
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::{MpClass, StartMethod};
use crate::semantic::objects::{Objects, Tracked};
use crate::semantic::start::{self, Methods, Source};
use crate::semantic::{Value, exec};

pub struct ForkWithThreads;

impl Rule for ForkWithThreads {
    fn code(&self) -> RuleCode {
        RuleCode::MP602
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let mut scan = Scan {
            cx,
            chosen: start::chosen(model),
            found: Vec::new(),
        };
        for (body, scope) in model.bodies() {
            let mut alive = Vec::new();
            scan.block(body, scope, &mut alive);
        }
        let found = std::mem::take(&mut scan.found);
        for f in found {
            report(cx, f);
        }
    }
}

/// A thread or a thread pool that may be running.
#[derive(Clone)]
struct Running<'a> {
    started: &'a Expr,
    object: Option<Tracked<'a>>,
}

struct Finding<'a> {
    fork: &'a Expr,
    thread: &'a Expr,
    methods: Methods,
}

struct Scan<'s, 'c, 'a> {
    cx: &'s Checker<'c, 'a>,
    chosen: Option<crate::semantic::mp::MethodSet>,
    found: Vec<Finding<'a>>,
}

impl<'a> Scan<'_, '_, 'a> {
    fn objects(&self) -> &Objects<'_, 'a> {
        self.cx.objects
    }

    fn block(&mut self, body: &'a [Stmt], scope: ScopeId, alive: &mut Vec<Running<'a>>) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
                StmtKind::If { branches } => {
                    let before = alive.clone();
                    let mut after = Vec::new();
                    let mut has_else = false;
                    for b in branches {
                        if let Some(t) = &b.test {
                            self.expr(t, scope, alive);
                        } else {
                            has_else = true;
                        }
                        let mut inner = before.clone();
                        self.block(&b.body, scope, &mut inner);
                        // A branch that leaves (`return`, `raise`, `sys.exit()`) takes its
                        // threads with it: they are not running on the code after the `if`.
                        if !leaves(self.cx, &b.body, scope) {
                            after.extend(inner);
                        }
                    }
                    if !has_else {
                        after.extend(before);
                    }
                    dedup(&mut after);
                    *alive = after;
                }
                StmtKind::With { items, body, .. } => {
                    let mut pools = 0;
                    for item in items {
                        if !thread_pool(self.cx, &item.context, scope) {
                            self.expr(&item.context, scope, alive);
                            continue;
                        }
                        let mut subs = Vec::new();
                        exec::for_each_subexpr(&item.context, |e| subs.push(e));
                        for e in subs {
                            self.expr(e, scope, alive);
                        }
                        {
                            alive.push(Running {
                                started: &item.context,
                                object: None,
                            });
                            pools += 1;
                        }
                    }
                    self.block(body, scope, alive);
                    // Leaving the `with` shuts the pool down and waits for its threads.
                    for _ in 0..pools {
                        if let Some(i) = alive.iter().rposition(|r| r.object.is_none()) {
                            alive.remove(i);
                        }
                    }
                }
                _ => exec::for_each_child(stmt, |c| match c {
                    exec::Child::Expr(e) => self.expr(e, scope, alive),
                    exec::Child::Block(b) => self.block(b, scope, alive),
                }),
            }
        }
    }

    fn expr(&mut self, expr: &'a Expr, scope: ScopeId, alive: &mut Vec<Running<'a>>) {
        if matches!(expr.kind, ExprKind::Lambda(_)) {
            return;
        }
        let mut subs = Vec::new();
        exec::for_each_subexpr(expr, |e| subs.push(e));
        for e in subs {
            self.expr(e, scope, alive);
        }
        let Some(call) = expr.as_call() else { return };
        let model = self.cx.model;
        // A function of this file that joins threads or shuts a pool down, given what it
        // should wait for (`join_all(threads)`): what was running may have ended.
        if let Value::Function(f) = model.resolve(&call.func, scope)
            && !call.args.is_empty()
            && waits_for_threads(f)
        {
            alive.clear();
        }
        if let ExprKind::Attribute { value, attr } = &call.func.kind {
            let receiver = self.objects().track(value, scope);
            match (attr.name.as_str(), receiver.as_ref().map(|t| t.class)) {
                ("start", Some(MpClass::Thread)) => alive.push(Running {
                    started: expr,
                    object: receiver,
                }),
                (
                    "join" | "shutdown",
                    Some(MpClass::Thread | MpClass::ThreadPoolExecutor | MpClass::ThreadPool),
                )
                | ("close", Some(MpClass::ThreadPool)) => {
                    let r = receiver.expect("matched Some");
                    alive.retain(|a| !a.object.as_ref().is_some_and(|o| o.same_object(&r)));
                }
                ("start", Some(MpClass::Process)) => {
                    let method = model.resolve(value, scope).instance().and_then(|(_, m)| m);
                    self.fork(expr, method, alive);
                }
                _ => {}
            }
        }
        match model.resolve(expr, scope) {
            // pathos makes its pools when first used.
            Value::Instance {
                class: MpClass::ThreadPoolExecutor | MpClass::ThreadPool,
                ..
            } if !model
                .resolve(&call.func, scope)
                .path()
                .is_some_and(|p| p.starts_with("pathos")) =>
            {
                // Made outside a `with`: running until shut down. (Inside a `with`, the
                // statement's own handling counts it.)
                let object = self.objects().track(expr, scope);
                if object.is_some() {
                    alive.push(Running {
                        started: expr,
                        object,
                    });
                }
            }
            Value::Instance {
                class: MpClass::Pool | MpClass::StartedManager,
                method,
            } => self.fork(expr, method, alive),
            _ => {}
        }
    }

    fn fork(&mut self, at: &'a Expr, method: Option<StartMethod>, alive: &[Running<'a>]) {
        let Some(thread) = alive.first() else { return };
        let methods = Methods::of(method, self.chosen, self.cx.settings.start_methods);
        if !methods.set.contains(StartMethod::Fork) {
            return;
        }
        self.found.push(Finding {
            fork: at,
            thread: thread.started,
            methods,
        });
    }
}

/// Whether a block certainly leaves the code that follows it.
fn leaves<'a>(cx: &Checker<'_, 'a>, body: &'a [Stmt], scope: ScopeId) -> bool {
    match body.last().map(|s| &s.kind) {
        Some(
            StmtKind::Return(_) | StmtKind::Raise { .. } | StmtKind::Continue | StmtKind::Break,
        ) => true,
        Some(StmtKind::Expr(e)) => e.as_call().is_some_and(|c| {
            matches!(
                cx.model.qualified_name(&c.func, scope).as_deref(),
                Some("sys.exit" | "os._exit")
            ) || matches!(c.func.as_name(), Some("exit" | "quit"))
        }),
        _ => false,
    }
}

/// Whether `f` calls `join()` or `shutdown()` on something.
fn waits_for_threads(f: &FunctionDef) -> bool {
    let mut found = false;
    exec::walk_all_exprs(&f.body, f.scope, &mut |e, _| {
        if let Some(call) = e.as_call()
            && let ExprKind::Attribute { attr, .. } = &call.func.kind
            && matches!(attr.name.as_str(), "join" | "shutdown")
        {
            found = true;
        }
    });
    found
}

fn dedup(v: &mut Vec<Running<'_>>) {
    let mut out: Vec<Running<'_>> = Vec::new();
    for r in v.drain(..) {
        if !out.iter().any(|o| std::ptr::eq(o.started, r.started)) {
            out.push(r);
        }
    }
    *v = out;
}

fn thread_pool<'a>(cx: &Checker<'_, 'a>, e: &'a Expr, scope: ScopeId) -> bool {
    matches!(
        cx.model.resolve(e, scope),
        Value::Instance {
            class: MpClass::ThreadPoolExecutor | MpClass::ThreadPool,
            ..
        }
    )
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    let shown = |e: &Expr| crate::rules::first_line(cx.text(e.range)).to_string();
    let pinned = f.methods.source != Source::Targets;
    let when = if pinned {
        "under fork, which this code chooses".to_string()
    } else {
        "under fork, one of the start methods the code must support (the default on Linux \
         before Python 3.14)"
            .to_string()
    };
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP602),
        f.fork.range,
        format!(
            "`{}` forks while a thread started at line {} may still run: {when}, the child \
             is a copy of this one thread, and any lock another thread held at that moment \
             (the program's own, `logging`'s, `print`'s buffer) stays held in the child \
             forever, so the child can hang; Python 3.12 and newer warn \
             (`DeprecationWarning: ... is multi-threaded, use of fork() may lead to \
             deadlocks in the child`), but the warning is hidden by default",
            shown(f.fork),
            cx.line_of(f.thread.range.start)
        ),
        "forks a multi-threaded process",
    )
    .with_annotation(f.thread.range, "a thread that may be running")
    .with_help(
        "Start the processes before any thread, or join the threads first; or use the \
         spawn or forkserver start method (`multiprocessing.get_context(\"forkserver\")`), \
         whose children do not copy the parent's threads' state.",
    )
    .with_no_fix("the order of threads and processes is the program's decision");
    if !pinned {
        d = d.with_severity(Severity::Warning);
    }
    cx.report(d);
}
