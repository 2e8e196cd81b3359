//! `mpdoctor rule CODE` and `mpdoctor rules`: the rule documents, as text or JSON.

use std::io::{self, Write};

use crate::codes::{FixSafety, RuleCode};

/// Where a rule's generated page is published: `docs/rules/<CODE>.md` of the repository
/// named in `Cargo.toml`, so the address changes in one place.
pub fn rule_url(code: RuleCode) -> String {
    format!(
        "{}/blob/main/{}",
        env!("CARGO_PKG_REPOSITORY"),
        rule_page_path(code)
    )
}

/// The generated page of a rule, relative to the repository root.
pub fn rule_page_path(code: RuleCode) -> String {
    format!("docs/rules/{code}.md")
}

/// Terminal text for `mpdoctor rule`, or the Markdown of the published page: the same
/// sections, so the two cannot drift apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Medium {
    Terminal,
    Page,
}

/// The document with ruff's fixed headings.
pub fn write_rule(code: RuleCode, out: &mut dyn Write) -> io::Result<()> {
    write_document(code, out, Medium::Terminal)
}

/// `docs/rules/<CODE>.md`, generated from `rules/<CODE>.yaml`.
pub fn write_rule_page(code: RuleCode, out: &mut dyn Write) -> io::Result<()> {
    write_document(code, out, Medium::Page)
}

fn write_document(code: RuleCode, out: &mut dyn Write, medium: Medium) -> io::Result<()> {
    let doc = code.doc();
    // Prose goes to Markdown escaped; code blocks never are.
    let prose = |text: &str| match medium {
        Medium::Terminal => text.trim().to_string(),
        Medium::Page => markdown_escape(text.trim()),
    };
    if medium == Medium::Page {
        writeln!(
            out,
            "<!-- Generated from rules/{code}.yaml by `MPDOCTOR_BLESS=1 cargo test --test it docs`; do not edit. -->"
        )?;
    }
    writeln!(out, "# {} ({})\n", doc.name, doc.code)?;
    writeln!(out, "{}\n", prose(&doc.summary))?;
    let methods: Vec<&str> = doc.start_methods.iter().map(|m| m.as_str()).collect();
    writeln!(
        out,
        "Severity: {}. Breaks under: {}. Python: {}.\n",
        doc.severity.as_str(),
        methods.join(", "),
        prose(&doc.python_versions).trim_end_matches('.')
    )?;
    writeln!(out, "## What it does\n{}\n", prose(&doc.what_it_does))?;
    writeln!(out, "## Why is this bad?\n{}\n", prose(&doc.why))?;
    if !doc.symptoms.is_empty() {
        writeln!(out, "## What you see")?;
        for s in &doc.symptoms {
            writeln!(out, "{}:\n```\n{}\n```", prose(&s.when), s.text.trim_end())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## Example\n```python\n{}\n```\n", doc.bad.trim_end())?;
    writeln!(
        out,
        "## Use instead\n```python\n{}\n```\n",
        doc.good.trim_end()
    )?;
    writeln!(out, "## Fix\n{}\n", prose(&doc.fix))?;
    writeln!(out, "## Fix safety\n{}\n", fix_safety_text(doc.fix_safety))?;
    if !doc.references.is_empty() {
        writeln!(out, "## References")?;
        for r in &doc.references {
            match medium {
                Medium::Terminal => writeln!(out, "- {}: {}", r.title, r.url)?,
                Medium::Page => writeln!(out, "- [{}]({})", prose(&r.title), r.url)?,
            }
        }
    }
    Ok(())
}

/// Escapes what GitHub Markdown would read as emphasis, HTML or links (`__main__` turns
/// bold otherwise), leaving `code spans` as they are.
fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_code = false;
    for c in text.chars() {
        if c == '`' {
            in_code = !in_code;
        } else if !in_code && matches!(c, '\\' | '_' | '*' | '<' | '[' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn fix_safety_text(safety: FixSafety) -> &'static str {
    match safety {
        FixSafety::Safe => "The automatic fix is safe: it is applied by `--fix`.",
        FixSafety::Unsafe => {
            "The automatic fix is unsafe: it may change behaviour, so it is applied only with `--fix --unsafe-fixes`."
        }
        FixSafety::None => "There is no automatic fix.",
    }
}

fn fix_label(safety: FixSafety) -> &'static str {
    match safety {
        FixSafety::Safe => "safe fix",
        FixSafety::Unsafe => "unsafe fix",
        FixSafety::None => "no fix",
    }
}

/// The rule table of README.md, linking each rule to its page.
pub fn write_rules_table(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "| Code | Name | Severity | Fix | What it finds |")?;
    writeln!(out, "|---|---|---|---|---|")?;
    for &code in RuleCode::ALL {
        let doc = code.doc();
        // A `|` inside a cell would end it, even in a code span.
        let summary = markdown_escape(doc.summary.trim()).replace('|', "\\|");
        writeln!(
            out,
            "| [{code}]({}) | `{}` | {} | {} | {summary} |",
            rule_page_path(code),
            doc.name,
            doc.severity.as_str(),
            fix_label(doc.fix_safety),
        )?;
    }
    Ok(())
}

pub fn write_rule_json(code: RuleCode, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, code.doc())?;
    writeln!(out)
}

pub fn write_rules(out: &mut dyn Write) -> io::Result<()> {
    // The name column is as wide as the longest name, so the columns after it line up.
    let width = RuleCode::ALL
        .iter()
        .map(|c| c.name().len())
        .max()
        .unwrap_or(0);
    for code in RuleCode::ALL {
        let doc = code.doc();
        let fix = fix_label(doc.fix_safety);
        writeln!(
            out,
            "{}  {:<width$} {:<8} {:<10}  {}",
            doc.code,
            doc.name,
            doc.severity.as_str(),
            fix,
            doc.summary.trim()
        )?;
    }
    Ok(())
}

pub fn write_rules_json(out: &mut dyn Write) -> io::Result<()> {
    let docs: Vec<_> = RuleCode::ALL.iter().map(|c| c.doc()).collect();
    serde_json::to_writer_pretty(&mut *out, &docs)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::markdown_escape;

    #[test]
    fn markdown_escapes_prose_but_not_code() {
        assert_eq!(
            markdown_escape("if __name__ == `__main__` or *x* <module>"),
            "if \\_\\_name\\_\\_ == `__main__` or \\*x\\* \\<module>"
        );
    }
}
