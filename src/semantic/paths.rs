//! Questions about paths through one function, asked in terms of objects: "after this
//! call, does every path reach `X.release()`?"

use crate::ast::*;
use crate::semantic::cfg::{Cfg, Edge, Escape, NodeId, NodeKind};
use crate::semantic::failure::{Failure, Origins, call_failure};
use crate::semantic::objects::{MethodCall, Objects, Tracked};
use crate::semantic::{Model, Value};

/// One function's graph with its method calls placed on nodes.
pub struct FunctionPaths<'a> {
    pub cfg: Cfg<'a>,
    calls: Vec<(NodeId, MethodCall<'a>)>,
    /// Where the names the body calls methods on come from, for the failure model.
    origins: Origins<'a>,
    scope: ScopeId,
}

impl<'a> FunctionPaths<'a> {
    pub fn new(objects: &Objects<'_, 'a>, f: &'a FunctionDef) -> Option<Self> {
        let mut paths = Self::for_body(objects, &f.body, f.scope)?;
        paths.origins = Origins::of(f, objects.model.method_of(f.scope).is_some());
        Some(paths)
    }

    /// The same for any body run as a unit: a function's, or the module's.
    pub fn for_body(objects: &Objects<'_, 'a>, body: &'a [Stmt], scope: ScopeId) -> Option<Self> {
        let cfg = Cfg::build(body)?;
        let mut calls = Vec::new();
        for mc in objects.method_calls(scope) {
            for node in cfg.nodes_at(mc.expr.range) {
                calls.push((node, mc));
            }
        }
        Some(Self {
            cfg,
            calls,
            origins: Origins::default(),
            scope,
        })
    }

    /// The nodes that evaluate `call`.
    pub fn nodes_of(&self, call: &MethodCall<'a>) -> Vec<NodeId> {
        self.calls
            .iter()
            .filter(|(_, mc)| std::ptr::eq(mc.expr, call.expr))
            .map(|(n, _)| *n)
            .collect()
    }

    /// From `start` (leaving by the `first` edges), a path to the end of the function, out
    /// by an exception, or back to `start`, that closes nothing as `closing` says.
    pub fn unclosed(
        &self,
        objects: &Objects<'_, 'a>,
        start: NodeId,
        first: &[Edge],
        object: &Tracked<'a>,
        closing: &Closing<'_>,
    ) -> Option<Escape> {
        let on_object = |mc: &MethodCall<'a>| {
            objects
                .track(mc.receiver, mc.scope)
                .is_some_and(|t| t.same_object(object))
        };
        self.unclosed_by(objects.model, start, first, &on_object, closing)
    }

    /// The same for an object known by a predicate on the method calls made on it (a
    /// lock known only by its use).
    pub fn unclosed_by(
        &self,
        model: &Model<'a>,
        start: NodeId,
        first: &[Edge],
        on_object: &dyn Fn(&MethodCall<'a>) -> bool,
        closing: &Closing<'_>,
    ) -> Option<Escape> {
        let stops = |id: NodeId| {
            (closing.also)(id)
                || self.calls.iter().any(|(n, mc)| {
                    *n == id && closing.methods.contains(&mc.method) && on_object(mc)
                })
        };
        // A node whose every call is a method of the object itself (`cond.wait()`) is not
        // where the object escapes by an exception.
        let quiet = |id: NodeId| {
            let mine: Vec<_> = self.calls.iter().filter(|(n, _)| *n == id).collect();
            !mine.is_empty()
                && mine.iter().all(|(_, mc)| on_object(mc))
                && calls_in_node(&self.cfg, id) == mine.len()
        };
        let failure = |id: NodeId| {
            if quiet(id) {
                Failure::Never
            } else {
                self.failure(model, id)
            }
        };
        self.cfg
            .escape(start, first, &stops, &failure, closing.accept)
    }

    /// How likely a node is to raise, by the failure model; a call of one of the file's
    /// own functions that raises on purpose (`raise` in its body) is a likely failure.
    pub fn failure(&self, model: &Model<'a>, id: NodeId) -> Failure {
        match self.cfg.nodes[id].kind {
            NodeKind::Stmt(Stmt {
                kind: StmtKind::Raise { .. },
                ..
            })
            | NodeKind::Assert(_) => Failure::Likely,
            _ => self
                .failing_calls(model, id)
                .iter()
                .map(|(_, f)| *f)
                .max()
                .unwrap_or(Failure::Never),
        }
    }

    /// The node an escape is blamed on, with the range a message points at: for an
    /// exception, the call that throws it (the first of its node that fails as likely as
    /// the escape says), not the whole statement.
    pub fn blame(&self, model: &Model<'a>, escape: &Escape) -> Option<(NodeId, Range)> {
        let node = escape.culprit?;
        let thrower = escape
            .by_exception
            .then(|| {
                self.failing_calls(model, node)
                    .into_iter()
                    .find(|(e, f)| *f == escape.failure && !matches!(e.kind, ExprKind::Suspend(_)))
            })
            .flatten()
            .map(|(e, _)| e.range);
        Some((node, thrower.or_else(|| self.cfg.range(node))?))
    }

    /// Every call, `yield` and `await` a node evaluates (lambda bodies aside: they run
    /// later), in evaluation order, with how likely it is to raise.
    fn failing_calls(&self, model: &Model<'a>, id: NodeId) -> Vec<(&'a Expr, Failure)> {
        let mut exprs: Vec<&'a Expr> = Vec::new();
        match self.cfg.nodes[id].kind {
            NodeKind::Stmt(s) | NodeKind::Assert(s) => {
                crate::semantic::exec::for_each_child(s, |c| {
                    if let crate::semantic::exec::Child::Expr(e) = c {
                        exprs.push(e);
                    }
                })
            }
            NodeKind::Test(e) | NodeKind::Eval(e) => exprs.push(e),
            NodeKind::Enter(w) => exprs.push(&w.context),
            _ => {}
        }
        let mut out = Vec::new();
        for e in exprs {
            self.collect_calls(model, e, &mut out);
        }
        out
    }

    fn collect_calls(&self, model: &Model<'a>, e: &'a Expr, out: &mut Vec<(&'a Expr, Failure)>) {
        if matches!(e.kind, ExprKind::Lambda(_)) {
            return;
        }
        // Arguments are evaluated before the call itself.
        crate::semantic::exec::for_each_subexpr(e, |sub| self.collect_calls(model, sub, out));
        let level = match &e.kind {
            ExprKind::Suspend(_) => Failure::Likely,
            ExprKind::Call(call) => match call_failure(call, &self.origins) {
                Failure::Possible => match model.resolve(&call.func, self.scope) {
                    Value::Function(f) if raises_on_purpose(&f.body) => Failure::Likely,
                    _ => Failure::Possible,
                },
                level => level,
            },
            _ => return,
        };
        out.push((e, level));
    }

    /// The method calls a node evaluates.
    pub fn calls_at(&self, node: NodeId) -> impl Iterator<Item = &MethodCall<'a>> {
        self.calls
            .iter()
            .filter(move |(n, _)| *n == node)
            .map(|(_, mc)| mc)
    }
}

/// What closes an object on a path, and which escapes matter.
pub struct Closing<'q> {
    /// Methods of the object that close it (`release`, `task_done`).
    pub methods: &'q [&'q str],
    /// Other nodes that close it (a helper that calls the method).
    pub also: &'q dyn Fn(NodeId) -> bool,
    /// Whether an escape found counts; a rejected one lets the search go on.
    pub accept: &'q dyn Fn(&Escape) -> bool,
}

/// How many calls a node evaluates itself.
fn calls_in_node(cfg: &Cfg<'_>, id: NodeId) -> usize {
    calls_of_node(cfg, id).len()
}

/// Every call a node evaluates (lambda bodies, which run later, left out).
pub fn calls_of_node<'a>(cfg: &Cfg<'a>, id: NodeId) -> Vec<&'a Call> {
    use crate::semantic::cfg::NodeKind;
    fn collect<'a>(e: &'a Expr, out: &mut Vec<&'a Call>) {
        match &e.kind {
            ExprKind::Lambda(_) => {}
            _ => {
                if let ExprKind::Call(c) = &e.kind {
                    out.push(c);
                }
                crate::semantic::exec::for_each_subexpr(e, |s| collect(s, out));
            }
        }
    }
    let mut out = Vec::new();
    match cfg.nodes[id].kind {
        NodeKind::Stmt(s) | NodeKind::Assert(s) => {
            crate::semantic::exec::for_each_child(s, |c| {
                if let crate::semantic::exec::Child::Expr(e) = c {
                    collect(e, &mut out);
                }
            });
        }
        NodeKind::Test(e) | NodeKind::Eval(e) => collect(e, &mut out),
        NodeKind::Enter(w) => collect(&w.context, &mut out),
        _ => {}
    }
    out
}

/// Whether a body has a `raise` statement of its own (not in a nested definition).
fn raises_on_purpose(body: &[Stmt]) -> bool {
    crate::semantic::exec::any_stmt(body, &mut |s| match &s.kind {
        StmtKind::Raise { .. } => Some(true),
        StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => Some(false),
        _ => None,
    })
}
