//! Which calls can fail: the one model every "not on every path" rule uses.
//!
//! A path that leaves a function by an exception is only worth a finding when something
//! on it can really raise. Every call gets one of three levels:
//!
//! | level | what | a path through it is |
//! |---|---|---|
//! | [`Failure::Never`] | console output (`print`, also Python 2's statement, `sys.stdout.write`), `logging` and logger calls, `time.sleep`, string formatting, `len`/`range`/`isinstance`/`str`/`repr`/`min`/`max` and other pure builtins, `os.getpid`, `current_process()`, container mutators (`append`, `add`, `update`, ...), taking or signalling a synchronisation primitive (`acquire`, `release`, `notify`, `is_set`), starting or joining a process or thread (`p.start()`, `p.join()`) | no exceptional edge at all |
//! | [`Failure::Likely`] | an explicit `raise` or `assert`, a `yield`/`await` (the caller can throw in), I/O (`open`, files, sockets, `subprocess`, `os`, `shutil`), network and database clients, and methods of objects that come from outside the function: its parameters and attributes (`redis.pop_data()`, `self.conn.execute()`) | reported as an error |
//! | [`Failure::Possible`] | everything else: the program's own functions and methods (`self.step()`), unknown callables (`answer = next_task()`) | reported as a warning |
//!
//! The levels are about what happens in practice, not in theory (`print` can raise on a
//! closed pipe): a finding that blames `print(...)` helps nobody, and one that blames a
//! network call is the bug the rule exists for. SpotBugs draws the same line between
//! `UL_UNRELEASED_LOCK` and `UL_UNRELEASED_LOCK_EXCEPTION_PATH`.

use crate::ast::*;

/// How likely a call (or a statement) is to raise, in practice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    Never,
    Possible,
    Likely,
}

/// For messages: which kind of exception path a finding is about.
pub fn failure_kind(failure: Failure) -> &'static str {
    match failure {
        Failure::Never => "a path without exceptions",
        Failure::Likely => {
            "a likely failure: code that raises on purpose, I/O, a network or database call, \
             or a method of an object passed in"
        }
        Failure::Possible => {
            "a possible failure: one of the program's own functions or an unknown callable"
        }
    }
}

/// What the function knows about the names its calls start from.
#[derive(Default)]
pub struct Origins<'a> {
    /// The function's parameters, `self` included: objects that come from outside.
    pub params: Vec<&'a str>,
    /// The first parameter of a method (`self`, `cls`): `self.step()` is the program's
    /// own method, `self.conn.send()` a method of an object from outside.
    pub receiver: Option<&'a str>,
}

impl<'a> Origins<'a> {
    pub fn of(f: &'a FunctionDef, is_method: bool) -> Self {
        let params: Vec<&str> = f
            .params
            .params
            .iter()
            .map(|p| p.name.name.as_str())
            .collect();
        Self {
            receiver: params.first().copied().filter(|_| is_method),
            params,
        }
    }
}

/// The worst failure evaluating `expr` can bring (lambda bodies run later: none).
pub fn expr_failure(expr: &Expr, origins: &Origins<'_>) -> Failure {
    match &expr.kind {
        ExprKind::Lambda(_) => Failure::Never,
        ExprKind::Suspend(_) => Failure::Likely,
        _ => {
            let mut worst = match &expr.kind {
                ExprKind::Call(call) => call_failure(call, origins),
                _ => Failure::Never,
            };
            crate::semantic::exec::for_each_subexpr(expr, |e| {
                worst = worst.max(expr_failure(e, origins))
            });
            worst
        }
    }
}

/// Whether evaluating `expr` calls something that can raise at all.
pub fn may_raise(expr: &Expr) -> bool {
    expr_failure(expr, &Origins::default()) > Failure::Never
}

/// The failure level of one call, not counting its arguments.
pub fn call_failure(call: &Call, origins: &Origins<'_>) -> Failure {
    if never_fails(call) {
        return Failure::Never;
    }
    match &call.func.kind {
        ExprKind::Name(name) if matches!(name.as_str(), "open" | "input" | "urlopen") => {
            Failure::Likely
        }
        ExprKind::Attribute { value, attr } => {
            let root = root_name(value);
            let io_module = root.is_some_and(|r| IO_MODULES.contains(&r));
            let io_method = IO_METHODS.contains(&attr.name.as_str());
            // `redis.pop_data()`: a parameter's method. `self.conn.send()`: an attribute's.
            // `self.step()`: the program's own method, no more than possible.
            let from_outside = match &value.kind {
                ExprKind::Name(n) => {
                    origins.params.contains(&n.as_str()) && origins.receiver != Some(n.as_str())
                }
                ExprKind::Attribute { .. } => true,
                _ => false,
            };
            if io_module || io_method || from_outside {
                Failure::Likely
            } else {
                Failure::Possible
            }
        }
        _ => Failure::Possible,
    }
}

/// Modules whose functions do I/O (or talk to another process or host).
const IO_MODULES: &[&str] = &[
    "os",
    "shutil",
    "subprocess",
    "socket",
    "ssl",
    "select",
    "requests",
    "httpx",
    "urllib",
    "urllib2",
    "http",
    "ftplib",
    "smtplib",
    "sqlite3",
    "psycopg2",
    "pymysql",
    "MySQLdb",
    "redis",
    "pymongo",
    "boto3",
    "json",
    "pickle",
    "csv",
    "tempfile",
    "glob",
    "io",
];

/// Methods that do I/O on whatever they are called.
const IO_METHODS: &[&str] = &[
    "read",
    "readline",
    "readlines",
    "recv",
    "recv_bytes",
    "recv_into",
    "send",
    "send_bytes",
    "sendall",
    "connect",
    "execute",
    "executemany",
    "commit",
    "fetchone",
    "fetchall",
    "fetchmany",
    "urlopen",
    "request",
    "read_text",
    "write_text",
    "read_bytes",
    "write_bytes",
];

/// The name an attribute chain starts from: `a` for `a.b.c`.
fn root_name(expr: &Expr) -> Option<&str> {
    match &expr.kind {
        ExprKind::Name(n) => Some(n),
        ExprKind::Attribute { value, .. } => root_name(value),
        _ => None,
    }
}

/// Calls that do not raise in practice, whatever they are called on.
fn never_fails(call: &Call) -> bool {
    match &call.func.kind {
        ExprKind::Name(name) => matches!(
            name.as_str(),
            "print"
                | "len"
                | "range"
                | "xrange"
                | "isinstance"
                | "issubclass"
                | "id"
                | "callable"
                | "type"
                | "str"
                | "repr"
                | "min"
                | "max"
                | "bool"
                | "enumerate"
                | "zip"
                | "format"
                | "hash"
                | "abs"
                | "current_process"
                | "current_thread"
                | "get_ident"
                | "getpid"
                | "getppid"
                | "sleep"
                // Making a process or thread object starts nothing yet.
                | "Process"
                | "Thread"
        ),
        ExprKind::Attribute { value, attr } => {
            let method = attr.name.as_str();
            let root = root_name(value);
            // Container mutators and reads, and string formatting.
            matches!(
                method,
                "append"
                    | "appendleft"
                    | "extend"
                    | "add"
                    | "discard"
                    | "clear"
                    | "copy"
                    | "items"
                    | "keys"
                    | "values"
                    | "update"
                    | "insert"
                    | "setdefault"
                    | "format"
                    // Taking or signalling a synchronisation primitive:
                    // `done.release()`, `cond.notify()`.
                    | "acquire"
                    | "release"
                    | "notify"
                    | "notify_all"
                    | "is_set"
                    // Asking which process or thread this is.
                    | "current_process"
                    | "currentProcess"
                    | "current_thread"
                    | "currentThread"
                    | "getName"
            ) || matches!(method, "Process" | "Thread")
                || (matches!(method, "start" | "join" | "is_alive")
                // Starting or joining a process or thread.
                && call.args.is_empty()
                && call.keywords.is_empty())
                || matches!(value.kind, ExprKind::Str(_))
                || is_process_info(root, method)
                || is_console(value, method)
                || is_logging(value, root, method)
        }
        _ => false,
    }
}

/// `os.getpid()`, `time.sleep(...)`, `multiprocessing.current_process()`, ...
fn is_process_info(root: Option<&str>, method: &str) -> bool {
    let Some(root) = root else { return false };
    match root {
        "os" => matches!(method, "getpid" | "getppid" | "cpu_count"),
        "time" => matches!(
            method,
            "sleep" | "time" | "monotonic" | "perf_counter" | "process_time" | "time_ns"
        ),
        "random" => matches!(
            method,
            "random" | "seed" | "randint" | "randrange" | "uniform" | "gauss" | "shuffle"
        ),
        "multiprocessing" | "mp" | "threading" => matches!(
            method,
            "current_process"
                | "current_thread"
                | "get_ident"
                | "active_children"
                | "parent_process"
                | "cpu_count"
        ),
        _ => false,
    }
}

/// `sys.stdout.write(...)`, `sys.stderr.flush()`.
fn is_console(value: &Expr, method: &str) -> bool {
    matches!(method, "write" | "flush")
        && matches!(&value.kind, ExprKind::Attribute { value: sys, attr }
            if sys.as_name() == Some("sys") && matches!(attr.name.as_str(), "stdout" | "stderr"))
}

/// `logging.info(...)`, `logger.debug(...)`, `self.log.warning(...)`,
/// `logging.getLogger(__name__).error(...)`.
fn is_logging(value: &Expr, root: Option<&str>, method: &str) -> bool {
    if root == Some("logging") {
        return true;
    }
    let level = matches!(
        method,
        "debug"
            | "info"
            | "warning"
            | "warn"
            | "error"
            | "exception"
            | "critical"
            | "fatal"
            | "log"
    );
    let loggerish = |name: &str| {
        let name = name.trim_start_matches('_').to_ascii_lowercase();
        matches!(name.as_str(), "log" | "logger" | "logging")
    };
    level
        && match &value.kind {
            ExprKind::Name(n) => loggerish(n),
            ExprKind::Attribute { attr, .. } => loggerish(&attr.name),
            ExprKind::Call(c) => matches!(&c.func.kind,
                ExprKind::Attribute { attr, .. } if attr.name == "getLogger"),
            _ => false,
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python;

    /// The failure level of the last statement's expression, inside `def f(redis, n):`
    /// as a method when `method` is set.
    fn level(expr: &str) -> Failure {
        let src = format!("def f(self, redis):\n    {expr}\n");
        let parsed = python::parse(&src);
        let StmtKind::FunctionDef(f) = &parsed.module.body[0].kind else {
            panic!("no function")
        };
        let StmtKind::Expr(e) = &f.body[0].kind else {
            panic!("not an expression")
        };
        expr_failure(e, &Origins::of(f, true))
    }

    #[test]
    fn console_logging_and_pure_builtins_never_fail() {
        for e in [
            "print('x', len(a), range(3))",
            "sys.stdout.write('x')",
            "sys.stderr.flush()",
            "logging.info('x %s', n)",
            "logger.debug('x')",
            "self.log.warning('x')",
            "logging.getLogger(__name__).error('x')",
            "time.sleep(0.1)",
            "time.sleep(random.random() * 2)",
            "mp.Process(target=work, args=(lock,))",
            "p.start()",
            "done.release()",
            "'{} {}'.format(a, b)",
            "', '.join(words)",
            "items.append(str(x))",
            "os.getpid()",
            "mp.current_process()",
            "isinstance(x, int) and repr(x)",
            "f'{x!r}'",
        ] {
            assert_eq!(level(e), Failure::Never, "{e}");
        }
    }

    #[test]
    fn io_and_objects_from_outside_likely_fail() {
        for e in [
            "redis.pop_data()",
            "self.conn.execute('select 1')",
            "open('x').read()",
            "subprocess.run(['ls'])",
            "requests.get(url)",
            "sock.recv(1024)",
            "os.remove(path)",
            "print(redis.pop_data())",
        ] {
            assert_eq!(level(e), Failure::Likely, "{e}");
        }
    }

    #[test]
    fn own_functions_and_unknown_callables_possibly_fail() {
        for e in ["next_task()", "self.step()", "int(text)", "worker.run()"] {
            assert_eq!(level(e), Failure::Possible, "{e}");
        }
    }
}
