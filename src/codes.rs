//! Rule codes and their documents: the typed ids the command line, the configuration,
//! `# noqa` comments and findings use, with each rule's YAML document.
//!
//! The rule table itself, one line per rule, is [`rule_table!`]; [`crate::registry`]
//! expands it into the rule of each code. Adding a rule is one line there plus
//! `rules/<CODE>.yaml`, `src/rules/<family>/<name>.rs`, fixtures and a snapshot; the meta tests check
//! that all exist.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::semantic::mp::StartMethod;

/// How sure a finding is to bite. An error is a bug that will (a hang, a crash, lost
/// work); a warning is a risk a reader should judge. By default only errors fail a check:
/// see [`Severity::fails`]. (Here rather than with the findings, so that the codes and
/// their documents depend on nothing that depends on them.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }

    /// Whether a finding of this severity fails a run that fails on `threshold`
    /// (`--fail-on`): `error` fails on errors only, `warning` on warnings and errors.
    pub fn fails(self, threshold: Severity) -> bool {
        self == Severity::Error || threshold == Severity::Warning
    }
}

/// Every rule: its code and its implementation in `src/rules/`. Expanded twice, into the
/// codes here and into [`crate::registry`], so that the codes need not know the rules.
macro_rules! rule_table {
    ($then:ident) => {
        $then! {
        MP001 => missing_main_guard::MissingMainGuard,
        MP002 => ineffective_main_guard::IneffectiveMainGuard,
        MP101 => join_before_drain::JoinBeforeDrain,
        MP102 => queue_never_drained::QueueNeverDrained,
        MP103 => sync_object_passed_by_pickle::SyncObjectPassedByPickle,
        MP104 => temporary_sync_object_in_args::TemporarySyncObjectInArgs,
        MP105 => task_done_missing::TaskDoneMissing,
        MP106 => queue_empty_as_signal::QueueEmptyAsSignal,
        MP201 => lock_not_released::LockNotReleased,
        MP202 => lock_acquire_blocking_keyword::LockAcquireBlockingKeyword,
        MP203 => shared_value_race::SharedValueRace,
        MP204 => lock_acquire_inside_try::LockAcquireInsideTry,
        MP301 => shared_memory_not_unlinked::SharedMemoryNotUnlinked,
        MP302 => shared_memory_unlinked_by_attacher::SharedMemoryUnlinkedByAttacher,
        MP303 => shared_memory_tracked_attach::SharedMemoryTrackedAttach,
        MP304 => tracker_unregister_in_tree::TrackerUnregisterInTree,
        MP305 => shared_memory_buffer_escapes::SharedMemoryBufferEscapes,
        MP401 => unpicklable_callable::UnpicklableCallable,
        MP402 => target_called_not_passed::TargetCalledNotPassed,
        MP403 => process_args_mismatch::ProcessArgsMismatch,
        MP404 => global_set_under_main_guard::GlobalSetUnderMainGuard,
        MP405 => global_mutated_in_child::GlobalMutatedInChild,
        MP406 => thread_primitive_across_processes::ThreadPrimitiveAcrossProcesses,
        MP501 => pool_exits_before_results::PoolExitsBeforeResults,
        MP502 => pool_not_closed::PoolNotClosed,
        MP503 => pool_join_without_close::PoolJoinWithoutClose,
        MP504 => pool_task_exits::PoolTaskExits,
        MP505 => async_result_ignored::AsyncResultIgnored,
        MP506 => daemon_spawns_children::DaemonSpawnsChildren,
        MP507 => terminate_with_shared_resources::TerminateWithSharedResources,
        MP508 => manager_per_object::ManagerPerObject,
        MP509 => process_lifecycle::ProcessLifecycle,
        MP601 => start_method_misuse::StartMethodMisuse,
        MP602 => fork_with_threads::ForkWithThreads,
        }
    };
}
pub(crate) use rule_table;

macro_rules! define_codes {
    ($($code:ident => $module:ident :: $ty:ident),* $(,)?) => {
        /// A rule code. Parsed from the CLI, configuration and `# noqa` comments alike.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RuleCode {
            $($code),*
        }

        impl RuleCode {
            pub const ALL: &'static [RuleCode] = &[$(RuleCode::$code),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(RuleCode::$code => stringify!($code)),*
                }
            }

            /// The rule's YAML document as embedded in the binary.
            pub fn yaml(self) -> &'static str {
                match self {
                    $(RuleCode::$code => include_str!(concat!(
                        env!("CARGO_MANIFEST_DIR"), "/rules/", stringify!($code), ".yaml"
                    ))),*
                }
            }
        }
    };
}

rule_table!(define_codes);

impl RuleCode {
    pub fn doc(self) -> &'static RuleDoc {
        &docs()[self as usize]
    }

    pub fn name(self) -> &'static str {
        &self.doc().name
    }
}

impl fmt::Display for RuleCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RuleCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCode(pub String);

impl fmt::Display for UnknownCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = RuleCode::ALL.iter().map(|c| c.as_str()).collect();
        write!(
            f,
            "unknown rule code `{}` (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownCode {}

impl FromStr for RuleCode {
    type Err = UnknownCode;

    /// Accepts a code (`MP001`) or a rule name (`missing-main-guard`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        RuleCode::ALL
            .iter()
            .copied()
            .find(|c| c.as_str().eq_ignore_ascii_case(s) || c.name() == s)
            .ok_or_else(|| UnknownCode(s.to_string()))
    }
}

/// A `--select`/`--ignore` value: `ALL`, a code, or a code prefix (`MP`, `MP0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    All,
    /// `NEW-DEFAULT`: the rules whose bugs appear only when children are not forked
    /// (spawn, and forkserver, Linux's default since Python 3.14): what moving a code
    /// base off fork breaks, and nothing else.
    NewDefault,
    Prefix(String),
    Code(RuleCode),
}

impl Selector {
    pub fn matches(&self, code: RuleCode) -> bool {
        match self {
            Selector::All => true,
            Selector::NewDefault => !code.doc().start_methods.contains(&StartMethod::Fork),
            Selector::Prefix(p) => code.as_str().starts_with(p.as_str()),
            Selector::Code(c) => *c == code,
        }
    }

    /// More specific selectors win over less specific ones, as in ruff.
    pub fn specificity(&self) -> usize {
        match self {
            Selector::All | Selector::NewDefault => 0,
            Selector::Prefix(p) => p.len(),
            Selector::Code(c) => c.as_str().len() + 1,
        }
    }
}

impl FromStr for Selector {
    type Err = UnknownCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("ALL") {
            return Ok(Selector::All);
        }
        if s.eq_ignore_ascii_case("NEW-DEFAULT") {
            return Ok(Selector::NewDefault);
        }
        if let Ok(code) = s.parse::<RuleCode>() {
            return Ok(Selector::Code(code));
        }
        let upper = s.to_ascii_uppercase();
        if !upper.is_empty() && RuleCode::ALL.iter().any(|c| c.as_str().starts_with(&upper)) {
            return Ok(Selector::Prefix(upper));
        }
        Err(UnknownCode(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixSafety {
    Safe,
    Unsafe,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Symptom {
    pub when: String,
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Reference {
    pub title: String,
    pub url: String,
}

/// A rule's documentation, from `rules/<CODE>.yaml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RuleDoc {
    pub code: String,
    pub name: String,
    pub severity: Severity,
    pub summary: String,
    pub what_it_does: String,
    pub why: String,
    pub symptoms: Vec<Symptom>,
    pub start_methods: Vec<StartMethod>,
    pub python_versions: String,
    pub bad: String,
    pub good: String,
    pub fix: String,
    pub fix_safety: FixSafety,
    pub references: Vec<Reference>,
}

/// Parses one embedded document; the meta tests assert that every one parses.
pub fn parse_doc(yaml: &str) -> Result<RuleDoc, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}

fn docs() -> &'static [RuleDoc] {
    static DOCS: OnceLock<Vec<RuleDoc>> = OnceLock::new();
    DOCS.get_or_init(|| {
        RuleCode::ALL
            .iter()
            .map(|&code| {
                // A broken embedded document is a build defect the meta tests catch; the
                // binary still runs, with the error in place of the summary.
                parse_doc(code.yaml()).unwrap_or_else(|error| RuleDoc {
                    code: code.as_str().to_string(),
                    name: code.as_str().to_ascii_lowercase(),
                    severity: Severity::Error,
                    summary: format!("(rule document failed to parse: {error})"),
                    what_it_does: String::new(),
                    why: String::new(),
                    symptoms: Vec::new(),
                    start_methods: Vec::new(),
                    python_versions: String::new(),
                    bad: String::new(),
                    good: String::new(),
                    fix: String::new(),
                    fix_safety: FixSafety::None,
                    references: Vec::new(),
                })
            })
            .collect()
    })
}
