//! Shared-memory segments: which calls create a segment and which attach to one by name,
//! whether the resource tracker follows it, where its name comes from, and whether the
//! object (or a view of its buffer) leaves the code that made it.
//!
//! `SharedMemory.__init__` registers the segment with the resource tracker when it creates
//! it *and* when it attaches (3.8-3.12 always, 3.13+ unless `track=False`); the tracker of a
//! process tree unlinks whatever is still registered when the last process of the tree is
//! gone. That one fact explains every rule of the MP30x family.

use crate::ast::*;
use crate::semantic::exec;
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::{Managed, MpClass, SegmentKind};
use crate::semantic::objects::{MethodCall, Objects, Site, Tracked};
use crate::semantic::{BindingKind, Model, ScopeKind, Value};

/// Whether a constructor call makes a new segment or opens an existing one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opening {
    Create,
    Attach,
    /// `create=flag`: decided at run time.
    Unknown,
}

/// Whether the segment is registered with this process's resource tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tracking {
    /// The default (`track=True`, and every version before 3.13).
    On,
    /// `track=False` (3.13+): nothing will unlink it but the program.
    Off,
    Unknown,
}

/// One `SharedMemory(...)` or `ShareableList(...)` constructor call.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub expr: &'a Expr,
    pub call: &'a Call,
    pub scope: ScopeId,
    pub kind: SegmentKind,
    pub managed: Managed,
    pub opening: Opening,
    pub tracking: Tracking,
    /// The `name` argument, when one is given.
    pub name: Option<&'a Expr>,
}

impl<'a> Segment<'a> {
    /// The object this call makes, as object tracking knows it.
    pub fn tracked(&self) -> Tracked<'a> {
        Tracked {
            class: MpClass::Segment(self.kind, self.managed),
            sites: vec![Site {
                call: self.expr,
                part: None,
            }],
        }
    }

    /// `shm.unlink()` for a `SharedMemory`, `sl.shm.unlink()` for a `ShareableList`.
    pub fn unlink_text(&self, holder: &str) -> String {
        match self.kind {
            SegmentKind::SharedMemory => format!("{holder}.unlink()"),
            SegmentKind::ShareableList => format!("{holder}.shm.unlink()"),
        }
    }
}

fn segment_of<'a>(model: &Model<'a>, expr: &'a Expr, scope: ScopeId) -> Option<Segment<'a>> {
    let call = expr.as_call()?;
    let Value::Instance {
        class: MpClass::Segment(kind, managed),
        ..
    } = model.resolve(expr, scope)
    else {
        return None;
    };
    let literal = |e: &Expr| match e.kind {
        ExprKind::Constant(truth) => truth,
        _ => None,
    };
    let (opening, name) = match (kind, managed) {
        // `smm.SharedMemory(size)`, `smm.ShareableList(seq)`: always new.
        (_, Managed::ByManager) => (Opening::Create, None),
        // SharedMemory(name=None, create=False, size=0, *, track=True)
        (SegmentKind::SharedMemory, Managed::No) => {
            let opening = match call.argument(1, "create") {
                None => Opening::Attach,
                Some(flag) => match literal(flag) {
                    Some(true) => Opening::Create,
                    Some(false) => Opening::Attach,
                    None => Opening::Unknown,
                },
            };
            // `SharedMemory(None, True, size)`: no name given.
            let name = call
                .argument(0, "name")
                .filter(|n| !matches!(n.kind, ExprKind::Constant(_)));
            (opening, name)
        }
        // ShareableList(sequence=None, *, name=None): a sequence creates.
        (SegmentKind::ShareableList, Managed::No) => {
            let opening = match call.argument(0, "sequence") {
                None => Opening::Attach,
                Some(e) if matches!(e.kind, ExprKind::Constant(Some(false))) => Opening::Attach,
                Some(_) => Opening::Create,
            };
            (opening, call.keyword("name"))
        }
    };
    let tracking = match call.keyword("track") {
        // `**options` may carry `track=False`.
        None if call.keywords.iter().any(|k| k.arg.is_none()) => Tracking::Unknown,
        None => Tracking::On,
        Some(flag) => match literal(flag) {
            Some(true) => Tracking::On,
            Some(false) => Tracking::Off,
            None => Tracking::Unknown,
        },
    };
    Some(Segment {
        expr,
        call,
        scope,
        kind,
        managed,
        opening,
        tracking,
        name,
    })
}

/// Every segment constructor call of the file, in source order; those made inside a
/// block that expects them to fail (`with self.assertRaises(...)`) are left out.
pub fn find<'a>(model: &Model<'a>) -> Vec<Segment<'a>> {
    let mut out = Vec::new();
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, scope| {
        if let Some(s) = segment_of(model, e, scope) {
            out.push(s);
        }
    });
    out.retain(|s| !expects_failure(&model.module.body, s.expr.range));
    out
}

/// The method calls on the segment that `object` is, anywhere in the file: on the object
/// itself, and for a `ShareableList` on its `.shm`.
pub fn calls_on<'a>(
    objects: &Objects<'_, 'a>,
    object: &Tracked<'a>,
    methods: &[&str],
) -> Vec<MethodCall<'a>> {
    objects
        .every_method_call()
        .iter()
        .filter(|mc| methods.contains(&mc.method))
        .filter(|mc| is_on(objects, object, mc))
        .copied()
        .collect()
}

/// Whether a method call is made on `object` (or on the `.shm` of a `ShareableList`).
pub fn is_on<'a>(objects: &Objects<'_, 'a>, object: &Tracked<'a>, mc: &MethodCall<'a>) -> bool {
    let receiver = match &mc.receiver.kind {
        ExprKind::Attribute { value, attr }
            if attr.name == "shm"
                && matches!(
                    object.class,
                    MpClass::Segment(SegmentKind::ShareableList, _)
                ) =>
        {
            &**value
        }
        _ => mc.receiver,
    };
    objects
        .track(receiver, mc.scope)
        .is_some_and(|t| t.same_object(object))
}

/// The simple name a constructor call is bound to in its own scope (`shm = SharedMemory(...)`,
/// also annotated or through `:=`), if that is all that happens to it.
pub fn bound_name<'a>(model: &Model<'a>, segment: &Segment<'a>) -> Option<&'a str> {
    let body = model.body(segment.scope)?;
    let mut found = None;
    find_assign(body, segment.expr, &mut found);
    // A `global` name is the module's: other functions own it too.
    found.filter(|n| model.binding_scope(n, segment.scope) == Some(segment.scope))
}

/// Whether two name expressions surely give the same segment name: the same source text
/// (`args.name` twice), or the same string, written out or through a name bound once to it.
pub fn same_name(
    model: &Model<'_>,
    a: &Expr,
    a_scope: ScopeId,
    b: &Expr,
    b_scope: ScopeId,
    text: &dyn Fn(&Expr) -> String,
) -> bool {
    if text(a) == text(b) {
        return true;
    }
    let value = |e: &Expr, scope: ScopeId| -> Option<String> {
        if let Some(s) = e.as_str() {
            return Some(s.to_string());
        }
        let (_, bindings) = model.bindings_at(e.as_name()?, scope, e.range.start)?;
        match bindings.as_slice() {
            [b] => match &b.kind {
                BindingKind::Assign(v) => v.as_str().map(str::to_string),
                _ => None,
            },
            _ => None,
        }
    };
    matches!((value(a, a_scope), value(b, b_scope)), (Some(x), Some(y)) if x == y)
}

/// Whether an `if` of `body` (nested blocks included, nested definitions only when
/// `around` leads into them) tests `sys.version_info`: the program chooses per version
/// (`track=False` from 3.13, a workaround before) on purpose. With `around`, only the
/// statements that contain that range count (the code is one branch of such a test);
/// without, any test in the body does (an early `return` for new versions makes what
/// follows the old-version branch).
pub fn tests_version<'a>(
    model: &Model<'a>,
    body: &'a [Stmt],
    scope: ScopeId,
    around: Option<Range>,
) -> bool {
    body.iter()
        .filter(|s| around.is_none_or(|r| s.range.start <= r.start && r.end <= s.range.end))
        .any(|s| {
            let here = match &s.kind {
                StmtKind::If { branches } => branches.iter().any(|b| {
                    b.test
                        .as_ref()
                        .is_some_and(|t| mentions_version(model, t, scope))
                }),
                _ => false,
            };
            let mut inner = false;
            if around.is_some()
                || !matches!(s.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_))
            {
                exec::for_each_child(s, |c| {
                    if let exec::Child::Block(b) = c {
                        inner |= tests_version(model, b, scope, around);
                    }
                });
            }
            here || inner
        })
}

fn mentions_version<'a>(model: &Model<'a>, e: &'a Expr, scope: ScopeId) -> bool {
    let mut found = false;
    exec::walk_expr_tree(e, scope, &mut |sub, at| {
        if matches!(sub.kind, ExprKind::Attribute { .. } | ExprKind::Name(_))
            && model
                .qualified_name(sub, at)
                .is_some_and(|q| q == "sys.version_info")
        {
            found = true;
        }
    });
    found
}

fn find_assign<'a>(body: &'a [Stmt], call: &Expr, found: &mut Option<&'a str>) {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Assign { targets, value } if std::ptr::eq(value, call) => {
                if let [t] = targets.as_slice()
                    && let Some(n) = t.as_name()
                {
                    *found = Some(n);
                }
                return;
            }
            StmtKind::AnnAssign {
                target,
                value: Some(value),
                ..
            } if std::ptr::eq(value, call) => {
                *found = target.as_name();
                return;
            }
            StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
            _ => exec::for_each_child(stmt, |c| {
                if let exec::Child::Block(b) = c
                    && found.is_none()
                {
                    find_assign(b, call, found);
                }
            }),
        }
    }
}

/// How an object bound to a name can leave the code that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaves {
    Returned,
    /// Stored in an attribute, a subscript, a container or another name.
    Stored,
    /// Passed to a call the analysis does not follow (a method, a function elsewhere).
    Passed,
    /// Captured by a nested function or lambda (a callback may clean it up later).
    Captured,
    /// Its `unlink` method itself handed on (`atexit.register(shm.unlink)`).
    CleanupHandedOn,
}

/// Calls that read an object without keeping it.
const OBSERVERS: [&str; 24] = [
    "print",
    "len",
    "repr",
    "str",
    "isinstance",
    "id",
    "type",
    "bool",
    "hash",
    "format",
    "list",
    "tuple",
    "set",
    "sorted",
    "sum",
    "min",
    "max",
    "any",
    "all",
    "bytes",
    "bytearray",
    "iter",
    "enumerate",
    "zip",
];

/// Where `name` (bound in `scope`) leaves its scope, if it does: the first such use in
/// source order. Uses through attributes (`shm.buf`, `shm.close()`) keep it; so do
/// launches of this file's functions, whose code the analysis follows through their
/// parameters.
pub fn leaves<'a>(
    objects: &Objects<'_, 'a>,
    name: &str,
    scope: ScopeId,
) -> Option<(Range, Leaves)> {
    let model = objects.model;
    let atom = |e: &Expr, at: ScopeId| {
        e.as_name()
            .is_some_and(|n| n == name && model.binding_scope(n, at) == Some(scope))
    };
    leaves_by(objects, scope, &atom, true)
}

/// Where the name of the segment bound to `name` (`shm.name`, `sl.shm.name`) leaves the
/// code: to another process or program, which may then be the one that unlinks it.
pub fn name_leaves<'a>(
    objects: &Objects<'_, 'a>,
    name: &str,
    scope: ScopeId,
) -> Option<(Range, Leaves)> {
    let model = objects.model;
    let mine = |e: &Expr, at: ScopeId| {
        e.as_name()
            .is_some_and(|n| n == name && model.binding_scope(n, at) == Some(scope))
    };
    let atom = |e: &Expr, at: ScopeId| match &e.kind {
        ExprKind::Attribute { value, attr } if attr.name == "name" || attr.name == "_name" => {
            mine(value, at)
                || matches!(&value.kind, ExprKind::Attribute { value: v, attr: a }
                    if a.name == "shm" && mine(v, at))
        }
        _ => false,
    };
    leaves_by(objects, scope, &atom, false)
}

/// The uses of what `atom` recognises that leave `scope` (see [`leaves`]); with
/// `follow_launches`, a plain name passed to a launch of this file's functions stays.
fn leaves_by<'a>(
    objects: &Objects<'_, 'a>,
    scope: ScopeId,
    atom: &dyn Fn(&Expr, ScopeId) -> bool,
    follow_launches: bool,
) -> Option<(Range, Leaves)> {
    let model = objects.model;
    let launch_args: Vec<*const Expr> = if follow_launches {
        objects
            .links()
            .launches
            .iter()
            .flat_map(|l| l.bindings.iter().map(|(_, e)| *e as *const Expr))
            .collect()
    } else {
        Vec::new()
    };
    let mut out: Vec<(Range, Leaves)> = Vec::new();
    // What is returned, or stored anywhere but a plain local, leaves with everything it
    // holds: also through the calls that build it (`return Meta(name=shm.name)`).
    let into_plain_name = |targets: &[&Expr]| targets.iter().all(|t| t.as_name().is_some());
    // A function's local is used only in its body (nested code included): the rest of the
    // module cannot name it.
    let (body, body_scope) = match model.function(scope) {
        Some(f) if scope != ScopeId::MODULE => (&f.body[..], scope),
        _ => (&model.module.body[..], ScopeId::MODULE),
    };
    walk_stmts(body, body_scope, &mut |stmt, at| match &stmt.kind {
        StmtKind::Return(Some(v)) if bare_deep(v, &|e| atom(e, at)) => {
            out.push((stmt.range, Leaves::Returned))
        }
        StmtKind::Assign { targets, value } => {
            let targets: Vec<&Expr> = targets.iter().collect();
            let held = if into_plain_name(&targets) {
                bare(value, &|e| atom(e, at))
            } else {
                bare_deep(value, &|e| atom(e, at))
            };
            if held {
                out.push((stmt.range, Leaves::Stored))
            }
        }
        StmtKind::AnnAssign {
            target,
            value: Some(value),
            ..
        }
        | StmtKind::AugAssign { target, value, .. } => {
            let held = if into_plain_name(&[target]) {
                bare(value, &|e| atom(e, at))
            } else {
                bare_deep(value, &|e| atom(e, at))
            };
            if held {
                out.push((stmt.range, Leaves::Stored))
            }
        }
        _ => {}
    });
    exec::walk_all_exprs(body, body_scope, &mut |e, at| match &e.kind {
        ExprKind::Suspend(_) => {
            let mut found = false;
            exec::for_each_subexpr(e, |sub| found |= bare(sub, &|x| atom(x, at)));
            if found {
                out.push((e.range, Leaves::Returned));
            }
        }
        ExprKind::Call(call) => {
            // Observers keep nothing; a constructor given the name attaches in place.
            if is_observer(model, e, at) || segment_of(model, e, at).is_some() {
                return;
            }
            let args = call
                .args
                .iter()
                .chain(call.keywords.iter().map(|k| &k.value));
            for arg in args {
                if arg.as_name().is_some() && launch_args.contains(&(arg as *const Expr)) {
                    continue;
                }
                if bare(arg, &|x| atom(x, at)) {
                    out.push((arg.range, Leaves::Passed));
                }
                if let ExprKind::Attribute { value, attr } = &arg.kind
                    && attr.name == "unlink"
                    && (atom(value, at)
                        || matches!(&value.kind, ExprKind::Attribute { value: v, attr: a }
                            if a.name == "shm" && atom(v, at)))
                {
                    out.push((arg.range, Leaves::CleanupHandedOn));
                }
            }
        }
        // Read from a nested function or lambda (comprehensions run in place). Functions
        // reading a module-level object use a global: their own calls are seen by the
        // object tracking, their stores and returns above.
        _ if at != scope
            && scope != ScopeId::MODULE
            && atom(e, at)
            && !in_comprehension_of(model, at, scope) =>
        {
            out.push((e.range, Leaves::Captured))
        }
        _ => {}
    });
    out.sort_by_key(|(r, _)| r.start);
    out.into_iter().next()
}

fn in_comprehension_of(model: &Model<'_>, mut at: ScopeId, scope: ScopeId) -> bool {
    while at != scope {
        if model.scope_kind(at) != ScopeKind::Comprehension {
            return false;
        }
        match model.parent(at) {
            Some(p) => at = p,
            None => return false,
        }
    }
    true
}

/// A call of a builtin that only looks at its arguments, or of logging.
fn is_observer<'a>(model: &Model<'a>, e: &'a Expr, scope: ScopeId) -> bool {
    let Some(call) = e.as_call() else {
        return false;
    };
    match &call.func.kind {
        ExprKind::Name(n) => OBSERVERS.contains(&n.as_str()),
        ExprKind::Attribute { value, attr } => {
            matches!(
                attr.name.as_str(),
                "debug" | "info" | "warning" | "error" | "exception" | "critical" | "log"
            ) && (model
                .qualified_name(value, scope)
                .is_some_and(|q| q == "logging")
                || value
                    .as_name()
                    .is_some_and(|n| n.contains("log") || n.contains("LOG")))
        }
        _ => false,
    }
}

/// Whether `e` holds a reference to the object itself: the name is mentioned other than
/// as the object of an attribute access (`shm.buf`, `shm.name`).
pub fn bare(e: &Expr, atom: &dyn Fn(&Expr) -> bool) -> bool {
    if atom(e) {
        return true;
    }
    match &e.kind {
        ExprKind::Name(_) => false,
        // `shm.buf`, `shm.name`: a part of it, not the object (an atom may still be one).
        ExprKind::Attribute { value, .. } if value.as_name().is_some() => false,
        // What a call does with its arguments is judged at the call (see `leaves_by`).
        ExprKind::Lambda(_) | ExprKind::Call(_) => false,
        ExprKind::Comprehension(_) => {
            let mut found = false;
            exec::for_each_subexpr(e, |sub| found |= bare(sub, atom));
            found
        }
        // A comparison or a test reads the object and keeps nothing.
        ExprKind::Compare { .. } | ExprKind::Not(_) => false,
        _ => {
            let mut found = false;
            exec::for_each_subexpr(e, |sub| found |= bare(sub, atom));
            found
        }
    }
}

/// [`bare`], looking into the arguments of calls too.
fn bare_deep(e: &Expr, atom: &dyn Fn(&Expr) -> bool) -> bool {
    if atom(e) {
        return true;
    }
    match &e.kind {
        ExprKind::Call(_) => {
            let mut found = false;
            exec::for_each_subexpr(e, |sub| found |= bare_deep(sub, atom));
            found
        }
        _ => {
            bare(e, atom)
                || {
                    let mut found = false;
                    if !matches!(
                        e.kind,
                        ExprKind::Name(_)
                            | ExprKind::Lambda(_)
                            | ExprKind::Compare { .. }
                            | ExprKind::Not(_)
                    ) && !matches!(&e.kind, ExprKind::Attribute { value, .. } if value.as_name().is_some())
                    {
                        exec::for_each_subexpr(e, |sub| found |= bare_deep(sub, atom));
                    }
                    found
                }
        }
    }
}

/// Visits every statement with the scope it runs in, nested bodies included.
pub fn walk_stmts<'a>(body: &'a [Stmt], scope: ScopeId, on: &mut dyn FnMut(&'a Stmt, ScopeId)) {
    for stmt in body {
        on(stmt, scope);
        match &stmt.kind {
            StmtKind::FunctionDef(f) => walk_stmts(&f.body, f.scope, on),
            StmtKind::ClassDef(c) => walk_stmts(&c.body, c.scope, on),
            _ => exec::for_each_child(stmt, |c| {
                if let exec::Child::Block(b) = c {
                    walk_stmts(b, scope, on);
                }
            }),
        }
    }
}

/// Where the name of an attached segment comes from, when it is outside this program's
/// process tree: the command line, the environment, the user, or a fixed string that no
/// code of this file creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameSource {
    CommandLine,
    Environment,
    Input,
    Literal,
}

impl NameSource {
    pub fn describe(self) -> &'static str {
        match self {
            NameSource::CommandLine => "from the command line",
            NameSource::Environment => "from an environment variable",
            NameSource::Input => "typed in by the user",
            NameSource::Literal => "fixed in the code",
        }
    }
}

/// Where the value of `e` (evaluated in `scope`) comes from, if it is one of the outside
/// sources; names are followed through one assignment and through the parameters of the
/// file's own functions.
pub fn name_source<'a>(
    objects: &Objects<'_, 'a>,
    e: &'a Expr,
    scope: ScopeId,
    depth: u32,
) -> Option<NameSource> {
    let model = objects.model;
    if depth > 4 {
        return None;
    }
    let qualified = |e: &'a Expr| model.qualified_name(e, scope);
    match &e.kind {
        ExprKind::Str(_) => Some(NameSource::Literal),
        ExprKind::Subscript { value, .. } => match qualified(value).as_deref() {
            Some("sys.argv") => Some(NameSource::CommandLine),
            Some("os.environ") => Some(NameSource::Environment),
            _ => None,
        },
        ExprKind::Call(call) => {
            let path = qualified(&call.func);
            match path.as_deref() {
                Some("os.getenv" | "os.environ.get") => Some(NameSource::Environment),
                Some("input") => Some(NameSource::Input),
                Some("str") => name_source(objects, call.args.first()?, scope, depth + 1),
                _ => match &call.func.kind {
                    ExprKind::Name(n) if n.as_str() == "input" => Some(NameSource::Input),
                    // `"psm_" + x`, `name.strip()`: the same source.
                    ExprKind::Attribute { value, .. } => {
                        name_source(objects, value, scope, depth + 1)
                    }
                    _ => None,
                },
            }
        }
        // `args.name` after `args = parser.parse_args()`.
        ExprKind::Attribute { value, .. } => {
            let n = value.as_name()?;
            let (found, bindings) = model.bindings_at(n, scope, value.range.start)?;
            let [b] = bindings.as_slice() else {
                return None;
            };
            match &b.kind {
                BindingKind::Assign(v)
                    if v.as_call().is_some_and(|c| {
                        matches!(&c.func.kind, ExprKind::Attribute { attr, .. }
                            if attr.name == "parse_args" || attr.name == "parse_known_args")
                    }) && found == scope =>
                {
                    Some(NameSource::CommandLine)
                }
                _ => None,
            }
        }
        ExprKind::Name(n) => {
            let (found, bindings) = model.bindings_at(n, scope, e.range.start)?;
            let mut sources = bindings.iter().map(|b| match &b.kind {
                BindingKind::Assign(v) => name_source(objects, v, found, depth + 1),
                BindingKind::Param(index) => {
                    let f = model.function(found)?;
                    let launches: Vec<_> = objects.links().of(f).collect();
                    if launches.is_empty() || launches.iter().any(|l| l.kind != LaunchKind::Call) {
                        return None;
                    }
                    let mut each = launches.iter().map(|l| {
                        let (_, arg) = l.bindings.iter().find(|(i, _)| i == index)?;
                        name_source(objects, arg, l.scope, depth + 1)
                    });
                    let first = each.next()??;
                    each.all(|s| s == Some(first)).then_some(first)
                }
                _ => None,
            });
            let first = sources.next()??;
            sources.all(|s| s == Some(first)).then_some(first)
        }
        // `"psm_" + sys.argv[1]`, f-strings: what the non-literal parts come from.
        ExprKind::Other(parts)
        | ExprKind::Formatted(parts)
        | ExprKind::Dict { items: parts, .. } => parts
            .iter()
            .filter_map(|p| name_source(objects, p, scope, depth + 1))
            .find(|s| *s != NameSource::Literal),
        _ => None,
    }
}

/// The innermost suite of `body` holding a statement that contains `range` (into nested
/// definitions too), with that statement's index.
pub fn suite_of(body: &[Stmt], range: Range) -> Option<(&[Stmt], usize)> {
    let (i, stmt) = body
        .iter()
        .enumerate()
        .find(|(_, s)| s.range.start <= range.start && range.end <= s.range.end)?;
    match &stmt.kind {
        StmtKind::FunctionDef(f) => return suite_of(&f.body, range),
        StmtKind::ClassDef(c) => return suite_of(&c.body, range),
        _ => {}
    }
    let mut inner = None;
    exec::for_each_child(stmt, |c| {
        if inner.is_none()
            && let exec::Child::Block(b) = c
        {
            inner = suite_of(b, range);
        }
    });
    inner.or(Some((body, i)))
}

/// The segment of this file whose name an attaching constructor opens: `SharedMemory(
/// name=shm.name)` in place, or a parameter of a function that every launch or call binds
/// to such a name (the usual `Process(target=worker, args=(shm.name,))`).
pub fn creator_of<'a>(
    objects: &Objects<'_, 'a>,
    all: &[Segment<'a>],
    attach: &Segment<'a>,
) -> Option<Segment<'a>> {
    let e = attach.name?;
    creator_by_name(objects, all, e, attach.scope, 0)
}

fn creator_by_name<'a>(
    objects: &Objects<'_, 'a>,
    all: &[Segment<'a>],
    e: &'a Expr,
    scope: ScopeId,
    depth: u32,
) -> Option<Segment<'a>> {
    if depth > 4 {
        return None;
    }
    let model = objects.model;
    match &e.kind {
        ExprKind::Attribute { value, attr } if attr.name == "name" || attr.name == "_name" => {
            let holder = match &value.kind {
                ExprKind::Attribute { value: v, attr: a } if a.name == "shm" => &**v,
                _ => &**value,
            };
            let t = objects.track(holder, scope)?;
            t.sites.iter().find_map(|s| {
                all.iter()
                    .find(|seg| std::ptr::eq(seg.expr, s.call) && seg.opening == Opening::Create)
                    .copied()
            })
        }
        ExprKind::Name(n) => {
            let (found, bindings) = model.bindings_at(n, scope, e.range.start)?;
            bindings.iter().find_map(|b| match &b.kind {
                BindingKind::Assign(v) => creator_by_name(objects, all, v, found, depth + 1),
                BindingKind::Param(index) => {
                    let f = model.function(found)?;
                    objects.links().of(f).find_map(|l| {
                        let (_, arg) = l.bindings.iter().find(|(i, _)| i == index)?;
                        creator_by_name(objects, all, arg, l.scope, depth + 1)
                    })
                }
                _ => None,
            })
        }
        _ => None,
    }
}

/// Whether code in `scope` runs in a multiprocessing child process started by this file
/// (a `Process` target, a pool task, or a function they call).
pub fn runs_in_child(objects: &Objects<'_, '_>, scope: ScopeId) -> bool {
    let model = objects.model;
    let Some(f) = model
        .enclosing_function(scope)
        .and_then(|s| model.function(s))
    else {
        return false;
    };
    !objects.links().child_launches(f).is_empty()
}

/// The unlink of segment objects, as `unlink()` with no arguments.
pub fn is_unlink(mc: &MethodCall<'_>) -> bool {
    mc.method == "unlink" && mc.call.args.is_empty() && mc.call.keywords.is_empty()
}

/// The segment constructor calls a tracked object may come from.
pub fn sites_of<'a>(all: &[Segment<'a>], t: &Tracked<'a>) -> Vec<Segment<'a>> {
    t.sites
        .iter()
        .filter_map(|s| {
            all.iter()
                .find(|seg| std::ptr::eq(seg.expr, s.call))
                .copied()
        })
        .collect()
}

/// What the receiver of a method call is, looking through a `ShareableList`'s `.shm`.
pub fn receiver_object<'a>(objects: &Objects<'_, 'a>, mc: &MethodCall<'a>) -> Option<Tracked<'a>> {
    let direct = objects.track(mc.receiver, mc.scope);
    if direct
        .as_ref()
        .is_some_and(|t| matches!(t.class, MpClass::Segment(..)))
    {
        return direct;
    }
    let ExprKind::Attribute { value, attr } = &mc.receiver.kind else {
        return None;
    };
    (attr.name == "shm")
        .then(|| objects.track(value, mc.scope))
        .flatten()
        .filter(|t| matches!(t.class, MpClass::Segment(SegmentKind::ShareableList, _)))
}

/// Whether `resource_tracker.unregister(...)` is called with the name of the segment bound
/// to `name` in `scope` (`shm._name`, `shm.name`, `"/" + shm.name`).
pub fn unregistered(model: &Model<'_>, name: &str, scope: ScopeId) -> bool {
    let mut found = false;
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, at| {
        if let Some(call) = e.as_call()
            && model
                .qualified_name(&call.func, at)
                .is_some_and(|q| q == "multiprocessing.resource_tracker.unregister")
            && let Some(first) = call.args.first()
        {
            exec::walk_expr_tree(first, at, &mut |sub, at| {
                if let ExprKind::Attribute { value, .. } = &sub.kind
                    && value.as_name() == Some(name)
                    && model.binding_scope(name, at) == Some(scope)
                {
                    found = true;
                }
            });
        }
    });
    found
}

/// Whether the code at `range` sits in a block that expects an exception (`with
/// self.assertRaises(...)`, `with pytest.raises(...)`): a test of the failure, not a use.
pub fn expects_failure(body: &[Stmt], range: Range) -> bool {
    body.iter()
        .filter(|s| s.range.start <= range.start && range.end <= s.range.end)
        .any(|s| {
            let here = matches!(&s.kind, StmtKind::With { items, .. } if items.iter().any(|i| {
                i.context.as_call().is_some_and(|c| {
                    let callee = match &c.func.kind {
                        ExprKind::Attribute { attr, .. } => attr.name.as_str(),
                        ExprKind::Name(n) => n.as_str(),
                        _ => "",
                    };
                    matches!(callee, "assertRaises" | "assertRaisesRegex" | "raises")
                })
            }));
            let mut inner = false;
            exec::for_each_child(s, |c| {
                if let exec::Child::Block(b) = c {
                    inner |= expects_failure(b, range);
                }
            });
            here || inner
        })
}

/// Whether a bound method of the object bound to `name` in `scope` is passed to a call
/// (`weakref.finalize(arr, shm.close)`, `atexit.register(shm.close)`): the callee keeps
/// the object alive.
pub fn method_handed_on(model: &Model<'_>, name: &str, scope: ScopeId) -> bool {
    let mut found = false;
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, at| {
        if let Some(call) = e.as_call() {
            for arg in call
                .args
                .iter()
                .chain(call.keywords.iter().map(|k| &k.value))
            {
                if let ExprKind::Attribute { value, attr } = &arg.kind
                    && matches!(attr.name.as_str(), "close" | "unlink" | "__del__")
                    && value.as_name() == Some(name)
                    && model.binding_scope(name, at) == Some(scope)
                {
                    found = true;
                }
            }
        }
    });
    found
}

/// Whether `name`, bound once in `f`, is used only through its attributes and methods
/// (or as a `with` item): an object returned, stored, passed on, captured, declared
/// global or rebound may be someone else's to finish.
pub fn used_only_through_attributes(f: &FunctionDef, name: &str) -> bool {
    let mut assigned = 0;
    let mut plain_uses: i32 = 0;
    let mut elsewhere = false;
    walk_stmts(&f.body, f.scope, &mut |s, scope| {
        match &s.kind {
            StmtKind::Global(names) | StmtKind::Nonlocal(names) => {
                elsewhere |= names.iter().any(|n| n.name == name);
            }
            StmtKind::Assign { targets, .. } => {
                assigned += targets.iter().filter(|t| t.as_name() == Some(name)).count();
            }
            _ => {}
        }
        exec::for_each_child(s, |c| {
            if let exec::Child::Expr(e) = c {
                count_plain_uses(e, name, scope != f.scope, &mut plain_uses, &mut elsewhere);
            }
        });
        if let StmtKind::With { items, .. } = &s.kind {
            plain_uses -= items
                .iter()
                .filter(|i| i.context.as_name() == Some(name))
                .count() as i32;
        }
    });
    // The one assignment's target is the only plain use allowed.
    assigned == 1 && plain_uses == 1 && !elsewhere
}

/// Counts the uses of `name` in `e` that are not `name.attr`: as a value (argument,
/// returned, stored). Any use from a nested scope counts as leaving.
fn count_plain_uses(e: &Expr, name: &str, nested: bool, plain: &mut i32, elsewhere: &mut bool) {
    match &e.kind {
        ExprKind::Attribute { value, .. } if value.as_name() == Some(name) => {
            *elsewhere |= nested;
        }
        ExprKind::Name(n) if n == name => {
            *plain += 1;
            *elsewhere |= nested;
        }
        _ => exec::for_each_subexpr(e, |x| count_plain_uses(x, name, nested, plain, elsewhere)),
    }
}

/// The innermost `for` or `while` of `body` (not of functions in it) around `range`.
pub fn innermost_loop(body: &[Stmt], range: Range) -> Option<&Stmt> {
    let stmt = body
        .iter()
        .find(|s| s.range.start <= range.start && range.end <= s.range.end)?;
    if matches!(stmt.kind, StmtKind::FunctionDef(_) | StmtKind::ClassDef(_)) {
        return None;
    }
    let mut inner = None;
    exec::for_each_child(stmt, |c| {
        if inner.is_none()
            && let exec::Child::Block(b) = c
        {
            inner = innermost_loop(b, range);
        }
    });
    let in_body = match &stmt.kind {
        StmtKind::For { body, .. } | StmtKind::While { body, .. } => body
            .iter()
            .any(|s| s.range.start <= range.start && range.end <= s.range.end),
        _ => false,
    };
    inner.or(in_body.then_some(stmt))
}
