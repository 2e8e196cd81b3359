//! MP508 `manager-per-object`: `Manager()` started in `__init__` of a class made many
//! times, or in a loop whose iterations keep its proxies: one server process each, up
//! while anything holds a proxy.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Code, Diagnostic};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::exec;
use crate::semantic::links::LaunchKind;
use crate::semantic::mp::MpClass;

pub struct ManagerPerObject;

impl Rule for ManagerPerObject {
    fn code(&self) -> RuleCode {
        RuleCode::MP508
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let model = cx.model;
        let mut managers: Vec<(&Expr, ScopeId)> = Vec::new();
        exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, scope| {
            if e.as_call().is_some()
                && model.resolve(e, scope).instance().map(|(c, _)| c)
                    == Some(MpClass::StartedManager)
            {
                managers.push((e, scope));
            }
        });
        for (manager, scope) in managers {
            if let Some(many) = per_instance(cx, manager, scope) {
                report_per_instance(cx, manager, many);
            } else if let Some(looped) = per_iteration(cx, manager, scope) {
                report_per_iteration(cx, manager, looped);
            }
        }
    }
}

/// What keeps the manager alive after the statement that starts it.
enum Holder<'a> {
    /// `m = Manager()` or `d = Manager().dict()`: the name holds the manager or a proxy
    /// (and a proxy holds its manager).
    Name(&'a str),
    /// `self.x = Manager()` or `self.x = Manager().list()` in a method.
    SelfAttr,
    /// Handed straight to a container: `keep.append(Manager().dict())`, with what is
    /// stored.
    Stored(&'a Expr),
}

fn holder<'a>(cx: &Checker<'_, 'a>, manager: &'a Expr, scope: ScopeId) -> Option<Holder<'a>> {
    let body = cx.model.body(cx.model.body_scope(scope))?;
    let (suite, index) = crate::semantic::segments::suite_of(body, manager.range)?;
    match &suite[index].kind {
        StmtKind::Assign { targets, value } if is_or_proxy_of(value, manager) => {
            let [target] = targets.as_slice() else {
                return None;
            };
            match &target.kind {
                ExprKind::Name(n) => Some(Holder::Name(n)),
                ExprKind::Attribute { value, .. } => {
                    let this = cx.model.method_of(cx.model.body_scope(scope))?.1;
                    (value.as_name() == Some(this)).then_some(Holder::SelfAttr)
                }
                ExprKind::Subscript { .. } => Some(Holder::Stored(value)),
                _ => None,
            }
        }
        StmtKind::Expr(e) => {
            let call = e.as_call()?;
            let stores = matches!(&call.func.kind,
                ExprKind::Attribute { attr, .. } if STORES.contains(&attr.name.as_str()));
            let arg = call.args.iter().find(|a| is_or_proxy_of(a, manager))?;
            stores.then_some(Holder::Stored(arg))
        }
        _ => None,
    }
}

const STORES: [&str; 6] = ["append", "appendleft", "extend", "add", "insert", "put"];

/// `value` is the manager itself or `manager.some_proxy(...)`.
fn is_or_proxy_of(value: &Expr, manager: &Expr) -> bool {
    if std::ptr::eq(value, manager) {
        return true;
    }
    let Some(call) = value.as_call() else {
        return false;
    };
    matches!(&call.func.kind, ExprKind::Attribute { value, .. } if std::ptr::eq(&**value, manager))
}

/// How often the class whose `__init__` starts the manager is made: `Some` when more than
/// once (in a loop or comprehension, or at several places), with the place.
struct Instances<'a> {
    class: &'a ClassDef,
    site: &'a Expr,
    repeated: bool,
}

fn per_instance<'a>(
    cx: &Checker<'_, 'a>,
    manager: &'a Expr,
    scope: ScopeId,
) -> Option<Instances<'a>> {
    let model = cx.model;
    let init_scope = model.body_scope(scope);
    let init = model.function(init_scope)?;
    if init.name.name != "__init__" {
        return None;
    }
    let (class, this) = model.method_of(init_scope)?;
    let kept = match holder(cx, manager, scope)? {
        Holder::SelfAttr => true,
        Holder::Name(n) => stored_on(&init.body, n, this),
        Holder::Stored(_) => false,
    };
    if !kept || shuts_down(&class.body) {
        return None;
    }
    let made: Vec<_> = cx
        .objects
        .links()
        .of(init)
        .filter(|l| l.kind == LaunchKind::Call)
        .collect();
    let first = made.first()?;
    let repeated = made.iter().find(|l| l.repeated);
    if repeated.is_none() && made.len() < 2 {
        return None;
    }
    Some(Instances {
        class,
        site: repeated.unwrap_or(first).site,
        repeated: repeated.is_some(),
    })
}

/// `self.x = n` or `self.x = n.list()` somewhere in `body`.
fn stored_on(body: &[Stmt], name: &str, this: &str) -> bool {
    let mut stored = false;
    crate::semantic::segments::walk_stmts(body, ScopeId::MODULE, &mut |s, _| {
        if let StmtKind::Assign { targets, value } = &s.kind
            && targets.iter().any(|t| {
                matches!(&t.kind, ExprKind::Attribute { value, .. } if value.as_name() == Some(this))
            })
            && mentions(value, &[name])
        {
            stored = true;
        }
    });
    stored
}

/// Whether `body` calls `shutdown()` on anything, or enters a `with` over a manager it
/// keeps: the class manages its manager's life, however many it makes.
fn shuts_down(body: &[Stmt]) -> bool {
    let mut found = false;
    crate::semantic::segments::walk_stmts(body, ScopeId::MODULE, &mut |s, _| {
        exec::for_each_child(s, |c| {
            if let exec::Child::Expr(e) = c {
                exec::walk_expr_tree(e, ScopeId::MODULE, &mut |x, _| {
                    if let Some(call) = x.as_call()
                        && matches!(&call.func.kind,
                            ExprKind::Attribute { attr, .. } if attr.name == "shutdown")
                    {
                        found = true;
                    }
                });
            }
        });
    });
    found
}

fn mentions(expr: &Expr, names: &[&str]) -> bool {
    let mut hit = false;
    exec::walk_expr_tree(expr, ScopeId::MODULE, &mut |e, _| {
        hit |= e.as_name().is_some_and(|n| names.contains(&n));
    });
    hit
}

/// A loop whose every iteration starts a manager and keeps it (or one of its proxies)
/// beyond the iteration: stored in a container, or given to a process that is.
struct Looped<'a> {
    looping: &'a Stmt,
    kept: &'a Expr,
}

fn per_iteration<'a>(
    cx: &Checker<'_, 'a>,
    manager: &'a Expr,
    scope: ScopeId,
) -> Option<Looped<'a>> {
    let body = cx.model.body(cx.model.body_scope(scope))?;
    let looping = crate::semantic::segments::innermost_loop(body, manager.range)?;
    let loop_body = match &looping.kind {
        StmtKind::For { body, .. } | StmtKind::While { body, .. } => body,
        _ => return None,
    };
    let name = match holder(cx, manager, scope)? {
        Holder::Stored(kept) => return Some(Looped { looping, kept }),
        Holder::Name(n) => n,
        Holder::SelfAttr => return None,
    };
    if shuts_down(loop_body) {
        return None;
    }
    // The names that hold the manager or one of its proxies, directly or inside a process
    // or a tuple made in the iteration.
    let mut holders: Vec<&str> = vec![name];
    let mut grew = true;
    while grew {
        grew = false;
        crate::semantic::segments::walk_stmts(loop_body, ScopeId::MODULE, &mut |s, _| {
            if let StmtKind::Assign { targets, value } = &s.kind
                && let [target] = targets.as_slice()
                && let Some(n) = target.as_name()
                && !holders.contains(&n)
                && mentions(value, &holders)
            {
                holders.push(n);
                grew = true;
            }
        });
    }
    let mut kept = None;
    crate::semantic::segments::walk_stmts(loop_body, ScopeId::MODULE, &mut |s, _| {
        if kept.is_some() {
            return;
        }
        match &s.kind {
            StmtKind::Assign { targets, value }
                if targets.iter().any(|t| {
                    matches!(
                        t.kind,
                        ExprKind::Subscript { .. } | ExprKind::Attribute { .. }
                    )
                }) && mentions(value, &holders) =>
            {
                kept = Some(value);
            }
            StmtKind::Expr(e) => {
                if let Some(call) = e.as_call()
                    && matches!(&call.func.kind,
                        ExprKind::Attribute { attr, .. } if STORES.contains(&attr.name.as_str()))
                    && let Some(arg) = call.args.iter().find(|a| mentions(a, &holders))
                {
                    kept = Some(arg);
                }
            }
            _ => {}
        }
    });
    Some(Looped {
        looping,
        kept: kept?,
    })
}

const HELP: &str = "Each `Manager()` starts a server process, which runs until the manager \
                    is shut down or garbage-collected, and a proxy (`manager.list()`, \
                    `.dict()`, `.Lock()`) keeps its manager alive. Start one manager for the \
                    whole program, `with multiprocessing.Manager() as manager:` around the \
                    work, and make every object's proxies from it (pass `manager` to the \
                    constructor or the loop).";

fn report_per_instance<'a>(cx: &mut Checker<'_, 'a>, manager: &'a Expr, many: Instances<'a>) {
    let class = many.class.name.name.clone();
    let how = if many.repeated {
        "in a loop"
    } else {
        "at several places"
    };
    let text = cx.text(manager.range).to_string();
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP508),
            manager.range,
            format!(
                "`{text}` starts a manager server process for every `{class}` object, and the \
                 object keeps it running: `{class}` is made {how}, so the program runs one \
                 extra process per object, none shut down before the objects go"
            ),
            "one server process per object",
        )
        .with_annotation(many.site.range, format!("`{class}` objects are made here"))
        .with_help(HELP)
        .with_no_fix("where the shared manager lives is the program's decision: move it by hand"),
    );
}

fn report_per_iteration<'a>(cx: &mut Checker<'_, 'a>, manager: &'a Expr, looped: Looped<'a>) {
    let text = cx.text(manager.range).to_string();
    let kept = cx.text(looped.kept.range).to_string();
    let head = cx
        .text(looped.looping.range)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    cx.report(
        Diagnostic::new(
            Code::Rule(RuleCode::MP508),
            manager.range,
            format!(
                "`{text}` starts a manager server process in every iteration of `{head}`, and \
                 `{kept}` keeps each one running past its iteration: one extra process per \
                 iteration, none shut down before the loop's results go"
            ),
            "one server process per iteration",
        )
        .with_annotation(looped.kept.range, "kept here")
        .with_help(HELP)
        .with_no_fix("the loop must share one manager started before it: move it by hand"),
    );
}
