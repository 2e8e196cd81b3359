//! What cannot cross a process boundary by pickling.
//!
//! Locks, semaphores, conditions, events, barriers, queues and shared values of
//! `multiprocessing` refuse to be pickled outside of starting a process: their
//! `__getstate__`/`__reduce__` calls `assert_spawning`, which raises `RuntimeError: Lock
//! objects should only be shared between processes through inheritance`. They can be
//! handed to `Process(args=...)` and to a pool's `initargs=`, never to a pool task, an
//! executor, a queue or a pipe. Manager proxies pickle fine; pipes' connections too.

use crate::ast::*;
use crate::semantic::mp::{Family, SharedKind};
use crate::semantic::objects::Objects;

/// A part of a pickled value that only inheritance can pass on.
#[derive(Clone, Copy, Debug)]
pub struct InheritanceOnly<'a> {
    /// The expression that evaluates to the object.
    pub expr: &'a Expr,
    pub kind: SharedKind,
}

/// Whether pickling `kind` of `multiprocessing` outside of a process start raises.
pub fn refuses_pickling(kind: SharedKind) -> bool {
    !matches!(kind, SharedKind::Pipe | SharedKind::Connection)
}

/// The first object in `expr` that cannot be pickled for another process: `expr` itself,
/// or an item of the tuples, lists, sets and dictionaries it builds, of the elements of a
/// comprehension, of `[x] * n`, of `zip(...)`, `itertools.repeat(x)` and friends, or an
/// argument bound by `functools.partial`.
pub fn inheritance_only<'a>(
    objects: &Objects<'_, 'a>,
    expr: &'a Expr,
    scope: ScopeId,
) -> Option<InheritanceOnly<'a>> {
    find(objects, expr, scope, 0)
}

const MAX_DEPTH: u32 = 12;

/// Calls whose result holds their arguments (or items of them) as they are.
const CONTAINERS: [&str; 10] = [
    "zip",
    "list",
    "tuple",
    "set",
    "enumerate",
    "itertools.repeat",
    "itertools.zip_longest",
    "itertools.product",
    "itertools.chain",
    "functools.partial",
];

fn find<'a>(
    objects: &Objects<'_, 'a>,
    expr: &'a Expr,
    scope: ScopeId,
    depth: u32,
) -> Option<InheritanceOnly<'a>> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some((kind, Family::Multiprocessing)) = objects.shared(expr, scope)
        && refuses_pickling(kind)
    {
        return Some(InheritanceOnly { expr, kind });
    }
    let deeper = |e: &'a Expr, at: ScopeId| find(objects, e, at, depth + 1);
    match &expr.kind {
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            items.iter().find_map(|e| deeper(e, scope))
        }
        ExprKind::Starred(inner) => deeper(inner, scope),
        ExprKind::Named { value, .. } => deeper(value, scope),
        // Dictionaries, sets and `[x] * n`; also unary and binary operators, which no
        // synchronisation object supports.
        ExprKind::Other(children) => children.iter().find_map(|e| deeper(e, scope)),
        ExprKind::Comprehension(c) => {
            deeper(&c.element, c.scope).or_else(|| c.key.as_ref().and_then(|k| deeper(k, c.scope)))
        }
        ExprKind::IfExp { body, orelse, .. } => {
            deeper(body, scope).or_else(|| deeper(orelse, scope))
        }
        ExprKind::Call(call) if is_container(objects, &call.func, scope) => call
            .args
            .iter()
            .chain(call.keywords.iter().map(|k| &k.value))
            .find_map(|e| deeper(e, scope)),
        _ => None,
    }
}

fn is_container<'a>(objects: &Objects<'_, 'a>, func: &'a Expr, scope: ScopeId) -> bool {
    let model = objects.model;
    if let Some(name) = func.as_name()
        && model.binding_scope(name, scope).is_none()
    {
        return CONTAINERS.contains(&name);
    }
    model
        .resolve(func, scope)
        .path()
        .is_some_and(|p| CONTAINERS.contains(&p))
}

/// For a bound method of a class of this file (`self.work`, `counter.work`), the
/// attribute of its instances that cannot be pickled: pickling the method pickles the
/// instance, and with it every attribute its methods assign (`self.lock = Lock()`).
pub fn bound_method_state<'a>(
    objects: &Objects<'_, 'a>,
    method: &'a Expr,
    scope: ScopeId,
) -> Option<(&'a str, SharedKind)> {
    let model = objects.model;
    let ExprKind::Attribute { value, attr } = &method.kind else {
        return None;
    };
    let class = match model.resolve(value, scope) {
        crate::semantic::Value::LocalInstance(c) => c,
        _ => {
            let (c, this) = model.method_of(model.enclosing_function(scope)?)?;
            (value.as_name() == Some(this)).then_some(c)?
        }
    };
    model.method(class, &attr.name)?;
    // A class that chooses its pickled state may leave the lock out.
    if ["__getstate__", "__reduce__", "__reduce_ex__"]
        .iter()
        .any(|m| model.method(class, m).is_some())
    {
        return None;
    }
    model.attr_assigns().iter().find_map(|a| {
        let (owner, this) = model.method_of(a.scope)?;
        if !std::ptr::eq(owner, class) || a.object != this {
            return None;
        }
        let found = inheritance_only(objects, a.value, a.scope)?;
        Some((a.attr, found.kind))
    })
}

/// Whether `Process(..., args=..., kwargs=...)` hands the child a lock, queue, event or
/// shared value (which the child rebuilds by name when it starts).
pub fn hands_sync_objects<'a>(objects: &Objects<'_, 'a>, call: &'a Call, scope: ScopeId) -> bool {
    crate::semantic::links::process_arguments(objects.model, call, scope)
        .into_iter()
        .any(|item| inheritance_only(objects, item, scope).is_some())
}
