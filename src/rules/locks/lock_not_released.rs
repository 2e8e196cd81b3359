//! MP201 `lock-not-released`: a path after `X.acquire()` leaves the function without
//! `X.release()`.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix, Severity};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::cfg::{Edge, EscapeKind, NodeKind};
use crate::semantic::failure::Failure;
use crate::semantic::locks::{LockRef, blocks, locate, lock_of};
use crate::semantic::objects::MethodCall;
use crate::semantic::paths::{Closing, FunctionPaths};

pub struct LockNotReleased;

impl Rule for LockNotReleased {
    fn code(&self) -> RuleCode {
        RuleCode::MP201
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        for f in cx.model.functions() {
            check_function(cx, f);
        }
    }
}

fn check_function<'a>(cx: &mut Checker<'_, 'a>, f: &'a FunctionDef) {
    let objects = cx.objects;
    let calls = objects.method_calls(f.scope);
    let acquires: Vec<(MethodCall<'a>, LockRef<'a>)> = calls
        .iter()
        .filter(|mc| mc.method == "acquire")
        .filter_map(|mc| Some((*mc, lock_of(objects, f, mc)?)))
        .collect();
    if acquires.is_empty() {
        return;
    }
    let mut paths: Option<Option<FunctionPaths<'a>>> = None;
    for (acquire, lock) in acquires {
        // A function that never releases the lock hands that job to another one (an
        // `__enter__` with its `__exit__`, `start` with `stop`, a semaphore used as a
        // signal): nothing to pair here.
        // A function that releases only in the `except` handler of its `try:
        // X.acquire()` (giving the lock back when taking it failed) acquires for its
        // caller: `logging._prepareFork`.
        let handlers = handler_ranges(&f.body);
        let releases = calls.iter().any(|mc| {
            mc.method == "release"
                && lock.holds(objects, mc)
                && !handlers
                    .iter()
                    .any(|h| h.start <= mc.expr.range.start && mc.expr.range.end <= h.end)
        });
        if !releases {
            continue;
        }
        // A semaphore that a function elsewhere releases without acquiring it counts
        // slots handed on (an `ack` callback, a consumer in another process): it is meant
        // to stay taken past this function on the paths that return normally. Only an
        // exception is then a leak. (A plain lock gets no such pass: an early return that
        // keeps it held is the rule's central case, `__exit__` or not.)
        let paired = lock.may_count() && lock.released_elsewhere(objects, f);
        // `for _ in range(n): sem.acquire()` takes several slots (or several locks) on
        // purpose: coming back to the acquire is the loop's job. Released by a loop over
        // the same iterable, the counts match by construction.
        let counted = counting_loop(f, &acquire);
        if let Some(iter) = counted
            && calls.iter().any(|mc| {
                mc.method == "release"
                    && lock.holds(objects, mc)
                    && counting_loop(f, mc).is_some_and(|i| cx.text(i.range) == cx.text(iter.range))
            })
        {
            continue;
        }
        let accept = |e: &crate::semantic::cfg::Escape| {
            (!paired || e.by_exception) && !(counted.is_some() && e.kind == EscapeKind::Again)
        };
        let paths = paths.get_or_insert_with(|| FunctionPaths::new(objects, f));
        let Some(paths) = paths.as_ref() else { return };
        let on_lock = |mc: &MethodCall<'a>| lock.holds(objects, mc);
        for node in paths.nodes_of(&acquire) {
            let Some(first) = acquired_on(paths, node, &acquire) else {
                continue;
            };
            if let Some(escape) = paths.unclosed_by(
                cx.model,
                node,
                first,
                &on_lock,
                &Closing {
                    methods: &["release"],
                    also: &|_| false,
                    accept: &accept,
                },
            ) {
                report(cx, f, paths, &acquire, escape);
                break;
            }
        }
    }
}

/// The iterable of the `for` loop whose whole body is calls of `mc`'s method (`for _ in
/// range(n): sem.acquire()`), if `mc` stands in one.
fn counting_loop<'a>(f: &'a FunctionDef, mc: &MethodCall<'a>) -> Option<&'a Expr> {
    // `while sem.acquire(False): pass` takes every slot there is, on purpose.
    if let Some(test) = draining_loop(&f.body, mc.expr) {
        return Some(test);
    }
    let (suite, _, parent) = locate(&f.body, mc.expr, None)?;
    let StmtKind::For { iter, body, .. } = &parent?.kind else {
        return None;
    };
    let same_method = |s: &Stmt| match &s.kind {
        StmtKind::Expr(e) => e.as_call().is_some_and(
            |c| matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == mc.method),
        ),
        _ => false,
    };
    let only_that = std::ptr::eq(suite, &body[..]) && body.iter().all(same_method);
    only_that.then_some(iter)
}

/// The ranges of the `except` handler bodies of every `try` in `body` whose body is one
/// `acquire()` alone (nested definitions aside): releasing there gives back a lock whose
/// taking failed.
fn handler_ranges(body: &[Stmt]) -> Vec<Range> {
    let mut out = Vec::new();
    for stmt in body {
        if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            continue;
        }
        if let StmtKind::Try {
            body: try_body,
            handlers,
            ..
        } = &stmt.kind
            && let [only] = try_body.as_slice()
            && let StmtKind::Expr(e) = &only.kind
            && e.as_call().is_some_and(|c| {
                matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "acquire")
            })
        {
            for h in handlers {
                if let (Some(first), Some(last)) = (h.body.first(), h.body.last()) {
                    out.push(Range::new(first.range.start, last.range.end));
                }
            }
        }
        crate::semantic::exec::for_each_child(stmt, |c| {
            if let crate::semantic::exec::Child::Block(b) = c {
                out.extend(handler_ranges(b));
            }
        });
    }
    out
}

/// The test of a `while` loop that is `acquire` itself and whose body does nothing else
/// (`pass`, or more acquires).
fn draining_loop<'a>(body: &'a [Stmt], acquire: &Expr) -> Option<&'a Expr> {
    body.iter().find_map(|stmt| match &stmt.kind {
        StmtKind::While { test, body, .. } if std::ptr::eq(test, acquire) => body
            .iter()
            .all(|s| matches!(s.kind, StmtKind::Pass))
            .then_some(test),
        StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => None,
        _ => {
            let mut found = None;
            crate::semantic::exec::for_each_child(stmt, |c| {
                if let crate::semantic::exec::Child::Block(b) = c
                    && found.is_none()
                {
                    found = draining_loop(b, acquire);
                }
            });
            found
        }
    })
}

/// The edges out of the acquire's node on which the lock is held: after a statement
/// `X.acquire()` that blocks, the normal edge; after `if X.acquire(...)`, the true edge
/// (`if not X.acquire(...)`, the false one). `None` when the result goes elsewhere.
fn acquired_on(
    paths: &FunctionPaths<'_>,
    node: usize,
    acquire: &MethodCall<'_>,
) -> Option<&'static [Edge]> {
    let call = acquire.expr;
    match paths.cfg.nodes[node].kind {
        NodeKind::Stmt(Stmt {
            kind: StmtKind::Expr(e),
            ..
        }) if std::ptr::eq(e, call) => blocks(acquire.call).then_some(&[Edge::Normal][..]),
        NodeKind::Test(test) if std::ptr::eq(test, call) => Some(&[Edge::True][..]),
        NodeKind::Test(Expr {
            kind: ExprKind::Not(inner),
            ..
        }) if std::ptr::eq(&**inner, call) => Some(&[Edge::False][..]),
        _ => None,
    }
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    f: &'a FunctionDef,
    paths: &FunctionPaths<'a>,
    acquire: &MethodCall<'a>,
    escape: crate::semantic::cfg::Escape,
) {
    let lock = cx.text(acquire.receiver.range).to_string();
    let culprit = paths.blame(cx.model, &escape);
    let (why, label) = crate::rules::explain_escape(
        cx,
        paths,
        &escape,
        culprit,
        &crate::rules::Wording {
            closing: "the release",
            state: &format!("`{lock}` stays held"),
            with_state: &format!("with `{lock}` held"),
            again: (
                "the loop comes back to `acquire()` with it still held",
                &format!("the next round acquires `{lock}` again without releasing it"),
            ),
            body: "the function",
        },
    );
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP201),
        acquire.expr.range,
        format!("`{lock}` is not released on every path: {why}"),
        "acquired here",
    )
    .with_help(format!(
        "a lock that is never released blocks every other process or thread that \
         acquires it, forever and without a message; a multiprocessing lock held by a \
         process that died is never released either. Use `with {lock}:` around the \
         critical section, or call `{lock}.release()` in a `finally:` right after \
         `{lock}.acquire()`."
    ));
    if let (Some((_, range)), Some(label)) = (culprit, label) {
        d = d.with_annotation(range, label);
    }
    if escape.failure == Failure::Possible {
        d = d.with_severity(Severity::Warning);
    }
    let fix = if escape.by_exception {
        with_fix(cx, f, acquire)
    } else {
        None
    };
    if fix.is_none() {
        d = d.with_no_fix(if escape.by_exception {
            "`with` fits only when `acquire()` and `release()` are statements of one block \
             with straight-line code between them; move the release into a `finally:` by hand"
        } else {
            "a path that leaves without an exception keeps the lock on purpose or by \
             mistake, and only a reader can tell which: restructure it by hand"
        });
    }
    cx.report(d.with_fix(fix));
}

/// `X.acquire()` ... `X.release()` as statements of one suite, with only straight-line
/// code between them, becomes `with X:` around that code.
fn with_fix<'a>(cx: &Checker<'_, 'a>, f: &'a FunctionDef, acquire: &MethodCall<'a>) -> Option<Fix> {
    if !acquire.call.args.is_empty() || !acquire.call.keywords.is_empty() {
        return None;
    }
    let (suite, start, _) = locate(&f.body, acquire.expr, None)?;
    let lock_text = cx.text(acquire.receiver.range);
    let end = suite[start + 1..]
        .iter()
        .position(|s| is_release_of(cx, s, lock_text))?
        + start
        + 1;
    let between = &suite[start + 1..end];
    if between.is_empty() || between.iter().any(|s| jumps_or_touches(cx, s, lock_text)) {
        return None;
    }
    let acquire_stmt = &suite[start];
    let release_stmt = &suite[end];
    let text = &cx.source.text;
    // Whole lines: from the acquire's line start to the end of the release's line.
    let line_start = text[..acquire_stmt.range.start as usize]
        .rfind(['\n', '\r'])
        .map_or(0, |i| i + 1);
    let indent = &text[line_start..acquire_stmt.range.start as usize];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let inner_start = text[acquire_stmt.range.end as usize..]
        .find('\n')
        .map(|i| acquire_stmt.range.end as usize + i + 1)?;
    let release_line_start = text[..release_stmt.range.start as usize]
        .rfind('\n')
        .map(|i| i + 1)?;
    // Nothing else may share the acquire's or the release's line; a comment after the
    // acquire moves to the `with` line.
    let trailing = text[acquire_stmt.range.end as usize..inner_start].trim();
    if !(trailing.is_empty() || trailing.starts_with('#'))
        || text[release_line_start..release_stmt.range.start as usize].trim() != ""
    {
        return None;
    }
    let inner = &text[inner_start..release_line_start];
    // Indenting the lines of a multi-line string or a continued line would change it.
    if inner.contains("\"\"\"")
        || inner.contains("'''")
        || inner.contains("\\\n")
        || inner.contains("\\\r\n")
    {
        return None;
    }
    let unit = if indent.contains('\t') { "\t" } else { "    " };
    let newline = if text[..inner_start].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let comment = if trailing.is_empty() {
        String::new()
    } else {
        format!("  {trailing}")
    };
    let mut content = format!("with {lock_text}:{comment}{newline}");
    for line in inner.split_inclusive('\n') {
        if line.trim().is_empty() {
            content.push_str(line);
        } else {
            content.push_str(unit);
            content.push_str(line);
        }
    }
    // The release line's own line ending stays: the replaced range stops before it.
    let release_end = text[release_stmt.range.end as usize..]
        .find(['\r', '\n'])
        .map_or(text.len(), |i| release_stmt.range.end as usize + i);
    if text[release_stmt.range.end as usize..release_end].trim() != "" {
        return None;
    }
    // Drop the trailing newline of the last inner line: the release line's own newline
    // follows the replaced range.
    while content.ends_with('\n') || content.ends_with('\r') {
        content.pop();
    }
    Some(Fix::new(
        Applicability::Safe,
        format!("Use `with {lock_text}:` around the critical section"),
        vec![Edit {
            range: Range::new(acquire_stmt.range.start, release_end as u32),
            content,
        }],
    ))
}

fn is_release_of(cx: &Checker<'_, '_>, stmt: &Stmt, lock_text: &str) -> bool {
    let StmtKind::Expr(e) = &stmt.kind else {
        return false;
    };
    let Some(call) = e.as_call() else {
        return false;
    };
    matches!(&call.func.kind, ExprKind::Attribute { value, attr }
        if attr.name == "release" && cx.text(value.range) == lock_text)
        && call.args.is_empty()
        && call.keywords.is_empty()
}

/// Whether a statement leaves the block early, or uses the lock itself (then `with` would
/// not mean the same).
fn jumps_or_touches(cx: &Checker<'_, '_>, stmt: &Stmt, lock_text: &str) -> bool {
    if cx.text(stmt.range).contains(lock_text) {
        return true;
    }
    let mut found = false;
    visit(stmt, &mut |s| {
        found |= matches!(
            s.kind,
            StmtKind::Return(_)
                | StmtKind::Break
                | StmtKind::Continue
                | StmtKind::Raise { .. }
                | StmtKind::Global(_)
                | StmtKind::Nonlocal(_)
        );
    });
    found || cx.text(stmt.range).contains("yield")
}

fn visit(stmt: &Stmt, f: &mut dyn FnMut(&Stmt)) {
    f(stmt);
    if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return;
    }
    crate::semantic::exec::for_each_child(stmt, |c| {
        if let crate::semantic::exec::Child::Block(b) = c {
            for s in b {
                visit(s, f);
            }
        }
    });
}
