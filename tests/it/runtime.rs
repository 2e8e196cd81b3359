//! Runtime proof: every fixture with `# runtime:` lines is run by `python3` under the start
//! methods it names, and must show exactly what it says (the documented symptom for a bad
//! fixture, a clean exit for a good one).
//!
//! Each run is its own process group. A run that must hang is stopped by killing its
//! main process first, so that multiprocessing's resource tracker can still remove the
//! semaphores it registered, and then the whole group; a guard kills the group even when
//! an assertion fails.

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::support::*;

/// How long a run that is expected to hang is given before it is stopped.
const HANG_AFTER: Duration = Duration::from_secs(4);
/// The most any other run may take; the fixtures finish in well under a second.
const LIMIT: Duration = Duration::from_secs(30);
/// How many fixture runs go at once.
const PARALLEL: usize = 4;

#[derive(Debug, Clone, PartialEq)]
enum Expect {
    Exit(i32),
    Stderr(String),
    Stdout(String),
    StdoutLacks(String),
    Timeout,
}

#[derive(Debug, Clone)]
struct Run {
    fixture: PathBuf,
    method: String,
    expects: Vec<Expect>,
    /// The interpreter: `python3`, or a newer one a `# python: >=3.N` line asks for.
    python: String,
}

/// The minor version a fixture's `# python: >=3.N` line asks for, if any.
fn wanted_minor(text: &str) -> Option<u32> {
    text.lines()
        .find_map(|l| l.strip_prefix("# python: >=3."))
        .map(|m| m.trim().parse().expect("`# python: >=3.N` with a number"))
}

/// The interpreter that runs a fixture asking for Python 3.`minor` or newer: `python3`
/// when it is new enough, else the first `python3.N` on PATH (pyenv's shims included)
/// that is.
fn python_for(minor: Option<u32>) -> Option<String> {
    let Some(minor) = minor else {
        return Some("python3".to_string());
    };
    let version = |exe: &str| -> Option<u32> {
        let out = Command::new(exe)
            .args(["-c", "import sys; print(sys.version_info[1])"])
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    // pyenv's shims refuse versions that are not selected: look in its versions too.
    let pyenv_root = std::env::var("PYENV_ROOT").ok().or_else(|| {
        let out = Command::new("pyenv").arg("root").output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    });
    let mut pyenv: Vec<String> = pyenv_root
        .and_then(|root| std::fs::read_dir(Path::new(&root).join("versions")).ok())
        .into_iter()
        .flatten()
        .filter_map(|e| Some(e.ok()?.path().join("bin/python3")))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    pyenv.sort();
    std::iter::once("python3".to_string())
        .chain((minor..=20).map(|m| format!("python3.{m}")))
        .chain(pyenv)
        .find(|exe| version(exe).is_some_and(|v| v >= minor))
}

/// Parses `# runtime: spawn forkserver -> stderr: text` lines.
fn runtime_lines(text: &str) -> Result<Vec<(Vec<String>, Expect)>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# runtime:") else {
            continue;
        };
        let (methods, expect) = rest
            .split_once("->")
            .ok_or_else(|| format!("no `->` in {line:?}"))?;
        let methods: Vec<String> = methods.split_whitespace().map(str::to_string).collect();
        for m in &methods {
            if !["spawn", "forkserver", "fork"].contains(&m.as_str()) {
                return Err(format!("unknown start method {m:?} in {line:?}"));
            }
        }
        let expect = expect.trim();
        let (kind, value) = expect.split_once(':').unwrap_or((expect, ""));
        let value = value.trim().to_string();
        let expect = match kind.trim() {
            "exit" => Expect::Exit(
                value
                    .parse()
                    .map_err(|_| format!("bad exit code in {line:?}"))?,
            ),
            "stderr" => Expect::Stderr(value),
            "stdout" => Expect::Stdout(value),
            "stdout-lacks" => Expect::StdoutLacks(value),
            "timeout" => Expect::Timeout,
            other => return Err(format!("unknown expectation {other:?} in {line:?}")),
        };
        out.push((methods, expect));
    }
    Ok(out)
}

fn planned_runs() -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for fixture in fixtures() {
        let text = std::fs::read_to_string(&fixture).unwrap();
        let lines =
            runtime_lines(&text).unwrap_or_else(|e| panic!("{}: {e}", fixture_name(&fixture)));
        let wanted = wanted_minor(&text);
        let Some(python) = python_for(wanted) else {
            skipped(&format!(
                "runtime proof of {}: no Python 3.{} or newer on PATH (python3, python3.N)",
                fixture_name(&fixture),
                wanted.unwrap_or(0)
            ));
            continue;
        };
        for (methods, expect) in lines {
            for method in methods {
                match runs
                    .iter_mut()
                    .find(|r| r.fixture == fixture && r.method == method)
                {
                    Some(run) => run.expects.push(expect.clone()),
                    None => runs.push(Run {
                        fixture: fixture.clone(),
                        method,
                        expects: vec![expect.clone()],
                        python: python.clone(),
                    }),
                }
            }
        }
    }
    runs
}

/// Kills the whole process group when dropped, whatever happened.
struct GroupGuard(i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // SAFETY: signalling a process group we created; no memory is involved.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

struct Observed {
    status: Option<i32>,
    timed_out: bool,
    stdout: String,
    stderr: String,
}

fn reader(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

fn execute(run: &Run) -> Observed {
    let wants_timeout = run.expects.contains(&Expect::Timeout);
    let dir = run.fixture.parent().unwrap();
    execute_in(run, dir, wants_timeout)
}

/// Removes, when dropped, the shared-memory segments a run recorded (through the test
/// `sitecustomize`) that still exist: a run stopped or killed with its resource tracker
/// leaves them behind, and a failing test must not.
struct SegmentSweeper(tempfile::NamedTempFile);

impl Drop for SegmentSweeper {
    fn drop(&mut self) {
        let names = std::fs::read_to_string(self.0.path()).unwrap_or_default();
        for name in names
            .lines()
            .filter(|n| n.starts_with("psm_") || n.starts_with("wnsm_"))
        {
            if !name.contains('/') {
                let _ = std::fs::remove_file(Path::new("/dev/shm").join(name));
            }
        }
    }
}

fn execute_in(run: &Run, dir: &Path, wants_timeout: bool) -> Observed {
    let sweeper = SegmentSweeper(tempfile::NamedTempFile::new().expect("a temporary file"));
    // multiprocessing's own temporary folders (`pymp-*`: the forkserver's socket, arenas)
    // go in here, removed with it when a killed run could not remove them itself.
    let tmp = tempfile::tempdir().expect("a temporary folder");
    let mut child: Child = Command::new(&run.python)
        .arg(run.fixture.file_name().unwrap())
        .current_dir(dir)
        .env("PYTHONPATH", root().join("tests/support"))
        .env("MPDOCTOR_START_METHOD", &run.method)
        .env("MPDOCTOR_SHM_LOG", sweeper.0.path())
        .env("TMPDIR", tmp.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env_remove("PYTHONWARNINGS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("python3 starts");
    let pid = child.id() as i32;
    let guard = GroupGuard(pid);
    let out = reader(child.stdout.take().unwrap());
    let err = reader(child.stderr.take().unwrap());
    let deadline = Instant::now() + if wants_timeout { HANG_AFTER } else { LIMIT };
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // The main process first; then the rest of the group, politely: the children
            // blocked in a hang die of SIGTERM, which the resource tracker ignores, so the
            // tracker sees its pipe close and unlinks the semaphores they registered.
            let _ = child.kill();
            let _ = child.wait();
            thread::sleep(Duration::from_millis(200));
            // SAFETY: signalling a process group we created; no memory is involved.
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    // Give the rest of the group (children, the resource tracker) a moment to finish and
    // print their last warnings, then end it.
    let grace = Instant::now() + Duration::from_secs(5);
    while group_alive(pid) && Instant::now() < grace {
        thread::sleep(Duration::from_millis(20));
    }
    drop(guard);
    drop(sweeper);
    Observed {
        status,
        timed_out,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn check(run: &Run, seen: &Observed) -> Vec<String> {
    let mut problems = Vec::new();
    // A good program runs clean: not even the resource tracker complains about it.
    let good = run
        .fixture
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("good_"));
    if good && seen.stderr.contains("resource_tracker") {
        problems.push("the resource tracker warned about a good fixture".to_string());
    }
    let wants_timeout = run.expects.contains(&Expect::Timeout);
    if seen.timed_out && !wants_timeout {
        problems.push(format!("did not finish within {LIMIT:?}"));
    }
    if wants_timeout && !seen.timed_out {
        problems.push(format!(
            "was expected to hang but exited with {:?}",
            seen.status
        ));
    }
    for expect in &run.expects {
        let ok = match expect {
            Expect::Exit(code) => seen.status == Some(*code),
            Expect::Stderr(s) => seen.stderr.contains(s.as_str()),
            Expect::Stdout(s) => seen.stdout.contains(s.as_str()),
            Expect::StdoutLacks(s) => !seen.stdout.contains(s.as_str()),
            Expect::Timeout => seen.timed_out,
        };
        if !ok {
            problems.push(format!("expected {expect:?}"));
        }
    }
    problems
}

/// Runs `runs` on a few threads; `judge` returns a failure report or nothing.
fn run_parallel(runs: Vec<Run>, judge: impl Fn(&Run) -> Option<String> + Sync) -> Vec<String> {
    let queue = std::sync::Mutex::new(runs);
    let failures = std::sync::Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..PARALLEL {
            scope.spawn(|| {
                loop {
                    let Some(run) = queue.lock().unwrap().pop() else {
                        return;
                    };
                    if let Some(failure) = judge(&run) {
                        failures.lock().unwrap().push(failure);
                    }
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn fixtures_show_their_documented_behaviour_under_python() {
    if !python_available() {
        skipped("runtime proofs: python3 is not installed");
        return;
    }
    let runs = planned_runs();
    assert!(
        !runs.is_empty(),
        "no fixture declares a runtime expectation"
    );
    let count = runs.len();
    let failures = run_parallel(runs, |run| {
        let seen = execute(run);
        let problems = check(run, &seen);
        (!problems.is_empty()).then(|| {
            format!(
                "{} under {}: {}\n  exit: {:?}\n  stdout (tail): {}\n  stderr (tail): {}",
                fixture_name(&run.fixture),
                run.method,
                problems.join("; "),
                seen.status,
                tail(&seen.stdout),
                tail(&seen.stderr)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    eprintln!("runtime proofs: {count} runs passed");
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(6)..].join("\n    ")
}

/// The fix is proven too: every bad fixture, once fixed with `--fix --unsafe-fixes`,
/// runs cleanly under spawn and forkserver.
#[test]
fn fixed_bad_fixtures_run_cleanly() {
    use mpdoctor::fix::FixMode;
    use mpdoctor::linter::{self, LintSettings};
    if !python_available() {
        skipped("runtime proofs of fixes: python3 is not installed");
        return;
    }
    let settings = LintSettings::default();
    let work = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for fixture in fixtures() {
        let name = fixture_name(&fixture);
        if !name.contains("/bad_") {
            continue;
        }
        let source = load(&fixture);
        // A bad fixture whose findings get no automatic fix says so with `# fix: none`,
        // and must then really be offered none.
        if source.text.lines().any(|l| l.trim() == "# fix: none") {
            let offered = linter::lint(&source, &settings)
                .iter()
                .any(|d| d.fix.is_some());
            assert!(
                !offered,
                "{name}: declares `# fix: none` but a fix is offered"
            );
            continue;
        }
        let fixed = linter::fix(&source, &settings, FixMode::IncludeUnsafe);
        // Every other bad fixture is a program whose fix must be offered and must work; a
        // fix that is refused (moving code is risky) belongs in a cases_ fixture instead.
        assert!(
            fixed.remaining.is_empty(),
            "{name}: not fully fixed, {:?} left",
            fixed.remaining
        );
        let dir = work.path().join(name.replace('/', "_"));
        std::fs::create_dir_all(&dir).unwrap();
        let copy = dir.join(fixture.file_name().unwrap());
        std::fs::write(&copy, &fixed.text).unwrap();
        // The project modules a fixture imports live in folders beside it.
        for entry in std::fs::read_dir(fixture.parent().unwrap()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                copy_tree(&path, &dir.join(path.file_name().unwrap()));
            }
        }
        for method in ["spawn", "forkserver"] {
            runs.push(Run {
                fixture: copy.clone(),
                method: method.to_string(),
                expects: vec![Expect::Exit(0)],
                python: "python3".to_string(),
            });
        }
    }
    assert!(!runs.is_empty(), "no bad fixture could be fixed");
    let failures = run_parallel(runs, |run| {
        let seen = execute_in(run, run.fixture.parent().unwrap(), false);
        let problems = check(run, &seen);
        (!problems.is_empty() || !seen.stderr.trim().is_empty()).then(|| {
            format!(
                "fixed {} under {}: {}\n  stderr (tail): {}",
                run.fixture.display(),
                run.method,
                problems.join("; "),
                tail(&seen.stderr)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// MP303's fix (`track=False`, offered when `target-version` is py313 or newer) is proven
/// by running the fixed two-process program under the first Python 3.13+ there is.
#[test]
fn track_false_fix_runs_cleanly_on_python_3_13() {
    use mpdoctor::fix::FixMode;
    use mpdoctor::linter::{self, LintSettings};
    if !python_available() {
        skipped("runtime proof of MP303's fix: python3 is not installed");
        return;
    }
    let Some(python) = python_for(Some(13)) else {
        skipped("runtime proof of MP303's fix: no Python 3.13 or newer on PATH or in pyenv");
        return;
    };
    let fixture = root().join("fixtures/MP303/bad_subprocess_attach.py");
    let source = load(&fixture);
    let mut settings = LintSettings::default();
    settings.rule_settings.target = mpdoctor::config::PythonVersion::NEWEST;
    let fixed = linter::fix(&source, &settings, FixMode::SafeOnly);
    assert!(fixed.remaining.is_empty(), "{:?}", fixed.remaining);
    assert!(fixed.text.contains("track=False"), "{}", fixed.text);
    let work = tempfile::tempdir().unwrap();
    let copy = work.path().join("bad_subprocess_attach.py");
    std::fs::write(&copy, &fixed.text).unwrap();
    let runs = ["spawn", "forkserver"]
        .iter()
        .map(|method| Run {
            fixture: copy.clone(),
            method: method.to_string(),
            expects: vec![Expect::Exit(0), Expect::Stdout("re-attach OK".into())],
            python: python.clone(),
        })
        .collect();
    let failures = run_parallel(runs, |run| {
        let seen = execute_in(run, work.path(), false);
        let mut problems = check(run, &seen);
        if seen.stderr.contains("resource_tracker") {
            problems.push("the resource tracker still warned".into());
        }
        (!problems.is_empty()).then(|| {
            format!(
                "fixed MP303 fixture under {} with {}: {}\n  stderr (tail): {}",
                run.method,
                run.python,
                problems.join("; "),
                tail(&seen.stderr)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The parser of the expectation lines itself: a malformed line must be an error, not a
/// silently skipped check.
#[test]
fn runtime_lines_are_parsed_strictly() {
    assert!(runtime_lines("# runtime: spawn -> exit: 0").is_ok());
    assert!(runtime_lines("# runtime: spawn exit: 0").is_err());
    assert!(runtime_lines("# runtime: spwan -> exit: 0").is_err());
    assert!(runtime_lines("# runtime: spawn -> exits: 0").is_err());
}

/// Every bad fixture must prove a failure under both spawn-like methods, and every good
/// fixture must prove a clean exit under both.
#[test]
fn bad_and_good_fixtures_declare_runtime_proofs() {
    let mut problems = Vec::new();
    for fixture in fixtures() {
        let name = fixture_name(&fixture);
        let file = Path::new(&name)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(&fixture).unwrap();
        let lines = runtime_lines(&text).unwrap();
        let covers = |method: &str, pred: &dyn Fn(&Expect) -> bool| {
            lines
                .iter()
                .any(|(ms, e)| ms.iter().any(|m| m == method) && pred(e))
        };
        for method in ["spawn", "forkserver"] {
            if file.starts_with("bad_") {
                let symptom = |e: &Expect| *e != Expect::Exit(0);
                if !covers(method, &symptom) {
                    problems.push(format!(
                        "{name}: no failure symptom declared under {method}"
                    ));
                }
            } else if file.starts_with("good_") && !covers(method, &|e| *e == Expect::Exit(0)) {
                problems.push(format!("{name}: no `exit: 0` declared under {method}"));
            }
        }
        if file.starts_with("good_") && !expected_marks(&text).is_empty() {
            problems.push(format!(
                "{name}: a good fixture must have no `# error:` marks"
            ));
        }
        if file.starts_with("bad_") && expected_marks(&text).is_empty() {
            problems.push(format!("{name}: a bad fixture must mark its findings"));
        }
        if !["bad_", "good_", "cases_"]
            .iter()
            .any(|p| file.starts_with(p))
        {
            problems.push(format!(
                "{name}: fixture names start with bad_, good_ or cases_"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The exemption of `__main__.py` from MP001 rests on this: a package run with
/// `python3 -m` starts a pool at module level of its `__main__.py`, and its children do
/// not run that module again. (The target comes from another module: functions defined
/// in `__main__.py` itself cannot be found by spawned children, a different pitfall.)
#[test]
fn package_main_with_module_level_pool_works_under_spawn() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let pkg = work.path().join("pkgdemo");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("__init__.py"), "").unwrap();
    std::fs::write(
        pkg.join("__main__.py"),
        "import operator\nfrom multiprocessing import Pool\n\n\
         with Pool(2) as pool:\n    print('negated', pool.map(operator.neg, [1, 2, 3]))\n",
    )
    .unwrap();
    let script = work.path().join("run_pkgdemo.py");
    std::fs::write(
        &script,
        "import runpy\nrunpy.run_module('pkgdemo', run_name='__main__', alter_sys=True)\n",
    )
    .unwrap();
    let runs = ["spawn", "forkserver"]
        .iter()
        .map(|method| Run {
            fixture: script.clone(),
            method: method.to_string(),
            expects: vec![
                Expect::Exit(0),
                Expect::Stdout("negated [-1, -2, -3]".into()),
            ],
            python: "python3".to_string(),
        })
        .collect();
    let failures = run_parallel(runs, |run| {
        let seen = execute_in(run, work.path(), false);
        let problems = check(run, &seen);
        (!problems.is_empty()).then(|| {
            format!(
                "{}: {}\n  stderr (tail): {}",
                run.method,
                problems.join("; "),
                tail(&seen.stderr)
            )
        })
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
