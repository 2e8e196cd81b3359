//! `mpdoctor run`: real Python programs from `fixtures/run/` under the watchdog.
//!
//! Each run is its own process group, killed when the test ends however it ends, and
//! every segment a test makes or expects is removed by a guard: a failing test leaves
//! nothing running and nothing in `/dev/shm`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{assert_valid_sarif, python_available, root, skipped};

/// Stops a run when dropped: SIGTERM to mpdoctor, which stops its whole tree (the
/// command has a process group of its own), then SIGKILL to what is left of the group.
struct Group(Option<Child>);

fn stop(child: &mut Child) {
    let pid = child.id() as i32;
    // SAFETY: kill(2) on the mpdoctor this test started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let until = Instant::now() + Duration::from_secs(15);
    while Instant::now() < until && child.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill(2) on the group this test created.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let _ = child.wait();
}

impl Group {
    fn wait(mut self, limit: Duration) -> Output {
        let child = self.0.take().unwrap();
        let pid = child.id() as i32;
        let until = Instant::now() + limit;
        let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
        while !waiter.is_finished() {
            if Instant::now() > until {
                // SAFETY: kill(2) on the mpdoctor this test started, then its group.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                std::thread::sleep(Duration::from_secs(10));
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                panic!("mpdoctor run did not finish within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = waiter.join().unwrap();
        // Whatever the run left in its group goes too (it should have left nothing).
        // SAFETY: as above.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
        out
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            stop(child);
        }
    }
}

/// Removes shared-memory names when dropped.
struct Segments(Vec<PathBuf>);

impl Drop for Segments {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn start(args: &[&str], report: &Path) -> Group {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    // multiprocessing's `pymp-*` folders (the forkserver's socket) of a run that is
    // stopped are left behind; they go with the report's temporary folder.
    if let Some(dir) = report.parent() {
        cmd.env("TMPDIR", dir);
    }
    cmd.arg("run")
        .arg("--output-format")
        .arg("json")
        .arg("--output")
        .arg(report)
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    // A shell without job control starts background jobs with SIGINT ignored (POSIX), and
    // mpdoctor keeps what its caller ignores: the signal tests start from the defaults,
    // whatever the test harness inherited.
    // SAFETY: only signal(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::signal(signal, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    Group(Some(cmd.spawn().unwrap()))
}

struct Ran {
    out: Output,
    report: Value,
}

impl Ran {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    fn ids(&self) -> Vec<String> {
        self.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn finding(&self, id: &str) -> &Value {
        self.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no `{id}` finding in {:#}", self.report))
    }

    /// No process the run ever had is alive (or a zombie) now.
    fn assert_nothing_left(&self) {
        for p in self.report["processes"].as_array().unwrap() {
            let pid = p["pid"].as_i64().unwrap();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // A reused pid belongs to another command line.
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let same = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            assert!(
                stat.is_empty() || !same.trim().eq(p["cmdline"].as_str().unwrap().trim()),
                "process {pid} of the run is still there: {stat}"
            );
        }
    }
}

fn run(args: &[&str], limit: Duration) -> Ran {
    let dir = tempfile::tempdir().unwrap();
    let report_path = dir.path().join("report.json");
    let out = start(args, &report_path).wait(limit);
    let text = std::fs::read_to_string(&report_path).unwrap_or_else(|e| {
        panic!(
            "no report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let report = serde_json::from_str(&text).unwrap();
    Ran { out, report }
}

const LIMIT: Duration = Duration::from_secs(30);

/// Waits (up to 20 s) until a program of the run has created `path`.
fn wait_for(path: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while !path.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads the report a run wrote with `--output`.
fn report_at(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_segment_left_by_a_killed_tracker_is_a_leak_of_the_run() {
    if !python_available() {
        return;
    }
    let ran = run(
        &["--", "python3", "fixtures/run/leak_killed_tracker.py"],
        LIMIT,
    );
    let name = ran
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("segment: ").map(str::to_string))
        .unwrap_or_else(|| panic!("no segment name: {}", ran.stderr()));
    let path = PathBuf::from("/dev/shm").join(&name);
    let _cleanup = Segments(vec![path.clone()]);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stderr());
    assert!(path.exists(), "the fixture no longer leaks");
    assert_eq!(ran.ids(), vec!["leaked-shared-memory"], "{:#}", ran.report);
    let left = &ran.report["left_behind"][0];
    assert_eq!(left["path"], path.display().to_string());
    assert_eq!(left["size"], 1024 * 1024);
    assert_eq!(left["origin"], "python-shared-memory");
    // The run registered it with its resource tracker. (Whether the watchdog also saw it
    // held depends on timing: the program lives for milliseconds.)
    assert_eq!(left["tracked"], true, "{left}");
    ran.assert_nothing_left();
}

#[test]
fn a_segment_seen_held_by_the_run_is_its_own_without_any_python_hook() {
    if !python_available() {
        return;
    }
    // `python3 -I` ignores PYTHONPATH: no injected sitecustomize, no registration marks.
    // The program holds the segment until told to go, so the watchdog sees it held.
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let go = dir.path().join("go");
    let report_path = dir.path().join("report.json");
    let program = "import os, signal, sys, time\n\
                   from multiprocessing import resource_tracker\n\
                   from multiprocessing.shared_memory import SharedMemory\n\
                   shm = SharedMemory(create=True, size=8192)\n\
                   print(f'segment: {shm.name.lstrip(\"/\")}', flush=True)\n\
                   open(sys.argv[1], 'w').close()\n\
                   end = time.time() + 20\n\
                   while not os.path.exists(sys.argv[2]) and time.time() < end:\n    \
                   time.sleep(0.01)\n\
                   pid = resource_tracker._resource_tracker._pid\n\
                   os.kill(pid, signal.SIGKILL)\n\
                   os.waitpid(pid, 0)\n\
                   shm.close()\n";
    let group = start(
        &[
            "--",
            "python3",
            "-I",
            "-c",
            program,
            ready.to_str().unwrap(),
            go.to_str().unwrap(),
        ],
        &report_path,
    );
    wait_for(&ready);
    // The watchdog looks ten times a second, and at once when the segment appears; a
    // second leaves room for a loaded machine.
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&go, "").unwrap();
    let out = group.wait(LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let name = stdout
        .lines()
        .find_map(|l| l.strip_prefix("segment: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    let path = PathBuf::from("/dev/shm").join(name);
    let _cleanup = Segments(vec![path.clone()]);
    let report = report_at(&report_path);
    let left = &report["left_behind"][0];
    assert_eq!(left["path"], path.display().to_string(), "{report:#}");
    assert_eq!(left["tracked"], false);
    let main = report["processes"][0]["pid"].clone();
    assert!(
        left["held_by"].as_array().unwrap().contains(&main),
        "{left}"
    );
}

#[test]
fn a_queue_nobody_reads_is_a_hang_at_exit_and_the_tree_is_stopped() {
    if !python_available() {
        return;
    }
    for method in ["fork", "spawn", "forkserver"] {
        let started = Instant::now();
        let ran = run(
            &[
                "--hang-timeout",
                "1",
                "--start-method",
                method,
                "--",
                "python3",
                "fixtures/run/hang_undrained_queue.py",
            ],
            LIMIT,
        );
        assert!(ran.stdout().contains("main body finished"), "{method}");
        assert_eq!(
            ran.out.status.code(),
            Some(124),
            "{method}: {}",
            ran.stderr()
        );
        let hang = ran.finding("exit-hang");
        assert_eq!(hang["rule"], "MP102", "{method}: {hang}");
        let message = hang["message"].as_str().unwrap();
        assert!(message.contains("feeder thread"), "{method}: {message}");
        assert!(message.contains("its child"), "{method}: {message}");
        assert!(ran.report["stopped"]["kind"] == "exit-hang");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{method}: stopping took {:?}",
            started.elapsed()
        );
        ran.assert_nothing_left();
    }
}

/// A pool whose worker died hangs; the report names that worker (seen by its parent as
/// it ended), never one that mpdoctor stopped afterwards or a replacement.
#[test]
fn a_pool_hang_names_the_worker_that_really_died() {
    if !python_available() {
        return;
    }
    // (program, start method, what stops the run): sys.exit() and os._exit(1) in a task.
    let cases = [
        ("fixtures/MP504/bad_task_exits.py", "spawn", "--timeout"),
        (
            "fixtures/MP504/bad_task_exits.py",
            "forkserver",
            "--hang-timeout",
        ),
        (
            "fixtures/run/pool_worker_exits.py",
            "fork",
            "--hang-timeout",
        ),
        (
            "fixtures/run/pool_worker_exits.py",
            "spawn",
            "--hang-timeout",
        ),
    ];
    std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|&(path, method, limit)| {
                s.spawn(move || {
                    let ran = run(
                        &[limit, "3", "--start-method", method, "--", "python3", path],
                        LIMIT,
                    );
                    let what = format!("{path} under {method}");
                    assert_eq!(ran.out.status.code(), Some(124), "{what}: {}", ran.stderr());
                    let kind = if limit == "--timeout" {
                        "timeout"
                    } else {
                        "deadlock"
                    };
                    let hang = ran.finding(kind);
                    assert_eq!(hang["rule"], "MP504", "{what}: {hang:#}");
                    // One worker died; the workers mpdoctor stopped are not deaths.
                    let exits = ran.report["child_exits"].as_array().unwrap();
                    assert_eq!(exits.len(), 1, "{what}: {exits:#?}");
                    let dead = exits[0]["pid"].as_i64().unwrap();
                    assert!(exits[0]["name"].as_str().unwrap().contains("PoolWorker"));
                    let stopped: Vec<i64> = ran.report["stuck"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s["pid"].as_i64().unwrap())
                        .collect();
                    assert!(!stopped.contains(&dead), "{what}: {stopped:?}");
                    let message = hang["message"].as_str().unwrap();
                    assert!(
                        message.contains(&format!("pool worker {dead} (")),
                        "{what}: {message}"
                    );
                    let died = ran.finding("pool-worker-died");
                    assert_eq!(died["rule"], "MP504", "{what}");
                    assert!(died["title"].as_str().unwrap().contains(&dead.to_string()));
                    ran.assert_nothing_left();
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap();
        }
    });
}

#[test]
fn pool_work_lost_without_a_word_names_mp501_and_mp505() {
    if !python_available() {
        return;
    }
    let run_fixture = |fixture: &str, extra: &[&str]| {
        let mut args = vec!["--start-method", "spawn"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "python3", fixture]);
        run(&args, LIMIT)
    };
    let dropped = run_fixture("fixtures/MP501/bad_fire_and_forget.py", &[]);
    let finding = dropped.finding("pool-work-dropped");
    assert_eq!(finding["rule"], "MP501", "{finding}");
    assert!(
        finding["title"]
            .as_str()
            .unwrap()
            .contains("bad_fire_and_forget.py:16"),
        "{finding}"
    );
    let hung = run_fixture(
        "fixtures/MP501/bad_read_after_block.py",
        &["--timeout", "4"],
    );
    assert_eq!(hung.finding("timeout")["rule"], "MP501", "{}", hung.report);
    hung.assert_nothing_left();
    let vanished = run_fixture("fixtures/MP505/bad_failure_vanishes.py", &[]);
    let finding = vanished.finding("pool-failures-unread");
    assert_eq!(finding["rule"], "MP505", "{finding}");
    assert!(
        finding["message"].as_str().unwrap().contains("ValueError"),
        "{finding}"
    );
    for good in [
        "fixtures/MP501/good_close_join.py",
        "fixtures/MP501/good_read_inside.py",
        "fixtures/MP505/good_error_callback.py",
    ] {
        let ran = run_fixture(good, &[]);
        assert!(ran.ids().is_empty(), "{good}: {:?}", ran.ids());
    }
}

#[test]
fn the_errno2_tracker_warning_is_explained() {
    if !python_available() {
        return;
    }
    let args = [
        "--start-method",
        "spawn",
        "--",
        "python3",
        "fixtures/run/tracker_errno2.py",
    ];
    let ran = run(&args, LIMIT);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stderr());
    // The tracker's lines still reach the user.
    assert!(ran.stderr().contains("[Errno 2] No such file or directory"));
    assert_eq!(
        ran.ids(),
        vec!["tracker-missing-segment"],
        "{:#}",
        ran.report
    );
    let f = ran.finding("tracker-missing-segment");
    assert!(f["title"].as_str().unwrap().contains("/psm_"));
    assert!(f["fix"].as_str().unwrap().contains("track=False"));
    assert_eq!(f["rule"], "MP303", "{f:#}");
    // The injected hook saw the child attach: the detail names the line.
    assert!(
        f["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("attached at")),
        "{f:#}"
    );
    assert_eq!(f["category"], "warning");
    // --fail-on turns the warning into a failure; the command itself succeeded.
    let failing: Vec<&str> = ["--fail-on", "warning"].into_iter().chain(args).collect();
    assert_eq!(run(&failing, LIMIT).out.status.code(), Some(3));
    let other: Vec<&str> = ["--fail-on", "leak,hang"].into_iter().chain(args).collect();
    assert_eq!(run(&other, LIMIT).out.status.code(), Some(0));
}

#[test]
fn a_clean_program_reports_nothing() {
    if !python_available() {
        return;
    }
    for method in ["fork", "spawn", "forkserver"] {
        let ran = run(
            &[
                "--fail-on",
                "all",
                "--hang-timeout",
                "5",
                "--start-method",
                method,
                "--",
                "python3",
                "fixtures/run/clean.py",
            ],
            LIMIT,
        );
        assert_eq!(ran.out.status.code(), Some(0), "{method}: {}", ran.stderr());
        assert!(ran.ids().is_empty(), "{method}: {:#}", ran.report);
        assert!(
            ran.stdout().contains(&format!("clean: {method}:")),
            "{method}"
        );
        assert!(ran.report["left_behind"].as_array().unwrap().is_empty());
        ran.assert_nothing_left();
    }
}

#[test]
fn a_missing_main_guard_fails_only_under_spawn_and_names_mp001() {
    if !python_available() {
        return;
    }
    let script = ["--", "python3", "fixtures/run/needs_guard.py"];
    let fork: Vec<&str> = ["--start-method", "fork"]
        .into_iter()
        .chain(script)
        .collect();
    let ran = run(&fork, LIMIT);
    assert_eq!(ran.out.status.code(), Some(0), "{}", ran.stderr());
    assert!(ran.ids().is_empty(), "{:#}", ran.report);

    let spawn: Vec<&str> = ["--start-method", "spawn", "--fail-on", "error"]
        .into_iter()
        .chain(script)
        .collect();
    let ran = run(&spawn, LIMIT);
    assert!(ran.stdout().contains("start method spawn, child exit 1"));
    assert_eq!(ran.out.status.code(), Some(3), "{}", ran.stderr());
    let f = ran.finding("bootstrapping-error");
    assert_eq!(f["rule"], "MP001");
    assert_eq!(ran.report["start_method"], "spawn");
    // The static rule agrees.
    let check = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args([
            "check",
            "--output-format",
            "concise",
            "fixtures/run/needs_guard.py",
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&check.stdout).contains("MP001"));
}

#[test]
fn another_process_leaking_during_the_run_is_not_blamed() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let go = dir.path().join("go");
    let outside = PathBuf::from(format!(
        "/dev/shm/mpdoctor-test-outside-{}",
        std::process::id()
    ));
    let _cleanup = Segments(vec![outside.clone()]);
    let program = "import os, sys, time\n\
                   open(sys.argv[1], 'w').close()\n\
                   end = time.time() + 20\n\
                   while not os.path.exists(sys.argv[2]) and time.time() < end:\n    \
                   time.sleep(0.01)\n";
    let report_path = dir.path().join("report.json");
    let group = start(
        &[
            "--",
            "python3",
            "-c",
            program,
            ready.to_str().unwrap(),
            go.to_str().unwrap(),
        ],
        &report_path,
    );
    wait_for(&ready);
    // This test process is not part of the run: what it leaves is someone else's.
    std::fs::write(&outside, vec![1u8; 4096]).unwrap();
    std::fs::write(&go, "").unwrap();
    let out = group.wait(LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let report = report_at(&report_path);
    assert!(
        report["findings"].as_array().unwrap().is_empty(),
        "{report:#}"
    );
    let unattributed: Vec<&str> = report["unattributed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["path"].as_str().unwrap())
        .collect();
    assert!(
        unattributed.contains(&outside.to_str().unwrap()),
        "{report:#}"
    );
}

#[test]
fn an_interrupt_reaches_the_command_and_the_report_is_still_written() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let report_path = dir.path().join("report.json");
    let program = "import sys, time\n\
                   open(sys.argv[1], 'w').close()\n\
                   try:\n    time.sleep(60)\n\
                   except KeyboardInterrupt:\n    print('got interrupt', flush=True)\n    \
                   sys.exit(7)\n";
    let group = start(
        &["--", "python3", "-c", program, ready.to_str().unwrap()],
        &report_path,
    );
    let pid = group.0.as_ref().unwrap().id() as i32;
    wait_for(&ready);
    // SAFETY: kill(2) of the mpdoctor this test started; not its group.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let out = group.wait(LIMIT);
    assert!(String::from_utf8_lossy(&out.stdout).contains("got interrupt"));
    assert_eq!(out.status.code(), Some(7), "the command's own code");
    let report = report_at(&report_path);
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["exit_code"], 7);
}

#[test]
fn processes_that_outlive_the_command_are_reported_and_stopped() {
    let ran = run(
        &[
            "--hang-timeout",
            "1",
            "--",
            "sh",
            "-c",
            "sleep 60 & echo started",
        ],
        LIMIT,
    );
    assert_eq!(ran.out.status.code(), Some(124), "{}", ran.stderr());
    let f = ran.finding("outlived-command");
    assert!(
        f["details"][0].as_str().unwrap().contains("sleep 60"),
        "{f}"
    );
    ran.assert_nothing_left();
}

#[test]
fn an_existing_sitecustomize_still_runs() {
    if !python_available() {
        return;
    }
    let user = tempfile::tempdir().unwrap();
    std::fs::write(
        user.path().join("sitecustomize.py"),
        "import sys\nsys.stdout.write('user sitecustomize ran\\n')\n",
    )
    .unwrap();
    let report_path = user.path().join("report.json");
    let program = "import multiprocessing as mp; print('method', mp.get_start_method())";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    cmd.args(["run", "--json", "--output"])
        .arg(&report_path)
        .args([
            "--start-method",
            "forkserver",
            "--",
            "python3",
            "-c",
            program,
        ])
        .env("PYTHONPATH", user.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let out = Group(Some(cmd.spawn().unwrap())).wait(LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("user sitecustomize ran"), "{stdout}");
    assert!(stdout.contains("method forkserver"), "{stdout}");
}

#[test]
fn a_start_method_that_reaches_no_python_is_said() {
    if !python_available() {
        return;
    }
    let ran = run(
        &[
            "--start-method",
            "spawn",
            "--",
            "python3",
            "-I",
            "-c",
            "pass",
        ],
        LIMIT,
    );
    assert_eq!(ran.ids(), vec!["hooks-not-loaded"]);
    assert_eq!(ran.out.status.code(), Some(0));
    // Hang detection at exit needs the hooks too: said as well.
    let ran = run(
        &["--hang-timeout", "5", "--", "python3", "-I", "-c", "pass"],
        LIMIT,
    );
    assert_eq!(ran.ids(), vec!["hooks-not-loaded"]);
    // Not for a command without Python.
    let ran = run(&["--hang-timeout", "5", "--", "true"], LIMIT);
    assert!(ran.ids().is_empty());
}

#[test]
fn ci_formats_and_startup_errors() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    cmd.args(["run", "--output-format", "sarif", "--output"])
        .arg(&report)
        .args(["--hang-timeout", "0.5", "--", "sh", "-c", "sleep 30 & true"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    Group(Some(cmd.spawn().unwrap())).wait(LIMIT);
    let sarif: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_valid_sarif(&sarif);
    let result = &sarif["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "outlived-command");
    // GitHub code scanning needs a location on every result.
    assert_eq!(
        result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "sh"
    );
    assert_eq!(result["level"], "error");
    assert_eq!(
        sarif["runs"][0]["tool"]["driver"]["rules"][0]["id"],
        "outlived-command"
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    cmd.args([
        "run",
        "--output-format",
        "github",
        "--hang-timeout",
        "0.5",
        "--",
    ])
    .args(["sh", "-c", "sleep 30 & true"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    let out = Group(Some(cmd.spawn().unwrap())).wait(LIMIT);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("::error title=mpdoctor run (outlived-command)::"),
        "{text}"
    );

    // JSON goes where the user sends it: standard error by default, so the command's
    // standard output stays its own; `--output -` is standard output.
    let json = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["run", "--json", "--", "echo", "hello"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&json.stdout), "hello\n");
    let report: Value = serde_json::from_slice(&json.stderr).unwrap();
    assert_eq!(report["exit_code"], 0);
    let json = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["run", "--json", "--output", "-", "--", "true"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["command"][0], "true");

    let missing = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["run", "--", "mpdoctor-no-such-command"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot run"));
}

#[test]
fn a_hang_report_has_python_stacks_when_py_spy_is_installed() {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("py-spy").is_file()));
    if !python_available() || !on_path {
        assert!(
            std::env::var_os("MPDOCTOR_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "py-spy is not on PATH (bash .ci/run installs it)"
        );
        skipped("needs python3 and py-spy (.ci/run installs py-spy)");
        return;
    }
    let ran = run(
        &[
            "--hang-timeout",
            "1",
            "--start-method",
            "fork",
            "--",
            "python3",
            "fixtures/run/hang_undrained_queue.py",
        ],
        LIMIT,
    );
    let stacks: Vec<&str> = ran.report["stuck"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["python_stack"].as_str())
        .collect();
    // The parent joins the child at exit; the child joins its queue's feeder thread.
    assert!(
        stacks.iter().any(|s| s.contains("_exit_function")),
        "{stacks:?}"
    );
    assert!(
        stacks.iter().any(|s| s.contains("_finalize_join")),
        "{stacks:?}"
    );
    ran.assert_nothing_left();
}

/// A program that counts the SIGINTs it gets for a second after saying it is ready.
const COUNT_INTERRUPTS: &str = "import signal, sys, time\n\
    n = 0\n\
    def on_int(*_):\n    global n\n    n += 1\n\
    signal.signal(signal.SIGINT, on_int)\n\
    open(sys.argv[1], 'w').close()\n\
    end = time.time() + 1.5\n\
    while time.time() < end:\n    time.sleep(0.01)\n\
    print(f'interrupts {n}', flush=True)\n";

#[test]
fn a_signal_to_the_whole_group_reaches_the_command_once() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let group = start(
        &[
            "--",
            "python3",
            "-c",
            COUNT_INTERRUPTS,
            ready.to_str().unwrap(),
        ],
        &dir.path().join("report.json"),
    );
    let pid = group.0.as_ref().unwrap().id() as i32;
    wait_for(&ready);
    // As `timeout -s INT` or a CI runner does: to mpdoctor's whole process group.
    // SAFETY: kill(2) on the group this test created.
    unsafe { libc::kill(-pid, libc::SIGINT) };
    let out = group.wait(LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("interrupts 1"), "{stdout}");
}

#[test]
fn an_ignored_signal_stays_ignored() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let program = "import sys, time\n\
                   open(sys.argv[1], 'w').close()\n\
                   time.sleep(1)\n\
                   print('survived', flush=True)\n";
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    cmd.args([
        "run",
        "--",
        "python3",
        "-c",
        program,
        ready.to_str().unwrap(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .process_group(0);
    // As `nohup` does.
    // SAFETY: only signal(2) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let group = Group(Some(cmd.spawn().unwrap()));
    let pid = group.0.as_ref().unwrap().id() as i32;
    wait_for(&ready);
    // SAFETY: kill(2) on the mpdoctor this test started.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let out = group.wait(LIMIT);
    assert!(String::from_utf8_lossy(&out.stdout).contains("survived"));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_report_that_cannot_be_written_stops_before_the_command_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let out = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args([
            "run",
            "--json",
            "--output",
            "/nonexistent/dir/report.json",
            "--",
        ])
        .args(["touch", marker.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(!marker.exists());
}

/// The tracker's shared-memory messages (and a pool joined while open) lead to the
/// rules, and the injected hook names the line that created a leaked segment.
#[test]
fn shared_memory_warnings_name_their_rule_and_line() {
    if !python_available() {
        return;
    }
    let cases = [
        (
            "fixtures/MP301/bad_never_unlinked.py",
            "tracker-leaked-shared-memory",
            "MP301",
            Some("bad_never_unlinked.py:21"),
        ),
        (
            "fixtures/MP304/bad_unregister_in_child.py",
            "tracker-unregistered-twice",
            "MP304",
            None,
        ),
        (
            "fixtures/MP305/bad_buffer_escapes.py",
            "shared-memory-closed-with-views",
            "MP305",
            None,
        ),
        (
            "fixtures/MP503/bad_join_open_pool.py",
            "pool-joined-while-running",
            "MP503",
            None,
        ),
    ];
    for (program, id, rule, line) in cases {
        let ran = run(
            &["--start-method", "spawn", "--", "python3", program],
            LIMIT,
        );
        let f = ran.finding(id);
        assert_eq!(f["rule"], rule, "{program}: {f:#}");
        if let Some(line) = line {
            assert!(
                f["details"].as_array().unwrap().iter().any(|d| {
                    let d = d.as_str().unwrap();
                    d.contains(line) && d.contains("never unlinked")
                }),
                "{program}: {f:#}"
            );
        }
    }
}

/// Every child death is a finding with its cause and the rule that prevents it, each
/// program run under a start method where it fails; the program that fails only without
/// fork is clean under fork.
#[test]
fn child_deaths_name_their_cause_and_rule() {
    if !python_available() {
        return;
    }
    let cases = [
        (
            "child_name_error.py",
            "spawn",
            "child-name-error",
            Some("MP404"),
        ),
        (
            "child_bad_arguments.py",
            "fork",
            "child-arguments-mismatch",
            Some("MP403"),
        ),
        (
            "child_lock_sent.py",
            "forkserver",
            "sync-object-pickled",
            Some("MP103"),
        ),
        // MP104's own program: its lock is freed before the spawned child opens it.
        (
            "../MP104/bad_function_returns.py",
            "spawn",
            "child-semaphore-gone",
            Some("MP104"),
        ),
        (
            "child_daemon_children.py",
            "forkserver",
            "child-daemon-children",
            Some("MP506"),
        ),
        ("child_raises.py", "fork", "child-died", None),
        ("child_killed.py", "forkserver", "child-killed", None),
        ("child_name_error.py", "fork", "", None),
    ];
    std::thread::scope(|s| {
        let runs: Vec<_> = cases
            .iter()
            .map(|&(file, method, id, rule)| {
                s.spawn(move || {
                    let path = format!("fixtures/run/{file}");
                    let ran = run(&["--start-method", method, "--", "python3", &path], LIMIT);
                    if id.is_empty() {
                        assert!(
                            ran.ids().is_empty(),
                            "{file} under {method}: {:#}",
                            ran.report
                        );
                        return;
                    }
                    let f = ran.finding(id);
                    assert_eq!(f["rule"].as_str(), rule, "{file} under {method}");
                    ran.assert_nothing_left();
                    if file == "child_raises.py" {
                        // Two children raised the same error: one finding, both pids.
                        assert!(
                            f["title"]
                                .as_str()
                                .unwrap()
                                .starts_with("2 child processes")
                        );
                        assert_eq!(ran.finding("child-exit-code")["severity"], "warning");
                    }
                })
            })
            .collect();
        for r in runs {
            r.join().unwrap();
        }
    });
}

/// Stopped from outside while deadlocked, the run says it was interrupted and what it saw,
/// and exits non-zero.
#[test]
fn an_interrupted_deadlock_is_reported_as_interrupted() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("held");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
    cmd.env("TMPDIR", dir.path())
        .args(["run", "--"])
        .args(["python3", "fixtures/run/deadlock_two_locks.py"])
        .arg(&mark)
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let group = Group(Some(cmd.spawn().unwrap()));
    let pid = group.0.as_ref().unwrap().id() as i32;
    wait_for(&dir.path().join("held.1"));
    wait_for(&dir.path().join("held.2"));
    std::thread::sleep(Duration::from_millis(800));
    // SAFETY: kill(2) of the mpdoctor this test started; not its group.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let out = group.wait(LIMIT);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("  interrupted"), "{stderr}");
    // Killed processes may leave semaphores for the tracker to report: then those are
    // the findings, marked as partial.
    assert!(
        stderr.contains("Interrupted: no leaks, hangs or multiprocessing warnings until then")
            || stderr.contains("(interrupted: only what was seen before the run was stopped)"),
        "{stderr}"
    );
    assert!(!stderr.contains("No leaks, hangs"), "{stderr}");
}

/// Two processes that take two locks in opposite order are a deadlock as soon as the
/// whole tree has waited `--hang-timeout` without CPU time, long before `--timeout`;
/// processes that sleep while others wait for them are not.
#[test]
fn a_deadlock_in_the_program_body_is_found_while_it_runs() {
    if !python_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("held");
    let ran = run(
        &[
            "--start-method",
            "spawn",
            "--hang-timeout",
            "1",
            "--timeout",
            "60",
            "--",
            "python3",
            "fixtures/run/deadlock_two_locks.py",
            mark.to_str().unwrap(),
        ],
        LIMIT,
    );
    assert_eq!(
        ran.report["stopped"]["kind"], "deadlock",
        "{:#}",
        ran.report
    );
    let f = ran.finding("deadlock");
    assert!(
        f["why"]
            .as_str()
            .unwrap()
            .starts_with("No process of the run could go on"),
        "{f:#}"
    );
    ran.assert_nothing_left();

    let calm = run(
        &[
            "--start-method",
            "spawn",
            "--hang-timeout",
            "1",
            "--",
            "python3",
            "fixtures/run/sleeps_while_waiting.py",
        ],
        LIMIT,
    );
    assert!(calm.ids().is_empty(), "{:#}", calm.report);
    assert!(calm.stdout().contains("ok"));
}
