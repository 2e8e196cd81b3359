//! The semantic model: scopes, bindings and what expressions resolve to.
//!
//! Built once per file and shared by every rule. Resolution is deliberately
//! conservative: whenever a name could mean two different things (it is shadowed, or
//! rebound somewhere a deferred function body could observe), it resolves to
//! [`Value::Unknown`] and no rule fires on it. False positives are worse than silence.

pub mod cfg;
pub mod exec;
pub mod failure;
pub mod globals;
pub mod guard;
pub mod links;
pub mod locks;
pub mod mp;
pub mod objects;
pub mod paths;
pub mod pickling;
pub mod prefilter;
pub mod project;
pub mod reach;
pub mod segments;
pub mod start;

use rustc_hash::FxHashMap as HashMap;

use crate::ast::*;
use mp::{MpClass, StartMethod};

/// What an expression is known to evaluate to.
#[derive(Clone, Debug)]
pub enum Value<'a> {
    Unknown,
    /// A module or a member of one, by qualified name as imported (`multiprocess.Pool`);
    /// [`mp::canonical`] maps drop-in modules onto `multiprocessing`. `method` is set when
    /// it was reached through a context (`ctx.Pool`).
    Object {
        path: String,
        method: Option<StartMethod>,
    },
    /// A multiprocessing context (`get_context(...)`); `None` is the default context.
    Context(Option<StartMethod>),
    /// An instance of a tracked class.
    Instance {
        class: MpClass,
        method: Option<StartMethod>,
    },
    /// A function defined in this file.
    Function(&'a FunctionDef),
    /// A class defined in this file.
    Class(&'a ClassDef),
    /// An instance of a class defined in this file (that is not a tracked class).
    LocalInstance(&'a ClassDef),
    /// What calling an imported name that is not a tracked class returned (`Gen(1)` with
    /// `Gen` from another module): only the project's import analysis looks into it.
    Returned(String),
}

impl PartialEq for Value<'_> {
    /// Definitions compare by identity: two functions are the same only if they are one.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Unknown, Value::Unknown) => true,
            // `multiprocess.Pool` and `multiprocessing.Pool` are the same API.
            (Value::Object { path: a, method: m }, Value::Object { path: b, method: n }) => {
                m == n && (a == b || mp::canonical(a) == mp::canonical(b))
            }
            (Value::Context(a), Value::Context(b)) => a == b,
            (
                Value::Instance {
                    class: a,
                    method: m,
                },
                Value::Instance {
                    class: b,
                    method: n,
                },
            ) => a == b && m == n,
            (Value::Function(a), Value::Function(b)) => std::ptr::eq(*a, *b),
            (Value::Returned(a), Value::Returned(b)) => a == b,
            (Value::Class(a), Value::Class(b))
            | (Value::LocalInstance(a), Value::LocalInstance(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

impl Value<'_> {
    /// The qualified name as written in the imports (`torch.multiprocessing.spawn`).
    pub fn path(&self) -> Option<&str> {
        match self {
            Value::Object { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The qualified name with drop-in modules mapped onto `multiprocessing`.
    pub fn canonical_path(&self) -> Option<String> {
        self.path().map(mp::canonical)
    }

    pub fn instance(&self) -> Option<(MpClass, Option<StartMethod>)> {
        match self {
            Value::Instance { class, method } => Some((*class, *method)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeKind {
    Module,
    Class,
    Function,
    Lambda,
    Comprehension,
}

#[derive(Debug)]
pub enum BindingKind<'a> {
    /// `import a.b` binds `a` to module `a`; `import a.b as x` binds `x` to `a.b`.
    Import(String),
    /// `from m import n` binds `n` to `m.n`.
    FromImport(String),
    /// An assignment (or walrus) of this whole expression.
    Assign(&'a Expr),
    /// An augmented assignment (`n += value`): the old value combined with this one.
    AugAssign(&'a Expr),
    /// A `for` target, bound to the elements of this iterable.
    Iterate(&'a Expr),
    /// A `with ... as` target, bound to what entering this expression returns.
    WithTarget(&'a Expr),
    Function(&'a FunctionDef),
    Class(&'a ClassDef),
    /// Parameter `index` of the function (or lambda) whose scope holds the binding.
    Param(usize),
    /// Element `index` of a flat tuple target: `a, b = value`.
    Unpack(&'a Expr, usize),
    /// `except ... as`, `del`, augmented assignment, unpacking, match captures:
    /// the name exists but its value is not followed.
    Opaque,
}

#[derive(Debug)]
pub struct Binding<'a> {
    /// Where the binding takes effect; a use at or after it sees it.
    pub offset: u32,
    pub kind: BindingKind<'a>,
    /// The innermost block that may not run (an `if` branch, a loop, a `try`), if any:
    /// outside it, the binding before this one may still be the one in effect.
    pub region: Option<Range>,
}

#[derive(Debug)]
struct Scope<'a> {
    kind: ScopeKind,
    parent: Option<ScopeId>,
    bindings: HashMap<&'a str, Vec<Binding<'a>>>,
    globals: Vec<&'a str>,
    nonlocals: Vec<&'a str>,
    /// Names that code elsewhere rebinds (`global` or `nonlocal` in an inner function), at
    /// times no position tells: they never resolve.
    rebound: Vec<&'a str>,
    /// Modules imported with `from m import *`.
    star_imports: Vec<String>,
    /// The definition that opened this scope, for function and class scopes.
    function: Option<&'a FunctionDef>,
    class: Option<&'a ClassDef>,
}

/// `obj.attr = value`, recorded for following `self.attr` across methods.
#[derive(Debug)]
pub struct AttrAssign<'a> {
    pub scope: ScopeId,
    pub object: &'a str,
    pub attr: &'a str,
    pub value: &'a Expr,
}

/// Resolution chains longer than this give up: real code is far shallower, and it keeps
/// pathological self-references cheap.
const MAX_RESOLVE_DEPTH: u32 = 24;

pub struct Model<'a> {
    pub module: &'a Module,
    scopes: Vec<Scope<'a>>,
    attr_assigns: Vec<AttrAssign<'a>>,
    /// What each binding resolved to: without it, names bound from lists of names that are
    /// bound from lists of names make resolution exponential.
    memo: std::cell::RefCell<HashMap<*const Binding<'a>, Value<'a>>>,
    /// What [`Self::resolve`] answered, by expression and scope: the rules ask about the
    /// same calls again and again.
    resolved: std::cell::RefCell<HashMap<(*const Expr, ScopeId), Value<'a>>>,
    /// [`start::chosen`], which several rules ask for.
    chosen: std::cell::OnceCell<Option<mp::MethodSet>>,
}

impl<'a> Model<'a> {
    pub fn new(module: &'a Module) -> Self {
        let mut scopes = Vec::with_capacity(module.scope_count as usize);
        for _ in 0..module.scope_count.max(1) {
            scopes.push(Scope {
                kind: ScopeKind::Module,
                parent: None,
                bindings: HashMap::default(),
                globals: Vec::new(),
                nonlocals: Vec::new(),
                rebound: Vec::new(),
                star_imports: Vec::new(),
                function: None,
                class: None,
            });
        }
        let mut builder = Builder {
            scopes,
            regions: Vec::new(),
            attr_assigns: Vec::new(),
        };
        builder.block(&module.body, ScopeId::MODULE);
        Self {
            module,
            scopes: builder.scopes,
            attr_assigns: builder.attr_assigns,
            memo: Default::default(),
            resolved: Default::default(),
            chosen: Default::default(),
        }
    }

    /// The start methods the file chooses (see [`start::chosen`]), found once.
    pub fn chosen_methods(
        &self,
        find: impl FnOnce() -> Option<mp::MethodSet>,
    ) -> Option<mp::MethodSet> {
        *self.chosen.get_or_init(find)
    }

    /// The function whose body is `scope`, if it is a function scope.
    pub fn function(&self, scope: ScopeId) -> Option<&'a FunctionDef> {
        self.scopes.get(scope.0 as usize)?.function
    }

    /// The function (or module) body the code of `scope` runs in: comprehensions, lambdas
    /// and class bodies are looked through.
    pub fn body_scope(&self, scope: ScopeId) -> ScopeId {
        self.enclosing_function(scope).unwrap_or(ScopeId::MODULE)
    }

    /// The function scope `scope` is, or sits in through comprehensions, lambdas and
    /// classes; `None` at module level.
    pub fn enclosing_function(&self, scope: ScopeId) -> Option<ScopeId> {
        let mut current = scope;
        loop {
            if self.function(current).is_some() {
                return Some(current);
            }
            current = self.parent(current)?;
        }
    }

    /// The statements that run as one body: a function's, or the module's.
    pub fn body(&self, scope: ScopeId) -> Option<&'a [Stmt]> {
        match self.function(scope) {
            Some(f) => Some(&f.body),
            None if scope == ScopeId::MODULE => Some(&self.module.body),
            None => None,
        }
    }

    /// The module body and every function body, with their scopes.
    pub fn bodies(&self) -> Vec<(&'a [Stmt], ScopeId)> {
        std::iter::once((&self.module.body[..], ScopeId::MODULE))
            .chain(self.functions().map(|f| (&f.body[..], f.scope)))
            .collect()
    }

    /// Every function and method defined in the file, nested ones included.
    pub fn functions(&self) -> impl Iterator<Item = &'a FunctionDef> + '_ {
        self.scopes.iter().filter_map(|s| s.function)
    }

    /// The class whose body is `scope`, if it is a class scope.
    pub fn class(&self, scope: ScopeId) -> Option<&'a ClassDef> {
        self.scopes.get(scope.0 as usize)?.class
    }

    pub fn parent(&self, scope: ScopeId) -> Option<ScopeId> {
        self.scopes.get(scope.0 as usize)?.parent
    }

    pub fn scope_kind(&self, scope: ScopeId) -> ScopeKind {
        self.scopes[scope.0 as usize].kind
    }

    /// The class a function scope is a method of, with the name of its first parameter
    /// (`self`): only for plain methods, not static or class methods.
    pub fn method_of(&self, scope: ScopeId) -> Option<(&'a ClassDef, &'a str)> {
        let f = self.function(scope)?;
        let class = self.class(self.parent(scope)?)?;
        let plain = f
            .decorators
            .iter()
            .all(|d| !matches!(d.as_name(), Some("staticmethod" | "classmethod")));
        let first = f.params.params.first()?;
        plain.then_some((class, first.name.name.as_str()))
    }

    /// Every `obj.attr = value` in the file.
    pub fn attr_assigns(&self) -> &[AttrAssign<'a>] {
        &self.attr_assigns
    }

    /// The bindings of `name` that may be in effect at `offset` in `scope`, with the scope
    /// that holds them; `None` when the name cannot be followed.
    pub fn bindings_at(
        &self,
        name: &str,
        scope: ScopeId,
        offset: u32,
    ) -> Option<(ScopeId, Vec<&Binding<'a>>)> {
        match self.visible_bindings(name, scope, offset) {
            Visible::Bindings(found, bindings) => Some((found, bindings)),
            _ => None,
        }
    }

    /// What `expr`, evaluated in `scope`, resolves to.
    pub fn resolve(&self, expr: &'a Expr, scope: ScopeId) -> Value<'a> {
        let key = (std::ptr::from_ref(expr), scope);
        if let Some(known) = self.resolved.borrow().get(&key) {
            return known.clone();
        }
        let value = self.resolve_at(expr, scope, 0);
        self.resolved.borrow_mut().insert(key, value.clone());
        value
    }

    /// The canonical qualified name `expr` resolves to, if any (`mp.Pool` ->
    /// `multiprocessing.Pool`, also when `mp` is `multiprocess`).
    pub fn qualified_name(&self, expr: &'a Expr, scope: ScopeId) -> Option<String> {
        self.resolve(expr, scope).canonical_path()
    }

    fn resolve_at(&self, expr: &'a Expr, scope: ScopeId, depth: u32) -> Value<'a> {
        if depth > MAX_RESOLVE_DEPTH {
            return Value::Unknown;
        }
        match &expr.kind {
            ExprKind::Name(name) => self.lookup(name, scope, expr.range.start, depth + 1),
            ExprKind::Attribute { value, attr } => match self.resolve_at(value, scope, depth + 1) {
                Value::Object { path, method } => Value::Object {
                    path: format!("{path}.{}", attr.name),
                    method,
                },
                Value::Context(method) if mp::is_context_member(&attr.name) => Value::Object {
                    path: format!("multiprocessing.{}", attr.name),
                    method,
                },
                // `manager.Queue`, `manager.Lock`: the factories of proxies.
                Value::Instance {
                    class: MpClass::StartedManager | MpClass::Manager,
                    method,
                } => Value::Object {
                    path: format!("{}{}", mp::MANAGER_PROXY_PREFIX, attr.name),
                    method,
                },
                _ => Value::Unknown,
            },
            ExprKind::Call(call) => self.call_result(call, scope, depth + 1),
            ExprKind::Named { value, .. } => self.resolve_at(value, scope, depth + 1),
            _ => Value::Unknown,
        }
    }

    fn call_result(&self, call: &'a Call, scope: ScopeId, depth: u32) -> Value<'a> {
        match self.resolve_at(&call.func, scope, depth) {
            Value::Object { path, method } => {
                let path = mp::canonical(&path);
                if path == "multiprocessing.get_context" {
                    return match call.argument(0, "method") {
                        None => Value::Context(method),
                        Some(arg) => match arg.as_str().and_then(StartMethod::parse) {
                            Some(m) => Value::Context(Some(m)),
                            None if matches!(arg.kind, ExprKind::Constant(_)) => {
                                Value::Context(method)
                            }
                            None => Value::Unknown,
                        },
                    };
                }
                match mp::class_of(&path).map(|c| without_lock(c, call)) {
                    Some(class) => Value::Instance {
                        class,
                        method: self.explicit_method(class, call, scope, depth).or(method),
                    },
                    None => Value::Returned(path),
                }
            }
            Value::Class(class) => match self.tracked_base(class, depth) {
                // A subclass with its own `start` decides itself what starting does: its
                // method is followed like any other.
                Some((MpClass::Process | MpClass::Manager, _))
                    if self.method(class, "start").is_some() =>
                {
                    Value::LocalInstance(class)
                }
                Some((base, method)) => Value::Instance {
                    class: base,
                    method,
                },
                None => Value::LocalInstance(class),
            },
            _ => Value::Unknown,
        }
    }

    /// The start method a constructor call chooses through its context keyword.
    fn explicit_method(
        &self,
        class: MpClass,
        call: &'a Call,
        scope: ScopeId,
        depth: u32,
    ) -> Option<StartMethod> {
        let (index, keyword) = mp::context_parameter(class)?;
        if let Some(ctx) = call.argument(index, keyword) {
            return match self.resolve_at(ctx, scope, depth) {
                Value::Context(m) => m,
                _ => None,
            };
        }
        // Since 3.11, max_tasks_per_child without a context silently selects spawn.
        if class == MpClass::ProcessPoolExecutor && call.keyword("max_tasks_per_child").is_some() {
            return Some(StartMethod::Spawn);
        }
        None
    }

    /// The method `name` of a class defined in this file, looked up through the bases
    /// that are also defined here (a base from elsewhere ends the search: unknown).
    pub fn method(&self, class: &'a ClassDef, name: &str) -> Option<&'a FunctionDef> {
        self.method_at(class, name, 0)
    }

    fn method_at(&self, class: &'a ClassDef, name: &str, depth: u32) -> Option<&'a FunctionDef> {
        if depth > MAX_RESOLVE_DEPTH {
            return None;
        }
        // The last definition in the class body wins, as in Python.
        let own = class.body.iter().rev().find_map(|s| match &s.kind {
            StmtKind::FunctionDef(f) if f.name.name == name => Some(&**f),
            _ => None,
        });
        if own.is_some() {
            return own;
        }
        let parent = self.scopes[class.scope.0 as usize].parent?;
        class
            .bases
            .iter()
            .find_map(|base| match self.resolve_at(base, parent, depth + 1) {
                Value::Class(inner) => self.method_at(inner, name, depth + 1),
                _ => None,
            })
    }

    /// The tracked class a class defined in this file derives from, if any.
    pub fn tracked_base(
        &self,
        class: &'a ClassDef,
        depth: u32,
    ) -> Option<(MpClass, Option<StartMethod>)> {
        if depth > MAX_RESOLVE_DEPTH {
            return None;
        }
        let parent = self.scopes[class.scope.0 as usize].parent?;
        for base in &class.bases {
            match self.resolve_at(base, parent, depth + 1) {
                Value::Object { path, method } => {
                    if let Some(c) = mp::class_of(&mp::canonical(&path)) {
                        return Some((c, method));
                    }
                }
                Value::Class(inner) => {
                    if let Some(found) = self.tracked_base(inner, depth + 1) {
                        return Some(found);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// Looks `name` up as Python would from `scope` at `offset`.
    fn lookup(&self, name: &str, scope: ScopeId, offset: u32, depth: u32) -> Value<'a> {
        match self.visible_bindings(name, scope, offset) {
            Visible::Bindings(found, bindings) => self.agreed_value(&bindings, found, depth),
            Visible::Star(module) => self.star_import(&self.scopes[module.0 as usize], name),
            Visible::Unknown => Value::Unknown,
        }
    }

    /// The bindings of `name` that may be in effect at `offset` in `scope`: in the same
    /// scope, the latest one before the use, and the ones before it too while it sits in a
    /// block that may not have run; from an enclosing scope (code that runs later), all.
    fn visible_bindings(&self, name: &str, scope: ScopeId, offset: u32) -> Visible<'_, 'a> {
        let mut current = scope;
        // Once the lookup leaves a function, the code runs later, when any binding of the
        // outer scope may be in effect.
        let mut deferred = false;
        let mut crossed_function = false;
        loop {
            let s = &self.scopes[current.0 as usize];
            let skip = s.kind == ScopeKind::Class && crossed_function;
            if s.globals.contains(&name) && s.kind != ScopeKind::Module {
                current = ScopeId::MODULE;
                deferred = true;
                continue;
            }
            if !skip {
                if let Some(bindings) = s.bindings.get(name) {
                    if s.rebound.contains(&name) {
                        return Visible::Unknown;
                    }
                    if deferred {
                        return Visible::Bindings(current, bindings.iter().collect());
                    }
                    let mut visible = Vec::new();
                    for b in bindings.iter().rev().filter(|b| b.offset <= offset) {
                        visible.push(b);
                        let certain = b.region.is_none_or(|r| r.contains(offset));
                        if certain {
                            break;
                        }
                    }
                    // Read before any assignment: a local is unbound, a class or module
                    // name falls through to builtins; neither is ours.
                    return if visible.is_empty() {
                        Visible::Unknown
                    } else {
                        Visible::Bindings(current, visible)
                    };
                }
                if s.kind == ScopeKind::Module {
                    return Visible::Star(current);
                }
            }
            if matches!(s.kind, ScopeKind::Function | ScopeKind::Lambda) {
                deferred = true;
                crossed_function = true;
            }
            if s.kind == ScopeKind::Comprehension {
                crossed_function = true;
            }
            match s.parent {
                Some(p) => current = p,
                None => return Visible::Unknown,
            }
        }
    }

    /// Every binding of `name` in the module's own code (not through `global` in a
    /// function: see [`Model::declared_globals`]).
    pub fn module_bindings(&self, name: &str) -> &[Binding<'a>] {
        self.scopes[0]
            .bindings
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The names a function's `global` statements declare.
    pub fn declared_globals(&self, scope: ScopeId) -> &[&'a str] {
        match self.scopes.get(scope.0 as usize) {
            Some(s) if s.kind != ScopeKind::Module => &s.globals,
            _ => &[],
        }
    }

    /// The scope whose binding `name` refers to from `scope` (ignoring position).
    pub fn binding_scope(&self, name: &str, scope: ScopeId) -> Option<ScopeId> {
        let mut current = scope;
        let mut crossed_function = false;
        loop {
            let s = &self.scopes[current.0 as usize];
            if s.kind != ScopeKind::Module && s.globals.contains(&name) {
                return Some(ScopeId::MODULE);
            }
            let skip = s.kind == ScopeKind::Class && crossed_function;
            if !skip && s.bindings.contains_key(name) {
                return Some(current);
            }
            crossed_function |= s.kind != ScopeKind::Class;
            current = s.parent?;
        }
    }

    fn star_import(&self, module: &Scope<'a>, name: &str) -> Value<'a> {
        // Only names we know a star import provides; anything else could come from any of
        // them, or from builtins.
        let candidates: Vec<String> = module
            .star_imports
            .iter()
            .map(|m| format!("{m}.{name}"))
            .filter(|p| {
                let p = mp::canonical(p);
                mp::class_of(&p).is_some() || p == "multiprocessing.get_context"
            })
            .collect();
        // Standard modules whose star exports hold none of the names above.
        const PLAIN: [&str; 12] = [
            "array",
            "math",
            "time",
            "random",
            "os",
            "sys",
            "tkinter",
            "typing",
            "itertools",
            "functools",
            "collections",
            "struct",
        ];
        let others_plain = module
            .star_imports
            .iter()
            .filter(|m| !PLAIN.contains(&m.as_str()))
            .count()
            == 1;
        match candidates.as_slice() {
            [one] if others_plain => Value::Object {
                path: one.clone(),
                method: None,
            },
            // One module of elsewhere (the project, say) provides every name not bound
            // here: only the project's import analysis looks into what it is.
            [] if others_plain => {
                let Some(m) = module
                    .star_imports
                    .iter()
                    .find(|m| !PLAIN.contains(&m.as_str()))
                else {
                    return Value::Unknown;
                };
                if mp::canonical(m).starts_with("multiprocessing") {
                    return Value::Unknown;
                }
                let separator = if m.ends_with('.') { "" } else { "." };
                Value::Object {
                    path: format!("{m}{separator}{name}"),
                    method: None,
                }
            }
            _ => Value::Unknown,
        }
    }

    /// The value all bindings agree on, or unknown.
    fn agreed_value(&self, bindings: &[&Binding<'a>], scope: ScopeId, depth: u32) -> Value<'a> {
        let mut iter = bindings.iter();
        let Some(first) = iter.next() else {
            return Value::Unknown;
        };
        let value = self.binding_value(first, scope, depth);
        for b in iter {
            if self.binding_value(b, scope, depth) != value {
                return Value::Unknown;
            }
        }
        value
    }

    fn binding_value(&self, b: &Binding<'a>, scope: ScopeId, depth: u32) -> Value<'a> {
        let key = b as *const Binding<'a>;
        if let Some(known) = self.memo.borrow().get(&key) {
            return known.clone();
        }
        let value = self.compute_binding_value(b, scope, depth);
        self.memo.borrow_mut().insert(key, value.clone());
        value
    }

    fn compute_binding_value(&self, b: &Binding<'a>, scope: ScopeId, depth: u32) -> Value<'a> {
        match &b.kind {
            BindingKind::Import(module) => Value::Object {
                path: module.clone(),
                method: None,
            },
            BindingKind::FromImport(path) => Value::Object {
                path: path.clone(),
                method: None,
            },
            BindingKind::Assign(expr) => self.resolve_at(expr, scope, depth + 1),
            BindingKind::Iterate(iter) => self.element_of(iter, scope, depth + 1),
            BindingKind::WithTarget(expr) => match self.resolve_at(expr, scope, depth + 1) {
                v @ Value::Instance { class, .. } if class.enter_returns_self() => v,
                _ => Value::Unknown,
            },
            BindingKind::Function(f) => Value::Function(f),
            BindingKind::Class(c) => Value::Class(c),
            BindingKind::Param(_)
            | BindingKind::Unpack(..)
            | BindingKind::AugAssign(_)
            | BindingKind::Opaque => Value::Unknown,
        }
    }

    /// What iterating `iter` yields, when every element is known to be the same thing.
    fn element_of(&self, iter: &'a Expr, scope: ScopeId, depth: u32) -> Value<'a> {
        if depth > MAX_RESOLVE_DEPTH {
            return Value::Unknown;
        }
        match &iter.kind {
            ExprKind::List(items) | ExprKind::Tuple(items) => {
                let mut values = items.iter().map(|e| self.resolve_at(e, scope, depth + 1));
                let Some(first) = values.next() else {
                    return Value::Unknown;
                };
                if values.all(|v| v == first) {
                    first
                } else {
                    Value::Unknown
                }
            }
            ExprKind::Comprehension(c) if c.kind != ComprehensionKind::Dict => {
                self.resolve_at(&c.element, c.scope, depth + 1)
            }
            ExprKind::Name(name) => {
                // Follow `procs = [...]` to the list it names, in whatever scope it is.
                match self.visible_bindings(name, scope, iter.range.start) {
                    Visible::Bindings(found, bindings) => match bindings.as_slice() {
                        [b] => match &b.kind {
                            BindingKind::Assign(value) => self.element_of(value, found, depth + 1),
                            _ => Value::Unknown,
                        },
                        _ => Value::Unknown,
                    },
                    _ => Value::Unknown,
                }
            }
            _ => Value::Unknown,
        }
    }
}

/// `Value(..., lock=False)` and `Array(..., lock=False)` are raw: no lock at all.
fn without_lock(class: MpClass, call: &Call) -> MpClass {
    use mp::{Family, SharedKind};
    let raw = call
        .keyword("lock")
        .is_some_and(|l| matches!(l.kind, ExprKind::Constant(Some(false))));
    match class {
        MpClass::Shared(SharedKind::Value, Family::Multiprocessing) if raw => {
            MpClass::Shared(SharedKind::RawValue, Family::Multiprocessing)
        }
        MpClass::Shared(SharedKind::Array, Family::Multiprocessing) if raw => {
            MpClass::Shared(SharedKind::RawArray, Family::Multiprocessing)
        }
        other => other,
    }
}

/// What a name lookup found.
enum Visible<'m, 'a> {
    Bindings(ScopeId, Vec<&'m Binding<'a>>),
    /// Not bound in the module: maybe from a star import.
    Star(ScopeId),
    Unknown,
}

/// Collects scopes and bindings in one walk over the tree.
struct Builder<'a> {
    scopes: Vec<Scope<'a>>,
    /// The blocks around the current statement that may not run.
    regions: Vec<Range>,
    attr_assigns: Vec<AttrAssign<'a>>,
}

impl<'a> Builder<'a> {
    fn open(&mut self, id: ScopeId, kind: ScopeKind, parent: ScopeId) {
        let s = &mut self.scopes[id.0 as usize];
        s.kind = kind;
        s.parent = Some(parent);
    }

    fn bind(&mut self, scope: ScopeId, name: &'a str, offset: u32, kind: BindingKind<'a>) {
        let s = &mut self.scopes[scope.0 as usize];
        // A `global` declaration sends the binding to the module, where it happens at an
        // unknown time: record it as opaque so the name stops resolving.
        if s.kind != ScopeKind::Module && s.globals.contains(&name) {
            self.scopes[0].rebound.push(name);
            return;
        }
        if s.nonlocals.contains(&name) {
            let mut up = s.parent;
            while let Some(p) = up {
                let outer = &mut self.scopes[p.0 as usize];
                if outer.kind == ScopeKind::Module {
                    break;
                }
                outer.rebound.push(name);
                up = outer.parent;
            }
            return;
        }
        let region = self.regions.last().copied();
        s.bindings.entry(name).or_default().push(Binding {
            offset,
            kind,
            region,
        });
    }

    /// Binds every name in an assignment target; a plain name keeps the value, the names
    /// of a flat tuple their position in it.
    fn target(&mut self, scope: ScopeId, target: &'a Expr, offset: u32, kind: BindingKind<'a>) {
        match &target.kind {
            ExprKind::Name(n) => self.bind(scope, n, offset, kind),
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                let flat = items.iter().all(|i| i.as_name().is_some());
                for (index, item) in items.iter().enumerate() {
                    let kind = match kind {
                        BindingKind::Assign(value) if flat => BindingKind::Unpack(value, index),
                        _ => BindingKind::Opaque,
                    };
                    self.target(scope, item, offset, kind);
                }
            }
            ExprKind::Starred(inner) => self.target(scope, inner, offset, BindingKind::Opaque),
            _ => self.expr(target, scope),
        }
    }

    fn block(&mut self, body: &'a [Stmt], scope: ScopeId) {
        for stmt in body {
            self.stmt(stmt, scope);
        }
    }

    /// Statements in blocks that may not run are bound inside a region.
    fn stmt(&mut self, stmt: &'a Stmt, scope: ScopeId) {
        let conditional = matches!(
            stmt.kind,
            StmtKind::If { .. }
                | StmtKind::For { .. }
                | StmtKind::While { .. }
                | StmtKind::Try { .. }
                | StmtKind::Match { .. }
        );
        if conditional {
            self.regions.push(stmt.range);
        }
        self.stmt_bindings(stmt, scope);
        if conditional {
            self.regions.pop();
        }
    }

    /// A body of its own (function, class, lambda) starts with no region around it.
    fn in_new_body(&mut self, f: impl FnOnce(&mut Self)) {
        let saved = std::mem::take(&mut self.regions);
        f(self);
        self.regions = saved;
    }

    fn stmt_bindings(&mut self, stmt: &'a Stmt, scope: ScopeId) {
        let end = stmt.range.end;
        match &stmt.kind {
            StmtKind::FunctionDef(f) => {
                for d in &f.decorators {
                    self.expr(d, scope);
                }
                self.params_outer(&f.params, scope);
                if let Some(r) = &f.returns {
                    self.expr(r, scope);
                }
                self.open(f.scope, ScopeKind::Function, scope);
                self.scopes[f.scope.0 as usize].function = Some(f);
                self.in_new_body(|b| {
                    b.params_inner(&f.params, f.scope);
                    b.declarations(&f.body, f.scope);
                    b.block(&f.body, f.scope);
                });
                self.bind(
                    scope,
                    &f.name.name,
                    f.name.range.end,
                    BindingKind::Function(f),
                );
            }
            StmtKind::ClassDef(c) => {
                for e in c.decorators.iter().chain(&c.bases) {
                    self.expr(e, scope);
                }
                for k in &c.keywords {
                    self.expr(&k.value, scope);
                }
                self.open(c.scope, ScopeKind::Class, scope);
                self.scopes[c.scope.0 as usize].class = Some(c);
                self.in_new_body(|b| {
                    b.declarations(&c.body, c.scope);
                    b.block(&c.body, c.scope);
                });
                self.bind(scope, &c.name.name, c.name.range.end, BindingKind::Class(c));
            }
            StmtKind::Assign { targets, value } => {
                self.expr(value, scope);
                for t in targets {
                    if let ExprKind::Attribute {
                        value: object,
                        attr,
                    } = &t.kind
                        && let Some(object) = object.as_name()
                    {
                        self.attr_assigns.push(AttrAssign {
                            scope,
                            object,
                            attr: &attr.name,
                            value,
                        });
                    }
                    self.target(scope, t, end, BindingKind::Assign(value));
                }
            }
            StmtKind::AnnAssign {
                target,
                annotation,
                value,
            } => {
                self.expr(annotation, scope);
                if let Some(v) = value {
                    self.expr(v, scope);
                    self.target(scope, target, end, BindingKind::Assign(v));
                }
            }
            StmtKind::AugAssign { target, value } => {
                self.expr(value, scope);
                self.target(scope, target, end, BindingKind::AugAssign(value));
            }
            StmtKind::Delete(targets) => {
                for t in targets {
                    self.target(scope, t, end, BindingKind::Opaque);
                }
            }
            StmtKind::For {
                target,
                iter,
                body,
                orelse,
                ..
            } => {
                self.expr(iter, scope);
                self.target(scope, target, target.range.end, BindingKind::Iterate(iter));
                self.block(body, scope);
                self.block(orelse, scope);
            }
            StmtKind::With { items, body, .. } => {
                for item in items {
                    self.expr(&item.context, scope);
                    if let Some(t) = &item.target {
                        self.target(
                            scope,
                            t,
                            t.range.end,
                            BindingKind::WithTarget(&item.context),
                        );
                    }
                }
                self.block(body, scope);
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => {
                self.block(body, scope);
                for h in handlers {
                    if let Some(t) = &h.type_ {
                        self.expr(t, scope);
                    }
                    if let Some(n) = &h.name {
                        self.bind(scope, &n.name, n.range.end, BindingKind::Opaque);
                    }
                    self.block(&h.body, scope);
                }
                self.block(orelse, scope);
                self.block(finalbody, scope);
            }
            StmtKind::Import(names) => {
                for alias in names {
                    match &alias.asname {
                        Some(asname) => self.bind(
                            scope,
                            &asname.name,
                            end,
                            BindingKind::Import(alias.name.clone()),
                        ),
                        None => {
                            let top = alias.name.split('.').next().unwrap_or(&alias.name);
                            self.bind(scope, top, end, BindingKind::Import(top.to_string()));
                        }
                    }
                }
            }
            StmtKind::ImportFrom {
                module,
                level,
                names,
            } => {
                for alias in names {
                    // Relative imports keep their dots (`.core.run_all`): only the
                    // project's import resolution can place them.
                    let qualified =
                        Some(project::member_path(module.as_deref(), *level, &alias.name));
                    if alias.name == "*" {
                        let dots = ".".repeat(*level as usize);
                        let m = format!("{dots}{}", module.as_deref().unwrap_or_default());
                        self.scopes[scope.0 as usize].star_imports.push(m);
                        continue;
                    }
                    let local = alias.asname.as_ref().map_or(&alias.name, |a| &a.name);
                    let kind = match qualified {
                        Some(q) => BindingKind::FromImport(q),
                        None => BindingKind::Opaque,
                    };
                    self.bind(scope, local, end, kind);
                }
            }
            StmtKind::Match { subject, cases } => {
                self.expr(subject, scope);
                for case in cases {
                    for e in &case.exprs {
                        self.expr(e, scope);
                    }
                    for b in &case.bindings {
                        self.bind(scope, &b.name, b.range.end, BindingKind::Opaque);
                    }
                    if let Some(g) = &case.guard {
                        self.expr(g, scope);
                    }
                    self.block(&case.body, scope);
                }
            }
            _ => {
                exec::for_each_child(stmt, |child| match child {
                    exec::Child::Expr(e) => self.expr(e, scope),
                    exec::Child::Block(b) => self.block(b, scope),
                });
            }
        }
    }

    /// Records `global` and `nonlocal` declarations before the body's bindings.
    fn declarations(&mut self, body: &'a [Stmt], scope: ScopeId) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::Global(names) => {
                    let s = &mut self.scopes[scope.0 as usize];
                    s.globals.extend(names.iter().map(|n| n.name.as_str()));
                }
                StmtKind::Nonlocal(names) => {
                    let s = &mut self.scopes[scope.0 as usize];
                    s.nonlocals.extend(names.iter().map(|n| n.name.as_str()));
                }
                StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
                _ => exec::for_each_child(stmt, |child| {
                    if let exec::Child::Block(b) = child {
                        self.declarations(b, scope);
                    }
                }),
            }
        }
    }

    /// Defaults and annotations are evaluated in the enclosing scope.
    fn params_outer(&mut self, params: &'a Parameters, scope: ScopeId) {
        for p in &params.params {
            for e in p.default.iter().chain(&p.annotation) {
                self.expr(e, scope);
            }
        }
    }

    fn params_inner(&mut self, params: &'a Parameters, scope: ScopeId) {
        for (index, p) in params.params.iter().enumerate() {
            self.bind(scope, &p.name.name, 0, BindingKind::Param(index));
        }
    }

    fn expr(&mut self, expr: &'a Expr, scope: ScopeId) {
        match &expr.kind {
            ExprKind::Lambda(l) => {
                self.params_outer(&l.params, scope);
                self.open(l.scope, ScopeKind::Lambda, scope);
                self.params_inner(&l.params, l.scope);
                self.expr(&l.body, l.scope);
            }
            ExprKind::Comprehension(c) => {
                self.open(c.scope, ScopeKind::Comprehension, scope);
                for (i, g) in c.generators.iter().enumerate() {
                    // The first iterable is evaluated in the enclosing scope.
                    self.expr(&g.iter, if i == 0 { scope } else { c.scope });
                    self.target(c.scope, &g.target, 0, BindingKind::Iterate(&g.iter));
                    for cond in &g.ifs {
                        self.expr(cond, c.scope);
                    }
                }
                self.expr(&c.element, c.scope);
                if let Some(k) = &c.key {
                    self.expr(k, c.scope);
                }
            }
            ExprKind::Named { target, value } => {
                self.expr(value, scope);
                // A walrus in a comprehension binds in the enclosing function.
                let mut target_scope = scope;
                while self.scopes[target_scope.0 as usize].kind == ScopeKind::Comprehension {
                    match self.scopes[target_scope.0 as usize].parent {
                        Some(p) => target_scope = p,
                        None => break,
                    }
                }
                self.target(
                    target_scope,
                    target,
                    expr.range.end,
                    BindingKind::Assign(value),
                );
            }
            _ => exec::for_each_subexpr(expr, |e| self.expr(e, scope)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python;

    /// Resolves the callee of the call on the last line of `src`.
    fn resolve_last(src: &str) -> String {
        let parsed = python::parse(src);
        let model = Model::new(&parsed.module);
        let last = parsed.module.body.last().unwrap();
        let StmtKind::Expr(e) = &last.kind else {
            panic!("last statement is not an expression")
        };
        let call = e.as_call().unwrap();
        format!("{:?}", model.resolve(&call.func, ScopeId::MODULE))
    }

    #[test]
    fn aliases_resolve_to_qualified_names() {
        assert!(
            resolve_last("import multiprocessing as mp\nmp.Pool(2)")
                .contains("multiprocessing.Pool")
        );
        assert!(
            resolve_last("from multiprocessing import Process as P\nP()")
                .contains("multiprocessing.Process")
        );
        assert!(
            resolve_last("import multiprocessing.pool\nmultiprocessing.pool.Pool()")
                .contains("multiprocessing.pool.Pool")
        );
        assert!(
            resolve_last("import concurrent.futures as cf\ncf.ProcessPoolExecutor()")
                .contains("concurrent.futures.ProcessPoolExecutor")
        );
        let parsed = python::parse("import torch.multiprocessing as tmp\ntmp.Pool()");
        let model = Model::new(&parsed.module);
        let StmtKind::Expr(e) = &parsed.module.body[1].kind else {
            panic!("not an expression")
        };
        let name = model.qualified_name(&e.as_call().unwrap().func, ScopeId::MODULE);
        assert_eq!(name.as_deref(), Some("multiprocessing.Pool"));
    }

    #[test]
    fn shadowing_breaks_the_binding() {
        assert_eq!(
            resolve_last("from multiprocessing import Pool\nPool = 3\nPool()"),
            "Unknown"
        );
        assert_eq!(
            resolve_last("import multiprocessing as mp\ndef mp(): pass\nmp.Pool()"),
            "Unknown"
        );
    }

    #[test]
    fn contexts_carry_their_start_method() {
        let v = resolve_last(
            "import multiprocessing as mp\nctx = mp.get_context('spawn')\nctx.Process()",
        );
        assert!(v.contains("Spawn"), "{v}");
        let v = resolve_last("import multiprocessing as mp\nmp.get_context().Pool()");
        assert!(v.contains("multiprocessing.Pool"), "{v}");
    }
}
