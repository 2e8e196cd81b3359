//! Generated documentation stays in step with the rule documents: one page per rule under
//! `docs/rules/`, and the rule table in README.md. `MPDOCTOR_BLESS=1` rewrites them.

use std::collections::BTreeSet;
use std::path::Path;

use mpdoctor::codes::RuleCode;
use mpdoctor::docs;

use crate::support::root;

const TABLE_START: &str = "<!-- rules-table:start (generated from rules/*.yaml) -->\n";
const TABLE_END: &str = "<!-- rules-table:end -->";

fn bless() -> bool {
    std::env::var_os("MPDOCTOR_BLESS").is_some_and(|v| v == "1")
}

/// Compares `path` with what it should hold, or rewrites it when blessing. Returns a
/// description of the difference.
fn check_file(path: &Path, expected: &str) -> Option<String> {
    let actual = std::fs::read_to_string(path).unwrap_or_default();
    if actual == expected {
        return None;
    }
    if bless() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, expected).unwrap();
        return None;
    }
    Some(format!("{} is stale", path.display()))
}

#[test]
fn rule_pages_are_current() {
    let dir = root().join("docs/rules");
    let mut stale = Vec::new();
    for &code in RuleCode::ALL {
        let mut page = Vec::new();
        docs::write_rule_page(code, &mut page).unwrap();
        let path = root().join(docs::rule_page_path(code));
        stale.extend(check_file(&path, &String::from_utf8(page).unwrap()));
    }
    let expected: BTreeSet<String> = RuleCode::ALL.iter().map(|c| format!("{c}.md")).collect();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if !expected.contains(&name) {
            if bless() {
                std::fs::remove_file(dir.join(&name)).unwrap();
            } else {
                stale.push(format!("docs/rules/{name} belongs to no rule"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "{}\nregenerate with `MPDOCTOR_BLESS=1 cargo test --test it docs`",
        stale.join("\n")
    );
}

#[test]
fn readme_rule_table_is_current() {
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(TABLE_START)
        .expect("README.md has no rule-table start marker");
    let end = readme
        .find(TABLE_END)
        .expect("README.md has no rule-table end marker");
    let mut table = Vec::new();
    docs::write_rules_table(&mut table).unwrap();
    let expected = format!(
        "{}{TABLE_START}{}{}",
        &readme[..start],
        String::from_utf8(table).unwrap(),
        &readme[end..]
    );
    if let Some(problem) = check_file(&path, &expected) {
        panic!(
            "{problem}: its rule table differs from rules/*.yaml; regenerate with `MPDOCTOR_BLESS=1 cargo test --test it docs`"
        );
    }
}

#[test]
fn every_rule_links_to_a_page_that_exists() {
    for &code in RuleCode::ALL {
        let url = docs::rule_url(code);
        let local = url
            .split_once("/blob/main/")
            .map(|(_, path)| path.to_string())
            .unwrap_or_else(|| panic!("{code}: {url} is not a page of the repository"));
        assert!(root().join(&local).is_file(), "{code}: {local} is missing");
        assert!(url.starts_with("https://"), "{url}");
    }
}
