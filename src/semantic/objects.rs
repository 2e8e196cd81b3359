//! Object tracking: which expressions hold a queue, a pipe end, a lock, a shared value, a
//! process or a pool, and which construction made it.
//!
//! An object is identified by the call that created it (its *site*): two expressions
//! refer to the same queue when their sites meet. Names are followed through assignments,
//! `with ... as`, unpacking (`a, b = Pipe()`), loops over lists built by literals,
//! comprehensions or `append`, attributes on `self` set in any method of the class, and
//! parameters, through the launches and calls that bind them ([`Links`]). Whenever the
//! ways in disagree on what the object is, the answer is "unknown".

use rustc_hash::FxHashMap as HashMap;
use std::cell::{OnceCell, RefCell};

use crate::ast::*;
use crate::semantic::links::Links;
use crate::semantic::mp::{Family, MpClass, SharedKind};
use crate::semantic::{Binding, BindingKind, Model, Value};

/// Where an object was made: the constructor call, and for a pipe end its position in
/// `a, b = Pipe()`.
#[derive(Clone, Copy, Debug)]
pub struct Site<'a> {
    pub call: &'a Expr,
    pub part: Option<usize>,
}

impl PartialEq for Site<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.call, other.call) && self.part == other.part
    }
}

/// A tracked object: what it is and every construction it may come from.
#[derive(Clone, Debug)]
pub struct Tracked<'a> {
    pub class: MpClass,
    pub sites: Vec<Site<'a>>,
}

impl<'a> Tracked<'a> {
    /// Whether both may be the same object.
    pub fn same_object(&self, other: &Tracked<'a>) -> bool {
        self.sites.iter().any(|s| other.sites.contains(s))
    }

    /// Whether both come from the same construction, ignoring which end of a pipe.
    pub fn same_origin(&self, other: &Tracked<'a>) -> bool {
        self.sites
            .iter()
            .any(|s| other.sites.iter().any(|o| std::ptr::eq(s.call, o.call)))
    }

    pub fn shared(&self) -> Option<(SharedKind, Family)> {
        self.class.shared()
    }
}

/// How deep tracking follows names into names before giving up.
const MAX_DEPTH: u32 = 16;

/// The object tracker of one file, with the launches it follows parameters through.
pub struct Objects<'m, 'a> {
    pub model: &'m Model<'a>,
    links: OnceCell<Links<'a>>,
    every_call: OnceCell<Vec<MethodCall<'a>>>,
    calls: OnceCell<Vec<(&'a Expr, &'a Call, ScopeId)>>,
    /// Method calls by the body (function or module) they run in, from one walk.
    by_body: OnceCell<HashMap<ScopeId, Vec<MethodCall<'a>>>>,
    memo: RefCell<HashMap<(*const Expr, ScopeId), Option<Tracked<'a>>>>,
}

impl<'m, 'a> Objects<'m, 'a> {
    pub fn new(model: &'m Model<'a>) -> Self {
        Self {
            model,
            links: OnceCell::new(),
            every_call: OnceCell::new(),
            calls: OnceCell::new(),
            by_body: OnceCell::new(),
            memo: RefCell::default(),
        }
    }

    /// Every place a function of this file is launched or called (built on first use).
    pub fn links(&self) -> &Links<'a> {
        self.links.get_or_init(|| Links::new(self.model))
    }

    /// What `expr`, evaluated in `scope`, holds.
    pub fn track(&self, expr: &'a Expr, scope: ScopeId) -> Option<Tracked<'a>> {
        self.track_at(expr, scope, 0)
    }

    /// What `expr` holds inside the code of one launch: a parameter of the launched
    /// function is what this launch passes (not every launch of the function at once).
    pub fn track_in_launch(
        &self,
        expr: &'a Expr,
        scope: ScopeId,
        launch: &crate::semantic::links::Launch<'a>,
    ) -> Option<Tracked<'a>> {
        if scope == launch.target.scope
            && let Some(name) = expr.as_name()
            && let Some((found, bindings)) = self.model.bindings_at(name, scope, expr.range.start)
            && found == scope
            && let [b] = bindings.as_slice()
            && let BindingKind::Param(index) = b.kind
        {
            let (_, arg) = launch.bindings.iter().find(|(i, _)| *i == index)?;
            return self.track(arg, launch.scope);
        }
        self.track(expr, scope)
    }

    /// Whether `expr` is known without guessing: not a parameter, or a parameter that
    /// every launch and call of this file binds, each to an object the tracker follows
    /// (tracking a parameter otherwise lets the arguments it can follow speak for the
    /// ones it cannot). Fixes that change a call ask for this.
    pub fn known_everywhere(&self, expr: &'a Expr, scope: ScopeId) -> bool {
        let Some(name) = expr.as_name() else {
            return true;
        };
        let Some((found, bindings)) = self.model.bindings_at(name, scope, expr.range.start) else {
            return false;
        };
        let mut params = bindings.iter().filter_map(|b| match b.kind {
            BindingKind::Param(i) => Some(i),
            _ => None,
        });
        let Some(index) = params.next() else {
            return true;
        };
        let Some(f) = self.model.function(found) else {
            return false;
        };
        let launches: Vec<_> = self.links().of(f).collect();
        !launches.is_empty()
            && launches.iter().all(|l| {
                l.bindings
                    .iter()
                    .find(|(i, _)| *i == index)
                    .is_some_and(|(_, arg)| self.track(arg, l.scope).is_some())
            })
    }

    /// What `expr` holds, when it is a shared object (queue, lock, value...).
    pub fn shared(&self, expr: &'a Expr, scope: ScopeId) -> Option<(SharedKind, Family)> {
        self.track(expr, scope)?.shared()
    }

    fn track_at(&self, expr: &'a Expr, scope: ScopeId, depth: u32) -> Option<Tracked<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        let key = (expr as *const Expr, scope);
        if let Some(known) = self.memo.borrow().get(&key) {
            return known.clone();
        }
        // A cycle (a parameter passed back to itself) ends as unknown.
        self.memo.borrow_mut().insert(key, None);
        let found = self.compute(expr, scope, depth);
        self.memo.borrow_mut().insert(key, found.clone());
        found
    }

    fn compute(&self, expr: &'a Expr, scope: ScopeId, depth: u32) -> Option<Tracked<'a>> {
        match &expr.kind {
            // `v.get_lock()`: the lock of a shared value (a recursive lock by default).
            ExprKind::Call(call) if matches!(&call.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "get_lock") =>
            {
                let ExprKind::Attribute { value, .. } = &call.func.kind else {
                    return None;
                };
                let owner = self.track_at(value, scope, depth + 1)?;
                matches!(
                    owner.shared(),
                    Some((
                        SharedKind::Value | SharedKind::Array,
                        Family::Multiprocessing
                    ))
                )
                .then(|| Tracked {
                    class: MpClass::Shared(SharedKind::RLock, Family::Multiprocessing),
                    sites: vec![Site {
                        call: expr,
                        part: None,
                    }],
                })
            }
            ExprKind::Call(_) => match self.model.resolve(expr, scope) {
                Value::Instance { class, .. } => Some(Tracked {
                    class,
                    sites: vec![Site {
                        call: expr,
                        part: None,
                    }],
                }),
                _ => None,
            },
            ExprKind::Named { value, .. } => self.track_at(value, scope, depth + 1),
            ExprKind::Name(name) => {
                let (found, bindings) = self.model.bindings_at(name, scope, expr.range.start)?;
                self.merge(bindings.iter().map(|b| self.binding(b, found, depth + 1)))
            }
            ExprKind::Attribute { value, attr } => {
                self.attribute(value.as_name()?, &attr.name, scope, depth + 1)
            }
            // `procs[-1]`, `procs[i]`: an element of a list of tracked objects (not a
            // slice, which is a list).
            ExprKind::Subscript { value, index }
                if matches!(index.kind, ExprKind::Constant(_) | ExprKind::Name(_)) =>
            {
                self.elements(value, scope, depth + 1)
            }
            _ => None,
        }
    }

    /// The start method the object's context names, when every construction it may come
    /// from agrees (`None`: the default context, or not known).
    pub fn context_method(&self, t: &Tracked<'a>) -> Option<crate::semantic::mp::StartMethod> {
        let mut methods = t.sites.iter().map(|s| {
            let &(e, _, scope) = self
                .calls()
                .iter()
                .find(|(e, _, _)| std::ptr::eq(*e, s.call))?;
            self.model.resolve(e, scope).instance()?.1
        });
        let first = methods.next()??;
        methods.all(|m| m == Some(first)).then_some(first)
    }

    /// All known, and all the same class: the union of their sites.
    fn merge(&self, items: impl Iterator<Item = Option<Tracked<'a>>>) -> Option<Tracked<'a>> {
        let mut out: Option<Tracked<'a>> = None;
        for item in items {
            let item = item?;
            match &mut out {
                None => out = Some(item),
                Some(t) if t.class == item.class => {
                    for s in item.sites {
                        if !t.sites.contains(&s) {
                            t.sites.push(s);
                        }
                    }
                }
                Some(_) => return None,
            }
        }
        out
    }

    fn binding(&self, b: &Binding<'a>, scope: ScopeId, depth: u32) -> Option<Tracked<'a>> {
        match &b.kind {
            BindingKind::Assign(value) => self.track_at(value, scope, depth),
            BindingKind::WithTarget(ctx) => {
                let t = self.track_at(ctx, scope, depth)?;
                t.class.enter_returns_self().then_some(t)
            }
            BindingKind::Unpack(value, index) => {
                let t = self.track_at(value, scope, depth)?;
                match t.class {
                    MpClass::Shared(SharedKind::Pipe, family) => Some(Tracked {
                        class: MpClass::Shared(SharedKind::Connection, family),
                        sites: t
                            .sites
                            .iter()
                            .map(|s| Site {
                                call: s.call,
                                part: Some(*index),
                            })
                            .collect(),
                    }),
                    _ => None,
                }
            }
            BindingKind::Iterate(iter) => self.elements(iter, scope, depth),
            BindingKind::Param(index) => self.parameter(scope, *index, depth),
            _ => None,
        }
    }

    /// What iterating `iter` yields, when every element is the same kind of object.
    fn elements(&self, iter: &'a Expr, scope: ScopeId, depth: u32) -> Option<Tracked<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        match &iter.kind {
            ExprKind::List(items) | ExprKind::Tuple(items) if !items.is_empty() => {
                self.merge(items.iter().map(|e| self.track_at(e, scope, depth + 1)))
            }
            ExprKind::Comprehension(c) if c.kind != ComprehensionKind::Dict => {
                self.track_at(&c.element, c.scope, depth + 1)
            }
            ExprKind::Name(name) => {
                let (found, bindings) = self.model.bindings_at(name, scope, iter.range.start)?;
                let [b] = bindings.as_slice() else {
                    return None;
                };
                match &b.kind {
                    BindingKind::Assign(value) => match &value.kind {
                        ExprKind::List(items) if items.is_empty() => {
                            self.appended(name, found, depth + 1)
                        }
                        _ => self.elements(value, found, depth + 1),
                    },
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The objects `name.append(x)` puts into a list that starts empty in `scope`.
    fn appended(&self, name: &str, scope: ScopeId, depth: u32) -> Option<Tracked<'a>> {
        let body = self.model.body(scope)?;
        let mut items = Vec::new();
        crate::semantic::exec::walk_all_exprs(body, scope, &mut |e, at| {
            if let Some(call) = e.as_call()
                && let ExprKind::Attribute { value, attr } = &call.func.kind
                && value.as_name() == Some(name)
                && attr.name == "append"
                && let [item] = call.args.as_slice()
            {
                items.push((item, at));
            }
        });
        if items.is_empty() {
            return None;
        }
        self.merge(
            items
                .into_iter()
                .map(|(e, at)| self.track_at(e, at, depth + 1)),
        )
    }

    /// Parameter `index` of the function whose scope is `scope`: what every launch and
    /// call of this file that binds it passes (unknown when none does).
    fn parameter(&self, scope: ScopeId, index: usize, depth: u32) -> Option<Tracked<'a>> {
        let f = self.model.function(scope)?;
        let args: Vec<(&'a Expr, ScopeId)> = self
            .links()
            .of(f)
            .flat_map(|l| {
                l.bindings
                    .iter()
                    .filter(move |(i, _)| *i == index)
                    .map(move |(_, e)| (*e, l.scope))
            })
            .collect();
        if args.is_empty() {
            return None;
        }
        // Arguments that cannot be followed do not veto the ones that can: a helper that
        // gets a lock from here and something opaque from elsewhere still gets a lock.
        let known: Vec<Tracked<'a>> = args
            .into_iter()
            .filter_map(|(e, at)| self.track_at(e, at, depth + 1))
            .collect();
        if known.is_empty() {
            return None;
        }
        self.merge(known.into_iter().map(Some))
    }

    /// `self.attr` in a method: what every `self.attr = ...` in the class's methods
    /// assigns (`None` aside), or else the class attribute of that name.
    fn attribute(
        &self,
        object: &str,
        attr: &str,
        scope: ScopeId,
        depth: u32,
    ) -> Option<Tracked<'a>> {
        let method_scope = self.model.enclosing_function(scope)?;
        let (class, this) = self.model.method_of(method_scope)?;
        if object != this {
            return None;
        }
        let assigns: Vec<_> = self
            .model
            .attr_assigns()
            .iter()
            .filter(|a| a.attr == attr)
            .filter(|a| !matches!(a.value.kind, ExprKind::Constant(Some(false))))
            .filter(|a| {
                self.model
                    .enclosing_function(a.scope)
                    .and_then(|s| self.model.method_of(s))
                    .is_some_and(|(c, this)| std::ptr::eq(c, class) && a.object == this)
            })
            .collect();
        if !assigns.is_empty() {
            return self.merge(
                assigns
                    .iter()
                    .map(|a| self.track_at(a.value, a.scope, depth + 1)),
            );
        }
        let (found, bindings) = self.model.bindings_at(attr, class.scope, u32::MAX)?;
        if found != class.scope {
            return None;
        }
        self.merge(bindings.iter().map(|b| self.binding(b, found, depth + 1)))
    }

    /// Every method call `X.name(...)` evaluated in the body of `scope` (not in functions
    /// defined inside it), with the receiver `X`.
    pub fn method_calls(&self, scope: ScopeId) -> Vec<MethodCall<'a>> {
        let by_body = self.by_body.get_or_init(|| {
            let mut out: HashMap<ScopeId, Vec<MethodCall<'a>>> = HashMap::default();
            crate::semantic::exec::walk_all_exprs(
                &self.model.module.body,
                ScopeId::MODULE,
                &mut |e, at| {
                    if let Some(call) = e.as_call()
                        && let ExprKind::Attribute { value, attr } = &call.func.kind
                        && let Some(body) = self.body_of(at)
                    {
                        out.entry(body).or_default().push(MethodCall {
                            expr: e,
                            call,
                            receiver: value,
                            method: &attr.name,
                            scope: at,
                        });
                    }
                },
            );
            out
        });
        by_body.get(&scope).cloned().unwrap_or_default()
    }

    /// The function or module body that code in `scope` runs as part of: comprehensions
    /// run in their enclosing body; lambdas and class bodies are not a body of their own
    /// here, and their calls belong to none.
    fn body_of(&self, scope: ScopeId) -> Option<ScopeId> {
        let mut current = scope;
        loop {
            if current == ScopeId::MODULE || self.model.function(current).is_some() {
                return Some(current);
            }
            if self.model.scope_kind(current) != crate::semantic::ScopeKind::Comprehension {
                return None;
            }
            current = self.model.parent(current)?;
        }
    }

    /// Every call in the file, with the scope it is evaluated in, from one walk.
    pub fn calls(&self) -> &[(&'a Expr, &'a Call, ScopeId)] {
        self.calls.get_or_init(|| {
            let mut out = Vec::new();
            crate::semantic::exec::walk_all_exprs(
                &self.model.module.body,
                ScopeId::MODULE,
                &mut |e, scope| {
                    if let Some(call) = e.as_call() {
                        out.push((e, call, scope));
                    }
                },
            );
            out
        })
    }

    /// Every method call in the file: module level and every function body.
    pub fn every_method_call(&self) -> &[MethodCall<'a>] {
        self.every_call.get_or_init(|| {
            std::iter::once(ScopeId::MODULE)
                .chain(self.model.functions().map(|f| f.scope))
                .flat_map(|scope| self.method_calls(scope))
                .collect()
        })
    }

    /// The calls of `methods` on `object`, anywhere in the file.
    pub fn calls_on(&self, object: &Tracked<'a>, methods: &[&str]) -> Vec<MethodCall<'a>> {
        self.every_method_call()
            .iter()
            .filter(|mc| methods.contains(&mc.method))
            .filter(|mc| {
                self.track(mc.receiver, mc.scope)
                    .is_some_and(|t| t.same_object(object))
            })
            .copied()
            .collect()
    }

    /// Whether every use of the variable `name` bound in `scope` is one the analysis
    /// sees: the receiver of a method call, an argument that a launch or call of this file
    /// binds to a parameter, or a target it is assigned to. Anything else (returned,
    /// stored, passed elsewhere) lets the object out of sight.
    pub fn fully_visible(&self, name: &str, scope: ScopeId) -> bool {
        let Some(body) = self.model.body(scope) else {
            return false;
        };
        let mut known: Vec<*const Expr> = self
            .every_method_call()
            .iter()
            .map(|mc| mc.receiver as *const Expr)
            .collect();
        for l in &self.links().launches {
            known.extend(l.bindings.iter().map(|(_, e)| *e as *const Expr));
        }
        let mut targets = Vec::new();
        assignment_targets(body, &mut targets);
        known.extend(targets);
        let mut visible = true;
        crate::semantic::exec::walk_all_exprs(body, scope, &mut |e, at| {
            if e.as_name() == Some(name)
                && self.model.binding_scope(name, at) == Some(scope)
                && !known.contains(&(e as *const Expr))
            {
                visible = false;
            }
        });
        visible
    }
}

/// A method call and what it is called on.
#[derive(Clone, Copy, Debug)]
pub struct MethodCall<'a> {
    pub expr: &'a Expr,
    pub call: &'a Call,
    pub receiver: &'a Expr,
    pub method: &'a str,
    pub scope: ScopeId,
}

/// The plain names a body assigns to (`x = ...`, `x: T = ...`, `for x in ...`, `with ...
/// as x`), functions defined inside it included.
fn assignment_targets(body: &[Stmt], out: &mut Vec<*const Expr>) {
    for stmt in body {
        let targets: Vec<&Expr> = match &stmt.kind {
            StmtKind::Assign { targets, .. } => targets.iter().collect(),
            StmtKind::AnnAssign { target, .. } | StmtKind::For { target, .. } => vec![target],
            StmtKind::With { items, .. } => {
                items.iter().filter_map(|i| i.target.as_ref()).collect()
            }
            _ => Vec::new(),
        };
        for t in targets {
            match &t.kind {
                ExprKind::Name(_) => out.push(t as *const Expr),
                ExprKind::Tuple(items) | ExprKind::List(items) => out.extend(
                    items
                        .iter()
                        .filter(|i| i.as_name().is_some())
                        .map(|i| i as *const Expr),
                ),
                _ => {}
            }
        }
        crate::semantic::exec::for_each_child(stmt, |c| {
            if let crate::semantic::exec::Child::Block(b) = c {
                assignment_targets(b, out);
            }
        });
    }
}
