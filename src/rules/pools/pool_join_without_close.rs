//! MP503 `pool-join-without-close`: `pool.join()` on a path where the pool was neither
//! closed nor terminated, which raises `ValueError: Pool is still running`.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::cfg::{Edge, NodeKind};
use crate::semantic::mp::MpClass;
use crate::semantic::objects::{MethodCall, Tracked};
use crate::semantic::paths::FunctionPaths;

pub struct PoolJoinWithoutClose;

impl Rule for PoolJoinWithoutClose {
    fn code(&self) -> RuleCode {
        RuleCode::MP503
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let objects = cx.objects;
        let joins: Vec<(MethodCall<'_>, Tracked<'_>)> = objects
            .every_method_call()
            .iter()
            .filter(|mc| {
                mc.method == "join" && mc.call.args.is_empty() && mc.call.keywords.is_empty()
            })
            .filter_map(|mc| {
                let pool = objects.track(mc.receiver, mc.scope)?;
                (pool.class == MpClass::Pool).then_some((*mc, pool))
            })
            .collect();
        for (join, pool) in joins {
            check(cx, &join, &pool);
        }
    }
}

fn check<'a>(cx: &mut Checker<'_, 'a>, join: &MethodCall<'a>, pool: &Tracked<'a>) {
    let objects = cx.objects;
    let model = cx.model;
    let body_scope = model.body_scope(join.scope);
    let paths = match model.function(body_scope) {
        Some(f) => FunctionPaths::new(objects, f),
        None => FunctionPaths::for_body(objects, &model.module.body, ScopeId::MODULE),
    };
    let Some(paths) = paths else { return };
    let on_pool = |mc: &MethodCall<'a>| {
        objects
            .track(mc.receiver, mc.scope)
            .is_some_and(|t| t.same_object(pool))
    };
    // Where the pool stops taking work: `close()`, `terminate()`, or the end of a `with`
    // over it (whose `__exit__` terminates).
    let stops = |id: usize| {
        paths
            .calls_at(id)
            .any(|mc| matches!(mc.method, "close" | "terminate") && on_pool(mc))
            || matches!(paths.cfg.nodes[id].kind, NodeKind::WithExit(item)
                if objects.track(&item.context, body_scope).is_some_and(|t| t.same_object(pool)))
    };
    // A pool made elsewhere (a parameter, an attribute) may have been closed before this
    // code runs: only a pool made in this body is followed from its construction.
    let Some(start) = pool
        .sites
        .iter()
        .find_map(|s| paths.cfg.nodes_at(s.call.range).into_iter().next())
    else {
        return;
    };
    let join_nodes = paths.nodes_of(join);
    if join_nodes.is_empty() {
        return;
    }
    let target = |id: usize| join_nodes.contains(&id);
    if paths
        .cfg
        .reaches(start, &[Edge::Normal], &target, &stops)
        .is_none()
    {
        return;
    }
    let receiver = cx.text(join.receiver.range).to_string();
    let mut d = Diagnostic::new(
        Code::Rule(RuleCode::MP503),
        join.expr.range,
        format!(
            "`{receiver}.join()` on a pool that is still running: it raises `ValueError: \
             Pool is still running`"
        ),
        "no `close()` or `terminate()` before this on some path",
    )
    .with_help(format!(
        "A pool's `join()` waits for its workers to exit, which they do only once the pool \
         takes no more work. Call `{receiver}.close()` (let queued tasks finish) or \
         `{receiver}.terminate()` (drop them) first."
    ));
    let fix = close_before(cx, join, &receiver);
    if fix.is_none() {
        d = d.with_no_fix("the `join()` is not a statement of its own: add the `close()` by hand");
    }
    cx.report(d.with_fix(fix));
}

/// `X.close()` on its own line before the statement `X.join()`.
fn close_before(cx: &Checker<'_, '_>, join: &MethodCall<'_>, receiver: &str) -> Option<Fix> {
    let (suite, index) =
        crate::semantic::segments::suite_of(&cx.parsed.module.body, join.expr.range)?;
    let stmt = &suite[index];
    if !matches!(&stmt.kind, StmtKind::Expr(e) if std::ptr::eq(e, join.expr)) {
        return None;
    }
    let text = &cx.source.text;
    let line_start = text[..stmt.range.start as usize]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let indent = &text[line_start..stmt.range.start as usize];
    if !indent.chars().all(|c| c == ' ' || c == '\t') {
        return None;
    }
    let newline = if text[..line_start].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    Some(Fix::new(
        Applicability::Safe,
        format!("Close the pool before joining it: `{receiver}.close()`"),
        vec![Edit {
            range: Range::new(line_start as u32, line_start as u32),
            content: format!("{indent}{receiver}.close(){newline}"),
        }],
    ))
}
