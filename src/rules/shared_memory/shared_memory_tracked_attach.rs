//! MP303 `shared-memory-tracked-attach`: a program outside the creator's process tree
//! attaches to a segment by name with tracking on, so its own resource tracker unlinks the
//! segment when it exits (python/cpython#82300).

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::{Managed, SegmentKind};
use crate::semantic::segments::{self, NameSource, Opening, Segment, Tracking};

pub struct SharedMemoryTrackedAttach;

impl Rule for SharedMemoryTrackedAttach {
    fn code(&self) -> RuleCode {
        RuleCode::MP303
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    /// A segment is made by calling one of these classes, or a manager's method of that
    /// name.
    fn words(&self) -> &'static [&'static str] {
        &["SharedMemory", "ShareableList"]
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let all = segments::find(cx.model);
        if all.is_empty() || unregisters(cx) {
            return;
        }
        for seg in &all {
            if seg.opening != Opening::Attach
                || seg.managed != Managed::No
                || seg.tracking != Tracking::On
            {
                continue;
            }
            let Some(name) = seg.name else { continue };
            // In a multiprocessing child of this program, or opening a name this
            // program made: the creator's own tracker.
            if segments::runs_in_child(cx.objects, seg.scope)
                || segments::creator_of(cx.objects, &all, seg).is_some()
            {
                continue;
            }
            let Some(source) = segments::name_source(cx.objects, name, seg.scope, 0) else {
                continue;
            };
            if created_with_same_name(cx, &all, seg, name)
                || segments::tests_version(
                    cx.model,
                    &cx.model.module.body,
                    ScopeId::MODULE,
                    Some(seg.expr.range),
                )
                || cx
                    .model
                    .enclosing_function(seg.scope)
                    .and_then(|f| cx.model.function(f))
                    .is_some_and(|f| segments::tests_version(cx.model, &f.body, f.scope, None))
            {
                continue;
            }
            // A function nobody in this file calls may be run by another module, in a
            // child of the creator: only the command line says "a program of its own".
            if source != NameSource::CommandLine
                && !(looks_like_program(cx) && runs_as_program(cx, seg.scope))
            {
                continue;
            }
            report(cx, seg, source);
        }
    }
}

/// The pre-3.13 workaround is in use: the file calls `resource_tracker.unregister`
/// (or replaces `resource_tracker.register`) in code that is not a child of this program
/// (there it is MP304's mistake, not a workaround).
fn unregisters(cx: &Checker<'_, '_>) -> bool {
    let mut found = false;
    crate::semantic::exec::walk_all_exprs(&cx.model.module.body, ScopeId::MODULE, &mut |e, at| {
        // The cheap tests first: this runs for every attribute of the file.
        if let ExprKind::Attribute { attr, .. } = &e.kind
            && (attr.name == "unregister" || attr.name == "register")
            && cx.model.qualified_name(e, at).is_some_and(|q| {
                q == "multiprocessing.resource_tracker.unregister"
                    || q == "multiprocessing.resource_tracker.register"
            })
            && !segments::runs_in_child(cx.objects, at)
        {
            found = true;
        }
    });
    found
}

/// A segment of this file is created under the same name: this program is the creator
/// (or its twin), not a stranger.
fn created_with_same_name(
    cx: &Checker<'_, '_>,
    all: &[Segment<'_>],
    attach: &Segment<'_>,
    name: &Expr,
) -> bool {
    let text = |e: &Expr| cx.text(e.range).to_string();
    all.iter().any(|s| {
        s.opening != Opening::Attach
            && s.name.is_some_and(|n| {
                segments::same_name(cx.model, n, s.scope, name, attach.scope, &text)
            })
    })
}

fn report<'a>(cx: &mut Checker<'_, 'a>, seg: &Segment<'a>, source: NameSource) {
    let what = seg.kind.name();
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP303),
        seg.expr.range,
        format!(
            "`{what}` attaches by a name {} to a segment another program created, and \
             registers it with this process's own resource tracker: when this process \
             exits, its tracker unlinks the segment under the creator, which then gets \
             `FileNotFoundError` and the warning `resource_tracker: '/psm_...': [Errno 2] No \
             such file or directory`",
            source.describe()
        ),
        "attached with tracking on",
    )
    .with_help(
        "Only a multiprocessing child of the creator shares its resource tracker. A \
         program started any other way (by hand, `subprocess`, another service) gets its \
         own, and Python 3.8-3.12 register every attached segment there \
         (python/cpython#82300). From Python 3.13, pass `track=False` when attaching. \
         Before 3.13 there is no clean fix: call `resource_tracker.unregister(shm._name, \
         \"shared_memory\")` right after attaching, and only in a process outside the \
         creator's tree (inside it, the shared tracker crashes with `KeyError`: MP304); \
         or select on `sys.version_info >= (3, 13)`.",
    );
    let fix = track_false_fix(cx, seg);
    if fix.is_none() {
        d = d.with_no_fix(match seg.kind {
            SegmentKind::ShareableList => {
                "`ShareableList` has no `track` parameter: attach a `SharedMemory(name=..., \
                 track=False)` and read it, or unregister by hand"
            }
            SegmentKind::SharedMemory => {
                "`track=False` exists only from Python 3.13 (`TypeError` before) and \
                 `target-version` is older: set `target-version = \"py313\"`, or use the \
                 workaround in the help"
            }
        });
    }
    cx.report(d.with_fix(fix));
}

/// `track=False` added to the call, when every supported version has it.
fn track_false_fix(cx: &Checker<'_, '_>, seg: &Segment<'_>) -> Option<Fix> {
    if seg.kind != SegmentKind::SharedMemory || cx.settings.target.minor < 13 {
        return None;
    }
    // Right after the last argument: a trailing comma or a comment after it stays put.
    let last = seg
        .call
        .args
        .iter()
        .chain(seg.call.keywords.iter().map(|k| &k.value))
        .map(|e| e.range.end)
        .max()?;
    Some(Fix::new(
        Applicability::Safe,
        "Attach with `track=False`",
        vec![Edit {
            range: Range::new(last, last),
            content: ", track=False".to_string(),
        }],
    ))
}

/// Whether code in `scope` runs when this file runs as a program: module level, or a
/// function (or method) that code of this file calls, and so on up to module level.
fn runs_as_program(cx: &Checker<'_, '_>, scope: ScopeId) -> bool {
    let model = cx.model;
    let links = cx.objects.links();
    let mut todo = vec![scope];
    let mut seen = Vec::new();
    while let Some(at) = todo.pop() {
        let Some(f) = model.enclosing_function(at).and_then(|s| model.function(s)) else {
            return true;
        };
        if seen.contains(&f.scope) {
            continue;
        }
        seen.push(f.scope);
        todo.extend(links.of(f).map(|l| l.scope));
        // A method runs when its class is used: `Node().spin()`, `Reader(name)`.
        if let Some((class, _)) = model.method_of(f.scope) {
            crate::semantic::exec::walk_all_exprs(
                &model.module.body,
                ScopeId::MODULE,
                &mut |e, at| {
                    if let Some(call) = e.as_call()
                        && call.func.as_name() == Some(class.name.name.as_str())
                    {
                        todo.push(at);
                    }
                },
            );
        }
    }
    false
}

/// A script rather than a library module: it has a main guard, or defines nothing for
/// others to import.
fn looks_like_program(cx: &Checker<'_, '_>) -> bool {
    use crate::semantic::guard::{GuardTest, classify};
    let body = &cx.model.module.body;
    let defines = body
        .iter()
        .any(|s| matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)));
    let guarded = body.iter().any(|s| match &s.kind {
        StmtKind::If { branches } => branches.iter().any(|b| {
            b.test
                .as_ref()
                .is_some_and(|t| classify(t) == Some(GuardTest::OnlyAsMain))
        }),
        _ => false,
    });
    !defines || guarded
}
