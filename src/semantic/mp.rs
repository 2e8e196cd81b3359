//! What the multiprocessing-like APIs are: qualified names, drop-in modules, the classes
//! whose instances rules track, start methods, and which calls start processes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A multiprocessing start method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartMethod {
    Fork,
    Forkserver,
    Spawn,
}

impl StartMethod {
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Forkserver,
        StartMethod::Spawn,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fork" => Some(Self::Fork),
            "forkserver" => Some(Self::Forkserver),
            "spawn" => Some(Self::Spawn),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fork => "fork",
            Self::Forkserver => "forkserver",
            Self::Spawn => "spawn",
        }
    }

    /// Whether children start as fresh interpreters that re-import the main module.
    pub fn reimports_main(self) -> bool {
        !matches!(self, Self::Fork)
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of start methods, kept small and ordered for stable messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct MethodSet(u8);

impl MethodSet {
    pub const ALL: MethodSet = MethodSet(0b111);

    fn bit(m: StartMethod) -> u8 {
        match m {
            StartMethod::Fork => 1,
            StartMethod::Forkserver => 2,
            StartMethod::Spawn => 4,
        }
    }

    pub fn single(m: StartMethod) -> Self {
        Self(Self::bit(m))
    }

    pub fn insert(&mut self, m: StartMethod) {
        self.0 |= Self::bit(m);
    }

    pub fn contains(self, m: StartMethod) -> bool {
        self.0 & Self::bit(m) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = StartMethod> {
        // Spawn first: it is the method most users know the failure from.
        [
            StartMethod::Spawn,
            StartMethod::Forkserver,
            StartMethod::Fork,
        ]
        .into_iter()
        .filter(move |m| self.contains(*m))
    }

    /// "spawn and forkserver", for messages.
    pub fn describe(self) -> String {
        let names: Vec<&str> = self.iter().map(StartMethod::as_str).collect();
        match names.as_slice() {
            [] => String::new(),
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
        }
    }
}

impl FromIterator<StartMethod> for MethodSet {
    fn from_iter<I: IntoIterator<Item = StartMethod>>(iter: I) -> Self {
        let mut set = MethodSet::default();
        for m in iter {
            set.insert(m);
        }
        set
    }
}

/// Classes whose instances the semantic model follows through variables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MpClass {
    /// `multiprocessing.Process` and its context variants.
    Process,
    /// `multiprocessing.Pool`: worker processes start in the constructor.
    Pool,
    /// `multiprocessing.Manager()`: the server process starts in the call.
    StartedManager,
    /// `SyncManager`, `BaseManager`, `SharedMemoryManager`: start on `.start()` or `with`.
    Manager,
    /// `concurrent.futures.ProcessPoolExecutor`: workers start on `submit`/`map`.
    ProcessPoolExecutor,
    /// Thread look-alikes: never processes.
    ThreadPool,
    Thread,
    ThreadPoolExecutor,
    /// Queues, pipes, locks and shared values: what processes share.
    Shared(SharedKind, Family),
    /// A `multiprocessing.shared_memory` segment object, and whether a
    /// `SharedMemoryManager` made it (then the manager unlinks it at shutdown).
    Segment(SegmentKind, Managed),
}

/// The two classes of `multiprocessing.shared_memory`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegmentKind {
    SharedMemory,
    /// A list stored in a segment of its own, reachable as `.shm`.
    ShareableList,
}

impl SegmentKind {
    pub fn name(self) -> &'static str {
        match self {
            SegmentKind::SharedMemory => "SharedMemory",
            SegmentKind::ShareableList => "ShareableList",
        }
    }
}

/// Who unlinks a segment made by a constructor call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Managed {
    /// `SharedMemory(...)`, `ShareableList(...)`: the program.
    No,
    /// `smm.SharedMemory(size)` of a `SharedMemoryManager`: the manager, at shutdown.
    ByManager,
}

impl MpClass {
    /// Whether `with <instance> as x` binds `x` to the instance itself.
    pub fn enter_returns_self(self) -> bool {
        !matches!(
            self,
            MpClass::Process | MpClass::Thread | MpClass::Shared(..) | MpClass::Segment(..)
        )
    }

    pub fn shared(self) -> Option<(SharedKind, Family)> {
        match self {
            MpClass::Shared(kind, family) => Some((kind, family)),
            _ => None,
        }
    }
}

/// The objects processes and threads share, as the `multiprocessing` API names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SharedKind {
    Queue,
    JoinableQueue,
    SimpleQueue,
    /// What `Pipe()` returns: a pair of connections.
    Pipe,
    /// One end of a pipe.
    Connection,
    Lock,
    RLock,
    Semaphore,
    BoundedSemaphore,
    Condition,
    Event,
    Barrier,
    Value,
    Array,
    /// `RawValue`, and `Value(..., lock=False)`: no lock at all.
    RawValue,
    RawArray,
}

impl SharedKind {
    /// Whether `acquire()`/`release()` lock and unlock it.
    pub fn is_lock(self) -> bool {
        matches!(
            self,
            SharedKind::Lock
                | SharedKind::RLock
                | SharedKind::Semaphore
                | SharedKind::BoundedSemaphore
                | SharedKind::Condition
        )
    }

    /// For messages: "a multiprocessing Lock".
    pub fn name(self) -> &'static str {
        match self {
            SharedKind::Queue => "Queue",
            SharedKind::JoinableQueue => "JoinableQueue",
            SharedKind::SimpleQueue => "SimpleQueue",
            SharedKind::Pipe => "Pipe",
            SharedKind::Connection => "Connection",
            SharedKind::Lock => "Lock",
            SharedKind::RLock => "RLock",
            SharedKind::Semaphore => "Semaphore",
            SharedKind::BoundedSemaphore => "BoundedSemaphore",
            SharedKind::Condition => "Condition",
            SharedKind::Event => "Event",
            SharedKind::Barrier => "Barrier",
            SharedKind::Value => "Value",
            SharedKind::Array => "Array",
            SharedKind::RawValue => "RawValue",
            SharedKind::RawArray => "RawArray",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "Queue" => SharedKind::Queue,
            "JoinableQueue" => SharedKind::JoinableQueue,
            "SimpleQueue" => SharedKind::SimpleQueue,
            "Pipe" => SharedKind::Pipe,
            "Lock" => SharedKind::Lock,
            "RLock" => SharedKind::RLock,
            "Semaphore" => SharedKind::Semaphore,
            "BoundedSemaphore" => SharedKind::BoundedSemaphore,
            "Condition" => SharedKind::Condition,
            "Event" => SharedKind::Event,
            "Barrier" => SharedKind::Barrier,
            "Value" => SharedKind::Value,
            "Array" => SharedKind::Array,
            "RawValue" => SharedKind::RawValue,
            "RawArray" => SharedKind::RawArray,
            _ => return None,
        })
    }
}

/// Who made a shared object, which decides how it behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// `multiprocessing` itself (or a context, or a drop-in module): semaphores and pipes.
    Multiprocessing,
    /// A manager's proxy (`manager.Queue()`): the object lives in the manager's server.
    Proxy,
    /// `threading` and `queue`: shared by threads only.
    Threading,
}

/// The manager attribute a proxy path ends in (`<manager>.Queue`), as [`class_of`] knows it.
pub const MANAGER_PROXY_PREFIX: &str = "multiprocessing.managers.SyncManager.";

fn shared_class_of(path: &str) -> Option<MpClass> {
    if let Some(kind) = segment_kind(path, "multiprocessing.shared_memory.") {
        return Some(MpClass::Segment(kind, Managed::No));
    }
    if let Some(kind) = segment_kind(path, MANAGER_PROXY_PREFIX) {
        return Some(MpClass::Segment(kind, Managed::ByManager));
    }
    if let Some(attr) = path.strip_prefix(MANAGER_PROXY_PREFIX) {
        // Manager queues are `queue.Queue` objects in the server; JoinableQueue is the same.
        let kind = match attr {
            "JoinableQueue" => SharedKind::Queue,
            other => SharedKind::parse(other)?,
        };
        return (!matches!(kind, SharedKind::SimpleQueue | SharedKind::Pipe))
            .then_some(MpClass::Shared(kind, Family::Proxy));
    }
    for (prefix, family) in [
        ("multiprocessing.synchronize.", Family::Multiprocessing),
        ("multiprocessing.queues.", Family::Multiprocessing),
        ("multiprocessing.sharedctypes.", Family::Multiprocessing),
        ("multiprocessing.connection.", Family::Multiprocessing),
        ("multiprocessing.", Family::Multiprocessing),
        ("threading.", Family::Threading),
        ("queue.", Family::Threading),
    ] {
        let Some(name) = path.strip_prefix(prefix) else {
            continue;
        };
        let kind = SharedKind::parse(name)?;
        let known = match family {
            Family::Threading if prefix == "queue." => {
                matches!(kind, SharedKind::Queue | SharedKind::SimpleQueue)
            }
            Family::Threading => {
                kind.is_lock() || matches!(kind, SharedKind::Event | SharedKind::Barrier)
            }
            _ => true,
        };
        return known.then_some(MpClass::Shared(kind, family));
    }
    None
}

fn segment_kind(path: &str, prefix: &str) -> Option<SegmentKind> {
    match path.strip_prefix(prefix)? {
        "SharedMemory" => Some(SegmentKind::SharedMemory),
        "ShareableList" => Some(SegmentKind::ShareableList),
        _ => None,
    }
}

/// Rewrites drop-in replacements to the `multiprocessing` names they mirror, so that
/// every rule sees one API. `torch.multiprocessing.spawn` is a process launcher, not the
/// `multiprocessing.spawn` module, so it keeps its own name.
pub fn canonical(path: &str) -> String {
    const TORCH: &str = "torch.multiprocessing";
    const TORCH_OWN: [&str; 3] = ["spawn", "start_processes", "ProcessContext"];
    for (prefix, own) in [
        (TORCH, &TORCH_OWN[..]),
        ("multiprocess", &[][..]),
        ("billiard", &[][..]),
    ] {
        if let Some(rest) = strip_module(path, prefix) {
            let first = rest.split('.').next().unwrap_or("");
            if own.contains(&first) {
                return path.to_string();
            }
            return if rest.is_empty() {
                "multiprocessing".to_string()
            } else {
                format!("multiprocessing.{rest}")
            };
        }
    }
    path.to_string()
}

/// `Some(rest)` when `path` is `module` or starts with `module.`.
fn strip_module<'p>(path: &'p str, module: &str) -> Option<&'p str> {
    let rest = path.strip_prefix(module)?;
    if rest.is_empty() {
        Some("")
    } else {
        rest.strip_prefix('.')
    }
}

/// The class a qualified name constructs, if it is one we track.
pub fn class_of(path: &str) -> Option<MpClass> {
    Some(match path {
        "multiprocessing.Process"
        | "multiprocessing.context.Process"
        | "multiprocessing.context.ForkProcess"
        | "multiprocessing.context.SpawnProcess"
        | "multiprocessing.context.ForkServerProcess"
        | "multiprocessing.process.BaseProcess" => MpClass::Process,
        "multiprocessing.Pool"
        | "multiprocessing.pool.Pool"
        // pathos builds a multiprocess Pool in the constructor.
        | "pathos.pools.ProcessPool"
        | "pathos.multiprocessing.ProcessPool"
        | "pathos.multiprocessing.ProcessingPool"
        | "pathos.pools._ProcessPool" => MpClass::Pool,
        "multiprocessing.Manager" => MpClass::StartedManager,
        "multiprocessing.managers.SyncManager"
        | "multiprocessing.managers.BaseManager"
        | "multiprocessing.managers.SharedMemoryManager" => MpClass::Manager,
        "concurrent.futures.ProcessPoolExecutor"
        | "concurrent.futures.process.ProcessPoolExecutor" => MpClass::ProcessPoolExecutor,
        "multiprocessing.pool.ThreadPool"
        | "multiprocessing.dummy.Pool"
        | "pathos.pools.ThreadPool"
        | "pathos.threading.ThreadPool"
        | "pathos.pools._ThreadPool" => MpClass::ThreadPool,
        "threading.Thread" | "multiprocessing.dummy.Process" => MpClass::Thread,
        "concurrent.futures.ThreadPoolExecutor"
        | "concurrent.futures.thread.ThreadPoolExecutor" => MpClass::ThreadPoolExecutor,
        // `multiprocessing.dummy` mirrors the API with threads and `queue.Queue`.
        p if p.starts_with("multiprocessing.dummy.") => {
            let kind = SharedKind::parse(&p["multiprocessing.dummy.".len()..])?;
            return Some(MpClass::Shared(kind, Family::Threading));
        }
        other => return shared_class_of(other),
    })
}

/// The parameter (position, keyword) through which a constructor takes a context:
/// `pool.Pool(processes, initializer, initargs, maxtasksperchild, context)`,
/// `BaseManager(address, authkey, serializer, ctx)`, `ProcessPoolExecutor(max_workers,
/// mp_context)`.
pub fn context_parameter(class: MpClass) -> Option<(usize, &'static str)> {
    match class {
        MpClass::Pool => Some((4, "context")),
        MpClass::Manager => Some((3, "ctx")),
        MpClass::ProcessPoolExecutor => Some((1, "mp_context")),
        _ => None,
    }
}

/// Where a pool's or an executor's constructor takes its `initializer` and `initargs`,
/// positionally and by keyword.
pub fn initializer_parameters(class: MpClass) -> Option<(usize, usize)> {
    match class {
        // Pool(processes, initializer, initargs, maxtasksperchild, context)
        MpClass::Pool => Some((1, 2)),
        // ProcessPoolExecutor(max_workers, mp_context, initializer, initargs)
        MpClass::ProcessPoolExecutor => Some((2, 3)),
        _ => None,
    }
}

/// Names a context object exposes that mirror module-level `multiprocessing` names.
pub fn is_context_member(attr: &str) -> bool {
    matches!(
        attr,
        "Process"
            | "Pool"
            | "Manager"
            | "Queue"
            | "JoinableQueue"
            | "SimpleQueue"
            | "Pipe"
            | "Lock"
            | "RLock"
            | "Semaphore"
            | "BoundedSemaphore"
            | "Condition"
            | "Event"
            | "Barrier"
            | "Value"
            | "Array"
            | "RawValue"
            | "RawArray"
            | "get_context"
            | "get_start_method"
            | "set_start_method"
            | "cpu_count"
            | "freeze_support"
            | "active_children"
            | "current_process"
            | "parent_process"
            | "set_executable"
            | "set_forkserver_preload"
            | "allow_connection_pickling"
            | "log_to_stderr"
            | "get_logger"
    )
}

/// Module-level functions that launch processes directly.
pub fn is_launcher_function(path: &str) -> bool {
    matches!(
        path,
        "torch.multiprocessing.spawn" | "torch.multiprocessing.start_processes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_in_modules_map_to_multiprocessing() {
        assert_eq!(canonical("multiprocess.Pool"), "multiprocessing.Pool");
        assert_eq!(canonical("billiard"), "multiprocessing");
        assert_eq!(
            canonical("torch.multiprocessing.Process"),
            "multiprocessing.Process"
        );
        assert_eq!(
            canonical("torch.multiprocessing.spawn"),
            "torch.multiprocessing.spawn"
        );
        assert_eq!(
            canonical("multiprocessing_extra.Pool"),
            "multiprocessing_extra.Pool"
        );
        assert_eq!(canonical("multiprocessor"), "multiprocessor");
    }

    #[test]
    fn method_sets_describe_in_stable_order() {
        let set: MethodSet = [StartMethod::Forkserver, StartMethod::Spawn]
            .into_iter()
            .collect();
        assert_eq!(set.describe(), "spawn and forkserver");
        assert_eq!(MethodSet::ALL.describe(), "spawn, forkserver and fork");
    }
}

/// What a process-starting call starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Started {
    Process,
    Pool,
    Manager,
    ExecutorWorkers,
    /// Processes from a launcher function (`torch.multiprocessing.spawn`).
    Launched,
}

impl Started {
    /// For messages: "starts a process".
    pub fn describe(self) -> &'static str {
        match self {
            Started::Process => "a process",
            Started::Pool => "a pool of worker processes",
            Started::Manager => "a manager server process",
            Started::ExecutorWorkers => "worker processes",
            Started::Launched => "processes",
        }
    }
}

/// A call or `with` that starts processes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessStart {
    pub what: Started,
    /// The start method the code chose explicitly, if any.
    pub method: Option<StartMethod>,
}

impl MpClass {
    /// What constructing or starting an instance starts; `None` for threads.
    pub fn started(self) -> Option<Started> {
        match self {
            MpClass::Process => Some(Started::Process),
            MpClass::Pool => Some(Started::Pool),
            MpClass::StartedManager | MpClass::Manager => Some(Started::Manager),
            MpClass::ProcessPoolExecutor => Some(Started::ExecutorWorkers),
            MpClass::ThreadPool
            | MpClass::Thread
            | MpClass::ThreadPoolExecutor
            | MpClass::Shared(..)
            | MpClass::Segment(..) => None,
        }
    }
}
