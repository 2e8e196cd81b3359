//! MP305 `shared-memory-buffer-escapes`: a view of a segment's buffer outlives the
//! `SharedMemory` object that maps it, or the object is closed while a view exports it.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::Diagnostic;
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::mp::SegmentKind;
use crate::semantic::segments::{self, Segment};
use crate::semantic::{BindingKind, exec};

pub struct SharedMemoryBufferEscapes;

impl Rule for SharedMemoryBufferEscapes {
    fn code(&self) -> RuleCode {
        RuleCode::MP305
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
        for seg in &all {
            if seg.kind != SegmentKind::SharedMemory {
                continue;
            }
            let Some(name) = segments::bound_name(cx.model, seg) else {
                continue;
            };
            let Some(body) = cx.model.body(seg.scope) else {
                continue;
            };
            let code = Code {
                body,
                scope: seg.scope,
            };
            // A view leaves a function; at module level it lives as long as the program.
            if cx.model.function(seg.scope).is_some() {
                escapes(cx, seg, &code, name);
            }
            closed_while_exported(cx, seg, &code, name);
        }
    }
}

/// The body the segment is bound in: a function's, or the module's.
struct Code<'a> {
    body: &'a [Stmt],
    scope: ScopeId,
}

/// What a view of the buffer is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    /// `shm.buf` itself: the object's own memoryview, released by its `close()`.
    Whole,
    /// A memoryview made from the buffer (a slice, a cast): holds an export of the mapping.
    Export,
    /// `np.ndarray(buffer=...)`: points into the mapping and holds nothing.
    Pointer,
}

/// A view made from another: the buffer itself becomes an export; an array stays one.
fn exported(v: View) -> View {
    match v {
        View::Whole => View::Export,
        other => other,
    }
}

/// Whether `e` (in `f`) is a view into `name.buf`, and which kind.
fn view<'a>(
    cx: &Checker<'_, 'a>,
    e: &'a Expr,
    f: &Code<'a>,
    name: &str,
    depth: u32,
) -> Option<View> {
    if depth > 6 {
        return None;
    }
    let buf_of_name = |e: &Expr| {
        matches!(&e.kind, ExprKind::Attribute { value, attr }
            if attr.name == "buf" && value.as_name() == Some(name))
    };
    if buf_of_name(e) {
        return Some(View::Whole);
    }
    match &e.kind {
        ExprKind::Subscript { value, index } if cx.text(index.range).contains(':') => {
            view(cx, value, f, name, depth + 1).map(exported)
        }
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            items.iter().find_map(|i| view(cx, i, f, name, depth + 1))
        }
        ExprKind::Call(call) => {
            let callee = match &call.func.kind {
                ExprKind::Name(n) => n.as_str(),
                ExprKind::Attribute { attr, .. } => attr.name.as_str(),
                _ => return None,
            };
            match callee {
                "memoryview" => view(cx, call.args.first()?, f, name, depth + 1).map(exported),
                "ndarray" => {
                    let buffer = call.argument(2, "buffer")?;
                    view(cx, buffer, f, name, depth + 1).map(|_| View::Pointer)
                }
                "frombuffer" => {
                    view(cx, call.argument(0, "buffer")?, f, name, depth + 1).map(exported)
                }
                // Views of a view.
                "cast" | "reshape" | "view" | "toreadonly" => {
                    let ExprKind::Attribute { value, .. } = &call.func.kind else {
                        return None;
                    };
                    view(cx, value, f, name, depth + 1).map(exported)
                }
                _ => None,
            }
        }
        ExprKind::Name(n) => {
            let (found, bindings) = cx.model.bindings_at(n, f.scope, e.range.start)?;
            if found != f.scope {
                return None;
            }
            let [b] = bindings.as_slice() else {
                return None;
            };
            match &b.kind {
                BindingKind::Assign(v) => view(cx, v, f, name, depth + 1),
                _ => None,
            }
        }
        _ => None,
    }
}

fn escapes<'a>(cx: &mut Checker<'_, 'a>, seg: &Segment<'a>, f: &Code<'a>, name: &str) {
    if segments::leaves(cx.objects, name, seg.scope).is_some()
        || segments::method_handed_on(cx.model, name, seg.scope)
    {
        return;
    }
    let mut found: Option<(Range, View, &'static str)> = None;
    walk_own(f.body, &mut |stmt| {
        if found.is_some() {
            return;
        }
        match &stmt.kind {
            StmtKind::Return(Some(v)) => {
                if let Some(kind) = view(cx, v, f, name, 0) {
                    found = Some((stmt.range, kind, "returned"));
                }
            }
            StmtKind::Assign { targets, value } => {
                // `out[:] = view` and `dst.buf[:8] = src.buf[:8]` copy; `d[k] = view` and
                // `self.arr = view` keep the view.
                let local = |e: &Expr| {
                    e.as_name()
                        .is_some_and(|n| cx.model.binding_scope(n, f.scope) == Some(f.scope))
                };
                let stored = targets.iter().any(|t| match &t.kind {
                    ExprKind::Attribute { .. } => true,
                    // Into a container of this function's own: it goes where that goes.
                    ExprKind::Subscript { value, index } => {
                        !cx.text(index.range).contains(':') && !local(value)
                    }
                    _ => false,
                });
                if stored && let Some(kind) = view(cx, value, f, name, 0) {
                    found = Some((stmt.range, kind, "stored"));
                }
            }
            _ => {}
        }
    });
    let Some((range, kind, how)) = found else {
        return;
    };
    let what = match kind {
        View::Whole => {
            "when the function ends, `SharedMemory.__del__` closes the segment and releases \
             this memoryview: the caller's first use raises `ValueError: operation forbidden \
             on released memoryview object`"
        }
        View::Pointer => {
            "the array points into memory that is unmapped when the function ends and \
             `SharedMemory.__del__` closes the segment: the first access crashes the \
             interpreter (segmentation fault)"
        }
        View::Export => {
            "when the function ends, `SharedMemory.__del__` tries to close a mapping that \
             the view still exports and prints `Exception ignored in: <function \
             SharedMemory.__del__ ...> BufferError: cannot close exported pointers exist`; \
             the mapping and its file descriptor then live as long as the view"
        }
    };
    let line = cx.line_of(seg.expr.range.start);
    cx.report(
        Diagnostic::new(
            crate::diagnostics::Code::Rule(RuleCode::MP305),
            range,
            format!(
                "a view of `{name}.buf` is {how} here, but `{name}` (the SharedMemory of line \
                 {line}) stays local: {what}"
            ),
            format!("the view of `{name}.buf` leaves the function"),
        )
        .with_annotation(seg.expr.range, "dropped when the function ends")
        .with_help(format!(
            "Keep the SharedMemory object alive as long as any view of its buffer: return or \
             store `{name}` with the view (a small class holding both), and close it only \
             after the views are gone; or return a copy (`bytes(...)`, `.copy()`)."
        ))
        .with_no_fix("which object should own the segment is a design choice: restructure by hand"),
    );
}

fn closed_while_exported<'a>(
    cx: &mut Checker<'_, 'a>,
    seg: &Segment<'a>,
    f: &Code<'a>,
    name: &str,
) {
    // The views bound to names of this function, with where they are bound.
    let mut views: Vec<(&'a str, Range, View)> = Vec::new();
    walk_own(f.body, &mut |stmt| {
        if let StmtKind::Assign { targets, value } = &stmt.kind
            && let [t] = targets.as_slice()
            && let Some(n) = t.as_name()
            && let Some(kind) = view(cx, value, f, name, 0)
            && !matches!(&value.kind, ExprKind::Attribute { attr, .. } if attr.name == "buf")
        {
            views.push((n, stmt.range, kind));
        }
    });
    if views.is_empty() {
        return;
    }
    let closes: Vec<_> = cx
        .objects
        .method_calls(f.scope)
        .into_iter()
        .filter(|mc| mc.method == "close" && mc.receiver.as_name() == Some(name))
        .filter(|mc| {
            cx.objects
                .track(mc.receiver, mc.scope)
                .is_some_and(|t| t.same_object(&seg.tracked()))
        })
        .collect();
    for close in closes {
        let at = close.expr.range.start;
        for (view_name, bound, kind) in &views {
            if bound.end > at {
                continue;
            }
            let between = Range::new(bound.end, at);
            let released = released_between(f, view_name, between);
            let used_after =
                kind == &View::Pointer && !released && used_after(f, view_name, close.expr.range);
            let problem = match kind {
                View::Export | View::Whole if !released => Some(
                    "raises `BufferError: cannot close exported pointers exist` (the object is \
                     left half-closed)",
                ),
                View::Pointer if used_after => Some(
                    "unmaps the memory the array points into, and the array is used after it: \
                     that access crashes the interpreter (segmentation fault)",
                ),
                _ => None,
            };
            if let Some(problem) = problem {
                cx.report(
                    Diagnostic::new(
                        crate::diagnostics::Code::Rule(RuleCode::MP305),
                        close.expr.range,
                        format!(
                            "`{name}.close()` while `{view_name}` (line {}) is a live view of \
                             its buffer: it {problem}",
                            cx.line_of(bound.start)
                        ),
                        format!("`{view_name}` still views the buffer here"),
                    )
                    .with_annotation(*bound, "view made here")
                    .with_help(format!(
                        "Drop every view first (`del {view_name}`, or `{view_name}.release()` \
                         for a memoryview), or take a copy (`bytes(...)`, `.copy()`) before \
                         closing."
                    ))
                    .with_no_fix("where the view's last use is needs a reader: release it by hand"),
                );
                break;
            }
        }
    }
}

/// `del view` or `view.release()` within `range`, or the name bound again.
fn released_between(f: &Code<'_>, view: &str, range: Range) -> bool {
    let mut released = false;
    walk_own(f.body, &mut |stmt| {
        if stmt.range.start < range.start || stmt.range.end > range.end {
            return;
        }
        match &stmt.kind {
            StmtKind::Delete(targets) if targets.iter().any(|t| t.as_name() == Some(view)) => {
                released = true
            }
            StmtKind::Assign { targets, .. }
                if targets.iter().any(|t| t.as_name() == Some(view)) =>
            {
                released = true
            }
            StmtKind::Expr(e)
                if e.as_call().is_some_and(|c| {
                    matches!(&c.func.kind, ExprKind::Attribute { value, attr }
                        if attr.name == "release" && value.as_name() == Some(view))
                }) =>
            {
                released = true
            }
            // `with view:` releases a memoryview when the block ends.
            StmtKind::With { items, .. }
                if items.iter().any(|i| i.context.as_name() == Some(view)) =>
            {
                released = true
            }
            _ => {}
        }
    });
    released
}

/// Whether the name is read after the close, in the statements that follow it.
fn used_after(f: &Code<'_>, view: &str, close: Range) -> bool {
    // Only what follows the close in its own block, up to a new binding of the name:
    // another branch of an `if` never runs after it.
    let Some((suite, index)) = segments::suite_of(f.body, close) else {
        return false;
    };
    for stmt in &suite[index + 1..] {
        let rebinds = match &stmt.kind {
            StmtKind::Assign { targets, .. } => targets.iter().any(|t| t.as_name() == Some(view)),
            StmtKind::Delete(targets) => targets.iter().any(|t| t.as_name() == Some(view)),
            _ => false,
        };
        let mut reads = false;
        let mut visit = |e: &Expr, _| {
            if e.as_name() == Some(view) {
                reads = true;
            }
        };
        match &stmt.kind {
            // The value is evaluated before the name is bound again.
            StmtKind::Assign { value, .. } => exec::walk_expr_tree(value, f.scope, &mut visit),
            StmtKind::Delete(_) => {}
            _ => exec::walk_all_exprs(std::slice::from_ref(stmt), f.scope, &mut visit),
        }
        if reads {
            return true;
        }
        if rebinds {
            return false;
        }
    }
    false
}

/// Every statement of a body, nested blocks included, nested definitions not.
fn walk_own<'a>(body: &'a [Stmt], on: &mut dyn FnMut(&'a Stmt)) {
    for stmt in body {
        on(stmt);
        if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
            continue;
        }
        exec::for_each_child(stmt, |c| {
            if let exec::Child::Block(b) = c {
                walk_own(b, on);
            }
        });
    }
}
