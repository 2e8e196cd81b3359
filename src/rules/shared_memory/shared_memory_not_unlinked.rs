//! MP301 `shared-memory-not-unlinked`: a segment the code creates is not unlinked on every
//! path of the code that creates it, and nothing else takes it over.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix, Severity};
use crate::rules::{Checker, Rule, Wants, Wording, explain_escape};
use crate::semantic::cfg::{Edge, Escape, EscapeKind};
use crate::semantic::failure::Failure;
use crate::semantic::mp::Managed;
use crate::semantic::objects::{MethodCall, Objects};
use crate::semantic::paths::{Closing, FunctionPaths};
use crate::semantic::segments::{self, Leaves, Opening, Segment, Tracking};

pub struct SharedMemoryNotUnlinked;

impl Rule for SharedMemoryNotUnlinked {
    fn code(&self) -> RuleCode {
        RuleCode::MP301
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
        for segment in &all {
            if segment.opening == Opening::Create && segment.managed == Managed::No {
                check(cx, &all, segment);
            }
        }
    }
}

fn check<'a>(cx: &mut Checker<'_, 'a>, all: &[Segment<'a>], segment: &Segment<'a>) {
    let objects = cx.objects;
    // Stored on `self`, returned, put in a list, passed on: someone else owns it now.
    let Some(name) = segments::bound_name(cx.model, segment) else {
        return;
    };
    if segments::leaves(objects, name, segment.scope).is_some() {
        return;
    }
    let object = segment.tracked();
    let unlinks = segments::calls_on(objects, &object, &["unlink"]);
    // Another handle of this process (or a child) opened by its name unlinks it:
    // `c = ShareableList(name=b.shm.name)` ... `c.shm.unlink()`.
    let unlinked_through_another_handle = all.iter().any(|other| {
        other.opening == Opening::Attach
            && segments::creator_of(objects, all, other)
                .is_some_and(|c| std::ptr::eq(c.expr, segment.expr))
            && !segments::calls_on(objects, &other.tracked(), &["unlink"]).is_empty()
    });
    if unlinked_through_another_handle {
        return;
    }
    // Its name sent to another process or program, with an unlink of some other
    // segment object in this file (the receiving side's): a hand-off protocol. A fixed
    // name given at creation is known to the other side already.
    let other_unlinks = objects.every_method_call().iter().any(|mc| {
        segments::is_unlink(mc)
            && !segments::is_on(objects, &object, mc)
            && receives_by_name(objects, all, mc)
    });
    match segments::name_leaves(objects, name, segment.scope) {
        // Returned or stored: whoever gets the name takes the segment over.
        Some((_, Leaves::Returned | Leaves::Stored)) => return,
        Some(_) if other_unlinks => return,
        None if other_unlinks && segment.name.is_some() => return,
        _ => {}
    }
    // Unregistered from the tracker on purpose: the segment is meant to outlive this
    // process, for another to unlink.
    if segments::unregistered(cx.model, name, segment.scope) {
        return;
    }
    let body_scope = cx.model.body_scope(segment.scope);
    let paths = match cx.model.function(body_scope) {
        Some(f) => FunctionPaths::new(objects, f),
        None if body_scope == ScopeId::MODULE => {
            FunctionPaths::for_body(objects, &cx.model.module.body, ScopeId::MODULE)
        }
        None => None,
    };
    let Some(paths) = paths else { return };
    let here: Vec<&MethodCall<'a>> = unlinks
        .iter()
        .filter(|mc| !paths.nodes_of(mc).is_empty())
        .collect();
    if unlinks.is_empty() {
        report_never(cx, segment, name);
        return;
    }
    if here.is_empty() {
        // Unlinked by another function (a cleanup method, a child): handed over.
        return;
    }
    // `if shm is not None: shm.unlink()`, `if owner: shm.unlink()` in a `finally`: the
    // test stands for the state the path cannot see; the unlink under it counts.
    let guarded: Vec<*const Expr> = guarding_tests(body_of(cx, body_scope), &here);
    let also = |id: usize| {
        matches!(paths.cfg.nodes[id].kind,
            crate::semantic::cfg::NodeKind::Test(t) if guarded.contains(&(t as *const Expr)))
    };
    // At module level an exception ends the program, and the tracker unlinks what it
    // tracks (with the warning, after the traceback that matters more).
    // In a function, a likely failure (I/O, a network call, code that raises on purpose)
    // is often caught by a caller that goes on running with the segment still linked; a
    // merely possible one (the program's own code) is not weighed, unless nothing else
    // would ever remove the segment (`track=False`).
    let untracked = segment.tracking == Tracking::Off;
    let exceptions_count = body_scope != ScopeId::MODULE || untracked;
    let accept = |e: &Escape| {
        !e.by_exception || (exceptions_count && (e.failure == Failure::Likely || untracked))
    };
    let on_object = |mc: &MethodCall<'a>| segments::is_on(objects, &object, mc);
    for node in paths.cfg.nodes_at(segment.expr.range) {
        if let Some(escape) = paths.unclosed_by(
            cx.model,
            node,
            &[Edge::Normal],
            &on_object,
            &Closing {
                methods: &["unlink"],
                also: &also,
                accept: &accept,
            },
        ) {
            report_path(cx, segment, name, &paths, escape);
            return;
        }
    }
}

/// Whether a method call is made on a segment that came by name from somewhere this
/// file cannot see (a receiving side of a hand-off): an object the analysis cannot follow,
/// or one opened by name whose creator is not in this file. Segments the file creates, and
/// second handles of them, are no hand-off.
fn receives_by_name<'a>(
    objects: &Objects<'_, 'a>,
    all: &[Segment<'a>],
    mc: &MethodCall<'a>,
) -> bool {
    let Some(t) = segments::receiver_object(objects, mc) else {
        return true;
    };
    let sites = segments::sites_of(all, &t);
    sites.len() == t.sites.len()
        && sites.iter().all(|s| {
            s.opening == Opening::Attach && segments::creator_of(objects, all, s).is_none()
        })
}

fn consequence(segment: &Segment<'_>) -> &'static str {
    if segment.tracking == Tracking::Off {
        "with `track=False` nothing else will: the segment stays in /dev/shm, holding \
         its memory, until the machine reboots"
    } else {
        "the segment holds its memory until the resource tracker removes it at exit, \
         warning `There appear to be N leaked shared_memory objects to clean up at \
         shutdown` (and stays for good if the tracker is killed too)"
    }
}

fn help(segment: &Segment<'_>, name: &str) -> String {
    let unlink = segment.unlink_text(name);
    format!(
        "`close()` only unmaps this process's view; the segment itself lives until \
         `unlink()` is called, once, by its owner. Call `{unlink}` when no process needs \
         it any more, in a `finally:` so that an exception does not skip it, or let a \
         `with SharedMemoryManager() as smm:` block own it (`smm.SharedMemory(size=...)`)."
    )
}

fn report_never<'a>(cx: &mut Checker<'_, 'a>, segment: &Segment<'a>, name: &str) {
    let what = segment.kind.name();
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP301),
        segment.expr.range,
        format!(
            "`{name}` ({what} created here) is never unlinked: {}",
            consequence(segment)
        ),
        "created here; nothing unlinks it",
    )
    .with_help(help(segment, name));
    let fix = unlink_after_close(cx, segment, name);
    if fix.is_none() {
        d = d.with_no_fix(
            "the unlink belongs where no process needs the segment any more, which only a \
             reader can tell: there is no `close()` of it in the same block to put it after",
        );
    }
    cx.report(d.with_fix(fix));
}

fn report_path<'a>(
    cx: &mut Checker<'_, 'a>,
    segment: &Segment<'a>,
    name: &str,
    paths: &FunctionPaths<'a>,
    escape: Escape,
) {
    let culprit = paths.blame(cx.model, &escape);
    let (why, label) = explain_escape(
        cx,
        paths,
        &escape,
        culprit,
        &Wording {
            closing: "the unlink",
            state: &format!("`{name}` is never unlinked"),
            with_state: &format!("without unlinking `{name}`"),
            again: (
                "the loop comes back and creates another segment before unlinking this one",
                &format!("the next round replaces `{name}` while its segment is still linked"),
            ),
            body: if cx.model.function(segment.scope).is_some()
                || cx.model.enclosing_function(segment.scope).is_some()
            {
                "the function"
            } else {
                "the program"
            },
        },
    );
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP301),
        segment.expr.range,
        format!(
            "`{name}` is not unlinked on every path: {why}; {}",
            consequence(segment)
        ),
        "created here",
    )
    .with_help(help(segment, name));
    if let (Some((_, range)), Some(label)) = (culprit, label) {
        d = d.with_annotation(range, label);
    }
    if escape.by_exception && escape.failure == Failure::Possible
        || escape.kind == EscapeKind::Again
    {
        d = d.with_severity(Severity::Warning);
    }
    cx.report(d.with_no_fix(
        "moving the unlink into a `finally:` changes the structure of the code: do it by hand",
    ));
}

/// `name.unlink()` (or `name.shm.unlink()`) on its own line right after the last
/// `name.close()` statement, when that close is in the block that creates the segment
/// and nothing after it uses the segment.
fn unlink_after_close<'a>(cx: &Checker<'_, 'a>, segment: &Segment<'a>, name: &str) -> Option<Fix> {
    let body = cx.model.body(cx.model.body_scope(segment.scope))?;
    let (suite, _) = segments::suite_of(body, segment.expr.range)?;
    let close_text = match segment.kind {
        crate::semantic::mp::SegmentKind::SharedMemory => format!("{name}.close()"),
        crate::semantic::mp::SegmentKind::ShareableList => format!("{name}.shm.close()"),
    };
    let (index, close) =
        suite.iter().enumerate().rev().find(|(_, s)| {
            matches!(&s.kind, StmtKind::Expr(_)) && cx.text(s.range) == close_text
        })?;
    if suite[index + 1..]
        .iter()
        .any(|s| mentions(cx.text(s.range), name))
    {
        return None;
    }
    let text = &cx.source.text;
    let line_start = text[..close.range.start as usize]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let indent = &text[line_start..close.range.start as usize];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let line_end = text[close.range.end as usize..]
        .find('\n')
        .map_or(text.len(), |i| close.range.end as usize + i);
    if !text[close.range.end as usize..line_end].trim().is_empty() {
        return None;
    }
    let (end, newline) = if text[..line_end].ends_with('\r') {
        (line_end - 1, "\r\n")
    } else {
        (line_end, "\n")
    };
    Some(Fix::new(
        Applicability::Unsafe,
        format!("Unlink the segment after `{close_text}`"),
        vec![Edit {
            range: Range::new(end as u32, end as u32),
            content: format!("{newline}{indent}{}", segment.unlink_text(name)),
        }],
    ))
}

/// Whether `text` mentions the identifier `name` as a whole word.
fn mentions(text: &str, name: &str) -> bool {
    text.match_indices(name).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + name.len()..].chars().next();
        let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !word(before) && !word(after)
    })
}

fn body_of<'a>(cx: &Checker<'_, 'a>, scope: ScopeId) -> &'a [Stmt] {
    cx.model.body(scope).unwrap_or(&[])
}

/// The tests of the `if` statements whose branch holds one of `unlinks`.
fn guarding_tests(body: &[Stmt], unlinks: &[&MethodCall<'_>]) -> Vec<*const Expr> {
    let mut out = Vec::new();
    for stmt in body {
        if let StmtKind::If { branches } = &stmt.kind {
            for b in branches {
                if let Some(test) = &b.test
                    && unlinks.iter().any(|u| {
                        b.range.start <= u.expr.range.start && u.expr.range.end <= b.range.end
                    })
                {
                    out.push(test as *const Expr);
                }
            }
        }
        if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            continue;
        }
        crate::semantic::exec::for_each_child(stmt, |c| {
            if let crate::semantic::exec::Child::Block(b) = c {
                out.extend(guarding_tests(b, unlinks));
            }
        });
    }
    out
}
