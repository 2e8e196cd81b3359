//! `mpdoctor completions` and `mpdoctor manpages`: generated from the clap definition,
//! and loaded by the real shells and by groff.

use std::process::Command;

use crate::{output, text, tool};

fn completions(shell: &str) -> String {
    let out = output(Command::new(env!("CARGO_BIN_EXE_mpdoctor")).args(["completions", shell]));
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Bash completes subcommands and the values of `--output-format` through the function
/// the script registers.
#[test]
fn bash_completes_subcommands_and_values() {
    let Some(bash) = tool("bash") else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mpdoctor.bash");
    std::fs::write(&script, completions("bash")).unwrap();
    let complete = |words: &[&str]| {
        let line = words.join(" ");
        let program = format!(
            r#"source "$1"
f=$(complete -p mpdoctor | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
"$f" mpdoctor "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
            words = words
                .iter()
                .map(|w| format!("'{w}'"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let out = output(
            Command::new(&bash)
                .args(["--norc", "-c", &program, "bash"])
                .arg(&script),
        );
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    let subcommands = complete(&["mpdoctor", "ch"]);
    assert_eq!(subcommands.trim(), "check", "{subcommands}");
    let formats = complete(&["mpdoctor", "check", "--output-format", ""]);
    for format in ["full", "sarif", "github", "gitlab", "junit"] {
        assert!(formats.lines().any(|l| l == format), "{format}: {formats}");
    }
    let shells = complete(&["mpdoctor", "completions", ""]);
    assert!(shells.lines().any(|l| l == "fish"), "{shells}");
}

/// Fish completes from the script it loads (`complete -C` asks it what it would offer).
#[test]
fn fish_completes_subcommands_and_values() {
    let Some(fish) = tool("fish") else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("mpdoctor.fish");
    std::fs::write(&script, completions("fish")).unwrap();
    let program = r#"source $argv[1]
complete -C 'mpdoctor ch'
echo ---
complete -C 'mpdoctor check --output-format '"#;
    let out = output(
        Command::new(&fish)
            .args(["--no-config", "-c", program])
            .arg(&script)
            .env("HOME", dir.path()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (subcommands, formats) = stdout.split_once("---\n").unwrap();
    assert!(subcommands.starts_with("check"), "{stdout}");
    assert!(formats.lines().any(|l| l.starts_with("gitlab")), "{stdout}");
}

/// Zsh offers completions only inside its line editor, so this checks what loading the
/// script does: it parses, registers `_mpdoctor` for `mpdoctor` with compinit, and the
/// function offers the subcommands and the output formats.
#[test]
fn zsh_registers_the_completion_function() {
    let Some(zsh) = tool("zsh") else { return };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("_mpdoctor");
    std::fs::write(&script, completions("zsh")).unwrap();
    let out = output(Command::new(&zsh).arg("-n").arg(&script));
    assert!(out.status.success(), "{}", text(&out));
    let program = r#"autoload -Uz compinit && compinit -u -d "$2/zcompdump"
source "$1"
print -r -- "registered: ${_comps[mpdoctor]}"
functions _mpdoctor"#;
    let out = output(
        Command::new(&zsh)
            .args(["-f", "-c", program, "zsh"])
            .arg(&script)
            .arg(dir.path())
            .env("HOME", dir.path()),
    );
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("registered: _mpdoctor\n"), "{}", text(&out));
    for offered in ["check", "completions", "gitlab", "sarif", "--force-exclude"] {
        assert!(stdout.contains(offered), "{offered}: {}", text(&out));
    }
}

#[test]
fn completions_for_an_unknown_shell_are_a_usage_error() {
    let out = output(Command::new(env!("CARGO_BIN_EXE_mpdoctor")).args(["completions", "tcsh"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// One page per command, each rendered by groff without a warning, carrying the
/// options and exit codes `--help` shows.
#[test]
fn man_pages_render_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man/man1");
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
            .arg("manpages")
            .arg(&pages),
    );
    assert!(out.status.success(), "{}", text(&out));
    let mut names: Vec<String> = std::fs::read_dir(&pages)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "mpdoctor-check.1",
            "mpdoctor-completions.1",
            "mpdoctor-help.1",
            "mpdoctor-manpages.1",
            "mpdoctor-rule.1",
            "mpdoctor-rules.1",
            "mpdoctor-run.1",
            "mpdoctor-shm.1",
            "mpdoctor.1"
        ]
    );
    let check = std::fs::read_to_string(pages.join("mpdoctor-check.1")).unwrap();
    assert!(
        check.contains("output\\-format") && check.contains("Exit codes"),
        "{check}"
    );
    // The main page lists every other page, and each page it lists exists.
    let main = std::fs::read_to_string(pages.join("mpdoctor.1")).unwrap();
    let mut listed: Vec<String> = main
        .lines()
        .filter_map(|l| l.strip_suffix("(1)"))
        .filter(|l| l.starts_with("mpdoctor\\-"))
        .map(|l| format!("{}.1", l.replace("\\-", "-")))
        .collect();
    listed.push("mpdoctor.1".to_string());
    listed.sort();
    assert_eq!(listed, names);
    // Not a folder: an error, and nothing written.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
            .arg("manpages")
            .arg(&file),
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not a directory"),
        "{}",
        text(&out)
    );
    let Some(groff) = tool("groff") else { return };
    for name in &names {
        let out = output(
            Command::new(&groff)
                .args(["-man", "-Tutf8", "-ww", "-z"])
                .arg(pages.join(name)),
        );
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{name}: {}",
            text(&out)
        );
    }
}
