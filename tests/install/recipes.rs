//! The recipes in README.md are real configuration: each YAML and TOML block parses, the
//! pre-commit configuration and hook manifest pass pre-commit's own validation, and the
//! systemd units pass `systemd-analyze verify`.

use std::process::Command;

use crate::{output, root, text, tool};

/// The fenced blocks of README.md in `language`, each with the line it starts on.
fn readme_blocks(language: &str) -> Vec<(usize, String)> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match &mut current {
            Some(_) if line.trim_start().starts_with("```") => {
                blocks.extend(current.take());
            }
            Some((_, body)) => {
                body.push_str(line);
                body.push('\n');
            }
            None if line.trim_start() == format!("```{language}") => {
                current = Some((i + 1, String::new()));
            }
            None => {}
        }
    }
    blocks
}

fn first_comment_names(block: &str, name: &str) -> bool {
    block.lines().next().is_some_and(|l| l.contains(name))
}

#[test]
fn readme_yaml_and_toml_blocks_parse() {
    let yaml = readme_blocks("yaml");
    assert!(yaml.len() >= 4, "{yaml:?}");
    for (line, block) in &yaml {
        serde_saphyr::from_str::<serde_json::Value>(block)
            .unwrap_or_else(|e| panic!("README.md:{line}: {e}\n{block}"));
    }
    let toml_blocks = readme_blocks("toml");
    assert!(!toml_blocks.is_empty());
    for (line, block) in &toml_blocks {
        block
            .parse::<toml::Table>()
            .unwrap_or_else(|e| panic!("README.md:{line}: {e}\n{block}"));
    }
}

#[test]
fn pre_commit_validates_the_hook_and_the_readme_config() {
    let Some(pre_commit) = tool("pre-commit") else {
        return;
    };
    let manifest = output(
        Command::new(&pre_commit)
            .arg("validate-manifest")
            .arg(root().join(".pre-commit-hooks.yaml")),
    );
    assert!(manifest.status.success(), "{}", text(&manifest));
    let dir = tempfile::tempdir().unwrap();
    let configs: Vec<_> = readme_blocks("yaml")
        .into_iter()
        .filter(|(_, b)| first_comment_names(b, ".pre-commit-config.yaml"))
        .collect();
    assert_eq!(configs.len(), 1);
    let path = dir.path().join(".pre-commit-config.yaml");
    std::fs::write(&path, &configs[0].1).unwrap();
    let config = output(Command::new(&pre_commit).arg("validate-config").arg(&path));
    assert!(config.status.success(), "{}", text(&config));
    // The hook it names is the one the manifest defines.
    let hooks = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).unwrap();
    assert!(hooks.contains("- id: mpdoctor-check") && configs[0].1.contains("id: mpdoctor-check"));
}

#[test]
fn systemd_accepts_the_readme_units() {
    let Some(analyze) = tool("systemd-analyze") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for (line, block) in readme_blocks("ini") {
        let name = block
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# /etc/systemd/system/"))
            .unwrap_or_else(|| panic!("README.md:{line}: the block does not name its unit"))
            .trim()
            .to_string();
        // The binary lives elsewhere here; verify checks that it exists.
        let body = block.replace("/usr/local/bin/mpdoctor", env!("CARGO_BIN_EXE_mpdoctor"));
        std::fs::write(dir.path().join(&name), body).unwrap();
        units.push(dir.path().join(name));
    }
    assert_eq!(units.len(), 2, "{units:?}");
    let out = output(
        Command::new(&analyze)
            .args(["verify", "--man=no"])
            .args(&units)
            .env("SYSTEMD_LOG_LEVEL", "warning"),
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
}
