//! MP404 `global-set-under-main-guard`: a child process reads a module-level name that
//! only the main program sets (under the main guard, or through `global` in a function
//! the parent runs), or a multiprocessing resource the module makes at import time
//! instead of being handed it. Under spawn and forkserver the child imports the module
//! again: the first is missing (`NameError`) or stale there, the second is a new object of
//! the child's own.

use std::collections::HashSet;

use crate::ast::*;
use crate::codes::{RuleCode, Severity};
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::globals::{ImportRun, Setter, child_functions};
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Family, Managed, MpClass, SharedKind};
use crate::semantic::start::{self, Methods};

pub struct GlobalSetUnderMainGuard;

impl Rule for GlobalSetUnderMainGuard {
    fn code(&self) -> RuleCode {
        RuleCode::MP404
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
        let import_run = ImportRun::new(model, links);
        let main_only = &import_run.main_only;
        let chosen = start::chosen(model);
        let mut found = Vec::new();
        for &(f, launch) in &children {
            let methods = Methods::of_launch(model, launch, chosen, cx.settings.start_methods);
            if !methods.reimport_matters() {
                continue;
            }
            let mut seen: HashSet<&str> = HashSet::new();
            exec::walk_all_exprs(&f.body, f.scope, &mut |e, scope| {
                let Some(name) = e.as_name() else { return };
                // A name only `global` statements bind has no binding of the module's own.
                let module_level = match model.binding_scope(name, scope) {
                    Some(s) => s == ScopeId::MODULE,
                    None => model
                        .functions()
                        .any(|g| model.declared_globals(g.scope).contains(&name)),
                };
                if seen.contains(name) || !module_level {
                    return;
                }
                seen.insert(name);
                let all = import_run.setters(model, name);
                // Set in a child too (a pool initializer's `global`): its own value.
                let set_in_child = all.iter().any(|s| {
                    matches!(s, Setter::Function(g)
                        if children.iter().any(|(c, _)| std::ptr::eq(*c, *g)))
                });
                if all.is_empty() || set_in_child {
                    return;
                }
                let import = all.iter().find_map(|s| match s {
                    Setter::Import { offset } => Some(*offset),
                    _ => None,
                });
                let parent = all
                    .iter()
                    .find(|s| !matches!(s, Setter::Import { .. }))
                    .copied();
                let why = match (import, parent) {
                    (None, Some(p)) => Why::Missing(p),
                    (Some(at), Some(p)) => Why::Stale(p, at),
                    (Some(_), None) => match resource(cx, e, scope) {
                        Some((what, made)) => Why::Resource(what, made),
                        None => return,
                    },
                    (None, None) => return,
                };
                found.push(Finding {
                    read: e,
                    name: name.to_string(),
                    reader: f,
                    kind: launch.kind,
                    methods,
                    why,
                });
            });
        }
        // A target defined under the guard: pickled by name, which the child cannot find.
        let mut targets: Vec<&FunctionDef> = Vec::new();
        for launch in links.launches.iter().filter(|l| l.kind.in_child_process()) {
            let f = launch.target;
            let at = f.name.range.start;
            if model.parent(f.scope) != Some(ScopeId::MODULE)
                || !main_only.iter().any(|r| r.start <= at && at < r.end)
                || targets.iter().any(|t| std::ptr::eq(*t, f))
            {
                continue;
            }
            let methods = Methods::of_launch(model, launch, chosen, cx.settings.start_methods);
            if !methods.reimport_matters() {
                continue;
            }
            targets.push(f);
            found.push(Finding {
                read: launch.site,
                name: f.name.name.clone(),
                reader: f,
                kind: launch.kind,
                methods,
                why: Why::TargetUnderGuard,
            });
        }
        for f in found {
            report(cx, f);
        }
    }
}

/// What a module-level name read by a child is, in the child.
enum Why<'a> {
    /// Only the main program sets it: the child has no such name.
    Missing(Setter<'a>),
    /// The import sets it (at this offset), the main program changes it.
    Stale(Setter<'a>, u32),
    /// A multiprocessing object the import makes: the child makes its own.
    Resource(Resource, &'a Expr),
    /// The function handed to the child is itself defined only under the main guard.
    TargetUnderGuard,
}

#[derive(Clone, Copy)]
enum Resource {
    Shared(SharedKind, Family),
    Segment,
}

struct Finding<'a> {
    read: &'a Expr,
    name: String,
    reader: &'a FunctionDef,
    kind: LaunchKind,
    methods: Methods,
    why: Why<'a>,
}

/// The multiprocessing object module-level `e` holds, with where it was made.
fn resource<'a>(cx: &Checker<'_, 'a>, e: &'a Expr, scope: ScopeId) -> Option<(Resource, &'a Expr)> {
    let tracked = cx.objects.track(e, scope)?;
    let what = match tracked.class {
        MpClass::Shared(kind, family @ (Family::Multiprocessing | Family::Proxy)) => {
            Resource::Shared(kind, family)
        }
        MpClass::Segment(_, Managed::No) => Resource::Segment,
        _ => return None,
    };
    let [site] = tracked.sites.as_slice() else {
        return None;
    };
    Some((what, site.call))
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    let name = &f.name;
    let reader = &f.reader.name.name;
    let child = match f.kind {
        LaunchKind::PoolTask => "a pool's worker process",
        _ => "a child process",
    };
    let pinned = f.methods.pickling().is_empty();
    let under = if pinned {
        "under spawn or forkserver (fork, which this code pins, does not exist on Windows and \
         is unsafe on macOS)"
            .to_string()
    } else {
        f.methods.describe_pickling()
    };
    let line = |offset: u32| cx.line_of(offset);
    let setter_text = |s: Setter<'a>| match s {
        Setter::MainOnly { offset } => format!("under the main guard (line {})", line(offset)),
        Setter::Function(g) => format!(
            "by `{}()` through `global` (line {}), which the parent runs",
            g.name.name,
            line(g.name.range.start)
        ),
        Setter::Import { offset } => format!("at line {}", line(offset)),
    };
    let setter_range = |s: Setter<'a>| match s {
        Setter::Function(g) => g.name.range,
        Setter::MainOnly { offset } | Setter::Import { offset } => Range {
            start: offset,
            end: offset,
        },
    };
    let (message, label, help, annotation) = match f.why {
        Why::Missing(s) => (
            format!(
                "`{name}` is set only {}, but `{reader}` reads it in {child}: {under} the \
                 child imports the main module again without running the main program, so \
                 `{name}` does not exist there: `NameError: name '{name}' is not defined`",
                setter_text(s)
            ),
            "missing in the child",
            format!(
                "Pass `{name}` to the child (`args=` for a process; `initializer=` and \
                 `initargs=` for a pool, the initializer setting the global), or set it at \
                 module level if it is a constant."
            ),
            (setter_range(s), "set only in the parent".to_string()),
        ),
        Why::Stale(s, at) => (
            format!(
                "`{name}` is changed {}, but `{reader}` reads it in {child}: {under} the \
                 child imports the main module again and sees `{name}` as the import sets it \
                 (line {}), not as the main program changed it",
                setter_text(s),
                line(at)
            ),
            "the import's value in the child",
            "Pass the value to the child (`args=` for a process; `initializer=` and \
             `initargs=` for a pool, the initializer setting the global) instead of \
             changing the global in the parent."
                .to_string(),
            (setter_range(s), "changed only in the parent".to_string()),
        ),
        Why::TargetUnderGuard => (
            format!(
                "`{name}` is defined under the main guard and handed to {child}: {under} the \
                 child looks it up by name in the main module, which it imports again \
                 without running the guarded code: `AttributeError: Can't get attribute \
                 '{name}' on <module '__mp_main__'>`"
            ),
            "defined only in the main program",
            format!("Define `{name}` at module level, above `if __name__ == \"__main__\":`."),
            (f.reader.name.range, "defined under the guard".to_string()),
        ),
        Why::Resource(what, made) => {
            let (thing, effect) = match what {
                Resource::Shared(kind, Family::Proxy) => (
                    format!("a manager's {}", kind.name()),
                    "the child starts a manager of its own, and what it changes never \
                     reaches the parent's"
                        .to_string(),
                ),
                Resource::Shared(kind, _)
                    if kind.is_lock()
                        || kind == SharedKind::Event
                        || kind == SharedKind::Barrier =>
                {
                    (
                        format!("a multiprocessing {}", kind.name()),
                        format!(
                            "the child makes a {} of its own, which excludes or signals nobody \
                         else",
                            kind.name()
                        ),
                    )
                }
                Resource::Shared(
                    kind
                    @ (SharedKind::Queue | SharedKind::JoinableQueue | SharedKind::SimpleQueue),
                    _,
                ) => (
                    format!("a multiprocessing {}", kind.name()),
                    "the child makes a queue of its own: what it puts never reaches the \
                     parent, and what the parent puts never reaches it"
                        .to_string(),
                ),
                Resource::Shared(kind, _) => (
                    format!("a multiprocessing {}", kind.name()),
                    format!(
                        "the child makes a {} of its own, and its changes never reach the \
                         parent",
                        kind.name()
                    ),
                ),
                Resource::Segment => (
                    "a shared memory segment".to_string(),
                    "the child creates a segment of its own, which nobody else sees".to_string(),
                ),
            };
            (
                format!(
                    "`{name}` is {thing} made at import time, and `{reader}` uses it in \
                     {child} without being given it: {under} the child imports the main \
                     module again, so {effect}"
                ),
                "a different object in the child",
                format!(
                    "Make `{name}` under the main guard and hand it over: \
                     `Process(target={reader}, args=({name},))`, or \
                     `Pool(initializer=init, initargs=({name},))` with `init` setting the \
                     global in each worker."
                ),
                (made.range, "made again by every import".to_string()),
            )
        }
    };
    let mut d = Diagnostic::new(Code::Rule(RuleCode::MP404), f.read.range, message, label)
        .with_annotation(annotation.0, annotation.1)
        .with_help(help)
        .with_no_fix("how the child should get the value is the program's decision");
    if pinned {
        d = d.with_severity(Severity::Warning);
    }
    cx.report(d);
}
