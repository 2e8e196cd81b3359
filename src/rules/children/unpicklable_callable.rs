//! MP401 `unpicklable-callable`: a lambda, a nested function or a local class (or a
//! `functools.partial` of one) given to a process or a pool. Pickle sends functions and
//! classes by their qualified name, and a child cannot look up `main.<locals>.inner`.

use crate::ast::*;
use crate::codes::{RuleCode, Severity};
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::{LaunchKind, submission};
use crate::semantic::mp::{MpClass, initializer_parameters};
use crate::semantic::pickling::{
    LocalCallable, Unpicklable, imports_dill_pickler, unpicklable_callable,
};
use crate::semantic::start::{self, Methods};
use crate::semantic::{Model, ScopeKind, Value};

pub struct UnpicklableCallable;

impl Rule for UnpicklableCallable {
    fn code(&self) -> RuleCode {
        RuleCode::MP401
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        // multiprocess and pathos pickle with dill, which sends these by value.
        if imports_dill_pickler(model) {
            return;
        }
        let chosen = start::chosen(model);
        let mut found = Vec::new();
        for &(e, call, scope) in cx.objects.calls() {
            if let Some(sub) = submission(model, call, scope) {
                if sub.kind == LaunchKind::PoolTask
                    && let Some(u) = unpicklable_callable(model, sub.func, scope)
                {
                    found.push((u, Handed::Task(sub.method), None));
                }
                continue;
            }
            let Value::Instance { class, method } = model.resolve(e, scope) else {
                continue;
            };
            // A subclass of this file decides itself what its constructor takes.
            if matches!(model.resolve(&call.func, scope), Value::Class(_)) {
                continue;
            }
            let (handed, callable) = match class {
                // A target is pickled by `start()`: a process never seen started is left
                // alone (tests build processes only to inspect them).
                MpClass::Process if !started(cx, e, scope) => continue,
                MpClass::Process => (Handed::Target, call.argument(1, "target")),
                MpClass::Pool | MpClass::ProcessPoolExecutor => {
                    let Some((at, _)) = initializer_parameters(class) else {
                        continue;
                    };
                    (Handed::Initializer, call.argument(at, "initializer"))
                }
                _ => continue,
            };
            if let Some(u) = callable.and_then(|c| unpicklable_callable(model, c, scope)) {
                let methods = Methods::of(method, chosen, cx.settings.start_methods);
                found.push((u, handed, Some(methods)));
            }
        }
        for (u, handed, methods) in found {
            report(cx, u, handed, methods);
        }
    }
}

/// Whether the process made by `constructor` is started somewhere this file shows.
fn started<'a>(cx: &Checker<'_, 'a>, constructor: &'a Expr, scope: ScopeId) -> bool {
    cx.objects
        .track(constructor, scope)
        .is_some_and(|p| !cx.objects.calls_on(&p, &["start"]).is_empty())
}

#[derive(Clone, Copy)]
enum Handed<'a> {
    /// `Process(target=...)`: pickled by `start()` under spawn and forkserver.
    Target,
    /// A pool's or an executor's `initializer=`: pickled with each worker process.
    Initializer,
    /// A pool task or an executor's function: pickled under every start method.
    Task(&'a str),
}

/// `main.<locals>.inner`, as pickle names it in its error.
fn qualname(model: &Model<'_>, name: &str, scope: ScopeId) -> String {
    let mut parts = vec![name.to_string()];
    let mut at = model.parent(scope);
    while let Some(s) = at {
        match model.scope_kind(s) {
            ScopeKind::Function => {
                if let Some(f) = model.function(s) {
                    parts.push(format!("{}.<locals>", f.name.name));
                }
            }
            ScopeKind::Class => {
                if let Some(c) = model.class(s) {
                    parts.push(c.name.name.clone());
                }
            }
            _ => {}
        }
        at = model.parent(s);
    }
    parts.reverse();
    parts.join(".")
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    u: Unpicklable<'a>,
    handed: Handed<'a>,
    methods: Option<Methods>,
) {
    let model = cx.model;
    let inside = |scope: ScopeId| {
        let q = qualname(model, "", scope);
        q.trim_end_matches('.')
            .trim_end_matches(".<locals>")
            .to_string()
    };
    let partial = if u.through_partial {
        " (in this `functools.partial`)"
    } else {
        ""
    };
    let (subject, error, fix) = match u.what {
        LocalCallable::Lambda => (
            match u.expr.as_name() {
                Some(name) => format!("`{name}`{partial}, a lambda,"),
                None => format!("this lambda{partial}"),
            },
            "a pickling error (`Can't pickle ... <lambda>`)".to_string(),
            "Replace the lambda with a function defined at module level (a `def`), and \
             pass the values it needs as arguments (`args=`, or `functools.partial` of \
             that function)."
                .to_string(),
        ),
        LocalCallable::Nested(f) => (
            format!(
                "`{}`{partial}, defined inside `{}`,",
                f.name.name,
                inside(f.scope)
            ),
            format!(
                "`AttributeError: Can't pickle local object '{}'`",
                qualname(model, &f.name.name, f.scope)
            ),
            format!(
                "Move `{}` to module level, and pass what it used from the enclosing \
                 function as arguments (`args=`, or `functools.partial` of the \
                 module-level function).",
                f.name.name
            ),
        ),
        LocalCallable::LocalClass(c) => (
            format!(
                "the class `{}`{partial}, defined inside `{}`,",
                c.name.name,
                inside(c.scope)
            ),
            format!(
                "`AttributeError: Can't pickle local object '{}'`",
                qualname(model, &c.name.name, c.scope)
            ),
            format!(
                "Move the class `{}` to module level, and pass what it used from the \
                 enclosing function as arguments.",
                c.name.name
            ),
        ),
    };
    let help = format!(
        "{fix} Pickle sends a function or class by its qualified name, and the child \
         process looks that name up in the imported module; a lambda or a local \
         definition has no name it can find."
    );
    let (message, label, severity) = match handed {
        Handed::Task(method) => (
            format!(
                "{subject} cannot be pickled, and `{method}()` pickles every task's function, \
                 under every start method: it raises {error}; {}",
                match method {
                    "submit" => "the task never runs and the future's `result()` raises",
                    "apply_async" | "map_async" | "starmap_async" =>
                        "no task runs and the result's `get()` raises",
                    _ => "no task runs and the call raises",
                }
            ),
            "pickled with every task",
            Severity::Error,
        ),
        Handed::Target | Handed::Initializer => {
            let Some(methods) = methods else { return };
            let when = match handed {
                Handed::Target => "`start()` pickles the process's target",
                _ => "starting each worker pickles the pool's initializer",
            };
            if !methods.pickling().is_empty() {
                (
                    format!(
                        "{subject} cannot be pickled, and {} {when}: it raises {error}",
                        methods.describe_pickling()
                    ),
                    "pickled when the process starts",
                    Severity::Error,
                )
            } else if methods.pinned_to_fork() {
                (
                    format!(
                        "{subject} cannot be pickled: this works only because the code pins \
                         the fork start method (unavailable on Windows, unsafe on macOS); \
                         under spawn or forkserver {when}, and it raises {error}"
                    ),
                    "pickled under any other start method",
                    Severity::Warning,
                )
            } else {
                return;
            }
        }
    };
    let mut d = Diagnostic::new(Code::Rule(RuleCode::MP401), u.expr.range, message, label)
        .with_help(help)
        .with_no_fix("moving a definition to module level changes what it can see: do it by hand");
    if severity == Severity::Warning {
        d = d.with_severity(severity);
    }
    cx.report(d);
}
