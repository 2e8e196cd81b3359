//! MP501 `pool-exits-before-results`: asynchronous pool work started inside `with
//! Pool(...)` whose results the block never waits for: leaving the block terminates the
//! pool, and the work is dropped.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::mp::MpClass;
use crate::semantic::objects::{MethodCall, Tracked};

pub struct PoolExitsBeforeResults;

impl Rule for PoolExitsBeforeResults {
    fn code(&self) -> RuleCode {
        RuleCode::MP501
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let mut blocks = Vec::new();
        crate::semantic::segments::walk_stmts(
            &cx.model.module.body,
            ScopeId::MODULE,
            &mut |s, at| {
                if let StmtKind::With { items, body, .. } = &s.kind {
                    for item in items {
                        if let Some(pool) = cx.objects.track(&item.context, at)
                            && pool.class == MpClass::Pool
                        {
                            blocks.push((s, item, &body[..], pool));
                        }
                    }
                }
            },
        );
        for (stmt, item, body, pool) in blocks {
            check(cx, stmt, item, body, &pool);
        }
    }
}

/// The pool methods whose work runs after they return.
const ASYNC: [&str; 5] = [
    "apply_async",
    "map_async",
    "starmap_async",
    "imap",
    "imap_unordered",
];

fn check<'a>(
    cx: &mut Checker<'_, 'a>,
    with: &'a Stmt,
    item: &'a WithItem,
    body: &'a [Stmt],
    pool: &Tracked<'a>,
) {
    let Some(last) = body.last() else { return };
    let inside = Range::new(body[0].range.start, last.range.end);
    let objects = cx.objects;
    let in_block = |mc: &MethodCall<'a>| {
        inside.start <= mc.expr.range.start
            && mc.expr.range.end <= inside.end
            && objects
                .track(mc.receiver, mc.scope)
                .is_some_and(|t| t.same_object(pool))
    };
    let calls: Vec<MethodCall<'a>> = objects
        .every_method_call()
        .iter()
        .filter(|mc| in_block(mc))
        .copied()
        .collect();
    // `close()` and `join()` in the block: the work finishes before the exit.
    if calls.iter().any(|mc| mc.method == "join") {
        return;
    }
    for call in calls.iter().filter(|mc| ASYNC.contains(&mc.method)) {
        if let Some(how) = dropped(body, inside, call) {
            report(cx, with, item, body, call, how);
            // One finding per block: the fix and the cause are the same for all.
            return;
        }
    }
}

/// How the result of `call` goes unread inside the block, if it does.
fn dropped<'a>(body: &'a [Stmt], inside: Range, call: &MethodCall<'a>) -> Option<&'static str> {
    let (suite, index) = crate::semantic::segments::suite_of(body, call.expr.range)?;
    let stmt = &suite[index];
    let after = |name: &str| read_after(body, name, call.expr.range.end, inside);
    match &stmt.kind {
        StmtKind::Expr(e) if std::ptr::eq(e, call.expr) => Some("its result is dropped"),
        // `L.append(pool.apply_async(...))`
        StmtKind::Expr(e)
            if e.as_call().is_some_and(|c| {
                matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "append")
                    && c.args.first().is_some_and(|a| std::ptr::eq(a, call.expr))
            }) =>
        {
            let list = e.as_call().and_then(|c| match &c.func.kind {
                ExprKind::Attribute { value, .. } => value.as_name(),
                _ => None,
            })?;
            (!after(list)).then_some("the results are read only after the block")
        }
        StmtKind::Assign { targets, value } => {
            let [t] = targets.as_slice() else { return None };
            let name = t.as_name()?;
            // `r = pool.apply_async(...)`, or a comprehension of them.
            let direct = std::ptr::eq(value, call.expr);
            let comprehension = matches!(&value.kind, ExprKind::Comprehension(c)
                if std::ptr::eq(&c.element, call.expr));
            if !(direct || comprehension) {
                return None;
            }
            // Appended to a list that is read in the block is read too.
            let appended_to = appended_into(body, name, call.expr.range.end, inside);
            let read = after(name) || appended_to.is_some_and(after);
            (!read).then_some("the result is read only after the block, or never")
        }
        StmtKind::Return(Some(v)) if std::ptr::eq(v, call.expr) => {
            Some("it is returned out of the block")
        }
        _ => None,
    }
}

/// A name read (not only appended to another list) after `offset`, inside `inside`.
fn read_after(body: &[Stmt], name: &str, offset: u32, inside: Range) -> bool {
    let mut read = false;
    let mut appends: Vec<*const Expr> = Vec::new();
    exec::walk_all_exprs(body, ScopeId::MODULE, &mut |e, _| {
        if let Some(c) = e.as_call()
            && matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "append")
            && let Some(a) = c.args.first()
        {
            appends.push(a as *const Expr);
        }
    });
    exec::walk_all_exprs(body, ScopeId::MODULE, &mut |e, _| {
        if e.as_name() == Some(name)
            && e.range.start > offset
            && e.range.end <= inside.end
            && !appends.contains(&(e as *const Expr))
        {
            read = true;
        }
    });
    read
}

/// The list `name` is appended to after `offset` in the block (`results.append(r)`).
fn appended_into<'a>(body: &'a [Stmt], name: &str, offset: u32, inside: Range) -> Option<&'a str> {
    let mut found = None;
    exec::walk_all_exprs(body, ScopeId::MODULE, &mut |e, _| {
        if let Some(c) = e.as_call()
            && e.range.start > offset
            && e.range.end <= inside.end
            && let ExprKind::Attribute { value, attr } = &c.func.kind
            && attr.name == "append"
            && c.args.first().and_then(|a| a.as_name()) == Some(name)
        {
            found = value.as_name();
        }
    });
    found
}

fn report<'a>(
    cx: &mut Checker<'_, 'a>,
    with: &'a Stmt,
    item: &'a WithItem,
    body: &'a [Stmt],
    call: &MethodCall<'a>,
    how: &str,
) {
    let pool = cx.text(call.receiver.range).to_string();
    let method = call.method;
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP501),
        call.expr.range,
        format!(
            "`{pool}.{method}()` starts work inside `with`, and {how}: leaving the block \
             terminates the pool, so unfinished tasks are dropped without a word and \
             `get()` after the block waits forever"
        ),
        "work started here may never run",
    )
    .with_annotation(item.context.range, "its `__exit__` calls `terminate()`")
    .with_help(format!(
        "Read the results inside the block (`.get()`, or iterate an `imap`), or call \
         `{pool}.close()` and `{pool}.join()` as the last statements of the block, so that \
         the work finishes before `__exit__` terminates the pool."
    ));
    // Code after a `return` never runs: a returned iterator needs restructuring.
    let fix = if how.contains("returned") {
        None
    } else {
        close_and_join(cx, with, item, body)
    };
    if fix.is_none() {
        d = d.with_no_fix(
            "the block is not written one statement per line, or its pool has no name: add \
             `close()` and `join()` at its end by hand",
        );
    }
    cx.report(d.with_fix(fix));
}

/// `pool.close()` and `pool.join()` after the last statement of the block.
fn close_and_join(
    cx: &Checker<'_, '_>,
    with: &Stmt,
    item: &WithItem,
    body: &[Stmt],
) -> Option<Fix> {
    let name = item.target.as_ref()?.as_name()?;
    let last = body.last()?;
    let first = body.first()?;
    let text = &cx.source.text;
    let line_start = text[..first.range.start as usize].rfind('\n')? + 1;
    if line_start <= with.range.start as usize {
        return None;
    }
    let indent = &text[line_start..first.range.start as usize];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let end = text[last.range.end as usize..]
        .find('\n')
        .map_or(text.len(), |i| last.range.end as usize + i);
    let (end, newline) = if text[..end].ends_with('\r') {
        (end - 1, "\r\n")
    } else {
        (end, "\n")
    };
    Some(Fix::new(
        Applicability::Unsafe,
        format!("Close and join `{name}` at the end of the block"),
        vec![Edit {
            range: Range::new(end as u32, end as u32),
            content: format!("{newline}{indent}{name}.close(){newline}{indent}{name}.join()"),
        }],
    ))
}
