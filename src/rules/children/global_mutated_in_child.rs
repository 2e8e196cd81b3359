//! MP405 `global-mutated-in-child`: code that runs in a child process changes
//! module-level state (`RESULTS.append(x)`, `CACHE[k] = v`, `global total; total += x`)
//! that the parent then reads. Every process has its own memory, under every start
//! method: the parent's copy never changes, and the program reports an empty or stale
//! result without any error.

use std::collections::HashSet;

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::globals::{ImportRun, Setter, child_functions, parent_reads};
use crate::semantic::links::LaunchKind;
use crate::semantic::{BindingKind, Model, exec};

pub struct GlobalMutatedInChild;

impl Rule for GlobalMutatedInChild {
    fn code(&self) -> RuleCode {
        RuleCode::MP405
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let links = cx.objects.links();
        let children = child_functions(links);
        if children.is_empty() {
            return;
        }
        let child_scopes: HashSet<ScopeId> = children.iter().map(|(f, _)| f.scope).collect();
        // An initializer exists to set up the worker's own globals.
        let initializers: HashSet<ScopeId> = links
            .launches
            .iter()
            .filter(|l| l.initializer_of(model).is_some())
            .flat_map(|l| links.reachable(l.target))
            .map(|f| f.scope)
            .collect();
        let import_run = ImportRun::new(model, links);
        let reads = parent_reads(model, &child_scopes);
        let mut found: Vec<Finding> = Vec::new();
        for &(f, launch) in &children {
            if initializers.contains(&f.scope) {
                continue;
            }
            for (target, name, how) in mutations(model, f) {
                if found.iter().any(|x| x.name == name) {
                    continue;
                }
                let all = import_run.setters(model, name);
                let from_import = all.iter().all(|s| match s {
                    Setter::Import { .. } => true,
                    Setter::Function(g) => child_scopes.contains(&g.scope),
                    Setter::MainOnly { .. } => false,
                });
                let plain = match how {
                    How::Rebound => true,
                    How::Changed(_) | How::Item => plain_container(model, name),
                };
                if !from_import || !plain {
                    continue;
                }
                // The parent reads it after the launch, in the code that launches: what
                // it reads before, or elsewhere, says nothing about the child's change.
                let body =
                    |scope: ScopeId| model.enclosing_function(scope).unwrap_or(ScopeId::MODULE);
                let launched_in = body(launch.scope);
                let Some(&(read, _)) = reads.get(name).and_then(|r| {
                    r.iter().find(|(e, scope)| {
                        body(*scope) == launched_in && e.range.start > launch.site.range.end
                    })
                }) else {
                    continue;
                };
                found.push(Finding {
                    at: target,
                    name,
                    how,
                    reader: f,
                    pool: launch.kind == LaunchKind::PoolTask,
                    read,
                });
            }
        }
        for f in found {
            report(cx, f);
        }
    }
}

#[derive(Clone, Copy)]
enum How<'a> {
    /// `global x` and an assignment.
    Rebound,
    /// A method that changes the object.
    Changed(&'a str),
    /// An item assignment or deletion.
    Item,
}

struct Finding<'a> {
    at: &'a Expr,
    name: &'a str,
    how: How<'a>,
    reader: &'a FunctionDef,
    pool: bool,
    read: &'a Expr,
}

const MUTATORS: [&str; 12] = [
    "append",
    "extend",
    "insert",
    "update",
    "add",
    "setdefault",
    "pop",
    "popitem",
    "remove",
    "discard",
    "clear",
    "appendleft",
];

/// Whether module-level `name` is always made as a plain list, dict, set or deque at
/// import time: an object of the process that made it.
fn plain_container(model: &Model<'_>, name: &str) -> bool {
    let bindings = model.module_bindings(name);
    !bindings.is_empty()
        && bindings.iter().all(|b| match b.kind {
            BindingKind::Assign(value) => match &value.kind {
                ExprKind::List(_) | ExprKind::Dict { .. } => true,
                ExprKind::Comprehension(_) => true,
                ExprKind::Call(call) => match call.func.as_name() {
                    Some(builtin @ ("list" | "dict" | "set")) => {
                        model.module_bindings(builtin).is_empty()
                    }
                    _ => matches!(
                        model.resolve(&call.func, ScopeId::MODULE).path(),
                        Some(
                            "collections.defaultdict"
                                | "collections.Counter"
                                | "collections.OrderedDict"
                                | "collections.deque"
                        )
                    ),
                },
                _ => false,
            },
            _ => false,
        })
}

/// What `f` changes of the module's state: (the expression, the global's name, how).
fn mutations<'a>(model: &Model<'a>, f: &'a FunctionDef) -> Vec<(&'a Expr, &'a str, How<'a>)> {
    let mut out = Vec::new();
    let global =
        |name: &str, scope: ScopeId| model.binding_scope(name, scope) == Some(ScopeId::MODULE);
    let declared = model.declared_globals(f.scope);
    exec::walk_all_exprs(&f.body, f.scope, &mut |e, scope| {
        if let Some(call) = e.as_call()
            && let ExprKind::Attribute { value, attr } = &call.func.kind
            && MUTATORS.contains(&attr.name.as_str())
            && let Some(name) = value.as_name()
            && global(name, scope)
        {
            out.push((e, name, How::Changed(attr.name.as_str())));
        }
    });
    exec::any_stmt(&f.body, &mut |stmt| {
        let targets: Vec<&'a Expr> = match &stmt.kind {
            StmtKind::Assign { targets, .. } | StmtKind::Delete(targets) => {
                targets.iter().collect()
            }
            StmtKind::AugAssign { target, .. } => vec![target],
            StmtKind::AnnAssign {
                target,
                value: Some(_),
                ..
            } => vec![target],
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => return Some(false),
            _ => return None,
        };
        for t in targets {
            match &t.kind {
                ExprKind::Subscript { value, .. } => {
                    if let Some(name) = value.as_name()
                        && global(name, f.scope)
                    {
                        out.push((t, name, How::Item));
                    }
                }
                ExprKind::Name(name) if declared.contains(&name.as_str()) => {
                    out.push((t, name.as_str(), How::Rebound));
                }
                _ => {}
            }
        }
        Some(false)
    });
    out
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    let name = f.name;
    let reader = &f.reader.name.name;
    let child = if f.pool {
        "a pool's worker process"
    } else {
        "a child process"
    };
    let change = match f.how {
        How::Rebound => format!("assigns the global `{name}`"),
        How::Item => format!("changes an item of the global `{name}`"),
        How::Changed(method) => format!("calls `{name}.{method}()`"),
    };
    let line = cx.line_of(f.read.range.start);
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP405),
            f.at.range,
            format!(
                "`{reader}` {change} in {child}, but every process has its own memory, under \
                 every start method: the parent's `{name}` never changes, so what it reads \
                 (line {line}) is what it had before"
            ),
            "changes only the child's copy",
        )
        .with_annotation(f.read.range, "the parent's copy, unchanged")
        .with_help(
            "Send the results back: return them from a pool task (`pool.map` collects \
             them), put them on a `multiprocessing.Queue` the parent reads, or share a \
             `Manager().list()`/`.dict()`, a `Value` or an `Array` passed to the child.",
        )
        .with_no_fix("how the results come back is the program's decision"),
    );
}
