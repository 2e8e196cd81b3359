//! Which code runs when a block runs: the walk that "import time" and "when this function
//! is called" questions are answered with.

use crate::ast::*;
use crate::semantic::guard::{self, GuardTest};
use crate::semantic::{Model, Value};

/// A direct child of a statement.
pub enum Child<'a> {
    Expr(&'a Expr),
    Block(&'a [Stmt]),
}

/// Visits the direct children of `stmt` in evaluation order. Function bodies are included
/// as blocks; callers that care about when code runs handle definitions themselves.
pub fn for_each_child<'a>(stmt: &'a Stmt, mut f: impl FnMut(Child<'a>)) {
    use Child::{Block, Expr as E};
    match &stmt.kind {
        StmtKind::FunctionDef(def) => {
            def.decorators.iter().for_each(|d| f(E(d)));
            for p in &def.params.params {
                p.default.iter().chain(&p.annotation).for_each(|e| f(E(e)));
            }
            def.returns.iter().for_each(|e| f(E(e)));
            f(Block(&def.body));
        }
        StmtKind::ClassDef(class) => {
            class
                .decorators
                .iter()
                .chain(&class.bases)
                .for_each(|e| f(E(e)));
            class.keywords.iter().for_each(|k| f(E(&k.value)));
            f(Block(&class.body));
        }
        StmtKind::Return(value) => value.iter().for_each(|e| f(E(e))),
        StmtKind::Delete(targets) | StmtKind::Other(targets) => {
            targets.iter().for_each(|e| f(E(e)))
        }
        StmtKind::Assign { targets, value } => {
            f(E(value));
            targets.iter().for_each(|e| f(E(e)));
        }
        StmtKind::AugAssign { target, value } => {
            f(E(value));
            f(E(target));
        }
        StmtKind::AnnAssign {
            target,
            annotation,
            value,
        } => {
            value.iter().for_each(|e| f(E(e)));
            f(E(annotation));
            f(E(target));
        }
        StmtKind::For {
            target,
            iter,
            body,
            orelse,
            ..
        } => {
            f(E(iter));
            f(E(target));
            f(Block(body));
            f(Block(orelse));
        }
        StmtKind::While { test, body, orelse } => {
            f(E(test));
            f(Block(body));
            f(Block(orelse));
        }
        StmtKind::If { branches } => {
            for b in branches {
                b.test.iter().for_each(|e| f(E(e)));
                f(Block(&b.body));
            }
        }
        StmtKind::With { items, body, .. } => {
            for item in items {
                f(E(&item.context));
                item.target.iter().for_each(|e| f(E(e)));
            }
            f(Block(body));
        }
        StmtKind::Match { subject, cases } => {
            f(E(subject));
            for c in cases {
                c.exprs.iter().chain(&c.guard).for_each(|e| f(E(e)));
                f(Block(&c.body));
            }
        }
        StmtKind::Raise { exc, cause } => exc.iter().chain(cause).for_each(|e| f(E(e))),
        StmtKind::Try {
            body,
            handlers,
            orelse,
            finalbody,
        } => {
            f(Block(body));
            for h in handlers {
                h.type_.iter().for_each(|e| f(E(e)));
                f(Block(&h.body));
            }
            f(Block(orelse));
            f(Block(finalbody));
        }
        StmtKind::Assert { test, msg } => {
            f(E(test));
            msg.iter().for_each(|e| f(E(e)));
        }
        StmtKind::Expr(e) => f(E(e)),
        StmtKind::Import(_)
        | StmtKind::ImportFrom { .. }
        | StmtKind::Global(_)
        | StmtKind::Nonlocal(_)
        | StmtKind::Pass
        | StmtKind::Break
        | StmtKind::Continue => {}
    }
}

/// Visits the direct sub-expressions of `expr`, lambda bodies and comprehension parts
/// included.
pub fn for_each_subexpr<'a>(expr: &'a Expr, mut f: impl FnMut(&'a Expr)) {
    match &expr.kind {
        ExprKind::Name(_) | ExprKind::Str(_) | ExprKind::Constant(_) => {}
        ExprKind::IfExp { test, body, orelse } => {
            f(test);
            f(body);
            f(orelse);
        }
        ExprKind::Attribute { value, .. } => f(value),
        ExprKind::Subscript { value, index } => {
            f(value);
            f(index);
        }
        ExprKind::Call(call) => {
            f(&call.func);
            call.args.iter().for_each(&mut f);
            call.keywords.iter().for_each(|k| f(&k.value));
        }
        ExprKind::Compare {
            left, comparators, ..
        } => {
            f(left);
            comparators.iter().for_each(f);
        }
        ExprKind::BoolOp { values, .. } => values.iter().for_each(f),
        ExprKind::Not(inner) | ExprKind::Starred(inner) => f(inner),
        ExprKind::Lambda(l) => {
            for p in &l.params.params {
                p.default.iter().for_each(&mut f);
            }
            f(&l.body);
        }
        ExprKind::Named { target, value } => {
            f(value);
            f(target);
        }
        ExprKind::Tuple(items)
        | ExprKind::List(items)
        | ExprKind::Suspend(items)
        | ExprKind::Formatted(items)
        | ExprKind::Dict { items, .. }
        | ExprKind::Other(items) => items.iter().for_each(f),
        ExprKind::Comprehension(c) => {
            for g in &c.generators {
                f(&g.iter);
                f(&g.target);
                g.ifs.iter().for_each(&mut f);
            }
            c.key.iter().for_each(&mut f);
            f(&c.element);
        }
    }
}

/// Something that happens when code runs.
#[derive(Clone, Copy)]
pub enum Event<'a> {
    /// A call is evaluated.
    Call { expr: &'a Expr, call: &'a Call },
    /// A `with` statement enters this context manager.
    Enter { expr: &'a Expr },
    /// A decorator is applied: the value of `expr` is called with the definition.
    Decorate { expr: &'a Expr },
}

impl<'a> Event<'a> {
    pub fn expr(&self) -> &'a Expr {
        match self {
            Event::Call { expr, .. } | Event::Enter { expr } | Event::Decorate { expr } => expr,
        }
    }
}

/// Visits every event of the code that runs, right then, when `body` runs in `scope`.
///
/// Skipped: function and lambda bodies (they run when called), the guarded side of a main
/// guard (it never runs on import), the body of a never-true guard look-alike, and
/// `if TYPE_CHECKING:` bodies. Class bodies run at definition, so they are entered.
pub fn walk<'a>(
    model: &Model<'a>,
    body: &'a [Stmt],
    scope: ScopeId,
    on: &mut dyn FnMut(Event<'a>, ScopeId),
) {
    let mut w = Walker {
        model,
        on,
        imports: None,
    };
    w.block(body, scope);
}

/// The `import` statements that run when the module is imported, in order: those
/// [`walk`] would pass, at module level or in a class body.
pub fn import_time_imports<'a>(model: &Model<'a>) -> Vec<&'a Stmt> {
    let mut imports = Vec::new();
    let mut w = Walker {
        model,
        on: &mut |_, _| {},
        imports: Some(&mut imports),
    };
    w.block(&model.module.body, ScopeId::MODULE);
    imports
}

struct Walker<'m, 'a, 'f> {
    model: &'m Model<'a>,
    on: &'f mut dyn FnMut(Event<'a>, ScopeId),
    imports: Option<&'f mut Vec<&'a Stmt>>,
}

impl<'a> Walker<'_, 'a, '_> {
    fn block(&mut self, body: &'a [Stmt], scope: ScopeId) {
        for stmt in body {
            self.stmt(stmt, scope);
        }
    }

    fn stmt(&mut self, stmt: &'a Stmt, scope: ScopeId) {
        match &stmt.kind {
            // Decorators, defaults and annotations run now; the body runs when called.
            StmtKind::FunctionDef(def) => {
                for_each_child(stmt, |child| {
                    if let Child::Expr(e) = child {
                        self.expr(e, scope)
                    }
                });
                self.decorate(&def.decorators, scope);
            }
            StmtKind::ClassDef(class) => {
                for_each_child(stmt, |child| {
                    if let Child::Expr(e) = child {
                        self.expr(e, scope)
                    }
                });
                self.block(&class.body, class.scope);
                self.decorate(&class.decorators, scope);
            }
            StmtKind::If { branches } => self.if_chain(branches, scope),
            StmtKind::Import(_) | StmtKind::ImportFrom { .. } => {
                if let Some(imports) = self.imports.as_mut() {
                    imports.push(stmt);
                }
            }
            StmtKind::Match { subject, cases } if subject.as_name() == Some("__name__") => {
                self.expr(subject, scope);
                for case in cases {
                    // `case "__main__":` is the main guard spelled as a match.
                    let main_only = case.guard.is_none()
                        && case.bindings.is_empty()
                        && matches!(case.exprs.as_slice(), [e] if e.as_str() == Some("__main__"));
                    if !main_only {
                        case.exprs
                            .iter()
                            .chain(&case.guard)
                            .for_each(|e| self.expr(e, scope));
                        self.block(&case.body, scope);
                    }
                }
            }
            StmtKind::With { items, body, .. } => {
                for item in items {
                    self.expr(&item.context, scope);
                    (self.on)(
                        Event::Enter {
                            expr: &item.context,
                        },
                        scope,
                    );
                    if let Some(t) = &item.target {
                        self.expr(t, scope);
                    }
                }
                self.block(body, scope);
            }
            _ => for_each_child(stmt, |child| match child {
                Child::Expr(e) => self.expr(e, scope),
                Child::Block(b) => self.block(b, scope),
            }),
        }
    }

    /// Decorators apply innermost first, after the definition is evaluated.
    fn decorate(&mut self, decorators: &'a [Expr], scope: ScopeId) {
        for d in decorators.iter().rev() {
            (self.on)(Event::Decorate { expr: d }, scope);
        }
    }

    fn if_chain(&mut self, branches: &'a [Branch], scope: ScopeId) {
        for branch in branches {
            let Some(test) = &branch.test else {
                self.block(&branch.body, scope);
                return;
            };
            self.expr(test, scope);
            match self.classify(test, scope) {
                // The rest of the chain runs only when imported: keep walking it.
                Some(GuardTest::OnlyAsMain) | Some(GuardTest::Never) => continue,
                // The body runs on import; the rest of the chain only as main.
                Some(GuardTest::OnlyWhenImported) => {
                    self.block(&branch.body, scope);
                    return;
                }
                None if self.is_type_checking(test, scope) => continue,
                None => match test.kind {
                    ExprKind::Constant(Some(false)) => continue,
                    ExprKind::Constant(Some(true)) => {
                        self.block(&branch.body, scope);
                        return;
                    }
                    _ => self.block(&branch.body, scope),
                },
            }
        }
    }

    fn classify(&self, test: &'a Expr, scope: ScopeId) -> Option<GuardTest> {
        guard::classify(test).or_else(|| self.main_process_test(test, scope))
    }

    /// `current_process().name == "MainProcess"`: children are renamed before they
    /// re-import the main module, so the body never runs in them.
    fn main_process_test(&self, test: &'a Expr, scope: ScopeId) -> Option<GuardTest> {
        let (left, op, right) = test.single_comparison()?;
        let is_name_of_current = |e: &'a Expr| match &e.kind {
            ExprKind::Attribute { value, attr } if attr.name == "name" => value
                .as_call()
                .and_then(|c| self.model.qualified_name(&c.func, scope))
                .is_some_and(|q| q == "multiprocessing.current_process"),
            _ => false,
        };
        let pair = (left, right);
        let matches = [pair, (pair.1, pair.0)]
            .iter()
            .any(|(a, b)| is_name_of_current(a) && b.as_str() == Some("MainProcess"));
        match (matches, op) {
            (true, CmpOp::Eq) => Some(GuardTest::OnlyAsMain),
            (true, CmpOp::NotEq) => Some(GuardTest::OnlyWhenImported),
            _ => None,
        }
    }

    fn is_type_checking(&self, test: &'a Expr, scope: ScopeId) -> bool {
        if test.as_name() == Some("TYPE_CHECKING") {
            return true;
        }
        matches!(
            self.model.resolve(test, scope),
            Value::Object { ref path, .. }
                if path == "typing.TYPE_CHECKING" || path == "typing_extensions.TYPE_CHECKING"
        )
    }

    /// A comprehension's first iterable is evaluated at once; the rest only as far as the
    /// comprehension is consumed, which a generator expression may never be.
    fn comprehension(&mut self, c: &'a Comprehension, scope: ScopeId, consumed: bool) {
        for (i, g) in c.generators.iter().enumerate() {
            if i > 0 && !consumed {
                return;
            }
            self.expr(&g.iter, if i == 0 { scope } else { c.scope });
            if consumed {
                for cond in &g.ifs {
                    self.expr(cond, c.scope);
                }
            }
        }
        if consumed {
            self.expr(&c.element, c.scope);
            if let Some(k) = &c.key {
                self.expr(k, c.scope);
            }
        }
    }

    fn expr(&mut self, expr: &'a Expr, scope: ScopeId) {
        match &expr.kind {
            // A lambda's body runs when it is called; its defaults run now.
            ExprKind::Lambda(l) => {
                for p in &l.params.params {
                    if let Some(d) = &p.default {
                        self.expr(d, scope);
                    }
                }
            }
            ExprKind::Comprehension(c) => {
                self.comprehension(c, scope, c.kind != ComprehensionKind::Generator)
            }
            ExprKind::Call(call) => {
                self.expr(&call.func, scope);
                // A generator passed straight to a call is almost always consumed by it.
                for arg in call
                    .args
                    .iter()
                    .chain(call.keywords.iter().map(|k| &k.value))
                {
                    match &arg.kind {
                        ExprKind::Comprehension(c) => self.comprehension(c, scope, true),
                        _ => self.expr(arg, scope),
                    }
                }
                (self.on)(Event::Call { expr, call }, scope);
            }
            // Short-circuits: what follows a guard operand runs only where the guard holds.
            ExprKind::BoolOp { op, values } => {
                for value in values {
                    self.expr(value, scope);
                    let stop = match (op, self.classify(value, scope)) {
                        (BoolOp::And, Some(GuardTest::OnlyAsMain | GuardTest::Never)) => true,
                        (BoolOp::Or, Some(GuardTest::OnlyWhenImported)) => true,
                        (BoolOp::And, None) => {
                            matches!(value.kind, ExprKind::Constant(Some(false)))
                        }
                        (BoolOp::Or, None) => matches!(value.kind, ExprKind::Constant(Some(true))),
                        _ => false,
                    };
                    if stop {
                        break;
                    }
                }
            }
            ExprKind::IfExp { test, body, orelse } => {
                self.expr(test, scope);
                let (run_body, run_else) = match (self.classify(test, scope), &test.kind) {
                    (Some(GuardTest::OnlyAsMain | GuardTest::Never), _) => (false, true),
                    (Some(GuardTest::OnlyWhenImported), _) => (true, false),
                    (None, ExprKind::Constant(Some(truth))) => (*truth, !truth),
                    (None, _) => (true, true),
                };
                if run_body {
                    self.expr(body, scope);
                }
                if run_else {
                    self.expr(orelse, scope);
                }
            }
            _ => for_each_subexpr(expr, |e| self.expr(e, scope)),
        }
    }
}

/// Whether this event starts processes, and how.
pub fn process_start<'a>(
    objects: &crate::semantic::objects::Objects<'_, 'a>,
    event: Event<'a>,
    scope: ScopeId,
) -> Option<crate::semantic::mp::ProcessStart> {
    let model = objects.model;
    use crate::semantic::mp::{self, MpClass, ProcessStart};
    let start = |class: MpClass, method| ProcessStart {
        what: class.started().unwrap_or(mp::Started::Process),
        method,
    };
    match event {
        Event::Enter { expr } => match model.resolve(expr, scope).instance()? {
            (MpClass::Manager, method) => Some(start(MpClass::Manager, method)),
            _ => None,
        },
        Event::Call { expr, call } => {
            if let ExprKind::Attribute { value, attr } = &call.func.kind {
                // What names resolve to, else what the object tracking follows: an
                // attribute (`self.p`), an element of a list (`procs[-1]`).
                let receiver = model.resolve(value, scope).instance().or_else(|| {
                    let t = objects.track(value, scope)?;
                    Some((t.class, objects.context_method(&t)))
                });
                match (attr.name.as_str(), receiver) {
                    ("start", Some((c @ (MpClass::Process | MpClass::Manager), m))) => {
                        return Some(start(c, m));
                    }
                    ("submit" | "map", Some((c @ MpClass::ProcessPoolExecutor, m))) => {
                        return Some(start(c, m));
                    }
                    _ => {}
                }
            }
            // `Parallel(n_jobs=2, backend="multiprocessing")(...)`: joblib runs the calls
            // on a multiprocessing pool (its default, loky, starts workers that do not
            // run the main module, which a runtime check confirmed).
            if let Some(parallel) = call.func.as_call()
                && model.resolve(&parallel.func, scope).path() == Some("joblib.Parallel")
                && parallel.keyword("backend").and_then(|b| b.as_str()) == Some("multiprocessing")
            {
                return Some(ProcessStart {
                    what: mp::Started::Pool,
                    method: None,
                });
            }
            match model.resolve(expr, scope) {
                Value::Instance {
                    class: c @ (MpClass::Pool | MpClass::StartedManager),
                    method,
                } => Some(start(c, method)),
                _ => {
                    let callee = model.resolve(&call.func, scope);
                    let path = callee.path()?;
                    // torch's launchers take `start_method=`, "spawn" by default.
                    let method = match call.keyword("start_method") {
                        None => Some(mp::StartMethod::Spawn),
                        Some(arg) => arg.as_str().and_then(mp::StartMethod::parse),
                    };
                    mp::is_launcher_function(path).then_some(ProcessStart {
                        what: mp::Started::Launched,
                        method,
                    })
                }
            }
        }
        Event::Decorate { .. } => None,
    }
}

/// The start method import-time code has certainly set before `offset`, from
/// [`import_time_start_methods`]: only when every call before it names the same method
/// (branches may differ).
pub fn method_set_before(
    forced: &[(u32, Option<crate::semantic::mp::StartMethod>)],
    offset: u32,
) -> Option<crate::semantic::mp::StartMethod> {
    let mut before = forced
        .iter()
        .filter(|(at, _)| *at <= offset)
        .map(|(_, m)| *m);
    let first = before.next()??;
    before.all(|m| m == Some(first)).then_some(first)
}

/// `set_start_method(...)` calls that run at import time, by position, with the method
/// when it is a literal: each one fixes the default context for the code after it.
pub fn import_time_start_methods<'a>(
    model: &Model<'a>,
) -> Vec<(u32, Option<crate::semantic::mp::StartMethod>)> {
    let mut found = Vec::new();
    let mut entered = Vec::new();
    start_methods_in(
        model,
        &model.module.body,
        ScopeId::MODULE,
        None,
        &mut entered,
        &mut found,
    );
    found
}

/// `set_start_method` calls in code that runs now, following calls into functions of
/// this file (`configure()` at module level); a call found inside a function counts at
/// the position of the import-time call that reached it.
fn start_methods_in<'a>(
    model: &Model<'a>,
    body: &'a [Stmt],
    scope: ScopeId,
    at: Option<u32>,
    entered: &mut Vec<*const FunctionDef>,
    found: &mut Vec<(u32, Option<crate::semantic::mp::StartMethod>)>,
) {
    use crate::semantic::mp::StartMethod;
    let mut calls = Vec::new();
    walk(model, body, scope, &mut |event, scope| {
        if let Event::Call { expr, call } = event {
            calls.push((expr, call, scope));
        }
    });
    for (expr, call, scope) in calls {
        let position = at.unwrap_or(expr.range.start);
        let callee = model.resolve(&call.func, scope);
        if callee.canonical_path().as_deref() == Some("multiprocessing.set_start_method") {
            let method = call
                .argument(0, "method")
                .and_then(|a| a.as_str())
                .and_then(StartMethod::parse);
            found.push((position, method));
        } else if let Value::Function(f) = callee {
            let key = f as *const FunctionDef;
            if !entered.contains(&key) && !f.is_async && !f.is_generator {
                entered.push(key);
                start_methods_in(model, &f.body, f.scope, Some(position), entered, found);
            }
        }
    }
}

/// Visits every expression in `body`, in every scope, with the scope it is evaluated in.
pub fn walk_all_exprs<'a>(body: &'a [Stmt], scope: ScopeId, on: &mut dyn FnMut(&'a Expr, ScopeId)) {
    for stmt in body {
        let inner = match &stmt.kind {
            StmtKind::FunctionDef(f) => Some(f.scope),
            StmtKind::ClassDef(c) => Some(c.scope),
            _ => None,
        };
        for_each_child(stmt, |child| match child {
            Child::Expr(e) => walk_expr_tree(e, scope, on),
            Child::Block(b) => walk_all_exprs(b, inner.unwrap_or(scope), on),
        });
    }
}

/// Visits `expr` and every expression inside it, with the scope each is evaluated in.
pub fn walk_expr_tree<'a>(expr: &'a Expr, scope: ScopeId, on: &mut dyn FnMut(&'a Expr, ScopeId)) {
    on(expr, scope);
    let inner = match &expr.kind {
        ExprKind::Lambda(l) => Some(l.scope),
        ExprKind::Comprehension(c) => Some(c.scope),
        _ => None,
    };
    for_each_subexpr(expr, |e| walk_expr_tree(e, inner.unwrap_or(scope), on));
}

/// Whether the code at `range` can run more than once each time `body` runs: it lies in
/// the body of a `for` or `while` loop, or in a comprehension (nested definitions aside:
/// they run when called).
pub fn repeats(body: &[Stmt], range: Range) -> bool {
    let holds = |r: Range| r.start <= range.start && range.end <= r.end;
    let Some(stmt) = body.iter().find(|s| holds(s.range)) else {
        return false;
    };
    if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return false;
    }
    let looping = matches!(stmt.kind, StmtKind::For { .. } | StmtKind::While { .. });
    // A `while` test runs again before every round.
    if let StmtKind::While { test, .. } = &stmt.kind
        && holds(test.range)
    {
        return true;
    }
    let mut found = false;
    for_each_child(stmt, |c| match c {
        Child::Block(b) if b.iter().any(|s| holds(s.range)) => {
            found = looping || repeats(b, range);
        }
        Child::Expr(e) if holds(e.range) => {
            walk_expr_tree(e, ScopeId::MODULE, &mut |x, _| {
                found |= matches!(x.kind, ExprKind::Comprehension(_))
                    && holds(x.range)
                    && x.range != range;
            });
        }
        _ => {}
    });
    found
}

/// Whether some statement of `body` or of the blocks nested in it satisfies `test`:
/// `Some(answer)` decides at that statement, `None` looks into its blocks.
pub fn any_stmt<'a>(body: &'a [Stmt], test: &mut dyn FnMut(&'a Stmt) -> Option<bool>) -> bool {
    body.iter().any(|stmt| match test(stmt) {
        Some(answer) => answer,
        None => {
            let mut found = false;
            for_each_child(stmt, |c| {
                if let Child::Block(b) = c {
                    found = found || any_stmt(b, test);
                }
            });
            found
        }
    })
}

/// Whether `body` imports, at any depth, a module whose top-level package is one of
/// `tops` (relative imports aside).
pub fn imports_any(body: &[Stmt], tops: &[&str]) -> bool {
    let top = |name: &str| tops.contains(&name.split('.').next().unwrap_or(name));
    any_stmt(body, &mut |stmt| match &stmt.kind {
        StmtKind::Import(names) => names.iter().any(|a| top(&a.name)).then_some(true),
        StmtKind::ImportFrom { module, level, .. } => {
            (*level == 0 && module.as_deref().is_some_and(top)).then_some(true)
        }
        _ => None,
    })
}

/// Whether calling `f` may give something callable: a `return` of anything but a literal
/// (a constant, a string, a tuple, a list) in its own body, nested definitions aside; or
/// it is a generator or a coroutine, whose call gives an object.
pub fn may_return_callable(f: &FunctionDef) -> bool {
    let returns = any_stmt(&f.body, &mut |stmt| match &stmt.kind {
        StmtKind::Return(value) => Some(value.as_ref().is_some_and(|v| {
            !matches!(
                v.kind,
                ExprKind::Constant(_)
                    | ExprKind::Str(_)
                    | ExprKind::Formatted(_)
                    | ExprKind::Tuple(_)
                    | ExprKind::List(_)
            )
        })),
        StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => Some(false),
        _ => None,
    });
    f.is_generator || f.is_async || returns
}
