//! mpdoctor as users install and wire it: the wheel, the pre-commit hook, shell
//! completions, man pages, and `# noqa` comments that ruff must accept.
//!
//! A separate test binary, so cargo runs it after the main suite: the wheel and hook
//! tests compile mpdoctor in release mode, and that load must not slow the runtime proofs
//! that run under timeouts.
//!
//! The Python tools (maturin, pre-commit, ruff) come from PATH or from the venv that
//! `.ci/run` makes (`target/ci-bin`). Without them a test says SKIPPED and passes, except
//! under `.ci/run`, which sets `MPDOCTOR_REQUIRE_TOOLS=1` so that nothing is skipped.

mod package;
mod recipes;
mod ruff;
mod shells;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The command `name`, or `None` (after saying so) when it is missing and tools are not
/// required.
pub fn tool(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    let found = on_path.or_else(|| {
        let ci = root().join("target/ci-bin").join(name);
        ci.is_file().then_some(ci)
    });
    if found.is_none() {
        assert!(
            std::env::var_os("MPDOCTOR_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
            "`{name}` is not installed (bash .ci/run installs it)"
        );
        skipped(&format!("needs `{name}` (bash .ci/run installs it)"));
    }
    found
}

/// Says that a test skipped, on the real standard error: libtest swallows `eprintln!` of
/// tests that pass, and a skip must be seen.
pub fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// Runs `cmd`, with its output kept for the failure message.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A program that starts a pool at import time: MP001 under spawn and forkserver.
pub const UNGUARDED: &str = "from multiprocessing import Pool\n\n\ndef f(x):\n    return x\n\n\npool = Pool(2)\nprint(pool.map(f, [1]))\n";

/// The same program, guarded.
pub const GUARDED: &str = "from multiprocessing import Pool\n\n\ndef f(x):\n    return x\n\n\nif __name__ == \"__main__\":\n    with Pool(2) as pool:\n        print(pool.map(f, [1]))\n";
