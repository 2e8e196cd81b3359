//! What calling a function starts: followed through the functions, constructors and
//! methods of this file, and, through a hook, into the other modules of the project.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;

use crate::ast::*;
use crate::semantic::exec::{self, Event};
use crate::semantic::mp::ProcessStart;
use crate::semantic::objects::Objects;
use crate::semantic::{Model, Value};

/// Where, in another module, a call ends up starting processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Remote {
    pub path: PathBuf,
    /// 1-based.
    pub line: u32,
    pub start: ProcessStart,
}

/// Where running something starts processes: a call in this file, or one in another
/// module (`remote`), reached through the call at `range`.
#[derive(Clone, Debug)]
pub struct Site {
    pub range: Range,
    pub start: ProcessStart,
    pub remote: Option<Remote>,
}

/// Answers, for a qualified name imported from elsewhere (`mylib.run_all`,
/// `.core.Runner.go`), whether calling it starts processes.
pub type External<'e> = &'e dyn Fn(&str) -> Option<Remote>;

pub struct Reach<'m, 'a> {
    model: &'m Model<'a>,
    objects: &'m Objects<'m, 'a>,
    external: Option<External<'m>>,
    /// Per function body: where it starts processes; `None` while being explored, which
    /// also cuts recursion.
    memo: RefCell<HashMap<*const FunctionDef, Option<Site>>>,
}

impl<'m, 'a> Reach<'m, 'a> {
    pub fn new(
        model: &'m Model<'a>,
        objects: &'m Objects<'m, 'a>,
        external: Option<External<'m>>,
    ) -> Self {
        Self {
            model,
            objects,
            external,
            memo: RefCell::default(),
        }
    }

    /// Where the event, if it calls a function (or a constructor, or a method of a local
    /// class, or something imported), ends up starting processes.
    pub fn callee_starts(&self, event: Event<'a>, scope: ScopeId) -> Option<Site> {
        let callee = match event {
            Event::Call { call, .. } => &call.func,
            Event::Decorate { expr } => expr,
            Event::Enter { .. } => return None,
        };
        if let ExprKind::Attribute { value, attr } = &callee.kind {
            match self.model.resolve(value, scope) {
                Value::LocalInstance(class) => {
                    return match self.model.method(class, &attr.name) {
                        Some(m) => self.function_starts(m),
                        None => self
                            .imported_base(class)
                            .and_then(|base| self.remote(event, &format!("{base}.{}", attr.name))),
                    };
                }
                // `Runner().go()`, or `r = Runner()` then `r.go()`, with `Runner`
                // imported: the method of that class.
                Value::Returned(path) => {
                    return self.remote(event, &format!("{path}.{}", attr.name));
                }
                _ => {}
            }
        }
        match self.model.resolve(callee, scope) {
            Value::Function(f) => self.function_starts(f),
            Value::Class(c) => match self.model.method(c, "__init__") {
                Some(init) => self.function_starts(init),
                None => self
                    .imported_base(c)
                    .and_then(|base| self.remote(event, &base)),
            },
            Value::Object { path, .. } => self.remote(event, &path),
            _ => None,
        }
    }

    /// The imported class a local class derives from directly, when it is the only
    /// base: methods the class does not define come from there.
    fn imported_base(&self, class: &'a ClassDef) -> Option<String> {
        let [base] = class.bases.as_slice() else {
            return None;
        };
        let scope = self.model.parent(class.scope)?;
        match self.model.resolve(base, scope) {
            Value::Object { path, .. } => Some(path),
            _ => None,
        }
    }

    fn remote(&self, event: Event<'a>, path: &str) -> Option<Site> {
        let remote = (self.external?)(path)?;
        Some(Site {
            range: event.expr().range,
            start: remote.start,
            remote: Some(remote),
        })
    }

    /// Where running the body of `f` first starts processes, directly or through what it
    /// calls.
    pub fn function_starts(&self, f: &'a FunctionDef) -> Option<Site> {
        // Calling these runs nothing of the body yet: it makes a coroutine, a generator,
        // or a context manager that has not been entered.
        if f.is_async || f.is_generator {
            return None;
        }
        let key = f as *const FunctionDef;
        if let Some(known) = self.memo.borrow().get(&key) {
            return known.clone();
        }
        self.memo.borrow_mut().insert(key, None);
        let first = self.body_starts(&f.body, f.scope);
        self.memo.borrow_mut().insert(key, first.clone());
        first
    }

    /// Where running `body` in `scope` first starts processes.
    pub fn body_starts(&self, body: &'a [Stmt], scope: ScopeId) -> Option<Site> {
        let mut first: Option<Site> = None;
        exec::walk(self.model, body, scope, &mut |event, scope| {
            if first.is_some() {
                return;
            }
            first = match exec::process_start(self.objects, event, scope) {
                Some(start) => Some(Site {
                    range: event.expr().range,
                    start,
                    remote: None,
                }),
                None => self.callee_starts(event, scope),
            };
        });
        first
    }
}
