//! MP509 `process-lifecycle`: a `Process` used out of order (`start()` twice, `join()`
//! before `start()`, `close()` while it may still run) and a `Process` subclass whose
//! `__init__` never calls the base class's.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::cfg::{Edge, NodeId};
use crate::semantic::mp::MpClass;
use crate::semantic::objects::MethodCall;
use crate::semantic::paths::FunctionPaths;
use crate::semantic::{Model, Value, exec};

pub struct ProcessLifecycle;

impl Rule for ProcessLifecycle {
    fn code(&self) -> RuleCode {
        RuleCode::MP509
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let mut found: Vec<Misuse<'_>> = Vec::new();
        for (body, scope) in model.bodies() {
            found.extend(out_of_order(cx, body, scope));
        }
        for f in model.functions() {
            found.extend(init_without_base(model, f));
        }
        for m in found {
            report(cx, m);
        }
    }
}

enum Misuse<'a> {
    StartedTwice {
        second: &'a Expr,
        first: &'a Expr,
    },
    JoinBeforeStart {
        join: &'a Expr,
        made: &'a Stmt,
    },
    CloseWhileRunning {
        close: &'a Expr,
        start: &'a Expr,
    },
    InitWithoutBase {
        init: &'a FunctionDef,
        class: &'a ClassDef,
    },
    /// Started in a function that never joins it, and lost when the function returns.
    NeverJoined {
        start: &'a Expr,
    },
}

/// Whether `value` makes a process: `Process(...)`, a context's, a drop-in's, or a
/// subclass of this file.
fn makes_process<'a>(model: &Model<'a>, value: &'a Expr, scope: ScopeId) -> bool {
    value.as_call().is_some()
        && match model.resolve(value, scope) {
            Value::Instance {
                class: MpClass::Process,
                ..
            } => true,
            Value::LocalInstance(c) => {
                matches!(model.tracked_base(c, 0), Some((MpClass::Process, _)))
            }
            _ => false,
        }
}

/// A subclass of this file whose `__init__` calls `start()` itself: its objects are
/// running once made.
fn starts_itself<'a>(model: &Model<'a>, value: &'a Expr, scope: ScopeId) -> bool {
    let Some(call) = value.as_call() else {
        return false;
    };
    let Value::Class(class) = model.resolve(&call.func, scope) else {
        return false;
    };
    let Some(init) = model.method(class, "__init__") else {
        return false;
    };
    let mut starts = false;
    exec::walk_all_exprs(&init.body, init.scope, &mut |e, _| {
        starts |= e.as_call().is_some_and(
            |c| matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "start"),
        );
    });
    starts
}

/// The names of `body` (not of functions in it) bound only by plain assignments, at
/// least one of them a process.
fn process_names<'a>(model: &Model<'a>, body: &'a [Stmt], scope: ScopeId) -> Vec<&'a str> {
    let mut processes: Vec<&str> = Vec::new();
    let mut other: Vec<&str> = Vec::new();
    crate::semantic::segments::walk_stmts(body, scope, &mut |s, at| {
        if at != scope {
            return;
        }
        match &s.kind {
            StmtKind::Assign { targets, value } => {
                for t in targets {
                    match t.as_name() {
                        Some(n)
                            if makes_process(model, value, scope)
                                && !starts_itself(model, value, scope) =>
                        {
                            processes.push(n)
                        }
                        Some(n) => other.push(n),
                        None => {}
                    }
                }
            }
            StmtKind::For { target, .. } | StmtKind::AnnAssign { target, .. } => {
                exec::walk_expr_tree(target, scope, &mut |e, _| other.extend(e.as_name()));
            }
            StmtKind::With { items, .. } => {
                for i in items.iter().filter_map(|i| i.target.as_ref()) {
                    exec::walk_expr_tree(i, scope, &mut |e, _| other.extend(e.as_name()));
                }
            }
            StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
                other.extend(names.iter().map(|n| n.name.as_str()));
            }
            _ => {}
        }
    });
    processes.sort_unstable();
    processes.dedup();
    processes.retain(|n| !other.contains(n));
    processes
}

fn out_of_order<'a>(cx: &Checker<'_, 'a>, body: &'a [Stmt], scope: ScopeId) -> Vec<Misuse<'a>> {
    let model = cx.model;
    let objects = cx.objects;
    let names = process_names(model, body, scope);
    if names.is_empty() {
        return Vec::new();
    }
    let paths = match model.function(scope) {
        Some(f) => FunctionPaths::new(objects, f),
        None if scope == ScopeId::MODULE => FunctionPaths::for_body(objects, body, scope),
        None => None,
    };
    let Some(paths) = paths else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names {
        let calls: Vec<&MethodCall<'a>> = paths_calls(&paths, name, scope);
        let nodes = |method: &str| -> Vec<(NodeId, &MethodCall<'a>)> {
            calls
                .iter()
                .filter(|mc| mc.method == method)
                .flat_map(|mc| paths.nodes_of(mc).into_iter().map(move |n| (n, *mc)))
                .collect()
        };
        let bindings = binding_nodes(&paths, name);
        let starts = nodes("start");
        let joins = nodes("join");
        let closes = nodes("close");
        // Where the program looks at whether it still runs: a judgement this rule leaves
        // to the reader.
        let checks: Vec<NodeId> = ["is_alive", "exitcode"]
            .iter()
            .flat_map(|m| nodes(m).into_iter().map(|(n, _)| n))
            .collect();
        for &(from, first) in &starts {
            if let Some(hit) = paths.cfg.reaches(
                from,
                &[Edge::Normal],
                &|id| starts.iter().any(|(n, _)| *n == id),
                &|id| bindings.contains(&id),
            ) && let Some((_, second)) = starts.iter().find(|(n, _)| *n == hit)
            {
                out.push(Misuse::StartedTwice {
                    second: second.expr,
                    first: first.expr,
                });
                break;
            }
        }
        for &binding in &bindings {
            if let Some(hit) = paths.cfg.reaches(
                binding,
                &[Edge::Normal],
                &|id| joins.iter().any(|(n, _)| *n == id),
                &|id| bindings.contains(&id) || starts.iter().any(|(n, _)| *n == id),
            ) && let Some((_, join)) = joins.iter().find(|(n, _)| *n == hit)
                && let Some(made) = binding_stmt(&paths, binding)
            {
                out.push(Misuse::JoinBeforeStart {
                    join: join.expr,
                    made,
                });
            }
        }
        if let Some(f) = model.function(scope)
            && let Some(&(_, start)) = starts.first()
            && !calls
                .iter()
                .any(|mc| matches!(mc.method, "join" | "terminate" | "kill" | "close"))
            && !calls
                .iter()
                .any(|mc| mc.method == "start" && daemonic(model, mc, scope))
            && crate::semantic::segments::used_only_through_attributes(f, name)
            && !hands_sync_objects_to(cx, body, name, scope)
        {
            out.push(Misuse::NeverJoined { start: start.expr });
        }
        for &(from, start) in &starts {
            if let Some(hit) = paths.cfg.reaches(
                from,
                &[Edge::Normal],
                &|id| closes.iter().any(|(n, _)| *n == id),
                &|id| {
                    bindings.contains(&id)
                        || joins.iter().any(|(n, _)| *n == id)
                        || checks.contains(&id)
                },
            ) && let Some((_, close)) = closes.iter().find(|(n, _)| *n == hit)
            {
                out.push(Misuse::CloseWhileRunning {
                    close: close.expr,
                    start: start.expr,
                });
            }
        }
    }
    // A misuse inside `with pytest.raises(...)` or `assertRaises` is the test of it.
    out.retain(|m| !crate::semantic::segments::expects_failure(body, anchor(m)));
    dedup(out)
}

/// Whether the process bound to `name` is given locks, queues or values: MP104 judges a
/// function that returns without waiting for such a process (one finding per bug).
fn hands_sync_objects_to<'a>(
    cx: &Checker<'_, 'a>,
    body: &'a [Stmt],
    name: &str,
    scope: ScopeId,
) -> bool {
    let mut hands = false;
    crate::semantic::segments::walk_stmts(body, scope, &mut |s, at| {
        if at == scope
            && let StmtKind::Assign { targets, value } = &s.kind
            && targets.iter().any(|t| t.as_name() == Some(name))
            && let Some(call) = value.as_call()
        {
            hands |= crate::semantic::pickling::hands_sync_objects(cx.objects, call, scope);
        }
    });
    hands
}

/// Whether the process `start` starts is daemonic: `daemon=True` where it is made, or
/// `name.daemon = True` in the body. (Daemonic processes are killed at exit, not joined.)
fn daemonic<'a>(model: &Model<'a>, start: &MethodCall<'a>, scope: ScopeId) -> bool {
    let Some(name) = start.receiver.as_name() else {
        return false;
    };
    let set = model.attr_assigns().iter().any(|a| {
        a.scope == scope
            && a.object == name
            && a.attr == "daemon"
            && !matches!(a.value.kind, ExprKind::Constant(Some(false)))
    });
    let mut keyword = false;
    if let Some(body) = model.body(scope) {
        crate::semantic::segments::walk_stmts(body, scope, &mut |s, _| {
            if let StmtKind::Assign { targets, value } = &s.kind
                && targets.iter().any(|t| t.as_name() == Some(name))
                && value
                    .as_call()
                    .is_some_and(|c| c.keyword("daemon").is_some())
            {
                keyword = true;
            }
        });
    }
    set || keyword
}

/// One finding per misused call.
fn dedup(found: Vec<Misuse<'_>>) -> Vec<Misuse<'_>> {
    let mut out: Vec<Misuse<'_>> = Vec::new();
    for m in found {
        let at = anchor(&m);
        if !out.iter().any(|o| anchor(o) == at) {
            out.push(m);
        }
    }
    out
}

fn anchor(m: &Misuse<'_>) -> Range {
    match m {
        Misuse::StartedTwice { second, .. } => second.range,
        Misuse::JoinBeforeStart { join, .. } => join.range,
        Misuse::CloseWhileRunning { close, .. } => close.range,
        Misuse::InitWithoutBase { init, .. } => init.name.range,
        Misuse::NeverJoined { start } => start.range,
    }
}

/// The method calls on `name` (a plain receiver) that the paths of this body evaluate.
fn paths_calls<'p, 'a>(
    paths: &'p FunctionPaths<'a>,
    name: &str,
    scope: ScopeId,
) -> Vec<&'p MethodCall<'a>> {
    let mut out: Vec<&MethodCall<'a>> = Vec::new();
    for id in 0..paths.cfg.nodes.len() {
        for mc in paths.calls_at(id) {
            if mc.scope == scope
                && mc.receiver.as_name() == Some(name)
                && !out.iter().any(|o| std::ptr::eq(o.expr, mc.expr))
            {
                out.push(mc);
            }
        }
    }
    out
}

/// The nodes of the assignments that bind `name`.
fn binding_nodes(paths: &FunctionPaths<'_>, name: &str) -> Vec<NodeId> {
    (0..paths.cfg.nodes.len())
        .filter(|&id| {
            matches!(paths.cfg.nodes[id].kind, crate::semantic::cfg::NodeKind::Stmt(s)
                if matches!(&s.kind, StmtKind::Assign { targets, .. }
                    if targets.iter().any(|t| t.as_name() == Some(name))))
        })
        .collect()
}

fn binding_stmt<'a>(paths: &FunctionPaths<'a>, id: NodeId) -> Option<&'a Stmt> {
    match paths.cfg.nodes[id].kind {
        crate::semantic::cfg::NodeKind::Stmt(s) => Some(s),
        _ => None,
    }
}

/// A `Process` subclass's `__init__` that never calls the base class's `__init__`.
fn init_without_base<'a>(model: &Model<'a>, f: &'a FunctionDef) -> Option<Misuse<'a>> {
    if f.name.name != "__init__" {
        return None;
    }
    let (class, _) = model.method_of(f.scope)?;
    if !matches!(model.tracked_base(class, 0), Some((MpClass::Process, _))) {
        return None;
    }
    let mut calls_base = false;
    exec::walk_all_exprs(&f.body, f.scope, &mut |e, _| {
        if let Some(call) = e.as_call()
            && let ExprKind::Attribute { attr, .. } = &call.func.kind
            && attr.name == "__init__"
        {
            // `super().__init__()`, `Process.__init__(self)`, `Base.__init__(self)`: any
            // `__init__` call counts, the rule does not guess which base it reaches.
            calls_base = true;
        }
    });
    (!calls_base).then_some(Misuse::InitWithoutBase { init: f, class })
}

fn report<'a>(cx: &mut Checker<'_, 'a>, m: Misuse<'a>) {
    let d = match m {
        Misuse::StartedTwice { second, first } => {
            let text = cx.text(second.range).to_string();
            let d = Diagnostic::new(
                Code::Rule(RuleCode::MP509),
                second.range,
                format!(
                    "`{text}` can run on a process that was already started: it raises \
                     `AssertionError: cannot start a process twice`"
                ),
                "a process starts once",
            )
            .with_help(
                "A `Process` object runs its target once. Make a new `Process` for each \
                 run (inside the loop, if the start is in one).",
            );
            if std::ptr::eq(second, first) {
                d
            } else {
                d.with_annotation(first.range, "started here first")
            }
        }
        Misuse::JoinBeforeStart { join, made } => {
            let text = cx.text(join.range).to_string();
            Diagnostic::new(
                Code::Rule(RuleCode::MP509),
                join.range,
                format!(
                    "`{text}` can run before the process is started: it raises \
                     `AssertionError: can only join a started process`"
                ),
                "joined before `start()`",
            )
            .with_annotation(made.range, "made here, and not started on some path")
            .with_help(
                "Call `start()` before `join()` on every path, or join only what was started.",
            )
        }
        Misuse::CloseWhileRunning { close, start } => {
            let text = cx.text(close.range).to_string();
            Diagnostic::new(
                Code::Rule(RuleCode::MP509),
                close.range,
                format!(
                    "`{text}` can run while the process is still running: it raises \
                     `ValueError: Cannot close a process while it is still running`"
                ),
                "closed without `join()` first",
            )
            .with_annotation(start.range, "started here")
            .with_help(
                "`close()` releases the process's resources and is only allowed once it has \
                 ended: `join()` it first (after `terminate()`, too).",
            )
        }
        Misuse::InitWithoutBase { init, class } => {
            let name = &class.name.name;
            Diagnostic::new(
                Code::Rule(RuleCode::MP509),
                init.name.range,
                format!(
                    "`{name}.__init__` never calls the base class's `__init__`: the \
                     `Process` machinery is never set up, and `start()` raises \
                     `AttributeError: '{name}' object has no attribute '_closed'` (or a \
                     similar one)"
                ),
                "no `super().__init__()`",
            )
            .with_help(
                "A `Process` subclass that overrides the constructor must call \
                 `super().__init__()` before doing anything else with the object.",
            )
        }
        Misuse::NeverJoined { start } => {
            let text = cx.text(start.range).to_string();
            Diagnostic::new(
                Code::Rule(RuleCode::MP509),
                start.range,
                format!(
                    "`{text}` starts a process that this function never joins, and nothing \
                     keeps the process object: once it ends it stays a zombie until the \
                     program starts another process or exits, its exit code is never \
                     checked, and the program waits for it at exit"
                ),
                "started, never joined",
            )
            .with_severity(crate::codes::Severity::Warning)
            .with_help(
                "`join()` the process before the function returns (and check its \
                 `exitcode`), or return it, or keep it where the caller can join it.",
            )
        }
    };
    cx.report(d.with_no_fix("the right order depends on the program: fix it by hand"));
}
