//! MP506 `daemon-spawns-children`: a `multiprocessing.Pool` task or the target of a
//! daemonic `Process` that starts processes of its own (a `Pool`, a `Process`, a
//! `ProcessPoolExecutor`, a `Manager`): `AssertionError: daemonic processes are not
//! allowed to have children`.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::links::{Launch, LaunchKind};
use crate::semantic::mp::MpClass;
use crate::semantic::{Model, Value};

pub struct DaemonSpawnsChildren;

impl Rule for DaemonSpawnsChildren {
    fn code(&self) -> RuleCode {
        RuleCode::MP506
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let links = cx.objects.links();
        let mut found: Vec<(&Expr, MpClass, &Launch<'_>, &FunctionDef)> = Vec::new();
        for launch in &links.launches {
            if !daemonic(model, launch) {
                continue;
            }
            for f in links.reachable(launch.target) {
                for (start, class) in starts_in(model, f) {
                    if !found.iter().any(|(e, ..)| std::ptr::eq(*e, start)) {
                        found.push((start, class, launch, f));
                    }
                }
            }
        }
        for (start, class, launch, f) in found {
            report(cx, start, class, launch, f);
        }
    }
}

/// Whether the launched code runs in a daemonic process.
fn daemonic<'a>(model: &Model<'a>, launch: &Launch<'a>) -> bool {
    match launch.kind {
        // The workers of a `multiprocessing.Pool` are daemonic; those of
        // `ProcessPoolExecutor` are not (since Python 3.9).
        LaunchKind::PoolTask => {
            launch.pool_class(model) == Some(MpClass::Pool) && launch.target_picklable(model)
        }
        LaunchKind::Process => {
            let keyword = launch
                .site
                .as_call()
                .and_then(|c| c.keyword("daemon"))
                .is_some_and(is_true);
            keyword || daemon_set_later(model, launch) || daemon_subclass(model, launch.target)
        }
        _ => false,
    }
}

fn is_true(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Constant(Some(true)))
}

/// `p = Process(...)` then `p.daemon = True` in the same body.
fn daemon_set_later<'a>(model: &Model<'a>, launch: &Launch<'a>) -> bool {
    let Some(body) = model.body(model.body_scope(launch.scope)) else {
        return false;
    };
    let Some((suite, index)) = crate::semantic::segments::suite_of(body, launch.site.range) else {
        return false;
    };
    let StmtKind::Assign { targets, value } = &suite[index].kind else {
        return false;
    };
    let [target] = targets.as_slice() else {
        return false;
    };
    let (Some(name), true) = (target.as_name(), std::ptr::eq(value, launch.site)) else {
        return false;
    };
    model.attr_assigns().iter().any(|a| {
        a.scope == launch.scope && a.object == name && a.attr == "daemon" && is_true(a.value)
    })
}

/// The `run` of a `Process` subclass whose `__init__` sets `self.daemon = True` or
/// passes `daemon=True` to the base class.
fn daemon_subclass<'a>(model: &Model<'a>, run: &'a FunctionDef) -> bool {
    let Some((class, _)) = model.method_of(run.scope) else {
        return false;
    };
    let Some(init) = model.method(class, "__init__") else {
        return false;
    };
    let Some((_, this)) = model.method_of(init.scope) else {
        return false;
    };
    let assigned = model.attr_assigns().iter().any(|a| {
        a.scope == init.scope && a.object == this && a.attr == "daemon" && is_true(a.value)
    });
    let mut passed = false;
    exec::walk_all_exprs(&init.body, init.scope, &mut |e, _| {
        if let Some(call) = e.as_call()
            && matches!(&call.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "__init__")
            && call.keyword("daemon").is_some_and(is_true)
        {
            passed = true;
        }
    });
    assigned || passed
}

/// The calls in `f` (not in functions defined in it) that start a process: a `Pool`, a
/// `Process` (or a subclass), a `ProcessPoolExecutor`, a `Manager`.
fn starts_in<'a>(model: &Model<'a>, f: &'a FunctionDef) -> Vec<(&'a Expr, MpClass)> {
    let mut out = Vec::new();
    exec::walk_all_exprs(&f.body, f.scope, &mut |e, scope| {
        if scope != f.scope || e.as_call().is_none() {
            return;
        }
        let class = match model.resolve(e, scope) {
            Value::Instance { class, .. } => class,
            Value::LocalInstance(c) => match model.tracked_base(c, 0) {
                Some((MpClass::Process, _)) => MpClass::Process,
                _ => return,
            },
            _ => return,
        };
        if matches!(
            class,
            MpClass::Pool
                | MpClass::Process
                | MpClass::ProcessPoolExecutor
                | MpClass::StartedManager
        ) {
            out.push((e, class));
        }
    });
    out
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    start: &'a Expr,
    class: MpClass,
    launch: &Launch<'a>,
    f: &FunctionDef,
) {
    let text = cx.text(start.range).to_string();
    let target = &launch.target.name.name;
    let through = if std::ptr::eq(f, launch.target) {
        String::new()
    } else {
        format!(" (in `{}()`, which it calls)", f.name.name)
    };
    let runs_in = if launch.initializer_of(cx.model).is_some() {
        "the initializer of a `multiprocessing.Pool`'s workers, which are daemonic processes"
    } else if launch.kind == LaunchKind::PoolTask {
        "a `multiprocessing.Pool` task, and pool workers are daemonic processes"
    } else {
        "the target of a daemonic process"
    };
    let when = match class {
        MpClass::Process => "its `start()`",
        MpClass::ProcessPoolExecutor => "its first `submit()` or `map()`",
        _ => "it",
    };
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP506),
            start.range,
            format!(
                "`{text}`{through} runs in `{target}()`, {runs_in}: {when} raises \
                 `AssertionError: daemonic processes are not allowed to have children`"
            ),
            "a daemonic process cannot start processes",
        )
        .with_annotation(launch.site.range, "runs in a daemonic process from here")
        .with_help(
            "A daemonic process is killed when its parent exits, so multiprocessing forbids \
             it to start children that would be orphaned. Hand the inner work to the outer \
             pool instead (flatten the two levels), or run the outer level with \
             `concurrent.futures.ProcessPoolExecutor`, whose workers are not daemonic \
             (Python 3.9+), or with `Process(daemon=False)`.",
        )
        .with_no_fix("which level should start the processes is the program's decision"),
    );
}
