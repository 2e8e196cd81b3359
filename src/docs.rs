//! `mpdoctor rule CODE` and `mpdoctor rules`: the rule documents, as text or JSON.

use std::io::{self, Write};

use crate::registry::{FixSafety, RuleCode};

/// The document with ruff's fixed headings.
pub fn write_rule(code: RuleCode, out: &mut dyn Write) -> io::Result<()> {
    let doc = code.doc();
    writeln!(out, "# {} ({})\n", doc.name, doc.code)?;
    writeln!(out, "{}\n", doc.summary.trim())?;
    let methods: Vec<&str> = doc.start_methods.iter().map(|m| m.as_str()).collect();
    writeln!(
        out,
        "Severity: {}. Breaks under: {}. Python: {}.\n",
        doc.severity.as_str(),
        methods.join(", "),
        doc.python_versions.trim()
    )?;
    writeln!(out, "## What it does\n{}\n", doc.what_it_does.trim())?;
    writeln!(out, "## Why is this bad?\n{}\n", doc.why.trim())?;
    if !doc.symptoms.is_empty() {
        writeln!(out, "## What you see")?;
        for s in &doc.symptoms {
            writeln!(out, "{}:\n```\n{}\n```", s.when.trim(), s.text.trim_end())?;
        }
        writeln!(out)?;
    }
    writeln!(out, "## Example\n```python\n{}\n```\n", doc.bad.trim_end())?;
    writeln!(
        out,
        "## Use instead\n```python\n{}\n```\n",
        doc.good.trim_end()
    )?;
    writeln!(out, "## Fix\n{}\n", doc.fix.trim())?;
    let safety = match doc.fix_safety {
        FixSafety::Safe => "The automatic fix is safe: it is applied by `--fix`.",
        FixSafety::Unsafe => {
            "The automatic fix is unsafe: it may change behaviour, so it is applied only with `--fix --unsafe-fixes`."
        }
        FixSafety::None => "There is no automatic fix.",
    };
    writeln!(out, "## Fix safety\n{safety}\n")?;
    if !doc.references.is_empty() {
        writeln!(out, "## References")?;
        for r in &doc.references {
            writeln!(out, "- {}: {}", r.title, r.url)?;
        }
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
        let fix = match doc.fix_safety {
            FixSafety::Safe => "safe fix",
            FixSafety::Unsafe => "unsafe fix",
            FixSafety::None => "no fix",
        };
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
