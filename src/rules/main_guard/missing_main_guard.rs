//! MP001 `missing-main-guard`: processes started while the module is being imported.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::Model;
use crate::semantic::exec;
use crate::semantic::mp::{MethodSet, ProcessStart, StartMethod, Started};
use crate::semantic::project::imported_modules;
use crate::semantic::reach::{Reach, Remote, Site};
use std::path::Path;

pub struct MissingMainGuard;

impl Rule for MissingMainGuard {
    fn code(&self) -> RuleCode {
        RuleCode::MP001
    }

    fn wants(&self) -> Wants {
        Wants {
            module: true,
            exprs: false,
            concurrency_only: false,
        }
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        // spawn and forkserver never re-run a `__main__.py` in their children (it is run
        // with `python -m pkg` or as a directory, under a name ending in `__main__`), so
        // what it starts at module level does not recurse.
        if cx
            .source
            .path
            .file_name()
            .is_some_and(|n| n == "__main__.py")
        {
            return;
        }
        let model = cx.model;
        let forced = exec::import_time_start_methods(model);
        let importer = &cx.source.path;
        let external = |qualified: &str| cx.project.call_starts(importer, qualified);
        let reach = Reach::new(model, cx.objects, Some(&external));
        let mut found: Vec<(usize, Diagnostic)> = Vec::new();
        for (index, stmt) in model.module.body.iter().enumerate() {
            exec::walk(
                model,
                std::slice::from_ref(stmt),
                ScopeId::MODULE,
                &mut |event, scope| {
                    let anchor = event.expr();
                    let (start, via) = match exec::process_start(cx.objects, event, scope) {
                        Some(start) => (start, None),
                        None => match reach.callee_starts(event, scope) {
                            Some(site) => (site.start, Some(site)),
                            None => return,
                        },
                    };
                    let default = exec::method_set_before(&forced, anchor.range.start);
                    let failing =
                        failing_methods(start.method.or(default), cx.settings.start_methods);
                    if failing.is_empty() {
                        return;
                    }
                    // Guarding the statement alone would leave what uses its result
                    // (`print(pool.map(...))`) outside: show the script's tail.
                    let shown: Vec<Range> = if movable(stmt) {
                        model.module.body[index..].iter().map(|s| s.range).collect()
                    } else {
                        vec![anchor.range]
                    };
                    found.push((index, diagnostic(cx, anchor, start, via, failing, &shown)));
                },
            );
        }
        let fix = found
            .iter()
            .filter(|(_, d)| !cx.is_suppressed(d.range))
            .map(|(index, _)| *index)
            .min()
            .map(|first| guard_fix(cx, first, &forced));
        for (_, mut diagnostic) in found {
            match &fix {
                Some(Ok(fix)) => diagnostic = diagnostic.with_fix(Some(fix.clone())),
                Some(Err(why)) => diagnostic = diagnostic.with_no_fix(why.clone()),
                None => {}
            }
            cx.report(diagnostic);
        }
        // Each module once: `from m import x` imports `m`, and `m.x` if it is a module.
        let mut reported = std::collections::HashSet::new();
        for stmt in exec::import_time_imports(model) {
            for (module, range) in imported_modules(stmt) {
                let Some((module, remote)) = cx.project.import_starts(importer, &module) else {
                    continue;
                };
                if !reported.insert(module.clone()) {
                    continue;
                }
                let failing = failing_methods(remote.start.method, cx.settings.start_methods);
                if !failing.is_empty() {
                    let d = import_diagnostic(cx, range, &module, &remote, failing);
                    cx.report(d);
                }
            }
        }
    }
}

/// The start methods under which a start with this method (or the default) fails.
/// A method the code chose itself is the one that runs, whatever the configuration says
/// the platforms' defaults are.
fn failing_methods(method: Option<StartMethod>, configured: MethodSet) -> MethodSet {
    let candidates = match method {
        Some(m) => MethodSet::single(m),
        None => configured,
    };
    candidates.iter().filter(|m| m.reimports_main()).collect()
}

/// How a call is named in a message: `proc.start()`, `Pool(...)`; the callee alone when
/// the full text would be long or span lines.
fn shown_call(cx: &Checker<'_, '_>, anchor: &Expr) -> String {
    let Some(call) = anchor.as_call() else {
        return short(cx.text(anchor.range));
    };
    let func = cx.text(call.func.range);
    let args = if call.args.is_empty() && call.keywords.is_empty() {
        "()"
    } else {
        "(...)"
    };
    if func.contains(['\n', '#']) || func.chars().count() > 40 {
        match &call.func.kind {
            ExprKind::Attribute { attr, .. } => format!(".{}{args}", attr.name),
            _ => format!("{}{args}", short(func)),
        }
    } else {
        format!("{func}{args}")
    }
}

/// The first lines of the code to guard, indented under the guard; `...` for the rest.
fn guarded_lines(cx: &Checker<'_, '_>, code: &[Range]) -> String {
    const SHOWN: usize = 4;
    let mut out = String::new();
    for range in code.iter().take(SHOWN) {
        out.push_str(&format!("        {}\n", first_line(cx.text(*range))));
    }
    if code.len() > SHOWN {
        out.push_str("        ...\n");
    }
    out
}

fn first_line(text: &str) -> String {
    match text.lines().next() {
        Some(line) if line.len() < text.len() => format!("{} ...", line.trim_end()),
        Some(line) => line.to_string(),
        None => String::new(),
    }
}

fn short(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 48 {
        let cut: String = one_line.chars().take(45).collect();
        format!("{cut}...")
    } else {
        one_line
    }
}

fn diagnostic(
    cx: &Checker<'_, '_>,
    anchor: &Expr,
    start: ProcessStart,
    via: Option<Site>,
    failing: MethodSet,
    shown_code: &[Range],
) -> Diagnostic {
    let shown = shown_call(cx, anchor);
    let methods = failing.describe();
    let (message, label) = match &via {
        None => (
            format!("`{shown}` starts {} at import time", start.what.describe()),
            format!(
                "starts {} while the module is imported",
                start.what.describe()
            ),
        ),
        Some(Site {
            remote: Some(remote),
            ..
        }) => (
            format!(
                "`{shown}` runs at import time and starts {} (`{}` line {})",
                start.what.describe(),
                shown_path(&cx.source.path, &remote.path),
                remote.line
            ),
            "runs while the module is imported".to_string(),
        ),
        Some(site) => (
            format!(
                "`{shown}` runs at import time and starts {} (line {})",
                start.what.describe(),
                cx.line_of(site.range.start)
            ),
            "runs while the module is imported".to_string(),
        ),
    };
    let consequence = match start.what {
        Started::Pool => {
            "each worker re-imports this module, fails, and the pool respawns workers forever"
        }
        Started::ExecutorWorkers => {
            "each worker re-imports this module and fails, and the executor raises BrokenProcessPool"
        }
        Started::Process | Started::Manager | Started::Launched => {
            "the child re-imports this module, runs this again and dies with `RuntimeError: An attempt has been made to start a new process before the current process has finished its bootstrapping phase`"
        }
    };
    let mut d = Diagnostic::new(
        crate::diagnostics::Code::Rule(RuleCode::MP001),
        anchor.range,
        format!("{message}; this fails under {methods}"),
        label,
    )
    .with_help(format!(
        "under {methods} {consequence} (the default start method is forkserver on Linux \
         since Python 3.14 and spawn on macOS and Windows). Start processes only under the \
         main guard, with everything after them that uses what they start:\n\n    \
         if __name__ == \"__main__\":\n{}",
        guarded_lines(cx, shown_code)
    ));
    match via {
        Some(Site {
            range,
            remote: Some(remote),
            ..
        }) if range != anchor.range => {
            d = d.with_annotation(
                range,
                format!(
                    "calls into `{}`, which starts {} (line {})",
                    shown_path(&cx.source.path, &remote.path),
                    start.what.describe(),
                    remote.line
                ),
            );
        }
        Some(Site {
            range,
            remote: None,
            ..
        }) => {
            d = d.with_annotation(range, format!("starts {} here", start.what.describe()));
        }
        _ => {}
    }
    d
}

/// Another module's path as a finding shows it: from the checked file's folder when it
/// lies below it, else as paths are shown everywhere.
fn shown_path(importer: &Path, other: &Path) -> String {
    let relative = importer
        .parent()
        .and_then(|dir| other.strip_prefix(dir).ok())
        .filter(|r| !r.as_os_str().is_empty());
    match relative {
        Some(r) => r.to_string_lossy().replace('\\', "/"),
        None => crate::paths::display_path(other),
    }
}

/// MP001 on an import: the imported project module starts processes when it is
/// imported, which no main guard in the importer can prevent.
fn import_diagnostic(
    cx: &Checker<'_, '_>,
    range: Range,
    module: &str,
    remote: &Remote,
    failing: MethodSet,
) -> Diagnostic {
    let methods = failing.describe();
    let what = remote.start.what.describe();
    let path = shown_path(&cx.source.path, &remote.path);
    let respawn = match remote.start.what {
        Started::Pool => ", and the pool replaces each dead worker forever",
        Started::ExecutorWorkers => ", and the executor raises BrokenProcessPool",
        _ => "",
    };
    Diagnostic::new(
        crate::diagnostics::Code::Rule(RuleCode::MP001),
        range,
        format!(
            "importing `{module}` starts {what} (`{path}` line {}); this fails under {methods}",
            remote.line
        ),
        format!("starts {what} while the module is imported"),
    )
    .with_help(format!(
        "under {methods} every child imports the main program again, which imports \
         `{module}` again, which starts {what} in a child that has not finished starting: \
         it dies with `RuntimeError: An attempt has been made to start a new process before \
         the current process has finished its bootstrapping phase`{respawn} (the default \
         start method is forkserver on Linux since Python 3.14 and spawn on macOS and \
         Windows). A main guard here does not help: in `{path}`, start processes in a \
         function that the program calls under its main guard"
    ))
    .with_no_fix(format!(
        "the processes start in `{path}`, not here: move them into a function there"
    ))
}

/// Moves the module's tail, from the first statement that starts processes on, under a
/// new main guard. Offered only when that is plausible: the tail holds no definitions or
/// imports, and no function or class reads a name the tail assigns (children would lose
/// it). Still unsafe: module-level names the tail assigns stop existing on import.
fn guard_fix(
    cx: &Checker<'_, '_>,
    first: usize,
    forced: &[(u32, Option<StartMethod>)],
) -> Result<Fix, String> {
    let body = &cx.model.module.body;
    let source = cx.source;
    let index = &source.index;
    let first_line = index.line_of(body[first].range.start);
    // Everything that shares the first line belongs to the tail too.
    let tail_start = body
        .iter()
        .position(|s| index.line_of(s.range.end) >= first_line)
        .ok_or_else(String::new)?;
    // Take along the statements just before that set up what the tail uses
    // (`proc = Process(...)` before `proc.start()`): children need them no more than the
    // start itself.
    let mut tail_start = tail_start;
    while tail_start > 0 {
        let previous = &body[tail_start - 1];
        let mut bound = Vec::new();
        assigned_names(previous, &mut bound);
        let used = names_used(&body[tail_start..]);
        let feeds_tail = !bound.is_empty() && bound.iter().any(|n| used.contains(n));
        if !(movable(previous) && feeds_tail) {
            break;
        }
        tail_start -= 1;
    }
    let tail = &body[tail_start..];
    if !tail.iter().all(movable) {
        return Err(
            "the code from the first start to the end of the module holds a \
                    definition or an import the children need: move the start-up code \
                    into a `main()` called under the guard by hand"
                .to_string(),
        );
    }
    let tail_range = Range::new(tail[0].range.start, tail.last().map_or(0, |s| s.range.end));
    let read_elsewhere = names_read_in_definitions(cx.model, tail_range);
    let mut assigned = Vec::new();
    for stmt in tail {
        assigned_names(stmt, &mut assigned);
    }
    if let Some(name) = assigned.iter().find(|n| read_elsewhere.contains(n)) {
        return Err(format!(
            "`{name}` is assigned in the code that would move and read by a function: \
             under the guard it would not exist in the children; pass it to them as an \
             argument"
        ));
    }
    stays_behind(
        cx,
        &body[..tail_start],
        &read_elsewhere,
        forced,
        tail_range.start,
    )?;
    let start = index.line_start(index.line_of(tail[0].range.start));
    let end = tail_range.end;
    let unit = indent_unit(&source.text);
    let newline = if source.text.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut content = format!("if __name__ == \"__main__\":{newline}");
    let mut offset = start;
    for line in source.text[start as usize..end as usize].split_inclusive('\n') {
        let in_string = cx
            .parsed
            .multiline_strings
            .iter()
            .any(|r| r.start < offset && offset < r.end);
        if !in_string && !line.trim().is_empty() {
            content.push_str(unit);
        }
        content.push_str(line);
        offset += line.len() as u32;
    }
    Ok(Fix::new(
        Applicability::Unsafe,
        "Move the statements that start processes under `if __name__ == \"__main__\":`",
        vec![Edit {
            range: Range::new(start, end),
            content,
        }],
    ))
}

/// What would stay at module level, run again by every spawned child, and turn the loud
/// failure into a silent wrong result once the starts are guarded: a multiprocessing
/// object a function uses as a global (each child would make its own), a
/// `set_start_method()` (children die with "context has already been set"), a thread
/// started at import (it would start again in every child).
fn stays_behind<'a>(
    cx: &Checker<'_, 'a>,
    before: &'a [Stmt],
    read_elsewhere: &[&str],
    forced: &[(u32, Option<StartMethod>)],
    tail_start: u32,
) -> Result<(), String> {
    let model = cx.model;
    if forced.iter().any(|(at, _)| *at < tail_start) {
        return Err(
            "`set_start_method()` at module level would run again in every child \
                    (RuntimeError: context has already been set): move it under the guard \
                    with the code that starts processes, by hand"
                .to_string(),
        );
    }
    for stmt in before {
        let StmtKind::Assign { targets, value } = &stmt.kind else {
            continue;
        };
        let Some((class, _)) = model.resolve(value, ScopeId::MODULE).instance() else {
            continue;
        };
        let Some((kind, _)) = class.shared() else {
            continue;
        };
        for name in targets.iter().filter_map(|t| t.as_name()) {
            if read_elsewhere.contains(&name) {
                return Err(format!(
                    "`{name}` (a multiprocessing {}) is created at module level and used by a \
                     function as a global: under spawn and forkserver each child would make \
                     its own, and the program would run with no error and wrong results; \
                     create it under the guard and pass it to the targets as an argument",
                    kind.name()
                ));
            }
        }
    }
    let mut thread = false;
    exec::walk(model, before, ScopeId::MODULE, &mut |event, scope| {
        if let exec::Event::Call { call, .. } = event {
            thread |= model
                .qualified_name(&call.func, scope)
                .is_some_and(|q| matches!(q.as_str(), "threading.Thread" | "threading.Timer"));
        }
    });
    let started = before.iter().any(|s| {
        let mut found = false;
        exec::walk_all_exprs(std::slice::from_ref(s), ScopeId::MODULE, &mut |e, _| {
            found |= e.as_call().is_some_and(|c| {
                matches!(&c.func.kind, ExprKind::Attribute { attr, .. } if attr.name == "start")
            });
        });
        found
    });
    if thread && started {
        return Err(
            "a thread is started at module level: it would start again in every \
                    child; move it under the guard by hand"
                .to_string(),
        );
    }
    Ok(())
}

/// Whether a statement can move under the guard: it neither is nor contains (in an
/// `if`, `try` or loop) a definition or import that children of the module need, nor a
/// statement that means something else once nested.
fn movable(stmt: &Stmt) -> bool {
    let blocked = matches!(
        stmt.kind,
        StmtKind::FunctionDef(_)
            | StmtKind::ClassDef(_)
            | StmtKind::Import(_)
            | StmtKind::ImportFrom { .. }
            | StmtKind::Global(_)
            | StmtKind::Nonlocal(_)
            | StmtKind::Return(_)
            | StmtKind::Break
            | StmtKind::Continue
    );
    let mut nested_ok = true;
    exec::for_each_child(stmt, |child| {
        if let exec::Child::Block(b) = child {
            nested_ok &= b.iter().all(movable_nested);
        }
    });
    !blocked && nested_ok
}

/// Inside a moved block, loops may keep their `break` and `continue`.
fn movable_nested(stmt: &Stmt) -> bool {
    matches!(stmt.kind, StmtKind::Break | StmtKind::Continue) || movable(stmt)
}

fn assigned_names<'a>(stmt: &'a Stmt, out: &mut Vec<&'a str>) {
    fn targets<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
        match &e.kind {
            ExprKind::Name(n) => out.push(n),
            ExprKind::Tuple(items) | ExprKind::List(items) => {
                items.iter().for_each(|i| targets(i, out))
            }
            ExprKind::Starred(inner) => targets(inner, out),
            _ => {}
        }
    }
    match &stmt.kind {
        StmtKind::Assign { targets: ts, .. } => ts.iter().for_each(|t| targets(t, out)),
        StmtKind::AnnAssign { target, .. } | StmtKind::AugAssign { target, .. } => {
            targets(target, out)
        }
        StmtKind::For { target, .. } => targets(target, out),
        StmtKind::With { items, .. } => items
            .iter()
            .filter_map(|i| i.target.as_ref())
            .for_each(|t| targets(t, out)),
        _ => {}
    }
    exec::for_each_child(stmt, |child| {
        if let exec::Child::Block(b) = child {
            b.iter().for_each(|s| assigned_names(s, out));
        }
    });
}

/// Every name that appears in these statements.
fn names_used(stmts: &[Stmt]) -> Vec<&str> {
    let mut out = Vec::new();
    exec::walk_all_exprs(stmts, ScopeId::MODULE, &mut |expr, _| {
        if let ExprKind::Name(n) = &expr.kind {
            out.push(n.as_str());
        }
    });
    out
}

/// Names that code inside functions, classes and lambdas reads from the module scope,
/// outside `tail`: a lambda or a comprehension in the code that moves goes along with it.
fn names_read_in_definitions<'a>(model: &Model<'a>, tail: Range) -> Vec<&'a str> {
    let mut out = Vec::new();
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |expr, scope| {
        if let ExprKind::Name(n) = &expr.kind
            && scope != ScopeId::MODULE
            && !(tail.start <= expr.range.start && expr.range.end <= tail.end)
            && model.binding_scope(n, scope) == Some(ScopeId::MODULE)
        {
            out.push(n.as_str());
        }
    });
    out
}

/// The file's indentation unit, from its first indented line; four spaces by default.
fn indent_unit(text: &str) -> &str {
    for line in text.lines() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        let width = line.len() - trimmed.len();
        if width > 0 && !trimmed.is_empty() && !trimmed.starts_with('#') {
            return &line[..width];
        }
    }
    "    "
}
