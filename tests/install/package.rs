//! The Python package and the pre-commit hook, built and installed as users do.

use std::process::Command;
use std::sync::Mutex;

use crate::{GUARDED, UNGUARDED, output, root, text, tool, write};

/// Both tests build in release mode into one target folder, so the second reuses the
/// dependencies the first compiled; one at a time, so neither takes the other's binary.
static RELEASE_BUILD: Mutex<()> = Mutex::new(());

fn build_dir() -> std::path::PathBuf {
    root().join("target/packaging")
}

/// `maturin build` makes a wheel; installed into a fresh venv it puts a working
/// `mpdoctor` on that venv's PATH, for `check` and for `shm`.
#[test]
fn the_wheel_installs_a_working_mpdoctor() {
    let Some(maturin) = tool("maturin") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    let built = {
        let _one = RELEASE_BUILD.lock().unwrap_or_else(|e| e.into_inner());
        output(
            Command::new(&maturin)
                .args(["build", "--release", "--locked", "--out"])
                .arg(&dist)
                .current_dir(root())
                .env("CARGO_TARGET_DIR", build_dir()),
        )
    };
    assert!(built.status.success(), "{}", text(&built));
    let wheels: Vec<_> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    let name = wheels[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        name.starts_with(&format!("mpdoctor-{version}-py3-none-")),
        "{name}"
    );

    let venv = dir.path().join("venv");
    let made = output(Command::new("python3").args(["-m", "venv"]).arg(&venv));
    assert!(made.status.success(), "{}", text(&made));
    let installed = output(
        Command::new(venv.join("bin/python"))
            .args([
                "-m",
                "pip",
                "install",
                "--no-index",
                "--disable-pip-version-check",
            ])
            .arg(&wheels[0]),
    );
    assert!(installed.status.success(), "{}", text(&installed));

    // As a user of the venv runs it: by name, from its PATH.
    let path = std::env::join_paths(std::iter::once(venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let work = dir.path().join("work");
    write(&work, "bad.py", UNGUARDED);
    write(&work, "good.py", GUARDED);
    let mpdoctor = |args: &[&str]| {
        output(
            Command::new("mpdoctor")
                .args(args)
                .current_dir(&work)
                .env("PATH", &path)
                .env("NO_COLOR", "1"),
        )
    };
    let shown = mpdoctor(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        format!("mpdoctor {version}"),
        "{}",
        text(&shown)
    );
    let bad = mpdoctor(&["check", "--output-format", "concise", "bad.py"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        String::from_utf8_lossy(&bad.stdout).contains("bad.py:8:8: error: MP001"),
        "{}",
        text(&bad)
    );
    let good = mpdoctor(&["check", "good.py"]);
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));

    // The probe, on a folder standing in for /dev/shm: one segment nobody holds, made
    // by Python's naming scheme, too young to call leaked.
    let shm = dir.path().join("shm");
    write(&shm, "psm_0123abcd", "x");
    let probe = mpdoctor(&["shm", "--json", "--dir", shm.to_str().unwrap()]);
    assert_eq!(probe.status.code(), Some(0), "{}", text(&probe));
    let report: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    assert!(
        report.to_string().contains("psm_0123abcd"),
        "{}",
        text(&probe)
    );
}

/// The `mpdoctor-check` hook as pre-commit runs it: pre-commit installs this repository
/// (`pip install .`, through maturin) and fails on the bad file, passes on the good one.
/// `try-repo` takes the working tree as it is, with uncommitted changes to tracked files.
#[test]
fn the_pre_commit_hook_fails_bad_files_and_passes_good_ones() {
    let Some(pre_commit) = tool("pre-commit") else {
        return;
    };
    let Some(git) = tool("git") else { return };
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("project");
    write(&repo, "bad.py", UNGUARDED);
    write(&repo, "good.py", GUARDED);
    write(&repo, "legacy/old.py", UNGUARDED);
    write(
        &repo,
        "pyproject.toml",
        "[tool.mpdoctor]\nextend-exclude = [\"legacy\"]\n",
    );
    let git_in = |args: &[&str]| {
        let out = output(Command::new(&git).args(args).current_dir(&repo));
        assert!(out.status.success(), "git {args:?}: {}", text(&out));
    };
    git_in(&["init", "-q"]);
    git_in(&["add", "."]);
    git_in(&[
        "-c",
        "user.name=mpdoctor tests",
        "-c",
        "user.email=tests@mpdoctor.invalid",
        "commit",
        "-qm",
        "scratch",
    ]);

    let home = dir.path().join("pre-commit-home");
    let run_hook = |files: &[&str]| {
        let mut cmd = Command::new(&pre_commit);
        cmd.arg("try-repo")
            .arg(root())
            .args(["mpdoctor-check", "--verbose", "--files"])
            .args(files)
            .current_dir(&repo)
            .env("PRE_COMMIT_HOME", &home)
            .env("CARGO_TARGET_DIR", build_dir())
            .env("NO_COLOR", "1")
            .env_remove("PRE_COMMIT_COLOR");
        output(&mut cmd)
    };
    let (bad, good, excluded) = {
        let _one = RELEASE_BUILD.lock().unwrap_or_else(|e| e.into_inner());
        // The first run installs the hook's environment: the release build.
        (
            run_hook(&["bad.py"]),
            run_hook(&["good.py"]),
            run_hook(&["legacy/old.py", "good.py"]),
        )
    };
    let said = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(said(&bad).contains("mpdoctor check"), "{}", text(&bad));
    assert!(said(&bad).contains("Failed"), "{}", text(&bad));
    assert!(said(&bad).contains("MP001"), "{}", text(&bad));
    assert_eq!(good.status.code(), Some(0), "{}", text(&good));
    assert!(said(&good).contains("Passed"), "{}", text(&good));
    // The configured exclude holds for files pre-commit names (`--force-exclude`).
    assert_eq!(excluded.status.code(), Some(0), "{}", text(&excluded));
    assert!(
        said(&excluded).contains("Passed") && !said(&excluded).contains("MP001"),
        "{}",
        text(&excluded)
    );
}
