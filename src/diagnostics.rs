//! Findings as data: what was found, where, and how to fix it.

use serde::Serialize;

use crate::ast::Range;
use crate::codes::RuleCode;

/// What produced a diagnostic: a rule, or a problem with the file itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    Rule(RuleCode),
    /// The file does not parse; analysis went on with what the parser recovered.
    SyntaxError,
    /// The file could not be read or decoded.
    IoError,
    /// A `# noqa` comment names a rule code that does not exist.
    InvalidNoqa,
    /// Code nested deeper than the analysis follows was left out of it.
    TooDeep,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Rule(r) => r.as_str(),
            Code::SyntaxError => "syntax-error",
            Code::IoError => "io-error",
            Code::InvalidNoqa => "invalid-noqa",
            Code::TooDeep => "too-deep",
        }
    }

    /// The rule's kebab-case name, or the code itself for the file-level kinds.
    pub fn name(self) -> &'static str {
        match self {
            Code::Rule(r) => r.name(),
            other => other.as_str(),
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::Rule(r) => r.doc().severity,
            Code::InvalidNoqa | Code::TooDeep => Severity::Warning,
            Code::SyntaxError | Code::IoError => Severity::Error,
        }
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

pub use crate::codes::Severity;

/// How safe it is to apply a fix without a human looking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Applicability {
    /// Keeps the program's meaning; applied by `--fix`.
    Safe,
    /// May change behaviour; applied only with `--unsafe-fixes`.
    Unsafe,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Edit {
    #[serde(skip)]
    pub range: Range,
    pub content: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub applicability: Applicability,
    pub message: String,
    pub edits: Vec<Edit>,
}

impl Fix {
    pub fn new(applicability: Applicability, message: impl Into<String>, edits: Vec<Edit>) -> Self {
        let mut edits = edits;
        edits.sort_by_key(|e| (e.range.start, e.range.end));
        Self {
            applicability,
            message: message.into(),
            edits,
        }
    }
}

/// A secondary location with its own label ("starts a process here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Annotation {
    pub range: Range,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub message: String,
    /// The narrowest useful range: what the label points at.
    pub range: Range,
    pub label: String,
    pub help: Option<String>,
    pub annotations: Vec<Annotation>,
    pub fix: Option<Fix>,
    /// Why no fix is offered, when a reader would expect one.
    pub no_fix: Option<String>,
    /// Set when one finding of a rule is milder than the rule's own severity.
    pub severity: Option<Severity>,
}

impl Diagnostic {
    pub fn new(
        code: Code,
        range: Range,
        message: impl Into<String>,
        label: impl Into<String>,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            range,
            label: label.into(),
            help: None,
            annotations: Vec::new(),
            fix: None,
            no_fix: None,
            severity: None,
        }
    }

    /// The finding's severity: its own, or else its rule's.
    pub fn severity(&self) -> Severity {
        self.severity.unwrap_or_else(|| self.code.severity())
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_fix(mut self, fix: Option<Fix>) -> Self {
        self.fix = fix;
        self
    }

    /// Says in one line why this finding gets no fix.
    pub fn with_no_fix(mut self, why: impl Into<String>) -> Self {
        self.no_fix = Some(why.into());
        self
    }

    pub fn with_annotation(mut self, range: Range, label: impl Into<String>) -> Self {
        self.annotations.push(Annotation {
            range,
            label: label.into(),
        });
        self
    }

    /// Sort key: position first, then code, then message, so output never depends on the
    /// order rules ran or threads finished.
    pub fn sort_key(&self) -> (u32, u32, Code, &str) {
        (self.range.start, self.range.end, self.code, &self.message)
    }
}
