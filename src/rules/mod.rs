//! The rules. Each file holds one rule: a unit struct implementing [`Rule`]; the files
//! are grouped in one folder per family (the hundreds of their codes).
//!
//! Rules declare which nodes they want; [`run`] walks the tree once and hands each node
//! only to the rules that asked for it. A rule writes its message, label, help and fix;
//! its code, severity and documentation are attached from the registry.

mod children;
mod locks;
mod main_guard;
mod pools;
mod queues;
mod shared_memory;
mod start_methods;

pub use children::{
    global_mutated_in_child, global_set_under_main_guard, process_args_mismatch,
    target_called_not_passed, thread_primitive_across_processes, unpicklable_callable,
};
pub use locks::{
    lock_acquire_blocking_keyword, lock_acquire_inside_try, lock_not_released, shared_value_race,
};
pub use main_guard::{ineffective_main_guard, missing_main_guard};
pub use pools::{
    async_result_ignored, daemon_spawns_children, manager_per_object, pool_exits_before_results,
    pool_join_without_close, pool_not_closed, pool_task_exits, process_lifecycle,
    terminate_with_shared_resources,
};
pub use queues::{
    join_before_drain, queue_empty_as_signal, queue_never_drained, sync_object_passed_by_pickle,
    task_done_missing, temporary_sync_object_in_args,
};
pub use shared_memory::{
    shared_memory_buffer_escapes, shared_memory_not_unlinked, shared_memory_tracked_attach,
    shared_memory_unlinked_by_attacher, tracker_unregister_in_tree,
};
pub use start_methods::{fork_with_threads, start_method_misuse};

use crate::ast::*;
use crate::codes::RuleCode;
use crate::config::PythonVersion;
use crate::diagnostics::{Code, Diagnostic};
use crate::noqa::Directives;
use crate::python::Parsed;
use crate::semantic::Model;
use crate::semantic::exec;
use crate::semantic::mp::MethodSet;
use crate::semantic::objects::Objects;
use crate::semantic::project::Project;
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

    /// Words without one of which in the file's text the rule finds nothing (every way
    /// to name what it judges spells one), so it is not run; none when it has no such
    /// word.
    fn words(&self) -> &'static [&'static str] {
        &[]
    }

    fn check_module(&self, _cx: &mut Checker<'_, '_>) {}

    fn check_expr<'a>(&self, _cx: &mut Checker<'_, 'a>, _expr: &'a Expr, _scope: ScopeId) {}
}

/// Per-file settings that rules read.
#[derive(Clone, Copy, Debug)]
pub struct RuleSettings {
    /// Start methods the project must work under.
    pub start_methods: MethodSet,
    /// The oldest Python version the project supports (`target-version`).
    pub target: PythonVersion,
}

impl Default for RuleSettings {
    fn default() -> Self {
        Self {
            start_methods: MethodSet::ALL,
            target: PythonVersion::OLDEST,
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
    /// The other modules of the project.
    pub project: &'c Project,
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
    project: &Project,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut expr_rules = Vec::new();
    let objects = Objects::new(model);
    let concurrent = imports_concurrency(&parsed.module.body);
    let mut seen: Vec<(&str, bool)> = Vec::new();
    let mut mentions = |word: &'static str| match seen.iter().find(|(w, _)| *w == word) {
        Some((_, found)) => *found,
        None => {
            let found = memchr::memmem::find(source.text.as_bytes(), word.as_bytes()).is_some();
            seen.push((word, found));
            found
        }
    };
    for &rule in rules {
        let code = rule.code();
        if rule.wants().concurrency_only && !concurrent {
            continue;
        }
        let words = rule.words();
        if !words.is_empty() && !words.iter().any(|w| mentions(w)) {
            continue;
        }
        let mut cx = Checker {
            source,
            parsed,
            model,
            objects: &objects,
            settings,
            project,
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
    exec::imports_any(body, &CONCURRENCY_MODULES)
}

/// How a rule words the paths that leave without closing an object.
pub struct Wording<'w> {
    /// What closes it: "the release".
    pub closing: &'w str,
    /// The state the object is left in: "`lock` stays held".
    pub state: &'w str,
    /// The same after "returns": "with `lock` held".
    pub with_state: &'w str,
    /// A loop that comes back around: the reason, and the label at the culprit.
    pub again: (&'w str, &'w str),
    /// What the code is: "the function", or "the program" for module-level code.
    pub body: &'w str,
}

/// Why a path escapes (for the message) and what to say where it does (for the label at
/// the blamed node): an exception from a named call, a failed `assert`, a suspension, a
/// `return`, `break`, `continue` or `raise`, a loop's next round, or the end of the body.
pub fn explain_escape<'a>(
    cx: &Checker<'_, 'a>,
    paths: &crate::semantic::paths::FunctionPaths<'a>,
    escape: &crate::semantic::cfg::Escape,
    culprit: Option<(crate::semantic::cfg::NodeId, Range)>,
    w: &Wording<'_>,
) -> (String, Option<String>) {
    use crate::semantic::cfg::{EscapeKind, NodeKind};
    use crate::semantic::failure::failure_kind;
    let stmt_at = |n: crate::semantic::cfg::NodeId| match paths.cfg.nodes[n].kind {
        NodeKind::Stmt(s) => Some(&s.kind),
        _ => None,
    };
    let raise_stmt =
        culprit.is_some_and(|(n, _)| matches!(stmt_at(n), Some(StmtKind::Raise { .. })));
    let suspends = culprit.is_some_and(|(_, r)| {
        let t = cx.text(r).trim_start();
        t.starts_with("yield") || t.contains("await ")
    });
    let (state, with_state) = (w.state, w.with_state);
    let (why, label) = match (escape.kind, culprit) {
        (_, Some(_)) if escape.by_exception && suspends => (
            "an exception can be thrown in where the function suspends".to_string(),
            format!(
                "an exception in the caller (the body of a `with` over this generator) \
                 arrives here, and {state}"
            ),
        ),
        (_, Some((node, range)))
            if escape.by_exception && matches!(paths.cfg.nodes[node].kind, NodeKind::Assert(_)) =>
        {
            (
                format!("if the `assert` at line {} fails", cx.line_of(range.start)),
                format!("if this fails, {state}"),
            )
        }
        (_, Some((_, range))) if escape.by_exception && !raise_stmt => (
            format!(
                "if `{}` raises ({})",
                snippet(cx.text(range)),
                failure_kind(escape.failure)
            ),
            format!("if this raises, {state}"),
        ),
        (EscapeKind::Again, _) => (w.again.0.to_string(), w.again.1.to_string()),
        (_, Some((node, range))) => {
            let line = cx.line_of(range.start);
            let closing = w.closing;
            match stmt_at(node) {
                Some(StmtKind::Return(_)) => (
                    format!("the function returns at line {line}"),
                    format!("returns {with_state}"),
                ),
                Some(StmtKind::Break) => (
                    format!("`break` at line {line} skips {closing}"),
                    format!("leaves the loop {with_state}"),
                ),
                Some(StmtKind::Continue) => (
                    format!("`continue` at line {line} skips {closing}"),
                    format!("skips {closing}: {state}"),
                ),
                Some(StmtKind::Raise { .. }) => (
                    format!("the `raise` at line {line} skips {closing}"),
                    format!("raises {with_state}"),
                ),
                _ => (
                    format!("a path reaches the end of {} without it", w.body),
                    format!("after this, {} can end {with_state}", w.body),
                ),
            }
        }
        (_, None) => (
            format!("a path reaches the end of {} without it", w.body),
            String::new(),
        ),
    };
    let label = culprit.is_some().then_some(label);
    (why, label)
}

/// The first line of a piece of code, shortened for a message.
pub fn snippet(text: &str) -> String {
    let line = first_line(text);
    if line.chars().count() > 40 {
        format!("{}...", line.chars().take(37).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Removes the statement that is the call `expr` alone (with its whole line), when its
/// block keeps at least one other statement. Unsafe: what the statement did is gone.
pub fn delete_statement_fix(
    cx: &Checker<'_, '_>,
    expr: &Expr,
    message: &str,
) -> Option<crate::diagnostics::Fix> {
    use crate::diagnostics::{Applicability, Edit, Fix};
    let (suite, index) = crate::semantic::segments::suite_of(&cx.parsed.module.body, expr.range)?;
    let stmt = &suite[index];
    if !matches!(&stmt.kind, StmtKind::Expr(e) if std::ptr::eq(e, expr)) || suite.len() < 2 {
        return None;
    }
    let text = &cx.source.text;
    let line_start = text[..stmt.range.start as usize]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    if !text[line_start..stmt.range.start as usize]
        .chars()
        .all(|c| c == ' ' || c == '\t')
    {
        return None;
    }
    let line_end = text[stmt.range.end as usize..]
        .find('\n')
        .map_or(text.len(), |i| stmt.range.end as usize + i + 1);
    let rest = text[stmt.range.end as usize..line_end].trim();
    if !(rest.is_empty() || rest.starts_with('#')) {
        return None;
    }
    Some(Fix::new(
        Applicability::Unsafe,
        message.to_string(),
        vec![Edit {
            range: Range::new(line_start as u32, line_end as u32),
            content: String::new(),
        }],
    ))
}
