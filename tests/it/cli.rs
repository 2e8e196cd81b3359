//! The binary as users and CI call it: exit codes, formats, stdin, noqa, configuration,
//! bad input, fixing.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::support::{assert_valid_sarif, root, skipped};

fn mpdoctor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(args)
        .current_dir(dir)
        .env_remove("MPDOCTOR_OUTPUT_FORMAT")
        .env_remove("CI_PROJECT_DIR")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs the binary in `dir` with `input` on its standard input.
fn with_stdin(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const UNGUARDED: &str = "from multiprocessing import Pool\n\ndef f(x):\n    return x\n\npool = Pool(2)\nprint(pool.map(f, [1]))\n";
const GUARDED: &str = "from multiprocessing import Pool\n\ndef f(x):\n    return x\n\nif __name__ == \"__main__\":\n    with Pool(2) as pool:\n        print(pool.map(f, [1]))\n";
const NEAR_MISS: &str = "if __name__ == 'main':\n    print('never')\n";

#[test]
fn exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "clean.py", GUARDED);
    write(dir.path(), "bad.py", UNGUARDED);
    let clean = mpdoctor(dir.path(), &["check", "clean.py"]);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    assert!(stdout(&clean).contains("All checks passed!"));
    let bad = mpdoctor(dir.path(), &["check", "."]);
    assert_eq!(bad.status.code(), Some(1));
    let zero = mpdoctor(dir.path(), &["check", ".", "--exit-zero"]);
    assert_eq!(zero.status.code(), Some(0));
    let missing = mpdoctor(dir.path(), &["check", "nope.py"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("path does not exist: nope.py"),
        "{}",
        stderr(&missing)
    );
    let flag = mpdoctor(dir.path(), &["check", "--frobnicate"]);
    assert_eq!(flag.status.code(), Some(2));
    let code = mpdoctor(dir.path(), &["check", "--select", "MP999", "."]);
    assert_eq!(code.status.code(), Some(2));
    assert!(
        stderr(&code).contains("unknown rule code `MP999`"),
        "{}",
        stderr(&code)
    );
}

#[test]
fn select_and_ignore() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.py", &format!("{UNGUARDED}{NEAR_MISS}"));
    let only2 = mpdoctor(
        dir.path(),
        &[
            "check",
            "--select",
            "MP002",
            "--output-format",
            "concise",
            ".",
        ],
    );
    assert!(stdout(&only2).contains("MP002") && !stdout(&only2).contains("MP001"));
    let not1 = mpdoctor(
        dir.path(),
        &[
            "check",
            "--ignore",
            "MP001",
            "--output-format",
            "concise",
            ".",
        ],
    );
    assert!(stdout(&not1).contains("MP002") && !stdout(&not1).contains("MP001"));
    let by_name = mpdoctor(
        dir.path(),
        &[
            "check",
            "--select",
            "missing-main-guard",
            "--output-format",
            "concise",
            ".",
        ],
    );
    assert!(stdout(&by_name).contains("MP001") && !stdout(&by_name).contains("MP002"));
}

/// `NEW-DEFAULT` keeps what breaks only without fork: a nested target (MP401) is kept, a
/// child's change to a global (MP405, lost under every method) is not.
#[test]
fn new_default_selects_what_leaving_fork_breaks() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.py",
        "import multiprocessing as mp\n\nRESULTS = []\n\n\ndef main():\n    def run():\n        RESULTS.append(1)\n\n    p = mp.Process(target=run)\n    p.start()\n    p.join()\n    print(RESULTS)\n\n\nif __name__ == \"__main__\":\n    main()\n",
    );
    let all = stdout(&mpdoctor(
        dir.path(),
        &["check", "--output-format", "concise", "."],
    ));
    assert!(all.contains("MP401") && all.contains("MP405"), "{all}");
    let new = stdout(&mpdoctor(
        dir.path(),
        &[
            "check",
            "--target-version",
            "py314",
            "--select",
            "new-default",
            "--output-format",
            "concise",
            ".",
        ],
    ));
    assert!(new.contains("MP401") && !new.contains("MP405"), "{new}");
}

/// Warnings are printed and do not fail the run unless `--fail-on warning` (or the same
/// key in the configuration) asks; errors always fail; the command line wins.
#[test]
fn warnings_fail_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let warning_only = r#"import multiprocessing as mp

def square(q, n):
    q.put(n * n)

if __name__ == '__main__':
    q = mp.Queue()
    p = mp.Process(target=square, args=(q, 3))
    p.start()
    while not q.empty():
        print(q.get())
    p.join()
"#;
    write(d, "warn/job.py", warning_only);
    let plain = mpdoctor(d, &["check", "--output-format", "concise", "warn"]);
    let text = stdout(&plain);
    assert!(text.contains("warn/job.py:10:15: warning: MP106"), "{text}");
    assert!(text.contains("Found 1 finding: 1 warning."), "{text}");
    assert!(
        text.contains("1 warning does not fail the run (`--fail-on warning` makes it)"),
        "{text}"
    );
    assert_eq!(plain.status.code(), Some(0), "{text}");
    let strict = mpdoctor(d, &["check", "--fail-on", "warning", "warn"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stdout(&strict));

    write(
        d,
        "warn/pyproject.toml",
        "[tool.mpdoctor]\nfail-on = \"warning\"\n",
    );
    let configured = mpdoctor(d, &["check", "warn"]);
    assert_eq!(configured.status.code(), Some(1), "{}", stdout(&configured));
    let overridden = mpdoctor(d, &["check", "--fail-on", "error", "warn"]);
    assert_eq!(overridden.status.code(), Some(0), "{}", stdout(&overridden));

    // An error fails whatever the threshold.
    write(d, "bad.py", UNGUARDED);
    let error = mpdoctor(d, &["check", "--fail-on", "error", "bad.py"]);
    assert_eq!(error.status.code(), Some(1), "{}", stdout(&error));
    let json = stdout(&mpdoctor(d, &["check", "--output-format", "json", "warn"]));
    assert!(json.contains("\"severity\": \"warning\""), "{json}");
    let bad_value = mpdoctor(d, &["check", "--fail-on", "hang", "warn"]);
    assert_eq!(bad_value.status.code(), Some(2));
}

/// Every format on the same two fixtures, from the repository root so paths are stable.
#[test]
fn output_formats() {
    let files = [
        "fixtures/MP001/bad_process.py",
        "fixtures/MP002/bad_near_miss_name.py",
    ];
    for format in [
        "full",
        "concise",
        "json",
        "json-lines",
        "sarif",
        "github",
        "junit",
        "gitlab",
    ] {
        let mut args = vec!["check", "--output-format", format];
        args.extend(files);
        let out = mpdoctor(&root(), &args);
        assert_eq!(out.status.code(), Some(1), "{format}: {}", stderr(&out));
        let text = stdout(&out);
        let again = stdout(&mpdoctor(&root(), &args));
        assert_eq!(text, again, "{format}: output differs between runs");
        match format {
            "json" | "gitlab" => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            "sarif" => assert_valid_sarif(&serde_json::from_str(&text).unwrap()),
            "json-lines" => {
                for line in text.lines() {
                    serde_json::from_str::<serde_json::Value>(line).unwrap();
                }
            }
            _ => {}
        }
        insta::with_settings!({ prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(format!("format_{format}"), text);
        });
    }
}

#[test]
fn json_locations_are_one_based_and_carry_fixes() {
    let out = mpdoctor(
        &root(),
        &[
            "check",
            "--output-format",
            "json",
            "fixtures/MP002/bad_near_miss_name.py",
        ],
    );
    let findings: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let first = &findings[0];
    assert_eq!(first["code"], "MP002");
    assert!(first["location"]["line"].as_u64().unwrap() >= 1);
    assert!(first["location"]["column"].as_u64().unwrap() >= 1);
    assert_eq!(first["fix"]["applicability"], "safe");
    assert!(
        first["fix"]["edits"][0]["content"]
            .as_str()
            .unwrap()
            .contains("__main__")
    );
}

#[test]
fn statistics() {
    let out = mpdoctor(&root(), &["check", "--statistics", "fixtures/MP002"]);
    let text = stdout(&out);
    assert!(
        text.contains("MP002") && text.contains("[*] ineffective-main-guard"),
        "{text}"
    );
}

#[test]
fn stdin_is_checked_and_fixed() {
    let run = |args: &[&str], input: &str| with_stdin(Path::new("."), args, input);
    let out = run(
        &[
            "check",
            "-",
            "--stdin-filename",
            "job.py",
            "--output-format",
            "concise",
        ],
        UNGUARDED,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).starts_with("job.py:6:8: error: MP001"),
        "{}",
        stdout(&out)
    );
    let fixed = run(&["check", "-", "--fix"], NEAR_MISS);
    assert_eq!(
        stdout(&fixed),
        "if __name__ == '__main__':\n    print('never')\n"
    );
}

#[test]
fn noqa_comments() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "line.py",
        "from multiprocessing import Pool\npool = Pool(2)  # noqa: MP001\n",
    );
    write(
        dir.path(),
        "bare.py",
        "from multiprocessing import Pool\npool = Pool(2)  # noqa\n",
    );
    write(
        dir.path(),
        "other.py",
        "from multiprocessing import Pool\npool = Pool(2)  # noqa: E501\n",
    );
    write(
        dir.path(),
        "file.py",
        "# mpdoctor: noqa\nfrom multiprocessing import Pool\npool = Pool(2)\n",
    );
    write(dir.path(), "typo.py", "x = 1  # noqa: MP999\n");
    let out = mpdoctor(dir.path(), &["check", "--output-format", "concise", "."]);
    let text = stdout(&out);
    assert!(
        !text.contains("line.py") && !text.contains("bare.py") && !text.contains("file.py"),
        "{text}"
    );
    assert!(text.contains("other.py:2:8: error: MP001"), "{text}");
    assert!(
        text.contains("typo.py:1:8: warning: invalid-noqa"),
        "{text}"
    );
}

#[test]
fn configuration_is_discovered_per_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "pyproject.toml",
        "[project]\nname = \"x\"\n\n[tool.mpdoctor]\nignore = [\"MP002\"]\nper-file-ignores = { \"legacy/*\" = [\"MP001\"] }\nextend-exclude = [\"generated\"]\n",
    );
    write(d, "app.py", &format!("{UNGUARDED}{NEAR_MISS}"));
    write(d, "legacy/old.py", UNGUARDED);
    write(d, "generated/gen.py", UNGUARDED);
    write(
        d,
        "sub/pyproject.toml",
        "[tool.mpdoctor]\nselect = [\"MP002\"]\n",
    );
    write(d, "sub/mod.py", &format!("{UNGUARDED}{NEAR_MISS}"));
    write(
        d,
        "fork_only/pyproject.toml",
        "[tool.mpdoctor]\nstart-methods = [\"fork\"]\n",
    );
    write(d, "fork_only/job.py", UNGUARDED);
    let text = stdout(&mpdoctor(d, &["check", "--output-format", "concise", "."]));
    assert!(text.contains("app.py:6:8: error: MP001"), "{text}");
    assert!(
        !text.contains("app.py:8"),
        "MP002 is ignored at the root: {text}"
    );
    assert!(!text.contains("legacy"), "per-file-ignores: {text}");
    assert!(!text.contains("generated"), "extend-exclude: {text}");
    assert!(
        text.contains("sub/mod.py:8:16: error: MP002") && !text.contains("sub/mod.py:6"),
        "nearest config wins: {text}"
    );
    assert!(!text.contains("fork_only"), "only fork configured: {text}");
    // Named explicitly, an excluded file is checked; the CLI overrides the configuration.
    let explicit = stdout(&mpdoctor(
        d,
        &["check", "--output-format", "concise", "generated/gen.py"],
    ));
    assert!(
        explicit.contains("generated/gen.py:6:8: error: MP001"),
        "{explicit}"
    );
    let cli = stdout(&mpdoctor(
        d,
        &[
            "check",
            "--output-format",
            "concise",
            "--select",
            "MP",
            "app.py",
        ],
    ));
    assert!(cli.contains("MP002"), "{cli}");
}

#[test]
fn configuration_errors_point_at_the_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.py", GUARDED);
    write(
        d,
        "pyproject.toml",
        "[tool.mpdoctor]\nselect = [\"MP001\"]\nignroe = [\"MP002\"]\n",
    );
    let out = mpdoctor(d, &["check", "."]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("pyproject.toml:3:1") && err.contains("ignroe"),
        "{err}"
    );
    write(
        d,
        "pyproject.toml",
        "[tool.mpdoctor]\nselect = [\"MP01X\"]\n",
    );
    let err = stderr(&mpdoctor(d, &["check", "."]));
    assert!(
        err.contains("pyproject.toml:2:") && err.contains("`select`") && err.contains("MP01X"),
        "{err}"
    );
    write(
        d,
        "pyproject.toml",
        "[tool.mpdoctor]\ntarget-version = \"py27\"\n",
    );
    let err = stderr(&mpdoctor(d, &["check", "."]));
    assert!(
        err.contains("`target-version`") && err.contains("py27"),
        "{err}"
    );
    write(d, "pyproject.toml", "[tool.mpdoctor\n");
    assert_eq!(mpdoctor(d, &["check", "."]).status.code(), Some(2));
    let explicit = mpdoctor(d, &["check", "--config", "missing.toml", "."]);
    assert_eq!(explicit.status.code(), Some(2));
}

#[test]
fn bad_input_is_reported_and_the_rest_still_checked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let latin1: &[u8] = b"# -*- coding: latin-1 -*-\nname = '\xe9'\nif __name__ == 'main': pass\n";
    write(d, "py2.py", &format!("print 'starting'\n{UNGUARDED}"));
    std::fs::write(d.join("latin1.py"), latin1).unwrap();
    std::fs::write(d.join("binary.py"), b"x = '\xff\xfe'\n").unwrap();
    write(d, "good.py", UNGUARDED);
    std::os::unix::fs::symlink(d.join("nowhere.py"), d.join("dangling.py")).unwrap();
    std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
    let out = mpdoctor(d, &["check", "--output-format", "concise", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("py2.py:1:7: error: syntax-error"), "{text}");
    assert!(
        text.contains("py2.py:7:8: error: MP001"),
        "analysis goes on after a syntax error: {text}"
    );
    assert!(
        text.contains("latin1.py:3:16: error: MP002"),
        "a declared encoding is decoded: {text}"
    );
    assert!(
        text.contains("binary.py:1:1: error: io-error file is not valid UTF-8"),
        "{text}"
    );
    assert!(text.contains("good.py:6:8: error: MP001"), "{text}");
    let dangling = stdout(&mpdoctor(
        d,
        &["check", "--output-format", "concise", "dangling.py"],
    ));
    assert!(
        dangling.contains("dangling.py:1:1: error: io-error cannot read file"),
        "{dangling}"
    );
    // A file in another encoding is never rewritten, and says so.
    let fix = mpdoctor(d, &["check", "--fix", "latin1.py"]);
    assert!(
        stdout(&fix).contains("not fixed: the file is encoded in"),
        "{}",
        stdout(&fix)
    );
    assert_eq!(std::fs::read(d.join("latin1.py")).unwrap(), latin1);
}

#[test]
fn huge_and_deeply_nested_files_do_not_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let deep = format!("x = {}1{}\n", "[".repeat(20_000), "]".repeat(20_000));
    write(d, "deep.py", &deep);
    let calls = format!("x = {}0{}\n", "f(".repeat(5_000), ")".repeat(5_000));
    write(d, "calls.py", &calls);
    let mut huge = String::from("from multiprocessing import Pool\n");
    for i in 0..50_000 {
        huge.push_str(&format!("def f{i}(x):\n    return x + {i}\n"));
    }
    write(d, "huge.py", &huge);
    let out = mpdoctor(d, &["check", "--output-format", "concise", "."]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// Valid code nested deeper than the analysis follows (a 400-term sum, 300 nested lists,
/// which only CPython refuses) is said to be left out, as a warning; the rest of the file
/// is still checked.
#[test]
fn code_nested_too_deep_to_analyse_is_reported_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sum = vec!["a"; 400].join(" + ");
    write(
        d,
        "chain.py",
        &format!(
            "import multiprocessing\nx = {sum}\np = multiprocessing.Process(target=print)\np.start()\n"
        ),
    );
    let lists = format!("{}1{}", "[".repeat(300), "]".repeat(300));
    write(
        d,
        "lists.py",
        &format!("import multiprocessing\nx = {lists}\n"),
    );
    write(
        d,
        "shallow.py",
        &format!(
            "import multiprocessing\nx = {}\n",
            vec!["a"; 150].join(" + ")
        ),
    );
    let out = mpdoctor(d, &["check", "--output-format", "concise", "."]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for expected in [
        "chain.py:2:5: warning: too-deep code nested more than 200 levels deep was not analysed",
        "chain.py:4:1: error: MP001",
        "lists.py:2:205: warning: too-deep",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    assert!(!text.contains("shallow.py"), "{text}");
    // A warning alone does not fail the run.
    let out = mpdoctor(d, &["check", "lists.py"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Whatever the bytes, a file gives findings or a clear error, and the others are still
/// checked: NUL bytes, a byte-order mark with CRLF, lone CRs, tabs mixed with spaces, an
/// empty file, a name that is not UTF-8, a million nested brackets, 1,500 nested blocks,
/// 50 MB, thousands of small files, a FIFO named on the command line, and (when not
/// root) a folder that cannot be read.
/// Files that disappear while a run reads them: each is reported once, checked or as an
/// io-error, and nothing panics. Where the deletions land depends on timing; the
/// assertions hold wherever they do.
#[test]
fn files_deleted_during_the_run_are_errors_or_findings() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let starts = "import multiprocessing\np = multiprocessing.Process(target=print)\np.start()\n";
    let count = 3_000;
    for i in 0..count {
        let text = if i % 2 == 0 {
            starts
        } else {
            "import helper\nx = 1\n"
        };
        std::fs::write(d.join(format!("f{i:04}.py")), text).unwrap();
    }
    write(d, "helper.py", "def f():\n    return 1\n");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "--output-format", "concise", "."])
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // From the last file back, while the run goes forwards.
    for i in (0..count).rev().step_by(3) {
        let _ = std::fs::remove_file(d.join(format!("f{i:04}.py")));
    }
    let out = child.wait_with_output().unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(!err.contains("panicked"), "{err}");
    assert!(matches!(out.status.code(), Some(0 | 1)), "{err}");
    let mut seen = std::collections::HashSet::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("./f") || l.starts_with("f"))
    {
        let (file, rest) = line.split_once(':').unwrap();
        assert!(
            rest.contains("error: MP001") || rest.contains("io-error"),
            "{line}"
        );
        assert!(seen.insert(file.to_string()), "reported twice: {line}");
    }
}

#[test]
fn hostile_inputs_give_findings_or_errors() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let start = "p = multiprocessing.Process(target=print)";
    let files: [(&[u8], Vec<u8>); 6] = [
        (b"nul.py", b"import multiprocessing\nx = 1\x00\n".to_vec()),
        (
            b"bom_crlf.py",
            format!("\u{feff}import multiprocessing\r\n\r\n{start}\r\np.start()\r\n").into(),
        ),
        (
            b"lone_cr.py",
            format!("import multiprocessing\r{start}\rp.start()\r").into(),
        ),
        (
            b"tabs.py",
            format!(
                "import multiprocessing\nif True:\n\tx = 1\n        y = 2\n{start}\np.start()\n"
            )
            .into(),
        ),
        (b"empty.py", Vec::new()),
        (
            b"name_\xff.py",
            format!("import multiprocessing\n{start}\np.start()\n").into(),
        ),
    ];
    for (name, text) in &files {
        std::fs::write(d.join(std::ffi::OsStr::from_bytes(name)), text).unwrap();
    }
    let nesting = 1_000_000;
    let deep = format!(
        "import multiprocessing\nx = {}1{}\n",
        "(".repeat(nesting),
        ")".repeat(nesting)
    );
    write(d, "deep.py", &deep);
    let blocks: String = (0..1500)
        .map(|n| format!("{}if x:\n", " ".repeat(n)))
        .collect();
    write(
        d,
        "blocks.py",
        &format!("import multiprocessing\n{blocks}{}pass\n", " ".repeat(1500)),
    );
    // 50 MB, most of it one string, then a process started at import.
    let lines = 655_360;
    let big = format!(
        "import multiprocessing\nDATA = \"\"\"{}\"\"\"\n{start}\np.start()\n",
        format!("{}\n", "x".repeat(79)).repeat(lines)
    );
    write(d, "big.py", &big);
    let many = d.join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..3_000 {
        std::fs::write(many.join(format!("m{i}.py")), format!("x = {i}\n")).unwrap();
    }
    let out = mpdoctor(d, &["check", "--statistics", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("3009 files read"), "{}", stdout(&out));
    let out = mpdoctor(d, &["check", "--output-format", "concise", "."]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let text = stdout(&out);
    let last = lines + 4;
    for expected in [
        "nul.py:2:6: error: syntax-error".to_string(),
        "bom_crlf.py:4:1: error: MP001".into(),
        "lone_cr.py:3:1: error: MP001".into(),
        "tabs.py:4:1: error: syntax-error".into(),
        "tabs.py:6:1: error: MP001".into(),
        ".py:3:1: error: MP001".into(),
        "deep.py:2:1005: error: syntax-error syntax error: too many nested parentheses".into(),
        format!("big.py:{last}:1: error: MP001"),
        "blocks.py:1003:1002: error: syntax-error syntax error: too many levels of indentation"
            .into(),
    ] {
        assert!(text.contains(&expected), "{expected}: {text}");
    }
    assert!(!text.contains('\0'), "a NUL reached the output: {text}");
    assert!(text.contains("\\x00"), "{text}");
    assert!(!text.contains("empty.py"), "{text}");
    // A FIFO named on the command line would wait for a writer forever if it were read.
    let fifo = d.join("fifo.py");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "--output-format", "concise"])
        .arg(&fifo)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("io-error cannot read file: not a regular file"),
        "{}",
        stdout(&out)
    );
    // Nor is one that a checked file imports as a module of the project.
    let proj = d.join("proj");
    std::fs::create_dir(&proj).unwrap();
    let c_path = std::ffi::CString::new(proj.join("helper.py").as_os_str().as_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    write(
        &proj,
        "main.py",
        "import multiprocessing\nfrom helper import f\nf()\n",
    );
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "main.py"])
        .current_dir(&proj)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    if !rustix::process::geteuid().is_root() {
        let locked = d.join("locked");
        std::fs::create_dir(&locked).unwrap();
        write(&locked, "a.py", "import multiprocessing\n");
        let mode = |m| std::os::unix::fs::PermissionsExt::from_mode(m);
        std::fs::set_permissions(&locked, mode(0o000)).unwrap();
        let out = mpdoctor(d, &["check", "--output-format", "concise", "."]);
        std::fs::set_permissions(&locked, mode(0o755)).unwrap();
        assert!(stdout(&out).contains("locked"), "{}", stdout(&out));
    }
}

#[test]
fn fix_and_diff() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "guard.py", NEAR_MISS);
    write(d, "pool.py", UNGUARDED);
    // --diff shows and writes nothing.
    let diff = mpdoctor(d, &["check", "--diff", "--unsafe-fixes", "."]);
    assert_eq!(diff.status.code(), Some(1));
    let text = stdout(&diff);
    assert!(
        text.contains("-if __name__ == 'main':") && text.contains("+if __name__ == '__main__':"),
        "{text}"
    );
    assert!(
        text.contains("+if __name__ == \"__main__\":\n+    pool = Pool(2)"),
        "{text}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("guard.py")).unwrap(),
        NEAR_MISS
    );
    // --fix applies only the safe fix.
    let fixed = mpdoctor(d, &["check", "--fix", "."]);
    assert_eq!(
        fixed.status.code(),
        Some(1),
        "MP001 remains: its fix is unsafe"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("guard.py")).unwrap(),
        "if __name__ == '__main__':\n    print('never')\n"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("pool.py")).unwrap(),
        UNGUARDED
    );
    // --unsafe-fixes moves the pool under a guard, and the result is clean.
    let unsafe_fixed = mpdoctor(d, &["check", "--fix", "--unsafe-fixes", "."]);
    assert_eq!(
        unsafe_fixed.status.code(),
        Some(0),
        "{}",
        stdout(&unsafe_fixed)
    );
    let pool = std::fs::read_to_string(d.join("pool.py")).unwrap();
    assert!(
        pool.ends_with(
            "if __name__ == \"__main__\":\n    pool = Pool(2)\n    print(pool.map(f, [1]))\n"
        ),
        "{pool}"
    );
    // A clean file is not rewritten.
    let before = std::fs::metadata(d.join("pool.py"))
        .unwrap()
        .modified()
        .unwrap();
    mpdoctor(d, &["check", "--fix", "--unsafe-fixes", "."]);
    assert_eq!(
        std::fs::metadata(d.join("pool.py"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
}

#[test]
fn closed_stdout_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("from multiprocessing import Pool\n");
    for _ in 0..5_000 {
        text.push_str("pool = Pool(2)\n");
    }
    write(dir.path(), "many.py", &text);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "."])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The reader is gone now.
    let out = child.wait_with_output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{:?}", out.status);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn rule_documentation() {
    let out = mpdoctor(&root(), &["rule", "MP001"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    for heading in [
        "## What it does",
        "## Why is this bad?",
        "## Example",
        "## Use instead",
        "## Fix safety",
        "## References",
    ] {
        assert!(text.contains(heading), "missing {heading}");
    }
    let json: serde_json::Value = serde_json::from_str(&stdout(&mpdoctor(
        &root(),
        &["rule", "missing-main-guard", "--output-format", "json"],
    )))
    .unwrap();
    assert_eq!(json["code"], "MP001");
    let all = stdout(&mpdoctor(&root(), &["rules"]));
    assert!(all.contains("MP001") && all.contains("MP002"));
    assert_eq!(mpdoctor(&root(), &["rule", "MP999"]).status.code(), Some(2));
    assert!(stdout(&mpdoctor(&root(), &["--version"])).starts_with("mpdoctor "));
}

#[test]
fn discovery_skips_stubs_default_excludes_and_gitignored_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "app.py", UNGUARDED);
    write(d, "gui.pyw", UNGUARDED);
    write(d, "types.pyi", UNGUARDED);
    write(d, ".venv/lib/x.py", UNGUARDED);
    write(d, "build/gen.py", UNGUARDED);
    write(d, "node_modules/pkg/y.py", UNGUARDED);
    write(d, ".gitignore", "ignored_dir/\n");
    write(d, "ignored_dir/z.py", UNGUARDED);
    write(d, "notes.txt", UNGUARDED);
    let text = stdout(&mpdoctor(d, &["check", "--output-format", "concise", "."]));
    let files: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(": MP001"))
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(files, ["app.py", "gui.pyw"], "{text}");
    let quiet = stdout(&mpdoctor(d, &["check", "--quiet", "app.py"]));
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    assert!(quiet.starts_with("app.py:6:8: error: MP001"), "{quiet}");
}

#[test]
fn package_main_and_main_module_names_are_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // spawn never re-runs a package's __main__.py in its children.
    write(d, "pkg/__init__.py", "");
    write(d, "pkg/__main__.py", UNGUARDED);
    // In main.py, `__name__ == "main"` asks whether the file was imported as `main`.
    write(
        d,
        "main.py",
        "if __name__ == 'main':\n    print('imported as main')\n",
    );
    write(d, "other.py", NEAR_MISS);
    let text = stdout(&mpdoctor(d, &["check", "--output-format", "concise", "."]));
    assert!(
        !text.contains("__main__.py") && !text.contains("main.py:"),
        "{text}"
    );
    assert!(text.contains("other.py:1:16: error: MP002"), "{text}");
}

/// Regressions from the first review: fixes that once produced wrong code.
#[test]
fn unsafe_fix_edge_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pool_tail = "def sq(x):\n    return x * x\n\n";
    // Line endings and the byte-order mark survive.
    std::fs::write(
        d.join("crlf.py"),
        "from multiprocessing import Pool\r\n\r\npool = Pool(2)\r\nprint(pool.map(abs, [1]))\r\n",
    )
    .unwrap();
    std::fs::write(
        d.join("bom.py"),
        "\u{feff}if __name__ == 'main':\n    print('x')\n",
    )
    .unwrap();
    // A multi-line f-string keeps its value: its closing line is not re-indented.
    write(
        d,
        "fstring.py",
        &format!(
            "from multiprocessing import Pool\n{pool_tail}pool = Pool(2)\nreport = f\"\"\"squares: {{pool.map(sq, [1, 2])}}\n\"\"\"\nprint(report)\n"
        ),
    );
    // Imports and definitions nested in the tail are needed by children: no fix.
    let nested = "import sys\nfrom multiprocessing import Pool\n\npool = Pool(2)\nif sys.version_info >= (3,):\n    import math as m\n";
    write(d, "nested.py", nested);
    // A suppressed finding does not pull its statement under the guard.
    write(
        d,
        "noqa.py",
        "from multiprocessing import Pool, Process\nwarm = Pool(1)  # noqa: MP001\nProcess(target=abs).start()\n",
    );
    let out = mpdoctor(d, &["check", "--fix", "--unsafe-fixes", "."]);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    let crlf = std::fs::read_to_string(d.join("crlf.py")).unwrap();
    assert_eq!(
        crlf,
        "from multiprocessing import Pool\r\n\r\nif __name__ == \"__main__\":\r\n    pool = Pool(2)\r\n    print(pool.map(abs, [1]))\r\n"
    );
    let bom = std::fs::read(d.join("bom.py")).unwrap();
    assert!(
        bom.starts_with(b"\xef\xbb\xbfif __name__ == '__main__':"),
        "{bom:?}"
    );
    let fstring = std::fs::read_to_string(d.join("fstring.py")).unwrap();
    assert!(
        fstring.contains("    report = f\"\"\"squares: {pool.map(sq, [1, 2])}\n\"\"\"\n"),
        "{fstring}"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("nested.py")).unwrap(),
        nested
    );
    let noqa = std::fs::read_to_string(d.join("noqa.py")).unwrap();
    assert!(
        noqa.contains("\nwarm = Pool(1)  # noqa: MP001\nif __name__"),
        "{noqa}"
    );
}

/// Machine formats are valid for their consumers, not just stable: SARIF has the
/// fields 2.1.0 requires, JUnit is well-formed XML even for hostile file names.
#[test]
fn machine_formats_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "odd \u{fffe} name.py", UNGUARDED);
    write(d, "a&b<c>.py", NEAR_MISS);
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&mpdoctor(
        d,
        &["check", "--output-format", "sarif", "."],
    )))
    .unwrap();
    assert_valid_sarif(&sarif);
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "mpdoctor");
    for result in run["results"].as_array().unwrap() {
        assert!(result["ruleId"].is_string() && result["message"]["text"].is_string());
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(!uri.contains(' ') && !uri.starts_with('/'), "{uri}");
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    // Outside the working directory: an absolute URI, without a base.
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "x.py", UNGUARDED);
    let far = outside.path().join("x.py");
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&mpdoctor(
        d,
        &["check", "--output-format", "sarif", far.to_str().unwrap()],
    )))
    .unwrap();
    assert_valid_sarif(&sarif);
    let artifact =
        &sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"];
    assert!(
        artifact["uri"].as_str().unwrap().starts_with("file:///"),
        "{artifact}"
    );
    assert!(artifact.get("uriBaseId").is_none(), "{artifact}");
    let junit = mpdoctor(d, &["check", "--output-format", "junit", "."]);
    let xml = d.join("report.xml");
    std::fs::write(&xml, &junit.stdout).unwrap();
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])",
        ])
        .arg(&xml)
        .output();
    match parsed {
        Ok(o) => assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr)),
        Err(_) => skipped("the XML parse: python3 is not installed"),
    }
    let github = stdout(&mpdoctor(d, &["check", "--output-format", "github", "."]));
    for line in github.lines() {
        assert!(
            line.starts_with("::error ") || line.starts_with("::warning "),
            "{line}"
        );
        let (properties, _) = line
            .split_once("::")
            .map(|(_, rest)| rest.split_once("::").unwrap())
            .unwrap();
        assert!(
            properties.contains("file=a&b<c>.py") || properties.contains("odd"),
            "{line}"
        );
    }
}

/// The schema check itself can fail: a log that breaks the schema in a way GitHub code
/// scanning rejects (a result without a message, a made-up level) is refused.
#[test]
fn the_sarif_schema_check_rejects_broken_logs() {
    let out = mpdoctor(
        &root(),
        &[
            "check",
            "--output-format",
            "sarif",
            "fixtures/MP001/bad_pool.py",
        ],
    );
    let good: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_valid_sarif(&good);
    let mut without_message = good.clone();
    without_message["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    let mut bad_level = good.clone();
    bad_level["runs"][0]["results"][0]["level"] = "fatal".into();
    for broken in [without_message, bad_level] {
        let refused = std::panic::catch_unwind(|| assert_valid_sarif(&broken));
        assert!(refused.is_err(), "accepted {broken}");
    }
}

/// What GitLab needs of a code quality report: the five fields, severities from its list,
/// a fingerprint unique in the report, and paths relative to the project's root (which
/// GitLab runners export as `CI_PROJECT_DIR`), also when mpdoctor runs in a folder below.
#[test]
fn gitlab_reports_are_what_gitlab_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "pkg/odd name.py", UNGUARDED);
    write(d, "pkg/copy.py", &format!("{UNGUARDED}{UNGUARDED}"));
    write(d, "near.py", NEAR_MISS);
    let out = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(["check", "--output-format", "gitlab", ".", "../near.py"])
        .current_dir(d.join("pkg"))
        .env("CI_PROJECT_DIR", d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let issues: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let issues = issues.as_array().unwrap();
    let mut fingerprints = BTreeSet::new();
    let mut paths = BTreeSet::new();
    for issue in issues {
        for field in ["description", "check_name", "fingerprint", "severity"] {
            assert!(
                issue[field].as_str().is_some_and(|s| !s.is_empty()),
                "{issue}"
            );
        }
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&issue["severity"].as_str().unwrap()),
            "{issue}"
        );
        assert!(fingerprints.insert(issue["fingerprint"].as_str().unwrap().to_string()));
        let location = &issue["location"];
        paths.insert(location["path"].as_str().unwrap().to_string());
        assert!(location["positions"]["begin"]["line"].as_u64().unwrap() >= 1);
    }
    // The repeated program gives two findings on equal lines: still two fingerprints.
    assert!(issues.len() >= 4, "{issues:?}");
    assert_eq!(
        paths,
        BTreeSet::from(["near.py", "pkg/copy.py", "pkg/odd name.py"].map(String::from))
    );
}

/// `--force-exclude` applies the configured, command-line and default excludes to files
/// named on the command line, as pre-commit names every staged file.
#[test]
fn force_exclude_skips_excluded_files_named_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "pyproject.toml",
        "[tool.mpdoctor]\nextend-exclude = [\"legacy\"]\n",
    );
    for name in ["legacy/old.py", "build/gen.py", "vendored/v.py", "app.py"] {
        write(d, name, UNGUARDED);
    }
    let files = ["legacy/old.py", "build/gen.py", "vendored/v.py", "app.py"];
    let named = |extra: &[&str]| {
        let mut args = vec!["check", "--output-format", "concise", "--quiet"];
        args.extend(extra);
        args.extend(files);
        let out = mpdoctor(d, &args);
        let mut checked: Vec<String> = stdout(&out)
            .lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect();
        checked.dedup();
        checked
    };
    let mut all = files.map(String::from).to_vec();
    all.sort();
    assert_eq!(named(&[]), all);
    assert_eq!(
        named(&["--force-exclude", "--extend-exclude", "vendored"]),
        vec!["app.py".to_string()]
    );
    // `..` is resolved before matching: `build/../app.py` is `app.py`.
    let out = mpdoctor(d, &["check", "--force-exclude", "build/../app.py"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Excluded folders named on the command line are skipped too.
    let out = mpdoctor(d, &["check", "--force-exclude", "build", "legacy"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // Folders above the working directory do not count: a project that lives under a
    // folder named `build` is still checked.
    let nested = d.join("build/project");
    write(&nested, "main.py", UNGUARDED);
    let out = mpdoctor(&nested, &["check", "--force-exclude", "main.py"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // Standard input under an excluded name: nothing reported, and `--fix` hands the
    // text back unchanged.
    for fix in [false, true] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mpdoctor"));
        cmd.args([
            "check",
            "--force-exclude",
            "--stdin-filename",
            "legacy/old.py",
        ])
        .args(fix.then_some("--fix"))
        .arg("-")
        .current_dir(d)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(UNGUARDED.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
        if fix {
            assert_eq!(stdout(&out), UNGUARDED);
        } else {
            assert!(!stdout(&out).contains("MP001"), "{}", stdout(&out));
        }
    }
}

/// The fingerprints code scanning and GitLab follow findings by do not depend on how the
/// path was spelled or where mpdoctor ran.
#[test]
fn fingerprints_do_not_depend_on_the_spelling_of_paths() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "sub/a.py", UNGUARDED);
    let absolute = d.join("sub/a.py");
    let spellings: [(&Path, &str); 4] = [
        (d, "sub/a.py"),
        (d, "./sub/../sub/a.py"),
        (d, absolute.to_str().unwrap()),
        (&d.join("sub"), "a.py"),
    ];
    let mut sarif = BTreeSet::new();
    let mut gitlab = BTreeSet::new();
    for (cwd, path) in spellings {
        let out = mpdoctor(cwd, &["check", "--output-format", "sarif", path]);
        let log: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let result = &log["runs"][0]["results"][0];
        if cwd == d {
            sarif.insert(result["partialFingerprints"].to_string());
        }
        let out = Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
            .args(["check", "--output-format", "gitlab", path])
            .current_dir(cwd)
            .env("CI_PROJECT_DIR", d)
            .output()
            .unwrap();
        let issues: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        gitlab.insert((
            issues[0]["fingerprint"].to_string(),
            issues[0]["location"]["path"].to_string(),
        ));
    }
    assert_eq!(sarif.len(), 1, "{sarif:?}");
    assert_eq!(gitlab.len(), 1, "{gitlab:?}");
}

/// A closed pipe ends the run quietly but keeps the exit code of what was found.
#[test]
fn closed_pipe_keeps_the_exit_code() {
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "set -o pipefail; {} check fixtures/MP001 | head -c 10 >/dev/null",
                env!("CARGO_BIN_EXE_mpdoctor")
            ),
        ])
        .current_dir(root())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// MP001 follows imports into the other modules of the project: from a script, from a
/// test beside a `src/` layout, from standard input named with `--stdin-filename`, when
/// only the importing file is named (as pre-commit does), and through an import cycle.
#[test]
fn project_imports_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    write(p, "proj/pyproject.toml", "[project]\nname = \"app\"\n");
    write(p, "proj/src/app/__init__.py", "from .work import run_all\n");
    write(
        p,
        "proj/src/app/work.py",
        "from multiprocessing import Pool\n\ndef run_all(items):\n    with Pool(2) as pool:\n        return pool.map(abs, items)\n",
    );
    write(
        p,
        "proj/src/app/boot.py",
        "import multiprocessing\n\nPOOL = multiprocessing.Pool(2)\n",
    );
    write(
        p,
        "proj/src/app/a.py",
        "from . import b\n\ndef go():\n    return b.back()\n",
    );
    write(
        p,
        "proj/src/app/b.py",
        "from . import a\n\ndef back():\n    return a.go()\n",
    );
    write(
        p,
        "proj/tests/test_boot.py",
        "from app import boot\n\ndef test_pool():\n    assert boot.POOL\n",
    );
    let script = "from app import run_all\nfrom app.a import go\n\ngo()\nprint(run_all([1, -2]))\n";
    write(p, "proj/scripts/run.py", script);
    let lines = |out: &Output| -> Vec<String> {
        stdout(out)
            .lines()
            .filter(|l| l.contains(": error: "))
            .map(|l| l.split(" this fails").next().unwrap().to_string())
            .collect()
    };
    let out = mpdoctor(p, &["check", "proj", "--output-format", "concise"]);
    assert_eq!(
        lines(&out),
        [
            "proj/scripts/run.py:5:7: error: MP001 `run_all(...)` runs at import time and starts a pool of worker processes (`proj/src/app/work.py` line 4);",
            "proj/src/app/boot.py:3:8: error: MP001 `multiprocessing.Pool(...)` starts a pool of worker processes at import time;",
            "proj/tests/test_boot.py:1:17: error: MP001 importing `app.boot` starts a pool of worker processes (`proj/src/app/boot.py` line 3);",
        ],
        "{}",
        stdout(&out)
    );
    let alone = mpdoctor(
        p,
        &["check", "proj/scripts/run.py", "--output-format", "concise"],
    );
    assert_eq!(lines(&alone), lines(&out)[..1]);

    let piped = |args: &[&str]| with_stdin(p, args, script);
    let named = piped(&[
        "check",
        "-",
        "--stdin-filename",
        "proj/scripts/run.py",
        "--output-format",
        "concise",
    ]);
    assert_eq!(lines(&named), lines(&out)[..1]);
    // Without a name there is no place to resolve imports from: no guess.
    let unnamed = piped(&["check", "-", "--output-format", "concise"]);
    assert!(lines(&unnamed).is_empty(), "{}", stdout(&unnamed));
}
