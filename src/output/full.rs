use std::fmt;
use std::io::{self, Write};

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode, SourceSpan,
};

use super::{RenderOptions, display_path, fix_applies, summary};
use crate::check::{FileReport, Outcome};
use crate::diagnostics::{Applicability, Code, Diagnostic, Severity};

/// The width reports are wrapped at; fixed so output does not depend on the terminal.
const WIDTH: usize = 100;

/// One finding as miette sees it.
struct Report<'a> {
    report: &'a FileReport,
    diagnostic: &'a Diagnostic,
    source: Option<NamedSource<String>>,
    help: String,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(_) => f.write_str(&self.diagnostic.message),
            // No snippet to show: say which file it is about.
            None => write!(
                f,
                "{}: {}",
                display_path(&self.report.path),
                self.diagnostic.message
            ),
        }
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let d = self.diagnostic;
        Some(Box::new(match d.code {
            Code::Rule(r) => format!("{r} {}", r.name()),
            other => other.as_str().to_string(),
        }))
    }

    /// The rule's published page: a hyperlink on the code in colour terminals, written out
    /// after it otherwise.
    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        match self.diagnostic.code {
            Code::Rule(r) => Some(Box::new(crate::docs::rule_url(r))),
            _ => None,
        }
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        (!self.help.is_empty()).then(|| Box::new(&self.help) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.source.as_ref()?;
        let d = self.diagnostic;
        let primary = LabeledSpan::new_primary_with_span(Some(d.label.clone()), span(d.range));
        let others = d
            .annotations
            .iter()
            .map(|a| LabeledSpan::new_with_span(Some(a.label.clone()), span(a.range)));
        Some(Box::new(std::iter::once(primary).chain(others)))
    }
}

fn span(range: crate::ast::Range) -> SourceSpan {
    SourceSpan::from(range.start as usize..range.end as usize)
}

fn help_text(d: &Diagnostic, options: RenderOptions) -> String {
    let mut help = d.help.clone().unwrap_or_default();
    if let Some(fix) = &d.fix {
        let how = if fix.applicability == Applicability::Safe {
            "run with `--fix`".to_string()
        } else if fix_applies(d, options.fix_mode) {
            "unsafe: run with `--fix --unsafe-fixes`".to_string()
        } else if fix.applicability == Applicability::Unsafe {
            "unsafe: run with `--fix --unsafe-fixes` after reviewing `--diff --unsafe-fixes`"
                .to_string()
        } else {
            String::new()
        };
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str(&format!("fix: {} ({how})", fix.message));
    } else if let Some(why) = &d.no_fix {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str(&format!("no fix: {why}"));
    }
    if let Code::Rule(r) = d.code {
        if !help.is_empty() {
            help.push('\n');
        }
        help.push_str(&format!("see `mpdoctor rule {r}`"));
    }
    help
}

pub fn render(outcome: &Outcome, out: &mut dyn Write, options: RenderOptions) -> io::Result<()> {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(options.color)
        .with_link_display_text("");
    for report in &outcome.reports {
        if let Some(diff) = &report.diff {
            write!(out, "{diff}")?;
        }
        for d in &report.diagnostics {
            let source = report.source.as_ref().map(|s| {
                NamedSource::new(display_path(&report.path), s.text.clone()).with_language("Python")
            });
            let shown = Report {
                report,
                diagnostic: d,
                source,
                help: help_text(d, options),
            };
            let mut text = String::new();
            handler
                .render_report(&mut text, &shown)
                .map_err(|e| io::Error::other(e.to_string()))?;
            writeln!(out, "{text}")?;
        }
    }
    summary(outcome, out, options)
}
