//! Which start methods a process-creating call can run under.
//!
//! In order: the context the object was made from (`get_context("spawn").Process`,
//! `ProcessPoolExecutor(mp_context=...)`), else the file's own `set_start_method(...)`
//! calls (anywhere, functions included), else the configured targets' defaults
//! (`start-methods`, or what `target-version` implies). Rules that depend on pickling or
//! on the main module being imported again ask for the methods that do that, and say
//! where the method came from, because "fails under forkserver" means little to a reader
//! who never chose forkserver.

use crate::ast::*;
use crate::semantic::Model;
use crate::semantic::exec;
use crate::semantic::mp::{MethodSet, StartMethod};

/// Where a call's start methods come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The object's own context: `get_context("x")`, `mp_context=`.
    Context,
    /// The file's `set_start_method("x")` calls.
    Chosen,
    /// The defaults of the platforms and versions the project targets.
    Targets,
}

/// The start methods one call can run under, and why.
#[derive(Clone, Copy, Debug)]
pub struct Methods {
    pub set: MethodSet,
    pub source: Source,
}

/// The start methods the file chooses with `set_start_method("...")`, when it has such
/// calls and every one names a literal method.
pub fn chosen(model: &Model<'_>) -> Option<MethodSet> {
    model.chosen_methods(|| find_chosen(model))
}

fn find_chosen(model: &Model<'_>) -> Option<MethodSet> {
    let mut set = MethodSet::default();
    let mut any = false;
    let mut unknown = false;
    exec::walk_all_exprs(&model.module.body, ScopeId::MODULE, &mut |e, scope| {
        if let Some(call) = e.as_call()
            && model.qualified_name(&call.func, scope).as_deref()
                == Some("multiprocessing.set_start_method")
        {
            any = true;
            match call
                .argument(0, "method")
                .and_then(|a| a.as_str())
                .and_then(StartMethod::parse)
            {
                Some(m) => set.insert(m),
                None => unknown = true,
            }
        }
    });
    (any && !unknown).then_some(set)
}

impl Methods {
    /// The methods of an object made with context method `explicit` (`None`: the
    /// default context) in a file that chooses `chosen` (see [`chosen`]), for a project
    /// that targets `configured`.
    pub fn of(
        explicit: Option<StartMethod>,
        chosen: Option<MethodSet>,
        configured: MethodSet,
    ) -> Self {
        match (explicit, chosen) {
            (Some(m), _) => Methods {
                set: MethodSet::single(m),
                source: Source::Context,
            },
            (None, Some(set)) if !set.is_empty() => Methods {
                set,
                source: Source::Chosen,
            },
            _ => Methods {
                set: configured,
                source: Source::Targets,
            },
        }
    }

    /// The methods a launch's child runs under: its process's or pool's context, else the
    /// file's choice, else the targets.
    pub fn of_launch<'a>(
        model: &Model<'a>,
        launch: &crate::semantic::links::Launch<'a>,
        chosen: Option<MethodSet>,
        configured: MethodSet,
    ) -> Self {
        Self::of(launch.context_method(model), chosen, configured)
    }

    /// Whether a finding that needs pickling or a fresh import has anything to say:
    /// such a method can run, or the code pins fork (a portability warning).
    pub fn reimport_matters(self) -> bool {
        !self.pickling().is_empty() || self.pinned_to_fork()
    }

    /// The methods that pickle the target and its arguments and import the main module
    /// again in the child: spawn and forkserver.
    pub fn pickling(self) -> MethodSet {
        self.set.iter().filter(|m| m.reimports_main()).collect()
    }

    /// Whether the code itself pins fork, and nothing else: a finding that needs
    /// pickling is then a portability risk, not a failure (fork does not exist on
    /// Windows and is unsafe on macOS).
    pub fn pinned_to_fork(self) -> bool {
        self.source != Source::Targets && self.set == MethodSet::single(StartMethod::Fork)
    }

    /// "under forkserver (the default on Linux since Python 3.14) and spawn (the default
    /// on macOS and Windows)", for the pickling methods; the caller has checked that
    /// there are some.
    pub fn describe_pickling(self) -> String {
        let failing = self.pickling();
        match self.source {
            Source::Targets => {
                let names: Vec<String> = [StartMethod::Forkserver, StartMethod::Spawn]
                    .into_iter()
                    .filter(|m| failing.contains(*m))
                    .map(|m| match m {
                        StartMethod::Forkserver => {
                            "forkserver (the default on Linux since Python 3.14)".to_string()
                        }
                        _ => "spawn (the default on macOS and Windows)".to_string(),
                    })
                    .collect();
                format!("under {}", names.join(" and "))
            }
            Source::Chosen => format!(
                "under {} (chosen with `set_start_method`)",
                failing.describe()
            ),
            Source::Context => format!("under {} (its context)", failing.describe()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_code_wins_over_the_targets() {
        let all = MethodSet::ALL;
        let spawn = MethodSet::single(StartMethod::Spawn);
        let m = Methods::of(Some(StartMethod::Fork), Some(spawn), all);
        assert!(m.pinned_to_fork());
        assert!(m.pickling().is_empty());
        let m = Methods::of(None, Some(spawn), all);
        assert_eq!(m.source, Source::Chosen);
        assert_eq!(m.pickling(), spawn);
        let m = Methods::of(None, None, all);
        assert!(!m.pinned_to_fork());
        assert_eq!(
            m.describe_pickling(),
            "under forkserver (the default on Linux since Python 3.14) and spawn \
             (the default on macOS and Windows)"
        );
    }
}
