//! Our own, lowered Python syntax tree.
//!
//! The parser's tree (`ruff_python_ast`) changes with every release, so the facade in
//! `python.rs` lowers it into these types and nothing else in the crate depends on it.
//! The tree keeps what rules reason about (names, attributes, calls, bindings, control
//! flow) and folds everything else into [`ExprKind::Other`], which still carries its
//! sub-expressions so that no call is ever lost from a walk.

/// A byte range into the file's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Range {
    pub start: u32,
    pub end: u32,
}

impl Range {
    pub const fn new(start: u32, end: u32) -> Self {
        Self { start, end }
    }

    pub fn contains(self, offset: u32) -> bool {
        self.start <= offset && offset < self.end
    }

    pub fn as_usize(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Index of a scope (module, class, function, lambda, comprehension) in the semantic model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeId(pub u32);

impl ScopeId {
    pub const MODULE: ScopeId = ScopeId(0);
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub range: Range,
}

#[derive(Debug)]
pub struct Module {
    pub body: Vec<Stmt>,
    /// How many scopes the lowering allocated; ids run from 0 (the module) up to this.
    pub scope_count: u32,
}

#[derive(Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub range: Range,
}

#[derive(Debug)]
pub struct FunctionDef {
    pub name: Ident,
    pub decorators: Vec<Expr>,
    pub params: Parameters,
    pub returns: Option<Expr>,
    pub body: Vec<Stmt>,
    pub is_async: bool,
    /// The body contains `yield`: calling the function only creates a generator.
    pub is_generator: bool,
    /// The scope of the function's body.
    pub scope: ScopeId,
}

#[derive(Debug)]
pub struct ClassDef {
    pub name: Ident,
    pub decorators: Vec<Expr>,
    pub bases: Vec<Expr>,
    pub keywords: Vec<Keyword>,
    pub body: Vec<Stmt>,
    pub scope: ScopeId,
}

#[derive(Debug, Default)]
pub struct Parameters {
    /// Positional-only and ordinary parameters, then keyword-only ones, then `*args` and
    /// `**kwargs`.
    pub params: Vec<Parameter>,
    /// How many of `params` take positional arguments.
    pub positional: usize,
    /// How many of those are positional-only (before `/`).
    pub posonly: usize,
    /// Whether the last entries of `params` are `*args` and `**kwargs`.
    pub vararg: bool,
    pub kwarg: bool,
}

impl Parameters {
    /// The keyword-only parameters (after `*` or `*args`).
    pub fn keyword_only(&self) -> &[Parameter] {
        let end = self.params.len() - usize::from(self.vararg) - usize::from(self.kwarg);
        &self.params[self.positional..end]
    }
}

#[derive(Debug)]
pub struct Parameter {
    pub name: Ident,
    pub annotation: Option<Expr>,
    pub default: Option<Expr>,
}

/// One `if`/`elif`/`else` arm; `test` is `None` for `else`.
#[derive(Debug)]
pub struct Branch {
    pub test: Option<Expr>,
    pub body: Vec<Stmt>,
    pub range: Range,
}

#[derive(Debug)]
pub struct WithItem {
    pub context: Expr,
    pub target: Option<Expr>,
}

#[derive(Debug)]
pub struct Handler {
    pub type_: Option<Expr>,
    pub name: Option<Ident>,
    pub body: Vec<Stmt>,
    pub range: Range,
}

#[derive(Debug)]
pub struct MatchCase {
    /// Names the pattern binds (captures, `as` targets, `**rest`).
    pub bindings: Vec<Ident>,
    /// Expressions evaluated by the pattern (value patterns, class names).
    pub exprs: Vec<Expr>,
    pub guard: Option<Expr>,
    pub body: Vec<Stmt>,
}

#[derive(Debug)]
pub struct ImportAlias {
    /// The dotted module (for `import`) or the imported member (for `from ... import`).
    pub name: String,
    pub asname: Option<Ident>,
    pub range: Range,
}

#[derive(Debug)]
pub enum StmtKind {
    FunctionDef(Box<FunctionDef>),
    ClassDef(Box<ClassDef>),
    Return(Option<Expr>),
    Delete(Vec<Expr>),
    Assign {
        targets: Vec<Expr>,
        value: Expr,
    },
    AugAssign {
        target: Expr,
        value: Expr,
    },
    AnnAssign {
        target: Expr,
        annotation: Expr,
        value: Option<Expr>,
    },
    For {
        target: Expr,
        iter: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
        is_async: bool,
    },
    While {
        test: Expr,
        body: Vec<Stmt>,
        orelse: Vec<Stmt>,
    },
    If {
        branches: Vec<Branch>,
    },
    With {
        items: Vec<WithItem>,
        body: Vec<Stmt>,
        is_async: bool,
    },
    Match {
        subject: Expr,
        cases: Vec<MatchCase>,
    },
    Raise {
        exc: Option<Expr>,
        cause: Option<Expr>,
    },
    Try {
        body: Vec<Stmt>,
        handlers: Vec<Handler>,
        orelse: Vec<Stmt>,
        finalbody: Vec<Stmt>,
    },
    Assert {
        test: Expr,
        msg: Option<Expr>,
    },
    Import(Vec<ImportAlias>),
    ImportFrom {
        module: Option<String>,
        level: u32,
        names: Vec<ImportAlias>,
    },
    Global(Vec<Ident>),
    Nonlocal(Vec<Ident>),
    Expr(Expr),
    Pass,
    Break,
    Continue,
    /// Statements no rule looks into (type aliases, IPython escapes); their expressions.
    Other(Vec<Expr>),
}

#[derive(Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub range: Range,
}

#[derive(Debug)]
pub struct Call {
    pub func: Expr,
    pub args: Vec<Expr>,
    pub keywords: Vec<Keyword>,
}

impl Call {
    /// The value of keyword argument `name`, if given.
    pub fn keyword(&self, name: &str) -> Option<&Expr> {
        self.keywords
            .iter()
            .find(|k| k.arg.as_ref().is_some_and(|a| a.name == name))
            .map(|k| &k.value)
    }

    /// Positional argument `index`, or else keyword argument `name`.
    pub fn argument(&self, index: usize, name: &str) -> Option<&Expr> {
        let positional = self
            .args
            .iter()
            .take_while(|a| !matches!(a.kind, ExprKind::Starred(_)))
            .nth(index);
        positional.or_else(|| self.keyword(name))
    }
}

#[derive(Debug)]
pub struct Keyword {
    /// `None` for `**kwargs`.
    pub arg: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtE,
    Gt,
    GtE,
    Is,
    IsNot,
    In,
    NotIn,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::NotEq => "!=",
            CmpOp::Lt => "<",
            CmpOp::LtE => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtE => ">=",
            CmpOp::Is => "is",
            CmpOp::IsNot => "is not",
            CmpOp::In => "in",
            CmpOp::NotIn => "not in",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ComprehensionKind {
    List,
    Set,
    Dict,
    Generator,
}

#[derive(Debug)]
pub struct Comprehension {
    pub kind: ComprehensionKind,
    /// The element (for dicts: the value).
    pub element: Expr,
    /// The key of a dict comprehension.
    pub key: Option<Expr>,
    pub generators: Vec<Generator>,
    pub scope: ScopeId,
}

#[derive(Debug)]
pub struct Generator {
    pub target: Expr,
    pub iter: Expr,
    pub ifs: Vec<Expr>,
}

#[derive(Debug)]
pub struct Lambda {
    pub params: Parameters,
    pub body: Expr,
    pub scope: ScopeId,
}

#[derive(Debug)]
pub enum ExprKind {
    Name(String),
    Attribute {
        value: Box<Expr>,
        attr: Ident,
    },
    /// `value[index]`.
    Subscript {
        value: Box<Expr>,
        index: Box<Expr>,
    },
    Call(Box<Call>),
    /// A string literal (implicit concatenation joined); f-strings are
    /// [`ExprKind::Formatted`].
    Str(String),
    /// An f-string or t-string, with the expressions it formats: text, whatever they are.
    Formatted(Vec<Expr>),
    Compare {
        left: Box<Expr>,
        ops: Vec<CmpOp>,
        comparators: Vec<Expr>,
    },
    BoolOp {
        op: BoolOp,
        values: Vec<Expr>,
    },
    Not(Box<Expr>),
    Lambda(Box<Lambda>),
    Named {
        target: Box<Expr>,
        value: Box<Expr>,
    },
    Starred(Box<Expr>),
    Tuple(Vec<Expr>),
    List(Vec<Expr>),
    Comprehension(Box<Comprehension>),
    /// `True`, `False`, `None`, numbers, bytes, `...`, with the truth value when it is
    /// plain (`False`, `None`, `0` are false; `True` and other ints true).
    Constant(Option<bool>),
    /// `body if test else orelse`.
    IfExp {
        test: Box<Expr>,
        body: Box<Expr>,
        orelse: Box<Expr>,
    },
    /// `yield`, `yield from` or `await`: another frame runs here, and can throw an
    /// exception in.
    Suspend(Vec<Expr>),
    /// A dictionary display: the key of each entry when it is a string literal (`None`
    /// for any other key and for `**mapping`), and the sub-expressions it evaluates.
    Dict {
        keys: Vec<Option<String>>,
        items: Vec<Expr>,
    },
    /// Anything else, with the sub-expressions it evaluates.
    Other(Vec<Expr>),
}

impl Expr {
    pub fn as_name(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Name(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// `left OP right` with exactly one operator.
    pub fn single_comparison(&self) -> Option<(&Expr, CmpOp, &Expr)> {
        match &self.kind {
            ExprKind::Compare {
                left,
                ops,
                comparators,
            } => match (ops.as_slice(), comparators.as_slice()) {
                ([op], [right]) => Some((left, *op, right)),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn as_call(&self) -> Option<&Call> {
        match &self.kind {
            ExprKind::Call(c) => Some(c),
            _ => None,
        }
    }
}
