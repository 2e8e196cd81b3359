//! `# noqa: MP001` next to ruff. Ruff reports codes it does not know (RUF102
//! `invalid-rule-code`, whose fix deletes them) unless `lint.external` names them.

use std::process::Command;

use crate::{UNGUARDED, output, text, tool, write};

#[test]
fn ruff_accepts_our_noqa_codes_when_they_are_external() {
    let Some(ruff) = tool("ruff") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Our code, and ruff's and ours on one comment.
    let program = UNGUARDED
        .replace("pool = Pool(2)", "pool = Pool(2)  # noqa: MP001")
        .replace(
            "from multiprocessing import Pool",
            "import os  # noqa: F401, MP001\nfrom multiprocessing import Pool",
        );
    write(d, "app.py", &program);
    let ruff_check = |config: &str| {
        write(d, "pyproject.toml", config);
        output(
            Command::new(&ruff)
                .args([
                    "check",
                    "--no-cache",
                    "--output-format",
                    "concise",
                    "app.py",
                ])
                .current_dir(d),
        )
    };
    let strict = "[tool.ruff.lint]\nextend-select = [\"F\", \"RUF100\", \"RUF102\"]\n";

    // Without `external`, ruff objects to the codes: the check below can fail.
    let unknown = ruff_check(strict);
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(
        String::from_utf8_lossy(&unknown.stdout).contains("MP001"),
        "{}",
        text(&unknown)
    );

    let external = ruff_check(&format!("{strict}external = [\"MP\"]\n"));
    assert_eq!(external.status.code(), Some(0), "{}", text(&external));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&external.stdout),
        String::from_utf8_lossy(&external.stderr)
    );
    assert!(
        !said.contains("MP001") && !said.contains("warning"),
        "{said}"
    );

    // And mpdoctor honours the same comment.
    let ours = output(
        Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
            .args(["check", "app.py"])
            .current_dir(d),
    );
    assert_eq!(ours.status.code(), Some(0), "{}", text(&ours));
    // Without the comment, mpdoctor reports the line: the comment is what kept it quiet.
    write(d, "bare.py", UNGUARDED);
    let bare = output(
        Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
            .args(["check", "bare.py"])
            .current_dir(d),
    );
    assert_eq!(bare.status.code(), Some(1), "{}", text(&bare));
}
