//! The facade over the parser: the only module that names `ruff_*` crates.
//!
//! `ruff_python_parser` and `ruff_python_ast` are published internal crates whose API
//! changes every release (we pin them exactly). Everything here turns their output into
//! the types of [`crate::ast`], plus the few token facts other stages need (comments,
//! the extent of multi-line strings, syntax errors).

use ruff_python_ast as rast;
use ruff_python_ast::token::TokenKind;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::{Ranged, TextRange};

use crate::ast::*;

/// Deeper nesting than this is not lowered: real code never gets near it, and a generated
/// file that does must not exhaust the stack of the walks that follow. Where it was cut
/// off is reported (`too-deep`).
pub const MAX_DEPTH: u32 = 200;

#[derive(Debug)]
pub struct SyntaxError {
    pub message: String,
    pub range: Range,
}

#[derive(Debug)]
pub struct Comment {
    /// The comment's text, `#` included.
    pub text: String,
    pub range: Range,
}

#[derive(Debug)]
pub struct Parsed {
    pub module: Module,
    pub syntax_errors: Vec<SyntaxError>,
    pub comments: Vec<Comment>,
    /// Ranges of string tokens that span lines: text inside them must never be re-indented.
    pub multiline_strings: Vec<Range>,
    /// Where nesting beyond [`MAX_DEPTH`] was first cut off, if it was.
    pub truncated: Option<Range>,
}

/// Nesting beyond which a file is not parsed at all. CPython's tokenizer refuses more than
/// 200 levels of brackets ("too many nested parentheses") and 100 of indentation, so no
/// runnable program comes near; a file nested a million levels deep would cost the parser
/// seconds and gigabytes.
const MAX_NESTING: usize = 1000;

/// Where brackets or blocks first nest deeper than [`MAX_NESTING`], by one scan of the
/// bytes that skips strings and comments: a syntax error CPython would also raise, found
/// before parsing. `None` for every file CPython can tokenize.
pub fn nested_too_deep(source: &str) -> Option<SyntaxError> {
    let b = source.as_bytes();
    let error = |at: usize, what: &str, limit: u32| {
        let at = u32::try_from(at).unwrap_or(u32::MAX);
        Some(SyntaxError {
            message: format!(
                "too many {what} (more than {MAX_NESTING} levels; CPython allows {limit}), \
                 so the file was not analysed"
            ),
            range: Range {
                start: at,
                end: at.saturating_add(1),
            },
        })
    };
    let mut depth = 0usize;
    // The indentation of the open blocks, as the tokenizer keeps it (a tab to the next
    // multiple of 8).
    let mut indents: Vec<usize> = vec![0];
    let mut line_start = true;
    let mut i = 0;
    while i < b.len() {
        if line_start && depth == 0 {
            line_start = false;
            let mut width = 0;
            let mut j = i;
            while j < b.len() && matches!(b[j], b' ' | b'\t' | b'\x0c') {
                width = if b[j] == b'\t' {
                    (width / 8 + 1) * 8
                } else {
                    width + 1
                };
                j += 1;
            }
            // Blank and comment-only lines open or close nothing.
            if j < b.len() && !matches!(b[j], b'\n' | b'\r' | b'#') {
                while indents.last().is_some_and(|top| width < *top) {
                    indents.pop();
                }
                if indents.last().is_some_and(|top| width > *top) {
                    indents.push(width);
                    if indents.len() > MAX_NESTING + 1 {
                        return error(j, "levels of indentation", 100);
                    }
                }
            }
            i = j;
            continue;
        }
        match b[i] {
            b'#' => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n);
                continue;
            }
            b'\'' | b'"' => {
                i = string_end(b, i);
                continue;
            }
            // A continued line is one logical line.
            b'\\' => {
                i += 2;
                continue;
            }
            b'\n' => line_start = true,
            b'\r' if b.get(i + 1) != Some(&b'\n') => line_start = true,
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return error(i, "nested parentheses", 200);
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset just past the string literal whose quote is at `start` (or the end of the
/// line of an unterminated one).
fn string_end(b: &[u8], start: usize) -> usize {
    let quote = b[start];
    let triple = b[start..].starts_with(&[quote, quote, quote]);
    let mut i = start + if triple { 3 } else { 1 };
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            c if c == quote && (!triple || b[i..].starts_with(&[quote, quote, quote])) => {
                return i + if triple { 3 } else { 1 };
            }
            b'\n' if !triple => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Parses a Python file with error recovery: a syntax error never stops the analysis.
pub fn parse(source: &str) -> Parsed {
    let parsed = parse_unchecked_source(source, rast::PySourceType::Python);
    let syntax_errors = parsed
        .errors()
        .iter()
        .map(|e| SyntaxError {
            message: e.error.to_string(),
            range: range(e.location),
        })
        .collect();

    let mut comments = Vec::new();
    let mut multiline_strings = Vec::new();
    // Starts of the f- and t-strings we are inside: one string from start to end token.
    let mut open_strings = Vec::new();
    for token in parsed.tokens().iter() {
        let r = token.range();
        match token.kind() {
            TokenKind::Comment => comments.push(Comment {
                text: source[r].to_string(),
                range: range(r),
            }),
            TokenKind::String if source[r].contains('\n') => multiline_strings.push(range(r)),
            TokenKind::FStringStart | TokenKind::TStringStart => open_strings.push(r.start()),
            TokenKind::FStringEnd | TokenKind::TStringEnd => {
                if let Some(start) = open_strings.pop() {
                    let whole = TextRange::new(start, r.end());
                    if source[whole].contains('\n') {
                        multiline_strings.push(range(whole));
                    }
                }
            }
            _ => {}
        }
    }
    multiline_strings.sort();

    let mut lower = Lower {
        next_scope: 1,
        depth: 0,
        truncated: None,
        yields: Vec::new(),
    };
    let body = lower.stmts(&parsed.syntax().body);
    Parsed {
        module: Module {
            body,
            scope_count: lower.next_scope,
        },
        syntax_errors,
        comments,
        multiline_strings,
        truncated: lower.truncated,
    }
}

/// Whether `source` parses without any syntax error (used to refuse a broken fix).
pub fn is_valid_syntax(source: &str) -> bool {
    parse_unchecked_source(source, rast::PySourceType::Python)
        .errors()
        .is_empty()
}

fn range(r: TextRange) -> Range {
    Range::new(r.start().into(), r.end().into())
}

fn ident(i: &rast::Identifier) -> Ident {
    Ident {
        name: i.id.to_string(),
        range: range(i.range),
    }
}

struct Lower {
    next_scope: u32,
    depth: u32,
    truncated: Option<Range>,
    /// One entry per function being lowered: whether its body yields so far.
    yields: Vec<bool>,
}

impl Lower {
    fn scope(&mut self) -> ScopeId {
        let id = ScopeId(self.next_scope);
        self.next_scope += 1;
        id
    }

    fn stmts(&mut self, body: &[rast::Stmt]) -> Vec<Stmt> {
        if self.depth > MAX_DEPTH {
            if let (None, Some(first), Some(last)) = (self.truncated, body.first(), body.last()) {
                self.truncated = Some(Range::new(
                    range(first.range()).start,
                    range(last.range()).end,
                ));
            }
            return Vec::new();
        }
        self.depth += 1;
        let out = body.iter().map(|s| self.stmt(s)).collect();
        self.depth -= 1;
        out
    }

    fn exprs<'e>(&mut self, exprs: impl IntoIterator<Item = &'e rast::Expr>) -> Vec<Expr> {
        exprs.into_iter().map(|e| self.expr(e)).collect()
    }

    fn opt(&mut self, e: Option<&rast::Expr>) -> Option<Expr> {
        e.map(|e| self.expr(e))
    }

    fn params(&mut self, p: Option<&rast::Parameters>) -> Parameters {
        let Some(p) = p else {
            return Parameters::default();
        };
        let mut params = Vec::new();
        let positional = p.posonlyargs.len() + p.args.len();
        for pd in p.posonlyargs.iter().chain(&p.args).chain(&p.kwonlyargs) {
            params.push(Parameter {
                name: ident(&pd.parameter.name),
                annotation: self.opt(pd.parameter.annotation.as_deref()),
                default: self.opt(pd.default.as_deref()),
            });
        }
        for v in [&p.vararg, &p.kwarg].into_iter().flatten() {
            params.push(Parameter {
                name: ident(&v.name),
                annotation: self.opt(v.annotation.as_deref()),
                default: None,
            });
        }
        Parameters {
            params,
            positional,
            posonly: p.posonlyargs.len(),
            vararg: p.vararg.is_some(),
            kwarg: p.kwarg.is_some(),
        }
    }

    fn keywords(&mut self, kws: &[rast::Keyword]) -> Vec<Keyword> {
        kws.iter()
            .map(|k| Keyword {
                arg: k.arg.as_ref().map(ident),
                value: self.expr(&k.value),
            })
            .collect()
    }

    fn stmt(&mut self, s: &rast::Stmt) -> Stmt {
        use rast::Stmt as S;
        let kind = match s {
            S::FunctionDef(f) => {
                let decorators = self.exprs(f.decorator_list.iter().map(|d| &d.expression));
                let params = self.params(Some(&f.parameters));
                let returns = self.opt(f.returns.as_deref());
                let scope = self.scope();
                self.yields.push(false);
                let body = self.stmts(&f.body);
                let is_generator = self.yields.pop().unwrap_or(false);
                StmtKind::FunctionDef(Box::new(FunctionDef {
                    name: ident(&f.name),
                    decorators,
                    params,
                    returns,
                    body,
                    is_async: f.is_async,
                    is_generator,
                    scope,
                }))
            }
            S::ClassDef(c) => {
                let decorators = self.exprs(c.decorator_list.iter().map(|d| &d.expression));
                let (bases, keywords) = match &c.arguments {
                    Some(a) => (self.exprs(a.args.iter()), self.keywords(&a.keywords)),
                    None => (Vec::new(), Vec::new()),
                };
                let scope = self.scope();
                StmtKind::ClassDef(Box::new(ClassDef {
                    name: ident(&c.name),
                    decorators,
                    bases,
                    keywords,
                    body: self.stmts(&c.body),
                    scope,
                }))
            }
            S::Return(r) => StmtKind::Return(self.opt(r.value.as_deref())),
            S::Delete(d) => StmtKind::Delete(self.exprs(&d.targets)),
            S::TypeAlias(t) => StmtKind::Other(vec![self.expr(&t.value)]),
            S::Assign(a) => StmtKind::Assign {
                targets: self.exprs(&a.targets),
                value: self.expr(&a.value),
            },
            S::AugAssign(a) => StmtKind::AugAssign {
                target: self.expr(&a.target),
                value: self.expr(&a.value),
            },
            S::AnnAssign(a) => StmtKind::AnnAssign {
                target: self.expr(&a.target),
                annotation: self.expr(&a.annotation),
                value: self.opt(a.value.as_deref()),
            },
            S::For(f) => StmtKind::For {
                target: self.expr(&f.target),
                iter: self.expr(&f.iter),
                body: self.stmts(&f.body),
                orelse: self.stmts(&f.orelse),
                is_async: f.is_async,
            },
            S::While(w) => StmtKind::While {
                test: self.expr(&w.test),
                body: self.stmts(&w.body),
                orelse: self.stmts(&w.orelse),
            },
            S::If(i) => {
                let mut branches = vec![Branch {
                    test: Some(self.expr(&i.test)),
                    body: self.stmts(&i.body),
                    range: range(i.range),
                }];
                for clause in &i.elif_else_clauses {
                    branches.push(Branch {
                        test: self.opt(clause.test.as_ref()),
                        body: self.stmts(&clause.body),
                        range: range(clause.range),
                    });
                }
                StmtKind::If { branches }
            }
            S::With(w) => StmtKind::With {
                items: w
                    .items
                    .iter()
                    .map(|item| WithItem {
                        context: self.expr(&item.context_expr),
                        target: self.opt(item.optional_vars.as_deref()),
                    })
                    .collect(),
                body: self.stmts(&w.body),
                is_async: w.is_async,
            },
            S::Match(m) => StmtKind::Match {
                subject: self.expr(&m.subject),
                cases: m
                    .cases
                    .iter()
                    .map(|c| {
                        let mut bindings = Vec::new();
                        let mut exprs = Vec::new();
                        self.pattern(&c.pattern, &mut bindings, &mut exprs);
                        MatchCase {
                            bindings,
                            exprs,
                            guard: self.opt(c.guard.as_deref()),
                            body: self.stmts(&c.body),
                        }
                    })
                    .collect(),
            },
            S::Raise(r) => StmtKind::Raise {
                exc: self.opt(r.exc.as_deref()),
                cause: self.opt(r.cause.as_deref()),
            },
            S::Try(t) => StmtKind::Try {
                body: self.stmts(&t.body),
                handlers: t
                    .handlers
                    .iter()
                    .map(|h| {
                        let rast::ExceptHandler::ExceptHandler(h) = h;
                        Handler {
                            type_: self.opt(h.type_.as_deref()),
                            name: h.name.as_ref().map(ident),
                            body: self.stmts(&h.body),
                            range: range(h.range),
                        }
                    })
                    .collect(),
                orelse: self.stmts(&t.orelse),
                finalbody: self.stmts(&t.finalbody),
            },
            S::Assert(a) => StmtKind::Assert {
                test: self.expr(&a.test),
                msg: self.opt(a.msg.as_deref()),
            },
            S::Import(i) => StmtKind::Import(i.names.iter().map(alias).collect()),
            S::ImportFrom(i) => StmtKind::ImportFrom {
                module: i.module.as_ref().map(|m| m.id.to_string()),
                level: i.level,
                names: i.names.iter().map(alias).collect(),
            },
            S::Global(g) => StmtKind::Global(g.names.iter().map(ident).collect()),
            S::Nonlocal(n) => StmtKind::Nonlocal(n.names.iter().map(ident).collect()),
            S::Expr(e) => StmtKind::Expr(self.expr(&e.value)),
            S::Pass(_) => StmtKind::Pass,
            S::Break(_) => StmtKind::Break,
            S::Continue(_) => StmtKind::Continue,
            S::IpyEscapeCommand(_) => StmtKind::Other(Vec::new()),
        };
        Stmt {
            kind,
            range: range(s.range()),
        }
    }

    fn pattern(&mut self, p: &rast::Pattern, bindings: &mut Vec<Ident>, exprs: &mut Vec<Expr>) {
        use rast::Pattern as P;
        match p {
            P::MatchValue(v) => exprs.push(self.expr(&v.value)),
            P::MatchSingleton(_) => {}
            P::MatchSequence(s) => {
                for p in &s.patterns {
                    self.pattern(p, bindings, exprs);
                }
            }
            P::MatchMapping(m) => {
                exprs.extend(self.exprs(&m.keys));
                for p in &m.patterns {
                    self.pattern(p, bindings, exprs);
                }
                bindings.extend(m.rest.as_ref().map(ident));
            }
            P::MatchClass(c) => {
                exprs.push(self.expr(&c.cls));
                for p in &c.arguments.patterns {
                    self.pattern(p, bindings, exprs);
                }
                for k in &c.arguments.keywords {
                    self.pattern(&k.pattern, bindings, exprs);
                }
            }
            P::MatchStar(s) => bindings.extend(s.name.as_ref().map(ident)),
            P::MatchAs(a) => {
                if let Some(p) = &a.pattern {
                    self.pattern(p, bindings, exprs);
                }
                bindings.extend(a.name.as_ref().map(ident));
            }
            P::MatchOr(o) => {
                for p in &o.patterns {
                    self.pattern(p, bindings, exprs);
                }
            }
        }
    }

    fn expr(&mut self, e: &rast::Expr) -> Expr {
        let r = range(e.range());
        if self.depth > MAX_DEPTH {
            self.truncated.get_or_insert(r);
            return Expr {
                kind: ExprKind::Other(Vec::new()),
                range: r,
            };
        }
        self.depth += 1;
        let kind = self.expr_kind(e);
        self.depth -= 1;
        Expr { kind, range: r }
    }

    fn expr_kind(&mut self, e: &rast::Expr) -> ExprKind {
        use rast::Expr as E;
        match e {
            E::Name(n) => ExprKind::Name(n.id.to_string()),
            E::Attribute(a) => ExprKind::Attribute {
                value: Box::new(self.expr(&a.value)),
                attr: ident(&a.attr),
            },
            E::Subscript(sub) => ExprKind::Subscript {
                value: Box::new(self.expr(&sub.value)),
                index: Box::new(self.expr(&sub.slice)),
            },
            E::Call(c) => ExprKind::Call(Box::new(Call {
                func: self.expr(&c.func),
                args: self.exprs(c.arguments.args.iter()),
                keywords: self.keywords(&c.arguments.keywords),
            })),
            E::StringLiteral(s) => ExprKind::Str(s.value.to_str().to_string()),
            E::Compare(c) => ExprKind::Compare {
                left: Box::new(self.expr(&c.left)),
                ops: c.ops.iter().map(|op| cmp_op(*op)).collect(),
                comparators: self.exprs(c.comparators.iter()),
            },
            E::BoolOp(b) => ExprKind::BoolOp {
                op: match b.op {
                    rast::BoolOp::And => BoolOp::And,
                    rast::BoolOp::Or => BoolOp::Or,
                },
                values: self.exprs(&b.values),
            },
            E::UnaryOp(u) if u.op == rast::UnaryOp::Not => {
                ExprKind::Not(Box::new(self.expr(&u.operand)))
            }
            // `-1` is a number like `1`, with the same truth value.
            E::UnaryOp(u)
                if matches!(u.op, rast::UnaryOp::USub | rast::UnaryOp::UAdd)
                    && matches!(*u.operand, E::NumberLiteral(_)) =>
            {
                self.expr(&u.operand).kind
            }
            E::Lambda(l) => {
                let params = self.params(l.parameters.as_deref());
                let scope = self.scope();
                self.yields.push(false);
                let body = self.expr(&l.body);
                self.yields.pop();
                ExprKind::Lambda(Box::new(Lambda {
                    params,
                    body,
                    scope,
                }))
            }
            E::Named(n) => ExprKind::Named {
                target: Box::new(self.expr(&n.target)),
                value: Box::new(self.expr(&n.value)),
            },
            E::Starred(s) => ExprKind::Starred(Box::new(self.expr(&s.value))),
            E::Tuple(t) => ExprKind::Tuple(self.exprs(&t.elts)),
            E::List(l) => ExprKind::List(self.exprs(&l.elts)),
            E::ListComp(c) => {
                self.comprehension(ComprehensionKind::List, &c.elt, None, &c.generators)
            }
            E::SetComp(c) => {
                self.comprehension(ComprehensionKind::Set, &c.elt, None, &c.generators)
            }
            E::Generator(c) => {
                self.comprehension(ComprehensionKind::Generator, &c.elt, None, &c.generators)
            }
            E::DictComp(c) => self.comprehension(
                ComprehensionKind::Dict,
                &c.value,
                c.key.as_deref(),
                &c.generators,
            ),
            E::BooleanLiteral(b) => ExprKind::Constant(Some(b.value)),
            E::NoneLiteral(_) => ExprKind::Constant(Some(false)),
            E::NumberLiteral(n) => ExprKind::Constant(match &n.value {
                rast::Number::Int(i) => Some(*i != rast::Int::ZERO),
                _ => None,
            }),
            E::EllipsisLiteral(_) | E::BytesLiteral(_) => ExprKind::Constant(None),
            E::If(i) => ExprKind::IfExp {
                test: Box::new(self.expr(&i.test)),
                body: Box::new(self.expr(&i.body)),
                orelse: Box::new(self.expr(&i.orelse)),
            },
            other => {
                if matches!(other, E::Yield(_) | E::YieldFrom(_))
                    && let Some(current) = self.yields.last_mut()
                {
                    *current = true;
                }
                let suspends = matches!(other, E::Yield(_) | E::YieldFrom(_) | E::Await(_));
                let formatted = matches!(other, E::FString(_) | E::TString(_));
                let mut children = Children {
                    lower: self,
                    out: Vec::new(),
                };
                visitor::walk_expr(&mut children, other);
                if let E::Dict(d) = other {
                    let keys = d
                        .items
                        .iter()
                        .map(|item| match &item.key {
                            Some(E::StringLiteral(k)) => Some(k.value.to_str().to_string()),
                            _ => None,
                        })
                        .collect();
                    ExprKind::Dict {
                        keys,
                        items: children.out,
                    }
                } else if suspends {
                    ExprKind::Suspend(children.out)
                } else if formatted {
                    ExprKind::Formatted(children.out)
                } else {
                    ExprKind::Other(children.out)
                }
            }
        }
    }

    fn comprehension(
        &mut self,
        kind: ComprehensionKind,
        element: &rast::Expr,
        key: Option<&rast::Expr>,
        generators: &[rast::Comprehension],
    ) -> ExprKind {
        let scope = self.scope();
        let generators = generators
            .iter()
            .map(|g| Generator {
                target: self.expr(&g.target),
                iter: self.expr(&g.iter),
                ifs: self.exprs(&g.ifs),
            })
            .collect();
        ExprKind::Comprehension(Box::new(Comprehension {
            kind,
            element: self.expr(element),
            key: self.opt(key),
            generators,
            scope,
        }))
    }
}

/// Collects the direct sub-expressions of an expression we do not model.
struct Children<'l> {
    lower: &'l mut Lower,
    out: Vec<Expr>,
}

impl<'a> Visitor<'a> for Children<'_> {
    fn visit_expr(&mut self, expr: &'a rast::Expr) {
        let lowered = self.lower.expr(expr);
        self.out.push(lowered);
    }
}

fn alias(a: &rast::Alias) -> ImportAlias {
    ImportAlias {
        name: a.name.id.to_string(),
        asname: a.asname.as_ref().map(ident),
        range: range(a.range),
    }
}

fn cmp_op(op: rast::CmpOp) -> CmpOp {
    match op {
        rast::CmpOp::Eq => CmpOp::Eq,
        rast::CmpOp::NotEq => CmpOp::NotEq,
        rast::CmpOp::Lt => CmpOp::Lt,
        rast::CmpOp::LtE => CmpOp::LtE,
        rast::CmpOp::Gt => CmpOp::Gt,
        rast::CmpOp::GtE => CmpOp::GtE,
        rast::CmpOp::Is => CmpOp::Is,
        rast::CmpOp::IsNot => CmpOp::IsNot,
        rast::CmpOp::In => CmpOp::In,
        rast::CmpOp::NotIn => CmpOp::NotIn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_from_python2_print_statement() {
        let parsed = parse("print 'hello'\nimport multiprocessing\n");
        assert!(!parsed.syntax_errors.is_empty());
        assert!(
            parsed
                .module
                .body
                .iter()
                .any(|s| matches!(s.kind, StmtKind::Import(_)))
        );
    }

    #[test]
    fn nesting_past_the_limit_is_found_before_parsing() {
        let deep = format!("x = {}1{}\n", "(".repeat(5000), ")".repeat(5000));
        let found = nested_too_deep(&deep).unwrap();
        assert_eq!(found.range.start, 4 + MAX_NESTING as u32);
        let blocks: String = (0..1500)
            .map(|n| format!("{}if x:\n", " ".repeat(n)))
            .collect();
        let found = nested_too_deep(&format!("{blocks}{}pass\n", " ".repeat(1500))).unwrap();
        assert!(found.message.starts_with("too many levels of indentation"));
        // Real code: blocks that open and close, continuation lines, brackets across lines.
        let real = "def f(x):\n    if x:\n        y = (1,\n  2)\n    z = 1 + \\\n 2\n\tpass\nclass A:\n    pass\n";
        assert!(nested_too_deep(real).is_none());
        // Brackets in strings and comments do not count; real nesting does not come near.
        let quiet = format!(
            "s = '{0}'\nt = \"\"\"{0}\n\"\"\"\n# {0}\nu = [[1], (2, {{3: 4}})]\n",
            "(".repeat(5000)
        );
        assert!(nested_too_deep(&quiet).is_none());
        assert!(nested_too_deep("s = 'it\\'s ((('\n").is_none());
    }

    #[test]
    fn deep_nesting_is_truncated_not_overflowed() {
        let depth = 5000;
        let src = format!("x = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
        let parsed = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || parse(&src).truncated)
            .unwrap()
            .join()
            .unwrap();
        // Parentheses alone do not nest expressions; this stays shallow.
        assert_eq!(parsed, None);
        let src = format!("x = {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        let truncated = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(move || parse(&src).truncated)
            .unwrap()
            .join()
            .unwrap();
        // Cut off at the first list too deep: the 201st bracket, after `x = `.
        assert_eq!(truncated.map(|r| r.start), Some(4 + 200));
    }

    #[test]
    fn multiline_strings_are_recorded() {
        let parsed = parse("x = '''a\nb'''\ny = 'c'\n");
        assert_eq!(parsed.multiline_strings.len(), 1);
    }
}
