//! The rules. Each file holds one rule: a unit struct implementing [`Rule`].
//!
//! Rules declare which nodes they want; [`run`] walks the tree once and hands each node
//! only to the rules that asked for it. A rule writes its message, label, help and fix;
//! its code, severity and documentation are attached from the registry.

pub mod ineffective_main_guard;
pub mod join_before_drain;
pub mod lock_acquire_blocking_keyword;
pub mod lock_acquire_inside_try;
pub mod lock_not_released;
pub mod missing_main_guard;
pub mod queue_empty_as_signal;
pub mod queue_never_drained;
pub mod shared_value_race;
pub mod task_done_missing;

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::noqa::Directives;
use crate::python::Parsed;
use crate::semantic::Model;
use crate::semantic::exec;
use crate::semantic::mp::MethodSet;
use crate::semantic::objects::Objects;
use crate::source::SourceFile;

/// The nodes a rule wants to be called for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Wants {
    /// Once per file, with the whole model.
    pub module: bool,
    /// Every expression, in every scope.
    pub exprs: bool,
    /// Only files that import a module with processes, locks or queues: the flow layer
    /// (objects, links, paths) is never built for the others.
    pub concurrency_only: bool,
}

impl Wants {
    /// Once per file, in files that reach the flow layer: what the flow rules ask for.
    pub const FLOW_MODULE: Wants = Wants {
        module: true,
        exprs: false,
        concurrency_only: true,
    };
}

/// A literal that pickles to a few bytes: a number, `None`, a short string. Very many of
/// them are needed to fill a pipe.
pub fn small_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Constant(_) => true,
        ExprKind::Str(s) => s.len() < 1024,
        _ => false,
    }
}

/// The first line of a piece of source, trimmed, for a message.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

pub trait Rule: Sync {
    fn code(&self) -> RuleCode;

    fn wants(&self) -> Wants;

    fn check_module(&self, _cx: &mut Checker<'_, '_>) {}

    fn check_expr<'a>(&self, _cx: &mut Checker<'_, 'a>, _expr: &'a Expr, _scope: ScopeId) {}
}

/// Per-file settings that rules read.
#[derive(Clone, Copy, Debug)]
pub struct RuleSettings {
    /// Start methods the project must work under.
    pub start_methods: MethodSet,
}

impl Default for RuleSettings {
    fn default() -> Self {
        Self {
            start_methods: MethodSet::ALL,
        }
    }
}

/// What a rule sees of the file, and where it reports.
pub struct Checker<'c, 'a> {
    pub source: &'c SourceFile,
    pub parsed: &'a Parsed,
    pub model: &'c Model<'a>,
    /// Object tracking and process links, built on first use and shared by all rules.
    pub objects: &'c Objects<'c, 'a>,
    pub settings: RuleSettings,
    directives: &'c Directives,
    code: RuleCode,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Checker<'_, 'a> {
    /// Whether a `# noqa` hides a finding of this rule at `range` (the linter drops those;
    /// a rule needs this only when one finding shapes another, as a shared fix does).
    pub fn is_suppressed(&self, range: Range) -> bool {
        self.directives
            .suppresses_range(self.code, range, &self.source.index)
    }

    pub fn report(&mut self, mut diagnostic: Diagnostic) {
        diagnostic.code = Code::Rule(self.code);
        self.diagnostics.push(diagnostic);
    }

    /// The source text of a range.
    pub fn text(&self, range: Range) -> &str {
        self.source.text.get(range.as_usize()).unwrap_or_default()
    }

    pub fn line_of(&self, offset: u32) -> u32 {
        self.source.location(offset).line
    }
}

/// Runs the given rules over one parsed file.
pub fn run<'a>(
    source: &SourceFile,
    parsed: &'a Parsed,
    model: &Model<'a>,
    directives: &Directives,
    rules: &[&'static dyn Rule],
    settings: RuleSettings,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut expr_rules = Vec::new();
    let objects = Objects::new(model);
    let concurrent = imports_concurrency(&parsed.module.body);
    for &rule in rules {
        let code = rule.code();
        if rule.wants().concurrency_only && !concurrent {
            continue;
        }
        let mut cx = Checker {
            source,
            parsed,
            model,
            objects: &objects,
            settings,
            directives,
            code,
            diagnostics: Vec::new(),
        };
        if rule.wants().module {
            rule.check_module(&mut cx);
        }
        if rule.wants().exprs {
            expr_rules.push((rule, cx));
        } else {
            out.append(&mut cx.diagnostics);
        }
    }
    if !expr_rules.is_empty() {
        exec::walk_all_exprs(&parsed.module.body, ScopeId::MODULE, &mut |expr, scope| {
            for (rule, cx) in expr_rules.iter_mut() {
                rule.check_expr(cx, expr, scope);
            }
        });
    }
    for (_, mut cx) in expr_rules {
        out.append(&mut cx.diagnostics);
    }
    out
}

/// Modules whose objects the flow rules follow; a file that imports none of them (at any
/// depth, star imports included) has nothing for those rules.
const CONCURRENCY_MODULES: [&str; 7] = [
    "multiprocessing",
    "multiprocess",
    "billiard",
    "torch",
    "concurrent",
    "threading",
    "pathos",
];

fn imports_concurrency(body: &[Stmt]) -> bool {
    let top = |name: &str| {
        let first = name.split('.').next().unwrap_or(name);
        CONCURRENCY_MODULES.contains(&first)
    };
    body.iter().any(|stmt| match &stmt.kind {
        StmtKind::Import(names) => names.iter().any(|a| top(&a.name)),
        StmtKind::ImportFrom { module, level, .. } => {
            *level == 0 && module.as_deref().is_some_and(top)
        }
        _ => {
            let mut found = false;
            exec::for_each_child(stmt, |c| {
                if let exec::Child::Block(b) = c {
                    found |= imports_concurrency(b);
                }
            });
            found
        }
    })
}
