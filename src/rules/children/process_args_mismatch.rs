//! MP403 `process-args-mismatch`: the arguments a process or a pool hands its function do
//! not fit the function's signature. The call happens in the child, so the `TypeError`
//! appears there: a `Process` child prints it and exits with code 1, and the parent,
//! which never reads it, carries on as if the work were done.
//!
//! Also `args=(x)`, where the parentheses only group and a one-element tuple (`(x,)`) was
//! meant.

use crate::ast::*;
use crate::codes::RuleCode;
use crate::diagnostics::{Applicability, Code, Diagnostic, Edit, Fix};
use crate::rules::{Checker, Rule, Wants};
use crate::semantic::links::{BoundCallable, LaunchKind, bound_callable, submission};
use crate::semantic::mp::MpClass;
use crate::semantic::{BindingKind, Model, Value};

pub struct ProcessArgsMismatch;

impl Rule for ProcessArgsMismatch {
    fn code(&self) -> RuleCode {
        RuleCode::MP403
    }

    fn wants(&self) -> Wants {
        Wants::FLOW_MODULE
    }

    fn check_module(&self, cx: &mut Checker<'_, '_>) {
        let found: Vec<Finding> = cx
            .objects
            .calls()
            .iter()
            .filter_map(|&(e, call, scope)| check_call(cx, call, e, scope))
            .collect();
        for f in found {
            report(cx, f);
        }
    }
}

/// Where the function is called, which decides who sees the `TypeError`.
#[derive(Clone, Copy)]
enum Caller<'a> {
    Process,
    Pool(&'a str),
}

/// The arguments one call of the function gets.
struct Shape {
    positional: usize,
    keywords: Vec<String>,
}

enum Finding<'a> {
    Mismatch {
        func: &'a Expr,
        anchor: &'a Expr,
        error: String,
        caller: Caller<'a>,
    },
    /// `args=(x)`: `x` itself, not a tuple holding it.
    NotATuple {
        inner: &'a Expr,
        what: NotTuple,
        caller: Caller<'a>,
    },
}

#[derive(Clone, Copy)]
enum NotTuple {
    /// A string: unpacked into its characters.
    Str,
    /// Anything that cannot be iterated: `TypeError` when the arguments are unpacked.
    NotIterable,
}

fn check_call<'a>(
    cx: &Checker<'_, 'a>,
    call: &'a Call,
    e: &'a Expr,
    scope: ScopeId,
) -> Option<Finding<'a>> {
    let model = cx.model;
    if let Some(sub) = submission(model, call, scope) {
        if sub.kind != LaunchKind::PoolTask {
            return None;
        }
        let caller = Caller::Pool(sub.method);
        let executor = matches!(
            &call.func.kind,
            ExprKind::Attribute { value, .. }
                if model.resolve(value, scope).instance().map(|(c, _)| c)
                    == Some(MpClass::ProcessPoolExecutor)
        );
        let shape = match sub.method {
            "apply" | "apply_async" => {
                let (args, kwds) = (call.argument(1, "args"), call.argument(2, "kwds"));
                match argument_tuple(cx, args, kwds, scope, caller)? {
                    Ok(shape) => shape,
                    Err(finding) => return Some(finding),
                }
            }
            "submit" => {
                if call.args.is_empty() || has_unpacking(call) {
                    return None;
                }
                Shape {
                    positional: call.args.len() - 1,
                    keywords: call
                        .keywords
                        .iter()
                        .filter_map(|k| k.arg.as_ref().map(|a| a.name.clone()))
                        .collect(),
                }
            }
            "map" if executor => {
                if has_unpacking(call) || call.args.len() < 2 {
                    return None;
                }
                Shape {
                    positional: call.args.len() - 1,
                    keywords: Vec::new(),
                }
            }
            // A pool's map takes one iterable (pathos' takes several: left alone).
            "map" | "map_async" | "imap" | "imap_unordered" if !executor => {
                if call.args.len() != 2 || has_unpacking(call) {
                    return None;
                }
                Shape {
                    positional: 1,
                    keywords: Vec::new(),
                }
            }
            "starmap" | "starmap_async" if !executor => Shape {
                positional: starmap_len(call.argument(1, "iterable")?)?,
                keywords: Vec::new(),
            },
            _ => return None,
        };
        return mismatch(cx, sub.func, e, scope, shape, caller);
    }
    let Value::Instance {
        class: MpClass::Process,
        ..
    } = model.resolve(e, scope)
    else {
        return None;
    };
    if matches!(model.resolve(&call.func, scope), Value::Class(_)) {
        return None;
    }
    let target = call.argument(1, "target")?;
    let (args, kwargs) = (call.argument(3, "args"), call.argument(4, "kwargs"));
    let shape = match argument_tuple(cx, args, kwargs, scope, Caller::Process)? {
        Ok(shape) => shape,
        Err(finding) => return Some(finding),
    };
    mismatch(cx, target, e, scope, shape, Caller::Process)
}

/// The shape of an argument tuple and keyword dictionary written out as literals (absent
/// ones are empty); `Err` for `(x)` where a one-element tuple was meant; `None` when the
/// arguments are not literals.
fn argument_tuple<'a>(
    cx: &Checker<'_, 'a>,
    args: Option<&'a Expr>,
    kwargs: Option<&'a Expr>,
    scope: ScopeId,
    caller: Caller<'a>,
) -> Option<Result<Shape, Finding<'a>>> {
    if let Some(inner) = args
        && let Some(what) = not_a_tuple(cx, inner, scope)
    {
        return Some(Err(Finding::NotATuple {
            inner,
            what,
            caller,
        }));
    }
    Some(Ok(Shape {
        positional: match args {
            None => 0,
            Some(a) => literal_len(a)?,
        },
        keywords: match kwargs {
            None => Vec::new(),
            Some(k) => literal_keys(k)?,
        },
    }))
}

fn has_unpacking(call: &Call) -> bool {
    call.args
        .iter()
        .any(|a| matches!(a.kind, ExprKind::Starred(_)))
        || call.keywords.iter().any(|k| k.arg.is_none())
}

/// The number of items of a literal tuple or list without `*unpacking`.
fn literal_len(e: &Expr) -> Option<usize> {
    match &e.kind {
        ExprKind::Tuple(items) | ExprKind::List(items)
            if !items.iter().any(|i| matches!(i.kind, ExprKind::Starred(_))) =>
        {
            Some(items.len())
        }
        _ => None,
    }
}

/// The keys of a literal dictionary whose keys are all strings.
fn literal_keys(e: &Expr) -> Option<Vec<String>> {
    match &e.kind {
        ExprKind::Dict { keys, .. } => keys.iter().cloned().collect(),
        _ => None,
    }
}

/// How many arguments each item of a `starmap` iterable holds: a literal list of
/// literal tuples of one length, or a comprehension that builds such tuples.
fn starmap_len(iterable: &Expr) -> Option<usize> {
    match &iterable.kind {
        ExprKind::List(items) | ExprKind::Tuple(items) if !items.is_empty() => {
            let first = literal_len(&items[0])?;
            items
                .iter()
                .all(|i| matches!(i.kind, ExprKind::Tuple(_)) && literal_len(i) == Some(first))
                .then_some(first)
        }
        ExprKind::Comprehension(c) if matches!(c.element.kind, ExprKind::Tuple(_)) => {
            literal_len(&c.element)
        }
        _ => None,
    }
}

/// `(x)` written where a tuple of arguments belongs, with `x` certainly not a tuple.
fn not_a_tuple<'a>(cx: &Checker<'_, 'a>, args: &'a Expr, scope: ScopeId) -> Option<NotTuple> {
    if matches!(
        args.kind,
        ExprKind::Tuple(_) | ExprKind::List(_) | ExprKind::Comprehension(_)
    ) {
        return None;
    }
    // The parentheses are not part of the expression's range: look around it.
    let before = cx.source.text.get(..args.range.start as usize)?;
    let after = cx.source.text.get(args.range.end as usize..)?;
    if !before.trim_end().ends_with('(') || !after.trim_start().starts_with(')') {
        return None;
    }
    let before = before.trim_end();
    let before = before[..before.len() - 1].trim_end();
    if !(before.ends_with("args=") || before.ends_with(',')) {
        return None;
    }
    // A lock, a queue or a shared value is no sequence either.
    if cx.objects.shared(args, scope).is_some() {
        return Some(NotTuple::NotIterable);
    }
    kind_of(cx.model, args, scope, 0)
}

fn kind_of<'a>(model: &Model<'a>, e: &'a Expr, scope: ScopeId, depth: u32) -> Option<NotTuple> {
    match &e.kind {
        ExprKind::Str(_) | ExprKind::Formatted(_) => Some(NotTuple::Str),
        ExprKind::Constant(_) => Some(NotTuple::NotIterable),
        ExprKind::Name(name) if depth < 3 => {
            let (found, bindings) = model.bindings_at(name, scope, e.range.start)?;
            match bindings.as_slice() {
                [b] => match b.kind {
                    BindingKind::Assign(value) => kind_of(model, value, found, depth + 1),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => None,
    }
}

/// The `TypeError` calling `func` with `shape` raises, worded as CPython words it.
fn mismatch<'a>(
    cx: &Checker<'_, 'a>,
    func: &'a Expr,
    anchor: &'a Expr,
    scope: ScopeId,
    shape: Shape,
    caller: Caller<'a>,
) -> Option<Finding<'a>> {
    let model = cx.model;
    let bound: BoundCallable<'a> = bound_callable(model, func, scope)?;
    let f = bound.f;
    // A decorator may change the signature; `staticmethod` and `classmethod` are counted.
    let plain = f
        .decorators
        .iter()
        .all(|d| matches!(d.as_name(), Some("staticmethod" | "classmethod")));
    if !plain {
        return None;
    }
    let mut named: Vec<&str> = Vec::new();
    for k in &bound.keywords {
        named.push((*k)?);
    }
    named.extend(shape.keywords.iter().map(String::as_str));
    let error = signature_error(model, f, bound.positional + shape.positional, &named)?;
    Some(Finding::Mismatch {
        func,
        anchor,
        error,
        caller,
    })
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn quoted_list(names: &[&str]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match q.as_slice() {
        [one] => one.clone(),
        [a, b] => format!("{a} and {b}"),
        [init @ .., last] => format!("{}, and {last}", init.join(", ")),
        [] => String::new(),
    }
}

/// CPython's message for calling `f` with `given` positional arguments and the keywords
/// `named`, when that fails.
fn signature_error(
    model: &Model<'_>,
    f: &FunctionDef,
    given: usize,
    named: &[&str],
) -> Option<String> {
    let p = &f.params;
    let name = match model.parent(f.scope).and_then(|s| model.class(s)) {
        Some(class) => format!("{}.{}()", class.name.name, f.name.name),
        None => format!("{}()", f.name.name),
    };
    let positional = &p.params[..p.positional];
    if !p.vararg && given > p.positional {
        let required = positional.iter().filter(|q| q.default.is_none()).count();
        let takes = if required < p.positional {
            format!("from {required} to {} positional arguments", p.positional)
        } else {
            format!(
                "{} positional argument{}",
                p.positional,
                if p.positional == 1 { "" } else { "s" }
            )
        };
        let were = if given == 1 { "was" } else { "were" };
        return Some(format!("{name} takes {takes} but {given} {were} given"));
    }
    for k in named {
        match positional.iter().position(|q| q.name.name == *k) {
            Some(i) if i < p.posonly => {
                if !p.kwarg {
                    return Some(format!(
                        "{name} got some positional-only arguments passed as keyword \
                         arguments: '{k}'"
                    ));
                }
            }
            Some(i) if i < given => {
                return Some(format!("{name} got multiple values for argument '{k}'"));
            }
            Some(_) => {}
            None => {
                if !p.kwarg && !p.keyword_only().iter().any(|q| q.name.name == *k) {
                    return Some(format!("{name} got an unexpected keyword argument '{k}'"));
                }
            }
        }
    }
    let missing: Vec<&str> = positional
        .iter()
        .enumerate()
        .skip(given)
        .filter(|(i, q)| {
            q.default.is_none() && (*i < p.posonly || !named.contains(&q.name.name.as_str()))
        })
        .map(|(_, q)| q.name.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{name} missing {}: {}",
            plural(missing.len(), "required positional argument"),
            quoted_list(&missing)
        ));
    }
    let missing: Vec<&str> = p
        .keyword_only()
        .iter()
        .filter(|q| q.default.is_none() && !named.contains(&q.name.name.as_str()))
        .map(|q| q.name.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Some(format!(
            "{name} missing {}: {}",
            plural(missing.len(), "required keyword-only argument"),
            quoted_list(&missing)
        ));
    }
    None
}

fn outcome(caller: Caller<'_>) -> String {
    match caller {
        Caller::Process => "the child dies with it (a traceback on its standard error, exit \
                            code 1) and the parent never sees it: `join()` returns as if \
                            the work were done"
            .to_string(),
        Caller::Pool(m @ ("apply_async" | "map_async" | "starmap_async")) => {
            format!(
                "no task does its work, and only the result's `get()` raises it (`{m}()` returns at once)"
            )
        }
        Caller::Pool("submit") => {
            "the task fails, and only the future's `result()` raises it".to_string()
        }
        Caller::Pool("imap" | "imap_unordered") | Caller::Pool("map") => {
            "every task fails, and the results raise it in the parent".to_string()
        }
        Caller::Pool(_) => "every task fails, and the call raises it in the parent".to_string(),
    }
}

fn report<'a>(cx: &mut Checker<'_, 'a>, f: Finding<'a>) {
    match f {
        Finding::Mismatch {
            func,
            anchor,
            error,
            caller,
        } => {
            let text = crate::rules::first_line(cx.text(func.range)).to_string();
            let who = match caller {
                Caller::Process => "the child process calls it".to_string(),
                Caller::Pool(m) => format!("`{m}()` calls it in a worker"),
            };
            let d = Diagnostic::new(
                Code::Rule(RuleCode::MP403),
                anchor.range,
                format!(
                    "the arguments do not fit `{text}`: {who}, where it raises \
                     `TypeError: {error}`; {}",
                    outcome(caller)
                ),
                "arguments that do not fit the function",
            )
            .with_annotation(func.range, "the function called with them")
            .with_help(
                "Make the arguments match the function's parameters (a bound method \
                 `obj.method` already has `self`; `args=` holds the rest, in order), or \
                 change the function to take what it is given.",
            )
            .with_no_fix("which side is wrong is the program's decision");
            cx.report(d);
        }
        Finding::NotATuple {
            inner,
            what,
            caller,
        } => {
            let text = cx.text(inner.range).to_string();
            let effect = match (what, caller) {
                (NotTuple::Str, _) => format!(
                    "the string itself, which is unpacked into its characters: the \
                     function gets one argument per character of `{text}`"
                ),
                (NotTuple::NotIterable, Caller::Process) => format!(
                    "`{text}` itself, which cannot be unpacked into arguments: making the \
                     process raises `TypeError`"
                ),
                (NotTuple::NotIterable, Caller::Pool(_)) => format!(
                    "`{text}` itself, which cannot be unpacked into arguments: the task \
                     fails with `TypeError`"
                ),
            };
            let d = Diagnostic::new(
                Code::Rule(RuleCode::MP403),
                inner.range,
                format!(
                    "`({text})` is not a tuple: the parentheses only group, so the \
                     arguments are {effect}"
                ),
                "a one-element tuple needs a trailing comma",
            )
            .with_help(format!("Write `({text},)`."))
            .with_fix(Some(Fix::new(
                Applicability::Safe,
                "add the comma that makes a one-element tuple",
                vec![Edit {
                    range: Range {
                        start: inner.range.end,
                        end: inner.range.end,
                    },
                    content: ",".to_string(),
                }],
            )));
            cx.report(d);
        }
    }
}
