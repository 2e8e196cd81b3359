//! Which files can have anything to say, decided from their text before any parsing.
//!
//! Most files of a code base never touch multiprocessing; parsing them is most of what a
//! run would cost. A file is analysed only when it imports a process-starting library,
//! takes a lock, holds a comparison with `__name__` that MP002 judges (it needs no
//! library), names one of our codes in a `# noqa`, or imports a member of the project
//! that starts processes (MP001 follows calls there). Everything else has no finding to
//! lose. Each test errs towards analysing: what it cannot read plainly counts as a match.

use std::path::Path;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use super::project::Project;

/// Without one of these words on a line that imports, a file cannot import a
/// process-starting library itself (`multiprocess` covers `multiprocessing`;
/// `concurrent.futures`, drop-ins, and the libraries the start-method analysis knows).
/// `threading` counts only with `.acquire`: the lock rules (MP201, MP204) hold for its
/// locks too, and every rule but MP001 and MP002 needs one of these modules imported.
const WORDS: [&str; 8] = [
    "acquire",
    "threading",
    "multiprocess",
    "concurrent",
    "billiard",
    "torch",
    "pathos",
    "joblib",
];

static LIBRARIES: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::LeftmostFirst)
        .build(WORDS)
        .ok()
});

/// `noqa` in any case, as the suppression comments are read.
static NOQA: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(["noqa"])
        .ok()
});

/// Whether the file needs the analysis.
pub fn relevant(text: &str, path: Option<&Path>, project: &Project) -> bool {
    relevant_alone(text) || path.is_some_and(|p| project.imports_may_start(p, text))
}

/// Whether the file needs the analysis for what its own text says, before the project
/// is asked what its imports reach.
pub fn relevant_alone(text: &str) -> bool {
    names_library(text) || unusual_main_guard(text) || names_our_codes(text)
}

/// A library word where it can matter: a library on a line that imports (the model
/// knows a library's objects only through an import of it), or `.acquire`, a method a
/// lock rule can judge, with `threading` imported. Any line with `import` in it counts,
/// strings and comments too, and so does a line continued from the one before it.
fn names_library(text: &str) -> bool {
    let Some(words) = &*LIBRARIES else {
        return true;
    };
    let bytes = text.as_bytes();
    let (mut acquires, mut threading) = (false, false);
    words.find_iter(bytes).any(|m| {
        let word = WORDS[m.pattern().as_usize()];
        if word == "acquire" {
            acquires = acquires
                || bytes[..m.start()]
                    .iter()
                    .rev()
                    .find(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b'\\'))
                    .is_none_or(|b| *b == b'.');
        } else {
            let start = memchr::memrchr(b'\n', &bytes[..m.start()]).map_or(0, |n| n + 1);
            let end = memchr::memchr(b'\n', &bytes[m.end()..]).map_or(bytes.len(), |n| m.end() + n);
            let imports = continued(bytes, start)
                || memchr::memmem::find(&bytes[start..end], b"import").is_some();
            if imports && word != "threading" {
                return true;
            }
            threading = threading || imports;
        }
        acquires && threading
    })
}

/// Whether the line starting at `start` continues the one before it (a backslash).
fn continued(bytes: &[u8], start: usize) -> bool {
    let above = &bytes[..start.saturating_sub(1)];
    trim_end(above.strip_suffix(b"\r").unwrap_or(above)).ends_with(b"\\")
}

/// A comparison MP002 could judge: the name `__name__` compared with a string literal or
/// the name `__main__`, except with `==` or `!=` and the literal `"__main__"` (either
/// order, either quote); or the string `"__name__"` compared with a string. An attribute
/// (`cls.__name__`) is not the module's name, and a variable or a number is never judged.
fn unusual_main_guard(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"__name__").any(|at| {
        let end = at + b"__name__".len();
        let mut before = &bytes[..at];
        let mut after = &bytes[end..];
        // Part of a longer name (`__name___x`, `my__name__`): not the module's name.
        if before.last().is_some_and(|b| is_word(*b)) || after.first().is_some_and(|b| is_word(*b))
        {
            return false;
        }
        let quoted = before.last().is_some_and(|b| is_quote(*b))
            && after.first().is_some_and(|b| is_quote(*b));
        if quoted {
            before = &before[..before.len() - 1];
            after = &after[1..];
        } else if before
            .iter()
            .rev()
            .find(|b| !matches!(b, b' ' | b'\t'))
            .is_some_and(|b| *b == b'.')
        {
            return false;
        }
        for (text, side) in [(after, Side(true)), (before, Side(false))] {
            if let Some((operand, identity)) = comparison(side.trim(text), side) {
                return literal_or_main(operand, side)
                    && (quoted || !plain_literal(operand, side, identity));
            }
        }
        false
    })
}

fn is_quote(b: u8) -> bool {
    matches!(b, b'"' | b'\'')
}

/// Whether the operand on this side can be what MP002 compares with: a string literal
/// (prefixed too) or the name `__main__`. What it cannot read plainly counts.
fn literal_or_main(operand: &[u8], side: Side) -> bool {
    let n = if side.0 {
        operand.iter().take_while(|b| is_word(**b)).count()
    } else {
        operand.iter().rev().take_while(|b| is_word(**b)).count()
    };
    if n == 0 {
        return true;
    }
    let word = if side.0 {
        &operand[..n]
    } else {
        &operand[operand.len() - n..]
    };
    let prefix = side.0
        && n <= 2
        && operand.get(n).is_some_and(|b| is_quote(*b))
        && word.iter().all(|b| b"rRbBuUfF".contains(b));
    word == b"__main__" || prefix
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn trim_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| matches!(c, b' ' | b'\t')).count();
    &b[n..]
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rev()
        .take_while(|c| matches!(c, b' ' | b'\t'))
        .count();
    &b[..b.len() - n]
}

/// One side of `__name__`: the text after it (`after`) or before it, read away from it.
#[derive(Clone, Copy)]
struct Side(bool);

impl Side {
    fn strip<'b>(self, b: &'b [u8], word: &[u8]) -> Option<&'b [u8]> {
        if self.0 {
            b.strip_prefix(word)
        } else {
            b.strip_suffix(word)
        }
    }

    /// The byte next to where the stripped word was.
    fn next(self, b: &[u8]) -> Option<u8> {
        if self.0 { b.first() } else { b.last() }.copied()
    }

    fn trim(self, b: &[u8]) -> &[u8] {
        if self.0 { trim_start(b) } else { trim_end(b) }
    }
}

/// What lies beyond a comparison operator on this side, and whether it is `is`.
fn comparison(b: &[u8], side: Side) -> Option<(&[u8], bool)> {
    for op in [&b"=="[..], b"!=", b"is not", b"is"] {
        if let Some(rest) = side.strip(b, op) {
            let identity = op.starts_with(b"is");
            if identity && side.next(rest).is_some_and(is_word) {
                continue;
            }
            return Some((side.trim(rest), identity));
        }
    }
    None
}

const PLAIN: [&[u8]; 2] = [b"\"__main__\"", b"'__main__'"];

/// `"__main__"` next to `==` or `!=` (an `is` test is MP002's own case).
fn plain_literal(b: &[u8], side: Side, identity: bool) -> bool {
    !identity
        && PLAIN.iter().any(|p| {
            side.strip(b, p).is_some_and(|rest| {
                side.next(rest)
                    .is_none_or(|c| !is_word(c) && c != b'"' && c != b'\'')
            })
        })
}

/// `# noqa: MP001`: a code of ours, whose validity the analysis reports on.
fn names_our_codes(text: &str) -> bool {
    let bytes = text.as_bytes();
    let Some(noqa) = &*NOQA else {
        return true;
    };
    noqa.find_iter(bytes).map(|m| m.start()).any(|at| {
        let line_end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n);
        bytes[at..line_end]
            .windows(2)
            .any(|w| w[0].eq_ignore_ascii_case(&b'm') && w[1].eq_ignore_ascii_case(&b'p'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plain_main_guard_is_passed_over() {
        for plain in [
            "if __name__ == \"__main__\":\n",
            "if __name__ == '__main__':\n",
            "if '__main__' == __name__:\n",
            "if __name__ != \"__main__\": pass\n",
            "log = getLogger(__name__)\n",
            "x = __name__.split('.')\n",
            "my__name__ = 1\n",
            "if obj.__name__ == name:\n",
            "if type(x).__name__ == 'Foo':\n",
            "if cls . __name__ is 'x':\n",
            "NAMES = ('__module__', '__name__', '__doc__')\n",
            "name = getattr(f, '__name__', '')\n",
            "if __name__ == name:\n",
            "if name != __name__:\n",
            "if __name__ == 3:\n",
            "if '__name__' == name:\n",
        ] {
            assert!(!unusual_main_guard(plain), "{plain}");
        }
        for odd in [
            "if __name__ is \"__main__\":\n",
            "if __name__ is not '__main__':\n",
            "if __name__ == \"main\":\n",
            "if __name__ == \"__main\":\n",
            "if \"__name__\" == \"__main__\":\n",
            "if __name__ == __main__:\n",
            "if \"main\" == __name__:\n",
            "if '__main__' is __name__:\n",
            "if __name__ == \"__main__x\":\n",
            "if __name__ == (\"__main__\"):\n",
            "if __name__ == r'__main__x':\n",
            "if __name__ is f'__main__':\n",
            "if 'main' == '__name__':\n",
        ] {
            assert!(unusual_main_guard(odd), "{odd}");
        }
    }

    #[test]
    fn library_words_and_our_noqa_codes_are_found() {
        assert!(names_library("from concurrent.futures import X"));
        assert!(names_library("import multiprocessing as mp"));
        assert!(names_library("mp = __import__('multiprocess')"));
        assert!(!names_library("import threading, os"));
        assert!(names_library("import os, \\\n    multiprocessing\n"));
        assert!(names_library(
            "try: from joblib import Parallel\nexcept ImportError: pass\n"
        ));
        assert!(names_library("import threading\nlock.acquire()\n"));
        assert!(names_library(
            "lock . \\\n  acquire()\nfrom threading import Lock\n"
        ));
        assert!(names_library("acquire()\nfrom threading import Lock\n"));
        // A lock of a library the rules do not know.
        assert!(!names_library("import filelock\nlock.acquire()\n"));
        assert!(!names_library("# threading: see lock.acquire()\n"));
        // Words that import nothing, and a call that is not a method.
        assert!(!names_library("# runs concurrent requests\nx = 1\n"));
        assert!(!names_library(
            "def f():\n    '''Uses multiprocessing.'''\n"
        ));
        assert!(!names_library("ok = acquire_token()\n"));
        assert!(names_our_codes("x = 1  # noqa: MP001\n"));
        assert!(names_our_codes("x = 1  # NOQA:mp999\n"));
        assert!(!names_our_codes("x = 1  # noqa: E501\nmp = 2\n"));
    }
}
