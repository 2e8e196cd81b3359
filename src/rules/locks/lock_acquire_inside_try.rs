//! MP204 `lock-acquire-inside-try`: `X.acquire()` inside the `try:` whose `finally:`
//! releases `X`, so an interrupted acquire releases a lock this code does not hold.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::locks::{LockRef, blocks, locate, lock_of};
use crate::semantic::objects::MethodCall;

pub struct LockAcquireInsideTry;

impl Rule for LockAcquireInsideTry {
    fn code(&self) -> RuleCode {
        RuleCode::MP204
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        for f in cx.model.functions() {
            for acquire in cx.objects.method_calls(f.scope) {
                if acquire.method != "acquire" || !blocks(acquire.call) {
                    continue;
                }
                if let Some(lock) = lock_of(cx.objects, f, &acquire) {
                    check(cx, f, &acquire, &lock);
                }
            }
        }
    }
}

fn check<'a>(
    cx: &mut Checker<'_, 'a>,
    f: &'a FunctionDef,
    acquire: &MethodCall<'a>,
    lock: &LockRef<'a>,
) {
    let Some((suite, index, Some(parent))) = locate(&f.body, acquire.expr, None) else {
        return;
    };
    let StmtKind::Try {
        body, finalbody, ..
    } = &parent.kind
    else {
        return;
    };
    if !std::ptr::eq(suite, &body[..]) {
        return;
    }
    // A `X.release()` statement of the `finally` body itself.
    let releases = cx.objects.method_calls(f.scope).iter().any(|mc| {
        mc.method == "release"
            && finalbody
                .iter()
                .any(|s| matches!(&s.kind, StmtKind::Expr(e) if std::ptr::eq(e, mc.expr)))
            && lock.holds(cx.objects, mc)
    });
    if !releases {
        return;
    }
    let lock_text = cx.text(acquire.receiver.range).to_string();
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP204),
        acquire.expr.range,
        format!("`{lock_text}.acquire()` is inside the `try` whose `finally` releases it"),
        "if this is interrupted, the `finally` releases a lock this code does not hold",
    )
    .with_annotation(
        Range::new(parent.range.start, parent.range.start + 3),
        "the `finally` of this `try` releases it",
    )
    .with_help(format!(
        "when `acquire()` is interrupted (KeyboardInterrupt, a signal handler that raises, a \
         timeout), the `finally` still runs `{lock_text}.release()`: a multiprocessing Lock \
         held by another process is silently released under it, an RLock raises \
         AssertionError, and a semaphore is over-released. Call `{lock_text}.acquire()` just \
         before `try:`, or use `with {lock_text}:`."
    ));
    let fix = move_above(cx, parent, suite, index);
    if fix.is_none() {
        d = d.with_no_fix(
            "the fix moves the `acquire()` above the `try` only when it is the first \
             statement of the `try` body, alone on its line, with more statements after it",
        );
    }
    cx.report(d.with_fix(fix));
}

/// Moves the `acquire()` line to just above `try:`, at the `try`'s indentation. Nothing
/// changes on the paths where the acquire succeeds; where it fails, nothing is released.
fn move_above(cx: &Checker<'_, '_>, try_stmt: &Stmt, body: &[Stmt], index: usize) -> Option<Fix> {
    if index != 0 || body.len() < 2 {
        return None;
    }
    let text = &cx.source.text;
    let line_start = |offset: usize| text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let acquire = &body[0];
    let (start, end) = (acquire.range.start as usize, acquire.range.end as usize);
    let acquire_line = line_start(start);
    let line_end = text[end..].find('\n').map(|i| end + i + 1)?;
    let rest = text[end..line_end].trim();
    if text[acquire_line..start].trim() != "" || !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    let try_start = try_stmt.range.start as usize;
    let try_line = line_start(try_start);
    let indent = &text[try_line..try_start];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let newline = if text[..line_end].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let statement = text[start..line_end].trim_end();
    Some(Fix::new(
        Applicability::Safe,
        "Move the `acquire()` above the `try`",
        vec![
            Edit {
                range: Range::new(try_line as u32, try_line as u32),
                content: format!("{indent}{statement}{newline}"),
            },
            Edit {
                range: Range::new(acquire_line as u32, line_end as u32),
                content: String::new(),
            },
        ],
    ))
}
