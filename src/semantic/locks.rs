//! Locks as the lock rules see them: which calls are made on the same lock, whether an
//! `acquire()` waits, and where a statement stands in its function.

use crate::ast::*;
use crate::semantic::BindingKind;
use crate::semantic::mp::SharedKind;
use crate::semantic::objects::{MethodCall, Objects, Tracked};

/// The lock a call is made on: one whose construction the tracker follows, or one known
/// only by its use, `acquire()` and `release()` on a parameter or an attribute whose
/// origin is out of sight (a launch that does not fit, an attribute set elsewhere). The
/// less is known of where a lock came from, the more its use in the function speaks.
#[derive(Clone)]
pub enum LockRef<'a> {
    Made(Tracked<'a>),
    Shaped(&'a Expr),
}

impl<'a> LockRef<'a> {
    /// Whether a method call is made on this lock.
    pub fn holds(&self, objects: &Objects<'_, 'a>, mc: &MethodCall<'a>) -> bool {
        let tracked = objects.track(mc.receiver, mc.scope);
        match self {
            LockRef::Made(lock) => tracked.is_some_and(|t| t.same_object(lock)),
            LockRef::Shaped(receiver) => tracked.is_none() && same_path(mc.receiver, receiver),
        }
    }

    /// A semaphore that may count slots rather than guard a section.
    pub fn may_count(&self) -> bool {
        match self {
            LockRef::Made(lock) => matches!(
                lock.shared(),
                Some((SharedKind::Semaphore | SharedKind::BoundedSemaphore, _))
            ),
            // An attribute (`self.slots`) is the same object across the methods of its
            // class; a parameter's name says nothing outside its function.
            LockRef::Shaped(receiver) => matches!(receiver.kind, ExprKind::Attribute { .. }),
        }
    }

    /// Whether a function other than `f` releases the lock without acquiring it: slots
    /// handed on, or a hand-off by design.
    pub fn released_elsewhere(&self, objects: &Objects<'_, 'a>, f: &'a FunctionDef) -> bool {
        let model = objects.model;
        let (releases, acquires) = match self {
            LockRef::Made(t) => (
                objects.calls_on(t, &["release"]),
                objects.calls_on(t, &["acquire"]),
            ),
            // Known by its use: the calls spelled the same way in the same class or module.
            LockRef::Shaped(receiver) => {
                let home = model.parent(f.scope);
                let all: Vec<MethodCall<'a>> = model
                    .functions()
                    .filter(|g| model.parent(g.scope) == home)
                    .flat_map(|g| objects.method_calls(g.scope))
                    .filter(|mc| same_path(mc.receiver, receiver))
                    .collect();
                let of = |method: &str| {
                    all.iter()
                        .filter(|mc| mc.method == method)
                        .copied()
                        .collect::<Vec<_>>()
                };
                (of("release"), of("acquire"))
            }
        };
        let elsewhere = |mc: &MethodCall<'a>| model.enclosing_function(mc.scope) != Some(f.scope);
        releases.iter().filter(|r| elsewhere(r)).any(|r| {
            let there = model.enclosing_function(r.scope);
            !acquires
                .iter()
                .any(|a| model.enclosing_function(a.scope) == there)
        })
    }
}

/// The lock `acquire` (a call in `f`) is called on, if it is one.
pub fn lock_of<'a>(
    objects: &Objects<'_, 'a>,
    f: &'a FunctionDef,
    acquire: &MethodCall<'a>,
) -> Option<LockRef<'a>> {
    match objects.track(acquire.receiver, acquire.scope) {
        Some(t) if t.shared().is_some_and(|(k, _)| k.is_lock()) => Some(LockRef::Made(t)),
        Some(_) => None,
        None => lock_shaped(objects, f, acquire).then_some(LockRef::Shaped(acquire.receiver)),
    }
}

/// `X.acquire()` on a parameter of the function that nothing in it rebinds, or on an
/// attribute of a name (`self.lock`), with the arguments of a lock's `acquire` (blocking,
/// timeout) and a later `X.release()` without arguments: a connection pool's
/// `pool.release(conn)` takes what it gave out.
fn lock_shaped<'a>(
    objects: &Objects<'_, 'a>,
    f: &'a FunctionDef,
    acquire: &MethodCall<'a>,
) -> bool {
    let call = acquire.call;
    let lock_arguments = call.args.len() + call.keywords.len() <= 2
        && call.keywords.iter().all(|k| {
            k.arg
                .as_ref()
                .is_some_and(|a| matches!(a.name.as_str(), "block" | "blocking" | "timeout"))
        });
    if !lock_arguments {
        return false;
    }
    let receiver = acquire.receiver;
    let shaped = match &receiver.kind {
        ExprKind::Name(n) => objects
            .model
            .bindings_at(n, acquire.scope, u32::MAX)
            .is_some_and(|(found, bindings)| {
                found == f.scope
                    && matches!(bindings.as_slice(), [b] if matches!(b.kind, BindingKind::Param(_)))
            }),
        ExprKind::Attribute { value, .. } => value.as_name().is_some(),
        _ => false,
    };
    shaped
        && objects.method_calls(f.scope).iter().any(|mc| {
            mc.method == "release"
                && mc.call.args.is_empty()
                && mc.call.keywords.is_empty()
                && same_path(mc.receiver, receiver)
        })
}

/// `a` and `a`, `self.lock` and `self.lock`: the same name or attribute chain.
fn same_path(a: &Expr, b: &Expr) -> bool {
    match (&a.kind, &b.kind) {
        (ExprKind::Name(x), ExprKind::Name(y)) => x == y,
        (ExprKind::Attribute { value: v, attr: x }, ExprKind::Attribute { value: w, attr: y }) => {
            x.name == y.name && same_path(v, w)
        }
        _ => false,
    }
}

/// Whether `acquire(...)` waits for the lock (its result then carries no news).
pub fn blocks(call: &Call) -> bool {
    let flag = call
        .args
        .first()
        .or_else(|| call.keyword("block"))
        .or_else(|| call.keyword("blocking"));
    let waits = flag.is_none_or(|e| matches!(e.kind, ExprKind::Constant(Some(true))));
    let timeout = call.args.get(1).or_else(|| call.keyword("timeout"));
    waits && timeout.is_none_or(|e| matches!(e.kind, ExprKind::Constant(Some(false))))
}

/// Where the expression statement `expr` stands: its suite, its index there, and the
/// compound statement that owns the suite (none at the top of `body`).
pub fn locate<'a>(
    body: &'a [Stmt],
    expr: &Expr,
    parent: Option<&'a Stmt>,
) -> Option<(&'a [Stmt], usize, Option<&'a Stmt>)> {
    for (i, stmt) in body.iter().enumerate() {
        if let StmtKind::Expr(e) = &stmt.kind
            && std::ptr::eq(e, expr)
        {
            return Some((body, i, parent));
        }
        if !(stmt.range.start <= expr.range.start && expr.range.end <= stmt.range.end)
            || matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_))
        {
            continue;
        }
        let mut found = None;
        crate::semantic::exec::for_each_child(stmt, |c| {
            if found.is_none()
                && let crate::semantic::exec::Child::Block(b) = c
            {
                found = locate(b, expr, Some(stmt));
            }
        });
        if found.is_some() {
            return found;
        }
    }
    None
}
