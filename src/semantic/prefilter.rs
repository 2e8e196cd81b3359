//! Which files can have anything to say, decided from their text before any parsing.
//!
//! Most files of a code base never touch multiprocessing; parsing them is most of what a
//! run would cost. A file is analysed only when its text names a process-starting library,
//! holds a comparison with `__name__` that is not the plain main guard (MP002 needs no
//! library), names one of our codes in a `# noqa`, or imports a module of the project that
//! reaches such a library (MP001 follows calls there), or takes a lock. Everything else has no finding to
//! lose. Each test errs towards analysing: what it cannot read plainly counts as a match.

use std::path::Path;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use super::project::Project;

/// Without one of these words a file cannot import a process-starting library itself
/// (`multiprocess` covers `multiprocessing`; `concurrent.futures`, drop-ins, and the
/// libraries the start-method analysis knows), nor take a lock: the lock rules (MP201,
/// MP204) hold for any lock, `threading`'s too.
const WORDS: [&str; 7] = [
    "acquire",
    "multiprocess",
    "concurrent",
    "billiard",
    "torch",
    "pathos",
    "joblib",
];

static LIBRARIES: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| AhoCorasick::new(WORDS).ok());

/// `noqa` in any case, as the suppression comments are read.
static NOQA: LazyLock<Option<AhoCorasick>> = LazyLock::new(|| {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(["noqa"])
        .ok()
});

/// Whether the file needs the analysis.
pub fn relevant(text: &str, path: Option<&Path>, project: &Project) -> bool {
    names_library(text)
        || unusual_main_guard(text)
        || names_our_codes(text)
        || path.is_some_and(|p| project.imports_may_start(p, text))
}

fn names_library(text: &str) -> bool {
    match &*LIBRARIES {
        Some(words) => words.is_match(text),
        None => true,
    }
}

/// A comparison with `__name__` that MP002 could judge: anything but `__name__ ==` or `!=`
/// the literal `"__main__"` (either order, either quote), and `"__name__"` as a string.
fn unusual_main_guard(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memmem::find_iter(bytes, b"__name__").any(|at| {
        let end = at + b"__name__".len();
        let before = &bytes[..at];
        let after = &bytes[end..];
        // Part of a longer name (`__name___x`, `my__name__`): not the module's name.
        if before.last().is_some_and(|b| is_word(*b)) || after.first().is_some_and(|b| is_word(*b))
        {
            return false;
        }
        // `"__name__"`, a string compared with `"__main__"` (never equal).
        if before.last().is_some_and(|b| matches!(b, b'"' | b'\''))
            && after.first().is_some_and(|b| matches!(b, b'"' | b'\''))
        {
            return true;
        }
        for (text, side) in [(after, Side(true)), (before, Side(false))] {
            if let Some((operand, identity)) = comparison(side.trim(text), side) {
                return !plain_literal(operand, side, identity);
            }
        }
        false
    })
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
        assert!(names_our_codes("x = 1  # noqa: MP001\n"));
        assert!(names_our_codes("x = 1  # NOQA:mp999\n"));
        assert!(!names_our_codes("x = 1  # noqa: E501\nmp = 2\n"));
    }
}
