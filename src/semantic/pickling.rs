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
use crate::semantic::{BindingKind, Model, ScopeKind, Value};

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
    find(objects, expr, scope, Family::Multiprocessing, 0)
}

/// The first `threading` lock, event, condition, semaphore or barrier, or `queue` queue,
/// in `expr` or the containers it builds (as [`inheritance_only`] looks): none of them
/// can be pickled at all (`TypeError: cannot pickle '_thread.lock' object`).
pub fn thread_object<'a>(
    objects: &Objects<'_, 'a>,
    expr: &'a Expr,
    scope: ScopeId,
) -> Option<InheritanceOnly<'a>> {
    find(objects, expr, scope, Family::Threading, 0)
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
    family: Family,
    depth: u32,
) -> Option<InheritanceOnly<'a>> {
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some((kind, found)) = objects.shared(expr, scope)
        && found == family
        && refuses_pickling(kind)
    {
        return Some(InheritanceOnly { expr, kind });
    }
    let deeper = |e: &'a Expr, at: ScopeId| find(objects, e, at, family, depth + 1);
    match &expr.kind {
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            items.iter().find_map(|e| deeper(e, scope))
        }
        ExprKind::Starred(inner) => deeper(inner, scope),
        ExprKind::Named { value, .. } => deeper(value, scope),
        // Dictionaries, sets and `[x] * n`; also unary and binary operators, which no
        // synchronisation object supports.
        ExprKind::Other(children)
        | ExprKind::Dict {
            items: children, ..
        } => children.iter().find_map(|e| deeper(e, scope)),
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

/// Why pickle cannot find a callable by name in another process.
#[derive(Clone, Copy, Debug)]
pub enum LocalCallable<'a> {
    /// A `lambda`: pickled by name as `<lambda>`, which names nothing.
    Lambda,
    /// A function defined inside another function (`main.<locals>.inner`).
    Nested(&'a FunctionDef),
    /// A class defined inside a function.
    LocalClass(&'a ClassDef),
}

/// A callable that pickle refuses, and where in the expression it sits.
#[derive(Clone, Copy, Debug)]
pub struct Unpicklable<'a> {
    /// The lambda, or the name of the nested function or class.
    pub expr: &'a Expr,
    pub what: LocalCallable<'a>,
    /// Reached through `functools.partial(...)`, which pickles the function it wraps.
    pub through_partial: bool,
}

/// The part of callable `expr` that the standard pickle cannot send to another process:
/// a lambda, a function or class defined inside a function, or one of those wrapped in
/// `functools.partial`. Decorated definitions are left alone: a decorator may return
/// anything, including an object that pickles.
pub fn unpicklable_callable<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    scope: ScopeId,
) -> Option<Unpicklable<'a>> {
    local_callable(model, expr, scope, 0)
}

fn local_callable<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    scope: ScopeId,
    depth: u32,
) -> Option<Unpicklable<'a>> {
    if depth > 2 {
        return None;
    }
    let found = |what| {
        Some(Unpicklable {
            expr,
            what,
            through_partial: false,
        })
    };
    if let ExprKind::Lambda(_) = expr.kind {
        return found(LocalCallable::Lambda);
    }
    if let Some(call) = expr.as_call() {
        if model.resolve(&call.func, scope).path() != Some("functools.partial") {
            return None;
        }
        let inner = local_callable(model, call.args.first()?, scope, depth + 1)?;
        return Some(Unpicklable {
            through_partial: true,
            ..inner
        });
    }
    let in_function = |s: ScopeId| defined_in_function(model, s);
    match model.resolve(expr, scope) {
        Value::Function(f) if f.decorators.is_empty() && in_function(f.scope) => {
            found(LocalCallable::Nested(f))
        }
        Value::Class(c) if c.decorators.is_empty() && in_function(c.scope) => {
            found(LocalCallable::LocalClass(c))
        }
        Value::Unknown => {
            // `work = lambda x: ...`, bound once.
            let name = expr.as_name()?;
            let (_, bindings) = model.bindings_at(name, scope, expr.range.start)?;
            match bindings.as_slice() {
                [b] => match b.kind {
                    BindingKind::Assign(value) if matches!(value.kind, ExprKind::Lambda(_)) => {
                        found(LocalCallable::Lambda)
                    }
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// Whether the definition whose body is `scope` sits inside a function: pickle cannot
/// find it by name (`main.<locals>.inner`).
pub fn defined_in_function(model: &Model<'_>, scope: ScopeId) -> bool {
    model
        .parent(scope)
        .is_some_and(|p| model.scope_kind(p) == ScopeKind::Function)
}

/// Whether the file imports a drop-in that pickles with dill (`multiprocess`, `pathos`),
/// which sends lambdas and nested functions by value. Contexts and pools do not remember
/// which module made them, so a file that imports one is given the benefit of the doubt.
pub fn imports_dill_pickler(model: &Model<'_>) -> bool {
    crate::semantic::exec::imports_any(&model.module.body, &["multiprocess", "pathos", "dill"])
}
