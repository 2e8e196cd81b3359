//! Module-level names as a child process sees them.
//!
//! Under spawn and forkserver a child imports the main module again (as `__mp_main__`):
//! code at module level runs, the guarded side of `if __name__ == "__main__":` does not,
//! and nothing the parent did afterwards (calling a function that sets a `global`) is
//! repeated. So a name has, in a child, only the value the import gives it.

use std::collections::{HashMap, HashSet};

use crate::ast::*;
use crate::semantic::guard::{GuardTest, classify};
use crate::semantic::links::{Launch, Links};
use crate::semantic::{Model, exec};

/// Where a module-level name gets a value.
#[derive(Clone, Copy, Debug)]
pub enum Setter<'a> {
    /// Module-level code that every import runs.
    Import { offset: u32 },
    /// The guarded side of a main guard: only the main program runs it.
    MainOnly { offset: u32 },
    /// A function that declares the name `global`.
    Function(&'a FunctionDef),
}

/// The module-level code that runs only as the main program: the guarded side of every
/// main guard outside functions and classes.
pub fn main_only_ranges(model: &Model<'_>) -> Vec<Range> {
    fn walk(body: &[Stmt], out: &mut Vec<Range>) {
        for stmt in body {
            match &stmt.kind {
                StmtKind::If { branches } => {
                    let mut rest_main_only = false;
                    for b in branches {
                        if rest_main_only {
                            out.push(b.range);
                            continue;
                        }
                        match b.test.as_ref().and_then(classify) {
                            Some(GuardTest::OnlyAsMain) => out.push(b.range),
                            Some(GuardTest::OnlyWhenImported) => {
                                walk(&b.body, out);
                                rest_main_only = true;
                            }
                            _ => walk(&b.body, out),
                        }
                    }
                }
                StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => {}
                _ => crate::semantic::exec::for_each_child(stmt, |c| {
                    if let crate::semantic::exec::Child::Block(b) = c {
                        walk(b, out);
                    }
                }),
            }
        }
    }
    let mut out = Vec::new();
    walk(&model.module.body, &mut out);
    out
}

/// What the import of the module runs, which a spawn or forkserver child runs too.
pub struct ImportRun<'a> {
    /// The guarded side of the main guards: only the main program runs it.
    pub main_only: Vec<Range>,
    /// Functions the import calls (directly, or through other functions of the file).
    functions: Vec<&'a FunctionDef>,
}

impl<'a> ImportRun<'a> {
    pub fn new(model: &Model<'a>, links: &Links<'a>) -> Self {
        let mut functions: Vec<&'a FunctionDef> = Vec::new();
        exec::walk(
            model,
            &model.module.body,
            ScopeId::MODULE,
            &mut |event, scope| {
                if let exec::Event::Call { call, .. } = event
                    && let crate::semantic::Value::Function(f) = model.resolve(&call.func, scope)
                {
                    for g in links.reachable(f) {
                        if !functions.iter().any(|h| std::ptr::eq(*h, g)) {
                            functions.push(g);
                        }
                    }
                }
            },
        );
        Self {
            main_only: main_only_ranges(model),
            functions,
        }
    }

    /// Whether the import calls `f` (directly, or through other functions of the file).
    pub fn runs(&self, f: &FunctionDef) -> bool {
        self.functions.iter().any(|g| std::ptr::eq(*g, f))
    }

    /// Every place module-level `name` gets a value; a function the import itself calls
    /// counts as the import.
    pub fn setters(&self, model: &Model<'a>, name: &str) -> Vec<Setter<'a>> {
        let mut out: Vec<Setter<'a>> = model
            .module_bindings(name)
            .iter()
            .map(|b| {
                if self
                    .main_only
                    .iter()
                    .any(|r| r.start <= b.offset && b.offset < r.end)
                {
                    Setter::MainOnly { offset: b.offset }
                } else {
                    Setter::Import { offset: b.offset }
                }
            })
            .collect();
        out.extend(
            model
                .functions()
                .filter(|f| model.declared_globals(f.scope).contains(&name))
                .map(|f| {
                    if self.functions.iter().any(|g| std::ptr::eq(*g, f)) {
                        Setter::Import {
                            offset: f.name.range.start,
                        }
                    } else {
                        Setter::Function(f)
                    }
                }),
        );
        out
    }
}

/// Every function that runs in a child process (a process's target, a pool's task or
/// initializer, and what they call), each with the first launch that runs it there.
pub fn child_functions<'l, 'a>(links: &'l Links<'a>) -> Vec<(&'a FunctionDef, &'l Launch<'a>)> {
    let mut out: Vec<(&'a FunctionDef, &'l Launch<'a>)> = Vec::new();
    for launch in links.launches.iter().filter(|l| l.kind.in_child_process()) {
        for f in links.reachable(launch.target) {
            if !out.iter().any(|(g, _)| std::ptr::eq(*g, f)) {
                out.push((f, launch));
            }
        }
    }
    out
}

/// Where the parent's code (module level, and functions that do not run in a child)
/// reads each name, assignment targets aside.
pub fn parent_reads<'a>(
    model: &Model<'a>,
    child: &HashSet<ScopeId>,
) -> HashMap<&'a str, Vec<(&'a Expr, ScopeId)>> {
    let mut targets: HashSet<(u32, u32)> = HashSet::new();
    for (body, _) in model.bodies() {
        exec::any_stmt(body, &mut |stmt| {
            let ts: Vec<&Expr> = match &stmt.kind {
                StmtKind::Assign { targets, .. } => targets.iter().collect(),
                StmtKind::AugAssign { target, .. } => vec![target],
                StmtKind::AnnAssign { target, .. } => vec![target],
                StmtKind::FunctionDef(_) | StmtKind::ClassDef(_) => return Some(false),
                _ => return None,
            };
            for t in ts {
                if t.as_name().is_some() {
                    targets.insert((t.range.start, t.range.end));
                }
            }
            None
        });
    }
    let mut out: HashMap<&'a str, Vec<(&'a Expr, ScopeId)>> = HashMap::new();
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, scope| {
        let Some(name) = e.as_name() else { return };
        // Code nested in a child's function (a thread it starts) is the child's too.
        let mut at = Some(scope);
        while let Some(s) = at {
            if child.contains(&s) {
                return;
            }
            at = model.parent(s);
        }
        if targets.contains(&(e.range.start, e.range.end)) {
            return;
        }
        if model.binding_scope(name, scope) == Some(ScopeId::MODULE) {
            out.entry(name).or_default().push((e, scope));
        }
    });
    out
}
