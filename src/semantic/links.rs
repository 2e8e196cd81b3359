//! Which code runs where: every place a function of this file is handed to a process, a
//! thread or a pool, or simply called, with the arguments that bind its parameters.
//!
//! `Process(target=f, args=(q,))` binds `f`'s first parameter to `q`; so does
//! `pool.apply_async(f, (q,))`, `executor.submit(f, q)`, `functools.partial(f, q)` and a
//! plain `f(q)`. Rules ask "which processes run `f`?" and "what reaches parameter `i`?";
//! [`crate::semantic::objects`] uses the second to follow queues and locks into targets.

use rustc_hash::FxHashMap as HashMap;

use crate::ast::*;
use crate::semantic::mp::{MpClass, StartMethod};
use crate::semantic::{Model, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchKind {
    /// The target of a `Process` (or the `run` of a `Process` subclass): a child process.
    Process,
    /// The target of a `Thread` or a thread pool's task: same process, another thread.
    Thread,
    /// A task of a process pool or `ProcessPoolExecutor`.
    PoolTask,
    /// A plain call from code in this file.
    Call,
}

impl LaunchKind {
    /// Whether the function runs in another process than the code that launches it.
    pub fn in_child_process(self) -> bool {
        matches!(self, LaunchKind::Process | LaunchKind::PoolTask)
    }
}

/// One place where a function of this file is run.
#[derive(Debug)]
pub struct Launch<'a> {
    pub kind: LaunchKind,
    pub target: &'a FunctionDef,
    /// The call that launches it: the `Process(...)` constructor, the pool method, the call.
    pub site: &'a Expr,
    /// The scope `site` is evaluated in.
    pub scope: ScopeId,
    /// Parameter index to the argument expression (evaluated in `scope`).
    pub bindings: Vec<(usize, &'a Expr)>,
    /// Whether it may run more than once at the same time: a launch inside a loop or a
    /// comprehension, or a pool's `map` family.
    pub repeated: bool,
}

impl<'a> Launch<'a> {
    /// For a pool task, the class of the pool or executor it is handed to
    /// ([`MpClass::Pool`] for a `multiprocessing.Pool` and drop-ins).
    pub fn pool_class(&self, model: &Model<'a>) -> Option<MpClass> {
        if self.kind != LaunchKind::PoolTask {
            return None;
        }
        if let Some(class) = self.initializer_of(model) {
            return Some(class);
        }
        let ExprKind::Attribute { value, .. } = &self.site.as_call()?.func.kind else {
            return None;
        };
        model.resolve(value, self.scope).instance().map(|(c, _)| c)
    }

    /// Whether a process pool can pickle the target at all: a function defined inside
    /// another function cannot be found by name in the worker (`Can't pickle local
    /// object`), so such a task never runs.
    pub fn target_picklable(&self, model: &Model<'a>) -> bool {
        !crate::semantic::pickling::defined_in_function(model, self.target.scope)
    }

    /// The start method the launch's own context names: the process's, or the pool's
    /// (`get_context("spawn").Pool`, `mp_context=`), when it names one.
    pub fn context_method(&self, model: &Model<'a>) -> Option<StartMethod> {
        let made = match self.kind {
            LaunchKind::Process => self.site,
            LaunchKind::PoolTask if self.initializer_of(model).is_some() => self.site,
            LaunchKind::PoolTask => match &self.site.as_call()?.func.kind {
                ExprKind::Attribute { value, .. } => value,
                _ => return None,
            },
            _ => return None,
        };
        model.resolve(made, self.scope).instance()?.1
    }

    /// For the `initializer=` of a pool or an executor (the site is its constructor; it
    /// runs once in every worker, before any task), the class of that pool.
    pub fn initializer_of(&self, model: &Model<'a>) -> Option<MpClass> {
        if self.kind != LaunchKind::PoolTask {
            return None;
        }
        match model.resolve(self.site, self.scope).instance() {
            Some((class @ (MpClass::Pool | MpClass::ProcessPoolExecutor), _)) => Some(class),
            _ => None,
        }
    }
}

pub struct Links<'a> {
    pub launches: Vec<Launch<'a>>,
    by_target: HashMap<*const FunctionDef, Vec<usize>>,
}

const POOL_APPLY: [&str; 3] = ["apply", "apply_async", "submit"];
const POOL_MAP: [&str; 8] = [
    "map",
    "map_async",
    "imap",
    "imap_unordered",
    "starmap",
    "starmap_async",
    "istarmap",
    "uimap",
];

impl<'a> Links<'a> {
    pub fn new(model: &Model<'a>) -> Self {
        let mut launches = Vec::new();
        walk(
            &model.module.body,
            ScopeId::MODULE,
            false,
            &mut |expr, scope, in_loop| {
                if let Some(call) = expr.as_call() {
                    launches.extend(launch_of(model, expr, call, scope, in_loop));
                }
            },
        );
        let mut by_target: HashMap<*const FunctionDef, Vec<usize>> = HashMap::default();
        for (i, l) in launches.iter().enumerate() {
            by_target.entry(l.target as *const _).or_default().push(i);
        }
        Self {
            launches,
            by_target,
        }
    }

    /// Every launch of `f`.
    pub fn of(&self, f: &FunctionDef) -> impl Iterator<Item = &Launch<'a>> {
        self.by_target
            .get(&(f as *const _))
            .into_iter()
            .flatten()
            .map(|&i| &self.launches[i])
    }

    /// The functions `f` calls directly.
    fn callees(&self, f: &'a FunctionDef) -> impl Iterator<Item = &'a FunctionDef> + '_ {
        self.launches
            .iter()
            .filter(move |l| l.kind == LaunchKind::Call && l.scope == f.scope)
            .map(|l| l.target)
    }

    /// `f` and every function of this file it calls, directly or not.
    pub fn reachable(&self, f: &'a FunctionDef) -> Vec<&'a FunctionDef> {
        let mut out = vec![f];
        let mut i = 0;
        while i < out.len() {
            for g in self.callees(out[i]) {
                if !out.iter().any(|h| std::ptr::eq(*h, g)) {
                    out.push(g);
                }
            }
            i += 1;
        }
        out
    }

    /// The launches that run `f` in a child process, directly or through calls from
    /// another function that does.
    pub fn child_launches(&self, f: &'a FunctionDef) -> Vec<&Launch<'a>> {
        self.launches
            .iter()
            .filter(|l| l.kind.in_child_process())
            .filter(|l| self.reachable(l.target).iter().any(|g| std::ptr::eq(*g, f)))
            .collect()
    }
}

/// Visits every expression with its scope and whether it sits in a loop of that scope.
fn walk<'a>(
    body: &'a [Stmt],
    scope: ScopeId,
    in_loop: bool,
    on: &mut dyn FnMut(&'a Expr, ScopeId, bool),
) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => {
                for d in &f.decorators {
                    walk_expr(d, scope, in_loop, on);
                }
                walk(&f.body, f.scope, false, on);
            }
            StmtKind::ClassDef(c) => {
                for e in c.decorators.iter().chain(&c.bases) {
                    walk_expr(e, scope, in_loop, on);
                }
                walk(&c.body, c.scope, false, on);
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
                ..
            } => {
                walk_expr(iter, scope, in_loop, on);
                walk_expr(target, scope, true, on);
                walk(body, scope, true, on);
                walk(orelse, scope, in_loop, on);
            }
            StmtKind::While { test, body, orelse } => {
                walk_expr(test, scope, true, on);
                walk(body, scope, true, on);
                walk(orelse, scope, in_loop, on);
            }
            _ => crate::semantic::exec::for_each_child(stmt, |child| match child {
                crate::semantic::exec::Child::Expr(e) => walk_expr(e, scope, in_loop, on),
                crate::semantic::exec::Child::Block(b) => walk(b, scope, in_loop, on),
            }),
        }
    }
}

fn walk_expr<'a>(
    expr: &'a Expr,
    scope: ScopeId,
    in_loop: bool,
    on: &mut dyn FnMut(&'a Expr, ScopeId, bool),
) {
    on(expr, scope, in_loop);
    match &expr.kind {
        ExprKind::Lambda(l) => walk_expr(&l.body, l.scope, false, on),
        ExprKind::Comprehension(c) => {
            for (i, g) in c.generators.iter().enumerate() {
                let at = if i == 0 { scope } else { c.scope };
                walk_expr(&g.iter, at, in_loop || i > 0, on);
                for cond in &g.ifs {
                    walk_expr(cond, c.scope, true, on);
                }
            }
            walk_expr(&c.element, c.scope, true, on);
            if let Some(k) = &c.key {
                walk_expr(k, c.scope, true, on);
            }
        }
        _ => crate::semantic::exec::for_each_subexpr(expr, |e| walk_expr(e, scope, in_loop, on)),
    }
}

fn launch_of<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    call: &'a Call,
    scope: ScopeId,
    in_loop: bool,
) -> Vec<Launch<'a>> {
    let mut out = Vec::new();
    let launch = |kind, target, bindings, repeated| Launch {
        kind,
        target,
        site: expr,
        scope,
        bindings,
        repeated,
    };
    // Pool and executor methods.
    if let Some(sub) = submission(model, call, scope) {
        let name = sub.method;
        if let Some(callable) = callable(model, sub.func, scope) {
            let kind = sub.kind;
            let mapped = POOL_MAP.contains(&name);
            let target = callable.f;
            let bindings = if mapped {
                callable.bindings
            } else {
                let extra: Vec<&'a Expr> = if name == "submit" {
                    call.args.get(1..).unwrap_or_default().iter().collect()
                } else {
                    call.argument(1, "args").map(sequence).unwrap_or_default()
                };
                callable.bind(extra)
            };
            out.push(launch(kind, target, bindings, mapped || in_loop));
            return out;
        }
    }
    if let ExprKind::Attribute { value, attr } = &call.func.kind {
        // `self.helper(x)`: a call of another method of the same class.
        if let Some(f) = self_method(model, value, &attr.name, scope) {
            let skip = usize::from(!is_staticmethod(f));
            out.push(launch(
                LaunchKind::Call,
                f,
                bind_call(f, call, skip),
                in_loop,
            ));
            return out;
        }
        // Otherwise a method call launches something only through a class named like a
        // process, a thread, or a pool with an initializer (`mp.Process`, `ctx.Process`,
        // `threading.Thread`, `multiprocessing.Pool`): the rest are not resolved.
        let launcher = ["Process", "Thread", "Pool", "Executor"]
            .iter()
            .any(|end| attr.name.ends_with(end));
        if !launcher {
            return out;
        }
    }
    match model.resolve(&call.func, scope) {
        Value::Function(f) => out.push(launch(LaunchKind::Call, f, bind_call(f, call, 0), in_loop)),
        Value::Class(class) => {
            if let Some(init) = model.method(class, "__init__") {
                out.push(launch(
                    LaunchKind::Call,
                    init,
                    bind_call(init, call, 1),
                    in_loop,
                ));
            }
            let process = matches!(model.tracked_base(class, 0), Some((MpClass::Process, _)));
            if process && let Some(run) = model.method(class, "run") {
                out.push(launch(LaunchKind::Process, run, Vec::new(), in_loop));
            }
        }
        callee @ Value::Object { .. } => {
            let class = callee
                .canonical_path()
                .and_then(|p| crate::semantic::mp::class_of(&p));
            // `Pool(initializer=f, initargs=(...))`: `f` runs first in every worker.
            if let Some(class) = class
                && let Some((at, args_at)) = crate::semantic::mp::initializer_parameters(class)
                && let Some(init) = call.argument(at, "initializer")
                && let Some(callable) = callable(model, init, scope)
            {
                let args = call
                    .argument(args_at, "initargs")
                    .map(sequence)
                    .unwrap_or_default();
                out.push(launch(
                    LaunchKind::PoolTask,
                    callable.f,
                    callable.bind(args),
                    true,
                ));
                return out;
            }
            let kind = match class {
                Some(MpClass::Process) => LaunchKind::Process,
                Some(MpClass::Thread) => LaunchKind::Thread,
                _ => return out,
            };
            // Process(group, target, name, args, kwargs)
            if let Some(target) = call.argument(1, "target")
                && let Some(callable) = callable(model, target, scope)
            {
                let f = callable.f;
                let args = call.argument(3, "args").map(sequence).unwrap_or_default();
                out.push(launch(kind, f, callable.bind(args), in_loop));
            }
        }
        _ => {}
    }
    out
}

/// Work handed to a pool or an executor: `pool.apply_async(f, args, kwds)`,
/// `pool.map(f, items)`, `executor.submit(f, *args, **kwargs)`, `executor.map(f, *its)`.
pub struct Submission<'a> {
    /// [`LaunchKind::PoolTask`] for a process pool or executor, [`LaunchKind::Thread`] for
    /// a thread pool.
    pub kind: LaunchKind,
    pub method: &'a str,
    /// The callable handed over (a function, a bound method, a `functools.partial`).
    pub func: &'a Expr,
    /// The expressions a process pool pickles besides `func`: the argument tuple and
    /// dictionary, or the iterables whose items become arguments. Callbacks, `chunksize`
    /// and `timeout` stay in this process and are not part of it.
    pub payload: Vec<&'a Expr>,
}

/// The submission `call` makes, when it is a pool or executor method of a pool this file
/// knows.
pub fn submission<'a>(model: &Model<'a>, call: &'a Call, scope: ScopeId) -> Option<Submission<'a>> {
    let ExprKind::Attribute { value, attr } = &call.func.kind else {
        return None;
    };
    let method = attr.name.as_str();
    if !(POOL_APPLY.contains(&method) || POOL_MAP.contains(&method)) {
        return None;
    }
    let receiver = model.resolve(value, scope).instance().map(|(c, _)| c)?;
    let kind = match receiver {
        MpClass::Pool | MpClass::ProcessPoolExecutor => LaunchKind::PoolTask,
        MpClass::ThreadPool | MpClass::ThreadPoolExecutor => LaunchKind::Thread,
        _ => return None,
    };
    let func = call.argument(0, "func").or_else(|| call.keyword("fn"))?;
    let executor = matches!(
        receiver,
        MpClass::ProcessPoolExecutor | MpClass::ThreadPoolExecutor
    );
    let payload: Vec<&'a Expr> = match method {
        "submit" => call
            .args
            .get(1..)
            .unwrap_or_default()
            .iter()
            .chain(
                call.keywords
                    .iter()
                    .filter(|k| k.arg.as_ref().is_none_or(|a| a.name != "fn"))
                    .map(|k| &k.value),
            )
            .collect(),
        _ if executor => call.args.get(1..).unwrap_or_default().iter().collect(),
        "apply" | "apply_async" => [call.argument(1, "args"), call.argument(2, "kwds")]
            .into_iter()
            .flatten()
            .collect(),
        _ => call.argument(1, "iterable").into_iter().collect(),
    };
    Some(Submission {
        kind,
        method,
        func,
        payload,
    })
}

/// What `Process(group, target, name, args, kwargs)` hands its child, as written: the
/// items of a literal `args=` tuple or list and the keys and values of a literal
/// `kwargs=` dictionary. A `Process` subclass of this file takes whatever its own
/// constructor takes: all of its arguments.
pub fn process_arguments<'a>(model: &Model<'a>, call: &'a Call, scope: ScopeId) -> Vec<&'a Expr> {
    if let Value::Class(_) = model.resolve(&call.func, scope) {
        return call
            .args
            .iter()
            .chain(call.keywords.iter().map(|k| &k.value))
            .collect();
    }
    let mut out = Vec::new();
    for container in [call.argument(3, "args"), call.argument(4, "kwargs")]
        .into_iter()
        .flatten()
    {
        match &container.kind {
            ExprKind::Tuple(items)
            | ExprKind::List(items)
            | ExprKind::Dict { items, .. }
            | ExprKind::Other(items) => {
                out.extend(items.iter());
            }
            _ => {}
        }
    }
    out
}

/// The items of a literal tuple or list, as far as they are written out.
fn sequence(expr: &Expr) -> Vec<&Expr> {
    match &expr.kind {
        ExprKind::Tuple(items) | ExprKind::List(items) => items
            .iter()
            .take_while(|e| !matches!(e.kind, ExprKind::Starred(_)))
            .collect(),
        _ => Vec::new(),
    }
}

/// A function to run, with the parameters already bound and the index of the next
/// positional parameter.
struct Callable<'a> {
    f: &'a FunctionDef,
    bindings: Vec<(usize, &'a Expr)>,
    next: usize,
    /// Keywords bound by `functools.partial` (`None` for `**kwargs`).
    keywords: Vec<Option<&'a str>>,
    /// A partial binds `*args`: how many positional arguments are bound is unknown.
    open: bool,
}

impl<'a> Callable<'a> {
    /// Binds `args` to the next positional parameters.
    fn bind(mut self, args: impl IntoIterator<Item = &'a Expr>) -> Vec<(usize, &'a Expr)> {
        for arg in args {
            if matches!(arg.kind, ExprKind::Starred(_)) || self.next >= self.f.params.positional {
                break;
            }
            self.bindings.push((self.next, arg));
            self.next += 1;
        }
        self.bindings
    }
}

/// The function a callable expression runs, with the parameters it already binds:
/// a function, a bound method `self.work` (which binds `self`), or
/// `functools.partial(f, a, b)`.
fn callable<'a>(model: &Model<'a>, expr: &'a Expr, scope: ScopeId) -> Option<Callable<'a>> {
    match model.resolve(expr, scope) {
        Value::Function(f) => {
            return Some(Callable {
                f,
                bindings: Vec::new(),
                next: 0,
                keywords: Vec::new(),
                open: false,
            });
        }
        Value::Object { path, .. } if path == "functools.partial" => return None,
        _ => {}
    }
    match &expr.kind {
        ExprKind::Attribute { value, attr } => {
            let (f, next) = match self_method(model, value, &attr.name, scope) {
                // `self.helper` of a static method binds nothing.
                Some(f) if is_staticmethod(f) => (f, 0),
                Some(f) => (f, 1),
                None => instance_method(model, value, &attr.name, scope)?,
            };
            Some(Callable {
                f,
                bindings: Vec::new(),
                next,
                keywords: Vec::new(),
                open: false,
            })
        }
        ExprKind::Call(call) => {
            let callee = model.resolve(&call.func, scope);
            if callee.path() != Some("functools.partial") {
                return None;
            }
            let inner = callable(model, call.args.first()?, scope)?;
            let (f, next0) = (inner.f, inner.next);
            let mut keywords = inner.keywords.clone();
            for k in &call.keywords {
                keywords.push(k.arg.as_ref().map(|a| a.name.as_str()));
            }
            let open = inner.open
                || call.args[1..]
                    .iter()
                    .any(|a| matches!(a.kind, ExprKind::Starred(_)));
            let bindings = inner.bind(call.args[1..].iter());
            let next = next0 + bindings.iter().filter(|(i, _)| *i >= next0).count();
            Some(Callable {
                f,
                bindings,
                next,
                keywords,
                open,
            })
        }
        _ => None,
    }
}

/// `obj.name` where `obj` is an instance of a class of this file, or `Class.name`: the
/// method, with how many leading parameters the access binds (`self` or `cls`; none for
/// a static method or a method taken from the class). Other decorators: unknown.
fn instance_method<'a>(
    model: &Model<'a>,
    object: &'a Expr,
    name: &str,
    scope: ScopeId,
) -> Option<(&'a FunctionDef, usize)> {
    let (class, from_instance) = match model.resolve(object, scope) {
        Value::LocalInstance(class) => (class, true),
        Value::Class(class) => (class, false),
        _ => return None,
    };
    let f = model.method(class, name)?;
    let decorator = match f.decorators.as_slice() {
        [] => None,
        [d] => Some(d.as_name()?),
        _ => return None,
    };
    let next = match decorator {
        None => usize::from(from_instance),
        Some("staticmethod") => 0,
        Some("classmethod") => 1,
        Some(_) => return None,
    };
    Some((f, next))
}

fn is_staticmethod(f: &FunctionDef) -> bool {
    f.decorators
        .iter()
        .any(|d| d.as_name() == Some("staticmethod"))
}

/// A callable as a process or a pool calls it: the function, how many leading
/// positional parameters are bound already (`self`, a partial's arguments), and the
/// keywords a partial binds (`None`: it passes `**kwargs`, so anything may be bound).
pub struct BoundCallable<'a> {
    pub f: &'a FunctionDef,
    pub positional: usize,
    pub keywords: Vec<Option<&'a str>>,
}

/// The function of this file that `expr` runs when called, with what is bound already:
/// a function, a bound method (`self.work`, `worker.work`), `functools.partial(f, a,
/// k=v)`. `None` when it is anything else or a partial passes `*args`.
pub fn bound_callable<'a>(
    model: &Model<'a>,
    expr: &'a Expr,
    scope: ScopeId,
) -> Option<BoundCallable<'a>> {
    let c = callable(model, expr, scope)?;
    if c.open {
        return None;
    }
    Some(BoundCallable {
        f: c.f,
        positional: c.next,
        keywords: c.keywords,
    })
}

/// `self.name` inside a method: the method `name` of the same class (through bases
/// defined in this file).
fn self_method<'a>(
    model: &Model<'a>,
    object: &Expr,
    name: &str,
    scope: ScopeId,
) -> Option<&'a FunctionDef> {
    let (class, this) = model.method_of(model.enclosing_function(scope)?)?;
    if object.as_name() != Some(this) {
        return None;
    }
    model.method(class, name)
}

/// Binds a call's arguments to `f`'s parameters; `skip` leading parameters are bound
/// already (`self`).
fn bind_call<'a>(f: &'a FunctionDef, call: &'a Call, skip: usize) -> Vec<(usize, &'a Expr)> {
    let mut out = Vec::new();
    for (i, arg) in call.args.iter().enumerate() {
        if matches!(arg.kind, ExprKind::Starred(_)) || skip + i >= f.params.positional {
            break;
        }
        out.push((skip + i, arg));
    }
    for k in &call.keywords {
        let Some(name) = &k.arg else { continue };
        if let Some(index) = f
            .params
            .params
            .iter()
            .position(|p| p.name.name == name.name)
        {
            out.push((index, &k.value));
        }
    }
    out
}
