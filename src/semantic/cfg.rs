//! Paths within a function: a control-flow graph with exceptional edges.
//!
//! One node per simple statement, per branch test and per loop head. How each construct
//! becomes nodes and edges:
//!
//! | construct | nodes and edges |
//! |---|---|
//! | simple statement | one node; `Normal` to the next; `Exception` to the handler in force when it contains a call |
//! | `if` / `elif` | a `Test` node per arm: `True` into the arm, `False` to the next test or `else` |
//! | `while` | a `Test` head: `True` into the body, `False` to `else` then onward (no `False` edge for `while True`); the body's end goes back to the head |
//! | `for` | the iterable is a statement node, then a `Loop` head: `True` into the body, `False` to `else` |
//! | `break` / `continue` | to the loop's exit / head, through every `finally` and `with` exit in between |
//! | `return` | to the function's `Exit`, through every `finally` and `with` exit |
//! | `raise` | `Exception` to the handler in force, or to `Raise` |
//! | `try` | exceptions in the body go to a `Dispatch` node with an edge into each handler, and onward unless a handler catches everything; `else` follows the body |
//! | `finally` | built once for each way in (falling through, exception, return, break, continue) and continuing the same way out |
//! | `with` | an `Enter` node, the body, and a `WithExit` node that every way out passes, like a `finally` |
//! | `assert` | an `Assert` node: `True` goes on, the failure raises |
//! | `match` | the subject, then an edge into every case and past them all |
//!
//! Exceptional edges come from calls (and `raise`, `assert`), not from every statement:
//! this is what "an exception from any call in between" means to a lint.

use std::collections::HashMap;

use crate::ast::*;
use crate::semantic::failure::{Failure, may_raise};

pub type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Normal,
    True,
    False,
    Exception,
}

#[derive(Clone, Copy, Debug)]
pub enum NodeKind<'a> {
    Entry,
    /// The function returns (or falls off its end).
    Exit,
    /// An exception leaves the function.
    Raise,
    Stmt(&'a Stmt),
    /// The test of an `if`, `while` or `assert`.
    Test(&'a Expr),
    /// An expression evaluated on its own: a `for` loop's iterable, a `match` subject.
    Eval(&'a Expr),
    /// An `assert` statement: `True` goes on, a failure raises.
    Assert(&'a Stmt),
    /// The head of a `for` loop: `True` for another element, `False` when exhausted.
    Loop(&'a Stmt),
    /// Exceptions arriving at a `try`'s handlers.
    Dispatch,
    /// Entering a `with` item's context manager.
    Enter(&'a WithItem),
    /// Leaving a `with` block (`__exit__`), whichever way.
    WithExit(&'a WithItem),
    /// A point where paths meet.
    Join,
}

#[derive(Debug)]
pub struct Node<'a> {
    pub kind: NodeKind<'a>,
    pub succs: Vec<(NodeId, Edge)>,
}

#[derive(Debug)]
pub struct Cfg<'a> {
    pub nodes: Vec<Node<'a>>,
}

impl Cfg<'_> {
    pub const ENTRY: NodeId = 0;
    pub const EXIT: NodeId = 1;
    pub const RAISE: NodeId = 2;
}

/// Graphs larger than this are not built: the answer for such a function is "unknown".
const MAX_NODES: usize = 20_000;

impl<'a> Cfg<'a> {
    /// The graph of a function body (or any block run as one).
    pub fn build(body: &'a [Stmt]) -> Option<Self> {
        let mut b = Builder {
            nodes: Vec::new(),
            frames: Vec::new(),
            finally_copies: HashMap::new(),
            next_finally: 0,
            overflow: false,
        };
        b.node(NodeKind::Entry);
        b.node(NodeKind::Exit);
        b.node(NodeKind::Raise);
        let end = b.block(body, Some(Cfg::ENTRY));
        if let Some(end) = end {
            b.edge(end, Cfg::EXIT, Edge::Normal);
        }
        (!b.overflow).then_some(Cfg { nodes: b.nodes })
    }

    /// The statement or test a node stands for, as a range (none for synthetic nodes).
    pub fn range(&self, id: NodeId) -> Option<Range> {
        match self.nodes[id].kind {
            NodeKind::Stmt(s) | NodeKind::Loop(s) | NodeKind::Assert(s) => Some(s.range),
            NodeKind::Test(e) | NodeKind::Eval(e) => Some(e.range),
            NodeKind::Enter(w) | NodeKind::WithExit(w) => Some(w.context.range),
            _ => None,
        }
    }

    /// The node that evaluates the code at `range`: the narrowest whose own part of the
    /// source contains it.
    pub fn node_at(&self, range: Range) -> Option<NodeId> {
        (0..self.nodes.len())
            .filter_map(|id| Some((id, self.own_range(id)?)))
            .filter(|(_, r)| r.start <= range.start && range.end <= r.end)
            .min_by_key(|(_, r)| r.end - r.start)
            .map(|(id, _)| id)
    }

    /// Every node that evaluates the code at `range` (a finally body has one copy per
    /// way out).
    pub fn nodes_at(&self, range: Range) -> Vec<NodeId> {
        let Some(best) = self.node_at(range).and_then(|id| self.own_range(id)) else {
            return Vec::new();
        };
        (0..self.nodes.len())
            .filter(|&id| self.own_range(id) == Some(best))
            .collect()
    }

    /// The part of the source a node evaluates itself: a compound statement's header only.
    fn own_range(&self, id: NodeId) -> Option<Range> {
        match self.nodes[id].kind {
            NodeKind::Stmt(s) | NodeKind::Assert(s) => Some(s.range),
            NodeKind::Test(e) | NodeKind::Eval(e) => Some(e.range),
            NodeKind::Enter(w) => Some(w.context.range),
            NodeKind::Loop(s) => match &s.kind {
                StmtKind::For { target, .. } => Some(target.range),
                _ => None,
            },
            _ => None,
        }
    }

    /// Searches forward from `start` along `first` edges (then along every edge) for a
    /// path that reaches the exit, an exception leaving the function, or `start` again
    /// without passing a node for which `stops` holds. Returns that path's last step:
    /// the node it left from and how.
    ///
    /// `failure` says how likely a node is to raise (see [`crate::semantic::failure`]).
    /// Plain paths are looked for first, then paths through a likely failure, then paths
    /// through a possible one: the escape found is the most certain there is, and says
    /// which kind it is.
    ///
    /// `accept` can pass over an escape that the question does not care about; the search
    /// then goes on for another one.
    pub fn escape(
        &self,
        start: NodeId,
        first: &[Edge],
        stops: &dyn Fn(NodeId) -> bool,
        failure: &dyn Fn(NodeId) -> Failure,
        accept: &dyn Fn(&Escape) -> bool,
    ) -> Option<Escape> {
        [None, Some(Failure::Likely), Some(Failure::Possible)]
            .into_iter()
            .find_map(|least| self.search(start, first, stops, failure, accept, least))
    }

    /// A search that takes exceptional edges only from nodes that fail at least as
    /// likely as `least` (none at all when `least` is `None`).
    fn search(
        &self,
        start: NodeId,
        first: &[Edge],
        stops: &dyn Fn(NodeId) -> bool,
        failure: &dyn Fn(NodeId) -> Failure,
        accept: &dyn Fn(&Escape) -> bool,
        least: Option<Failure>,
    ) -> Option<Escape> {
        // A state is a node together with whether the path to it took an exceptional
        // edge: the same node reached both ways is explored both ways, because `accept`
        // may want one and not the other.
        let state = |node: NodeId, raised: bool| node * 2 + usize::from(raised);
        let mut seen = vec![false; self.nodes.len() * 2];
        let mut parent: Vec<Option<usize>> = vec![None; self.nodes.len() * 2];
        let start_state = state(start, false);
        // (node, raised so far, the state it is reached from); a state is settled when
        // popped, so the path recorded to it is the one explored last: the deepest, whose
        // last step is the most specific culprit.
        let mut stack: Vec<(NodeId, bool, usize)> = self
            .first_steps(start, first)
            .map(|n| (n, false, start_state))
            .collect();
        // Depth-first, exploring normal edges before exceptional ones.
        while let Some((id, raised, from)) = stack.pop() {
            let here = state(id, raised);
            let kind = match id {
                Cfg::EXIT => Some(EscapeKind::Exit),
                Cfg::RAISE => Some(EscapeKind::Raise),
                _ if id == start => Some(EscapeKind::Again),
                _ => None,
            };
            if let Some(kind) = kind {
                let saved = parent[here];
                parent[here] = Some(from);
                let mut found = self.describe(start_state, &parent, here, kind);
                if let Some(culprit) = found.culprit.filter(|_| found.by_exception) {
                    found.failure = failure(culprit);
                }
                if accept(&found) {
                    return Some(found);
                }
                parent[here] = saved;
                continue;
            }
            if std::mem::replace(&mut seen[here], true) {
                continue;
            }
            parent[here] = Some(from);
            if stops(id) {
                continue;
            }
            let mut succs = self.nodes[id].succs.clone();
            // Only the first exception on a path is weighed; once raised, it travels
            // through handlers and `finally` bodies along exceptional edges freely.
            // Code that cannot fail (`shm.close()` before `shm.unlink()` in a `finally`)
            // raises nothing new either; what passes the exception in flight on does (an
            // `except` that does not match, a `with` exit, the end of a `finally` run for
            // an exception).
            let rethrows = self.is_synthetic(id)
                || matches!(self.nodes[id].kind, NodeKind::Loop(_))
                || succs.iter().all(|(_, e)| *e == Edge::Exception);
            if (!raised && least.is_none_or(|least| failure(id) < least))
                || (raised && !rethrows && failure(id) == Failure::Never)
            {
                succs.retain(|(_, e)| *e != Edge::Exception);
            }
            // Exceptional edges go on the stack first, so the normal ones are popped first.
            succs.sort_by_key(|(_, e)| std::cmp::Reverse(*e == Edge::Exception));
            for (next, edge) in succs {
                let next_raised = raised || edge == Edge::Exception;
                if next == start || !seen[state(next, next_raised)] {
                    stack.push((next, next_raised, here));
                }
            }
        }
        None
    }

    /// The successors of `start` along the `first` kinds of edge.
    fn first_steps<'s>(
        &'s self,
        start: NodeId,
        first: &'s [Edge],
    ) -> impl Iterator<Item = NodeId> + 's {
        self.nodes[start]
            .succs
            .iter()
            .filter(|(_, e)| first.contains(e))
            .map(|(n, _)| *n)
    }

    /// Whether some path from `start` (leaving by the `first` edges) reaches a node for
    /// which `target` holds without passing one for which `avoid` holds; returns the first
    /// one found.
    pub fn reaches(
        &self,
        start: NodeId,
        first: &[Edge],
        target: &dyn Fn(NodeId) -> bool,
        avoid: &dyn Fn(NodeId) -> bool,
    ) -> Option<NodeId> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<NodeId> = self.first_steps(start, first).collect();
        while let Some(id) = stack.pop() {
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            if target(id) {
                return Some(id);
            }
            if avoid(id) {
                continue;
            }
            stack.extend(self.nodes[id].succs.iter().map(|(n, _)| *n));
        }
        None
    }

    /// Names the step that made the path escape. For a path that took an exception, the
    /// node whose exceptional edge it took first; otherwise the last `return`, `break`,
    /// `continue` or `raise` on it (a `finally` body run on the way out is not to
    /// blame), or else the last real statement.
    fn describe(
        &self,
        start: usize,
        parent: &[Option<usize>],
        end: usize,
        kind: EscapeKind,
    ) -> Escape {
        let mut path = vec![end];
        let mut at = parent[end];
        while let Some(p) = at {
            path.push(p);
            if p == start || path.len() > parent.len() {
                break;
            }
            at = parent[p];
        }
        path.reverse();
        let nodes: Vec<NodeId> = path.iter().map(|s| s / 2).collect();
        let start_node = start / 2;
        // The first step whose target state is "raised" left by an exception.
        let thrown = path
            .windows(2)
            .find(|w| w[0] % 2 == 0 && w[1] % 2 == 1)
            .map(|w| w[0] / 2)
            .filter(|&n| n != start_node);
        if let Some(culprit) = thrown {
            return Escape {
                kind,
                culprit: Some(culprit),
                by_exception: true,
                failure: Failure::Likely,
            };
        }
        let inner = || {
            nodes
                .iter()
                .rev()
                .skip(1)
                .copied()
                .filter(|&n| n != start_node)
        };
        let jump = inner().find(|&n| {
            matches!(
                self.nodes[n].kind,
                NodeKind::Stmt(Stmt {
                    kind: StmtKind::Return(_)
                        | StmtKind::Break
                        | StmtKind::Continue
                        | StmtKind::Raise { .. },
                    ..
                })
            )
        });
        let culprit =
            jump.or_else(|| inner().find(|&n| self.range(n).is_some() && !self.is_synthetic(n)));
        Escape {
            kind,
            culprit,
            by_exception: false,
            failure: Failure::Never,
        }
    }

    fn is_synthetic(&self, id: NodeId) -> bool {
        matches!(
            self.nodes[id].kind,
            NodeKind::WithExit(_) | NodeKind::Join | NodeKind::Dispatch
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EscapeKind {
    /// The function returned (or fell off its end).
    Exit,
    /// An exception left the function.
    Raise,
    /// The path came back to where it started (a loop's next round).
    Again,
}

#[derive(Clone, Copy, Debug)]
pub struct Escape {
    pub kind: EscapeKind,
    /// The node whose step made the path escape, when there is one with a source range.
    pub culprit: Option<NodeId>,
    /// Whether that step was an exception raised by the culprit.
    pub by_exception: bool,
    /// How likely the culprit is to raise: `Never` on a path without exceptions.
    pub failure: Failure,
}

/// Ways to leave a block early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Jump {
    Exception,
    Return,
    Break,
    Continue,
}

enum Frame<'a> {
    Loop {
        head: NodeId,
        exit: NodeId,
    },
    /// Exceptions go to this dispatch node.
    Handlers {
        dispatch: NodeId,
    },
    /// Every way out runs this first.
    Finally {
        body: FinallyBody<'a>,
        id: usize,
    },
}

#[derive(Clone, Copy)]
enum FinallyBody<'a> {
    Stmts(&'a [Stmt]),
    With(&'a WithItem),
}

struct Builder<'a> {
    nodes: Vec<Node<'a>>,
    frames: Vec<Frame<'a>>,
    /// (finally frame id, jump) -> entry of the copy built for that way out.
    finally_copies: HashMap<(usize, Jump), NodeId>,
    /// Numbers the finally frames.
    next_finally: usize,
    overflow: bool,
}

impl<'a> Builder<'a> {
    fn finally_id(&mut self) -> usize {
        self.next_finally += 1;
        self.next_finally
    }

    fn node(&mut self, kind: NodeKind<'a>) -> NodeId {
        if self.nodes.len() >= MAX_NODES {
            self.overflow = true;
        }
        self.nodes.push(Node {
            kind,
            succs: Vec::new(),
        });
        self.nodes.len() - 1
    }

    fn edge(&mut self, from: NodeId, to: NodeId, edge: Edge) {
        if !self.nodes[from].succs.contains(&(to, edge)) {
            self.nodes[from].succs.push((to, edge));
        }
    }

    /// Appends `kind` after `prev` (if reachable) and returns the new node.
    fn step(&mut self, prev: Option<NodeId>, kind: NodeKind<'a>, edge: Edge) -> NodeId {
        let id = self.node(kind);
        if let Some(p) = prev {
            self.edge(p, id, edge);
        }
        id
    }

    /// Builds `body` after `prev`; returns the node control falls out of, if any.
    fn block(&mut self, body: &'a [Stmt], mut prev: Option<NodeId>) -> Option<NodeId> {
        for stmt in body {
            if self.overflow {
                return None;
            }
            // Unreachable code still gets nodes (with no way in), so that questions about
            // it have an answer; it simply has no predecessors.
            let start = prev.or_else(|| Some(self.node(NodeKind::Join)));
            prev = self.stmt(stmt, start);
        }
        prev
    }

    /// An exceptional edge from `from` to wherever an exception goes now.
    fn raise_from(&mut self, from: NodeId) {
        self.jump(from, Jump::Exception);
    }

    fn stmt(&mut self, stmt: &'a Stmt, prev: Option<NodeId>) -> Option<NodeId> {
        match &stmt.kind {
            StmtKind::If { branches } => {
                let mut prev_test: Option<(NodeId, Edge)> = prev.map(|p| (p, Edge::Normal));
                let after = self.node(NodeKind::Join);
                let mut has_else = false;
                for branch in branches {
                    match &branch.test {
                        Some(test) => {
                            let t = self.node(NodeKind::Test(test));
                            if let Some((p, e)) = prev_test {
                                self.edge(p, t, e);
                            }
                            if may_raise(test) {
                                self.raise_from(t);
                            }
                            let inside = self.node(NodeKind::Join);
                            if !matches!(test.kind, ExprKind::Constant(Some(false))) {
                                self.edge(t, inside, Edge::True);
                            }
                            if let Some(end) = self.block(&branch.body, Some(inside)) {
                                self.edge(end, after, Edge::Normal);
                            }
                            prev_test = if matches!(test.kind, ExprKind::Constant(Some(true))) {
                                None
                            } else {
                                Some((t, Edge::False))
                            };
                        }
                        None => {
                            has_else = true;
                            let inside = self.node(NodeKind::Join);
                            if let Some((p, e)) = prev_test {
                                self.edge(p, inside, e);
                            }
                            if let Some(end) = self.block(&branch.body, Some(inside)) {
                                self.edge(end, after, Edge::Normal);
                            }
                        }
                    }
                }
                if !has_else && let Some((p, e)) = prev_test {
                    self.edge(p, after, e);
                }
                Some(after)
            }
            StmtKind::While { test, body, orelse } => {
                let head = self.step(prev, NodeKind::Test(test), Edge::Normal);
                if may_raise(test) {
                    self.raise_from(head);
                }
                let exit = self.node(NodeKind::Join);
                let inside = self.node(NodeKind::Join);
                let always = matches!(test.kind, ExprKind::Constant(Some(true)));
                let never = matches!(test.kind, ExprKind::Constant(Some(false)));
                if !never {
                    self.edge(head, inside, Edge::True);
                }
                self.frames.push(Frame::Loop { head, exit });
                if let Some(end) = self.block(body, Some(inside)) {
                    self.edge(end, head, Edge::Normal);
                }
                self.frames.pop();
                if !always {
                    let els = self.node(NodeKind::Join);
                    self.edge(head, els, Edge::False);
                    if let Some(end) = self.block(orelse, Some(els)) {
                        self.edge(end, exit, Edge::Normal);
                    }
                }
                Some(exit)
            }
            StmtKind::For {
                iter, body, orelse, ..
            } => {
                let eval = self.step(prev, NodeKind::Eval(iter), Edge::Normal);
                if may_raise(iter) {
                    self.raise_from(eval);
                }
                // A loop over a non-empty literal (`range(5)`, `(a, b)`, `[x]`) runs at
                // least once: the first round starts without asking the head.
                let surely = runs_at_least_once(iter);
                let head = if surely {
                    self.node(NodeKind::Loop(stmt))
                } else {
                    self.step(Some(eval), NodeKind::Loop(stmt), Edge::Normal)
                };
                let exit = self.node(NodeKind::Join);
                let inside = self.node(NodeKind::Join);
                if surely {
                    self.edge(eval, inside, Edge::Normal);
                }
                self.edge(head, inside, Edge::True);
                self.frames.push(Frame::Loop { head, exit });
                if let Some(end) = self.block(body, Some(inside)) {
                    self.edge(end, head, Edge::Normal);
                }
                self.frames.pop();
                let els = self.node(NodeKind::Join);
                self.edge(head, els, Edge::False);
                if let Some(end) = self.block(orelse, Some(els)) {
                    self.edge(end, exit, Edge::Normal);
                }
                Some(exit)
            }
            StmtKind::With { items, body, .. } => {
                let mut at = prev;
                let depth = self.frames.len();
                for item in items {
                    let enter = self.step(at, NodeKind::Enter(item), Edge::Normal);
                    if may_raise(&item.context) {
                        self.raise_from(enter);
                    }
                    let id = self.finally_id();
                    self.frames.push(Frame::Finally {
                        body: FinallyBody::With(item),
                        id,
                    });
                    at = Some(enter);
                }
                let end = self.block(body, at);
                // Leave the items innermost first, on the normal path.
                let mut out = end;
                while self.frames.len() > depth {
                    let Some(Frame::Finally {
                        body: FinallyBody::With(item),
                        ..
                    }) = self.frames.pop()
                    else {
                        break;
                    };
                    if let Some(o) = out {
                        let exit = self.step(Some(o), NodeKind::WithExit(item), Edge::Normal);
                        out = Some(exit);
                    }
                }
                out
            }
            StmtKind::Try {
                body,
                handlers,
                orelse,
                finalbody,
            } => self.try_stmt(body, handlers, orelse, finalbody, prev),
            StmtKind::Return(value) => {
                let node = self.step(prev, NodeKind::Stmt(stmt), Edge::Normal);
                if value.as_ref().is_some_and(may_raise) {
                    self.raise_from(node);
                }
                self.jump(node, Jump::Return);
                None
            }
            StmtKind::Raise { .. } => {
                let node = self.step(prev, NodeKind::Stmt(stmt), Edge::Normal);
                self.raise_from(node);
                None
            }
            StmtKind::Break | StmtKind::Continue => {
                let node = self.step(prev, NodeKind::Stmt(stmt), Edge::Normal);
                let jump = if matches!(stmt.kind, StmtKind::Break) {
                    Jump::Break
                } else {
                    Jump::Continue
                };
                self.jump(node, jump);
                None
            }
            StmtKind::Assert { .. } => {
                let node = self.step(prev, NodeKind::Assert(stmt), Edge::Normal);
                self.raise_from(node);
                let after = self.node(NodeKind::Join);
                self.edge(node, after, Edge::True);
                Some(after)
            }
            StmtKind::Match { subject, cases } => {
                let node = self.step(prev, NodeKind::Eval(subject), Edge::Normal);
                if may_raise(subject) {
                    self.raise_from(node);
                }
                let after = self.node(NodeKind::Join);
                self.edge(node, after, Edge::False);
                for case in cases {
                    let inside = self.node(NodeKind::Join);
                    self.edge(node, inside, Edge::True);
                    if let Some(end) = self.block(&case.body, Some(inside)) {
                        self.edge(end, after, Edge::Normal);
                    }
                }
                Some(after)
            }
            _ => {
                let node = self.step(prev, NodeKind::Stmt(stmt), Edge::Normal);
                let mut raises = false;
                crate::semantic::exec::for_each_child(stmt, |child| {
                    if let crate::semantic::exec::Child::Expr(e) = child {
                        raises |= may_raise(e);
                    }
                });
                // A Python 2 `print x` statement recovers as the bare name `print` followed
                // by its operands: console output, which never raises in practice.
                if raises {
                    self.raise_from(node);
                }
                Some(node)
            }
        }
    }

    fn try_stmt(
        &mut self,
        body: &'a [Stmt],
        handlers: &'a [Handler],
        orelse: &'a [Stmt],
        finalbody: &'a [Stmt],
        prev: Option<NodeId>,
    ) -> Option<NodeId> {
        let depth = self.frames.len();
        if !finalbody.is_empty() {
            let id = self.finally_id();
            self.frames.push(Frame::Finally {
                body: FinallyBody::Stmts(finalbody),
                id,
            });
        }
        let dispatch = (!handlers.is_empty()).then(|| self.node(NodeKind::Dispatch));
        if let Some(d) = dispatch {
            self.frames.push(Frame::Handlers { dispatch: d });
        }
        let body_end = self.block(body, prev);
        if dispatch.is_some() {
            self.frames.pop();
        }
        let mut ends = Vec::new();
        if let Some(end) = self.block(orelse, body_end) {
            ends.push(end);
        }
        if let Some(d) = dispatch {
            let mut catches_all = false;
            for h in handlers {
                catches_all |= catches_everything(h);
                let inside = self.node(NodeKind::Join);
                self.edge(d, inside, Edge::True);
                if let Some(end) = self.block(&h.body, Some(inside)) {
                    ends.push(end);
                }
            }
            if !catches_all {
                self.jump(d, Jump::Exception);
            }
        }
        if finalbody.is_empty() {
            return self.join(ends);
        }
        // The normal way out runs its own copy of the finally body.
        self.frames.truncate(depth);
        let joined = self.join(ends)?;
        self.block(finalbody, Some(joined))
    }

    fn join(&mut self, ends: Vec<NodeId>) -> Option<NodeId> {
        match ends.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                let j = self.node(NodeKind::Join);
                for e in ends {
                    self.edge(e, j, Edge::Normal);
                }
                Some(j)
            }
        }
    }

    /// Connects `from` to where `jump` goes from here, through the finally bodies and
    /// `with` exits on the way.
    fn jump(&mut self, from: NodeId, jump: Jump) {
        let edge = if jump == Jump::Exception {
            Edge::Exception
        } else {
            Edge::Normal
        };
        for level in (0..self.frames.len()).rev() {
            match &self.frames[level] {
                Frame::Loop { head, exit } => match jump {
                    Jump::Break => return self.edge(from, *exit, edge),
                    Jump::Continue => return self.edge(from, *head, edge),
                    _ => {}
                },
                Frame::Handlers { dispatch } => {
                    if jump == Jump::Exception {
                        return self.edge(from, *dispatch, edge);
                    }
                }
                Frame::Finally { body, id } => {
                    let (body, id) = (*body, *id);
                    let entry = self.finally_copy(level, body, id, jump);
                    return self.edge(from, entry, edge);
                }
            }
        }
        let target = match jump {
            Jump::Exception => Cfg::RAISE,
            // `break`/`continue` outside a loop do not parse; return is the closest.
            _ => Cfg::EXIT,
        };
        self.edge(from, target, edge);
    }

    /// The copy of a finally body (or `with` exit) that runs for `jump` and then goes on
    /// with the same jump from the level outside it.
    fn finally_copy(
        &mut self,
        level: usize,
        body: FinallyBody<'a>,
        id: usize,
        jump: Jump,
    ) -> NodeId {
        if let Some(&entry) = self.finally_copies.get(&(id, jump)) {
            return entry;
        }
        let saved = self.frames.split_off(level);
        let (entry, end) = match body {
            FinallyBody::Stmts(stmts) => {
                let entry = self.node(NodeKind::Join);
                self.finally_copies.insert((id, jump), entry);
                (entry, self.block(stmts, Some(entry)))
            }
            FinallyBody::With(item) => {
                let entry = self.node(NodeKind::WithExit(item));
                self.finally_copies.insert((id, jump), entry);
                (entry, Some(entry))
            }
        };
        if let Some(end) = end {
            self.jump(end, jump);
        }
        self.frames.extend(saved);
        entry
    }
}

/// Whether a `for` loop over `iter` surely runs its body: a non-empty tuple or list
/// display, or `range(N)` with a literal positive `N` (a negative one is an operation,
/// not a literal, and zero is false).
fn runs_at_least_once(iter: &Expr) -> bool {
    match &iter.kind {
        ExprKind::Tuple(items) | ExprKind::List(items) => {
            !items.is_empty() && !items.iter().any(|i| matches!(i.kind, ExprKind::Starred(_)))
        }
        ExprKind::Call(call) => {
            matches!(call.func.as_name(), Some("range" | "xrange"))
                && call.keywords.is_empty()
                && matches!(
                    call.args.as_slice(),
                    [Expr {
                        kind: ExprKind::Constant(Some(true)),
                        ..
                    }]
                )
        }
        _ => false,
    }
}

/// `except:`, `except Exception:`, `except BaseException:`, also inside a tuple.
fn catches_everything(h: &Handler) -> bool {
    let broad = |e: &Expr| matches!(e.as_name(), Some("BaseException" | "Exception"));
    match &h.type_ {
        None => true,
        Some(Expr {
            kind: ExprKind::Tuple(items),
            ..
        }) => items.iter().any(broad),
        Some(t) => broad(t),
    }
}

/// A readable rendering for snapshot tests: one line per node with its edges.
pub fn render(cfg: &Cfg<'_>, text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for (id, node) in cfg.nodes.iter().enumerate() {
        let label = match node.kind {
            NodeKind::Entry => "entry".to_string(),
            NodeKind::Exit => "exit".to_string(),
            NodeKind::Raise => "raise".to_string(),
            NodeKind::Dispatch => "dispatch".to_string(),
            NodeKind::Join => "join".to_string(),
            _ => {
                let r = cfg
                    .own_range(id)
                    .or_else(|| cfg.range(id))
                    .unwrap_or_default();
                let src = text.get(r.as_usize()).unwrap_or("");
                let first = src.lines().next().unwrap_or("");
                let tag = match node.kind {
                    NodeKind::Test(_) => "test",
                    NodeKind::Eval(_) => "eval",
                    NodeKind::Assert(_) => "assert",
                    NodeKind::Loop(_) => "loop",
                    NodeKind::Enter(_) => "enter",
                    NodeKind::WithExit(_) => "with-exit",
                    _ => "stmt",
                };
                format!("{tag} `{first}`")
            }
        };
        let succs: Vec<String> = node
            .succs
            .iter()
            .map(|(n, e)| {
                let e = match e {
                    Edge::Normal => "",
                    Edge::True => "T:",
                    Edge::False => "F:",
                    Edge::Exception => "exc:",
                };
                format!("{e}{n}")
            })
            .collect();
        let _ = writeln!(out, "{id:>3} {label} -> [{}]", succs.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python;

    fn graph(src: &str) -> String {
        let parsed = python::parse(src);
        let StmtKind::FunctionDef(f) = &parsed.module.body[0].kind else {
            panic!("the source starts with a def")
        };
        render(&Cfg::build(&f.body).unwrap(), src)
    }

    /// The shape of the graph, reviewed by eye: a `finally` copied per way out, a `with`
    /// exit on every path, exceptional edges only from calls.
    #[test]
    fn try_finally_with_and_loops() {
        let src = "def f(lock, items):\n    for item in items:\n        if item is None:\n            continue\n        with lock:\n            try:\n                work(item)\n                break\n            finally:\n                done()\n    return 1\n";
        insta::assert_snapshot!(graph(src));
    }

    /// A loop over a non-empty literal enters its body first; one over a variable may not.
    #[test]
    fn literal_loops_run_at_least_once() {
        let src = "def f(sem, n):\n    for _ in range(5):\n        sem.acquire()\n    for _ in range(n):\n        sem.release()\n";
        insta::assert_snapshot!(graph(src));
    }

    #[test]
    fn while_true_has_no_false_edge_and_raise_leaves() {
        let src = "def f(q):\n    while True:\n        x = 1\n        if x:\n            raise ValueError(x)\n";
        insta::assert_snapshot!(graph(src));
    }
}
