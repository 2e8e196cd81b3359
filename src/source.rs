//! A file's text and the mapping from byte offsets to lines and columns.

use std::path::{Path, PathBuf};

/// Line starts of a text, for turning byte offsets into 1-based line and column numbers.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<u32>,
}

/// A 1-based position; the column counts characters, as ruff and editors do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Location {
    pub line: u32,
    pub column: u32,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        // Lines end in `\n`, `\r\n` or a lone `\r`, as Python reads them.
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        if memchr::memchr(b'\r', bytes).is_none() {
            starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i as u32 + 1));
            return Self { starts };
        }
        for (i, &b) in bytes.iter().enumerate() {
            let ends_line = b == b'\n' || (b == b'\r' && bytes.get(i + 1) != Some(&b'\n'));
            if ends_line {
                starts.push(i as u32 + 1);
            }
        }
        Self { starts }
    }

    /// 0-based line number of a byte offset.
    pub fn line_of(&self, offset: u32) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    pub fn line_start(&self, line: usize) -> u32 {
        self.starts[line]
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    pub fn location(&self, text: &str, offset: u32) -> Location {
        let offset = offset.min(text.len() as u32);
        let line = self.line_of(offset);
        let start = self.starts[line] as usize;
        let end = floor_char_boundary(text, offset as usize);
        let column = text[start..end].chars().count() as u32 + 1;
        Location {
            line: line as u32 + 1,
            column,
        }
    }

    /// The text of 0-based line `line`, without its line ending.
    pub fn line_text<'t>(&self, text: &'t str, line: usize) -> &'t str {
        let start = self.starts[line] as usize;
        let end = self
            .starts
            .get(line + 1)
            .map_or(text.len(), |&s| s as usize);
        text[start..end].trim_end_matches(['\n', '\r'])
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A Python file to check: where it came from and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as shown to the user (relative where it was given relative).
    pub path: PathBuf,
    pub text: String,
    pub index: LineIndex,
    /// The encoding a PEP 263 cookie declared, when it is not UTF-8. Such files are
    /// checked, but never rewritten: a fix would have to re-encode them.
    pub encoding: Option<String>,
    /// The file started with a UTF-8 byte-order mark, which a rewrite keeps.
    pub bom: bool,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Self {
        let index = LineIndex::new(&text);
        Self {
            path: path.into(),
            text,
            index,
            encoding: None,
            bom: false,
        }
    }

    /// The same file with new text (after fixes), keeping what it was decoded from.
    pub fn with_text(&self, text: String) -> Self {
        let mut next = SourceFile::new(self.path.clone(), text);
        next.encoding = self.encoding.clone();
        next.bom = self.bom;
        next
    }

    pub fn location(&self, offset: u32) -> Location {
        self.index.location(&self.text, offset)
    }
}

/// Why a file could not be turned into text.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Not UTF-8 and no usable encoding declared: the offset of the first invalid byte.
    NotUtf8 {
        valid_up_to: usize,
    },
    /// The declared encoding is unknown, or the bytes are not valid in it.
    BadEncoding {
        declared: String,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read file: {e}"),
            ReadError::NotUtf8 { valid_up_to } => write!(
                f,
                "file is not valid UTF-8 (first invalid byte at offset {valid_up_to}) and \
                 declares no other encoding"
            ),
            ReadError::BadEncoding { declared } => write!(
                f,
                "file declares the encoding `{declared}`, which is unknown or does not match its bytes"
            ),
        }
    }
}

/// Decoded text and what it was decoded from.
pub struct Decoded {
    pub text: String,
    /// The declared encoding, when it is not UTF-8.
    pub encoding: Option<String>,
    pub bom: bool,
}

impl Decoded {
    pub fn into_source(self, path: impl Into<PathBuf>) -> SourceFile {
        let mut source = SourceFile::new(path, self.text);
        source.encoding = self.encoding;
        source.bom = self.bom;
        source
    }
}

/// Decodes a file's bytes as Python does: UTF-8 (a byte-order mark is dropped) unless a
/// PEP 263 cookie on the first or second line declares another encoding.
pub fn decode(bytes: Vec<u8>) -> Result<Decoded, ReadError> {
    if let Some(rest) = bytes.strip_prefix(b"\xef\xbb\xbf") {
        let mut decoded = utf8(rest.to_vec())?;
        decoded.bom = true;
        return Ok(decoded);
    }
    let declared = coding_cookie(&bytes);
    let Some(label) = declared.filter(|l| !is_utf8_label(l)) else {
        return utf8(bytes);
    };
    let bad = || ReadError::BadEncoding {
        declared: label.clone(),
    };
    let encoding = lookup_encoding(&label).ok_or_else(bad)?;
    let (text, had_errors) = encoding.decode_without_bom_handling(&bytes);
    if had_errors {
        return Err(bad());
    }
    Ok(Decoded {
        text: text.into_owned(),
        encoding: Some(label),
        bom: false,
    })
}

fn utf8(bytes: Vec<u8>) -> Result<Decoded, ReadError> {
    String::from_utf8(bytes)
        .map(|text| Decoded {
            text,
            encoding: None,
            bom: false,
        })
        .map_err(|e| ReadError::NotUtf8 {
            valid_up_to: e.utf8_error().valid_up_to(),
        })
}

fn is_utf8_label(label: &str) -> bool {
    matches!(label, "utf-8" | "utf8" | "utf_8" | "u8" | "utf") || label.starts_with("utf-8-")
}

/// The encoding named by `# -*- coding: NAME -*-` on line 1, or on line 2 after a
/// comment or blank line 1 (PEP 263).
fn coding_cookie(bytes: &[u8]) -> Option<String> {
    let mut lines = bytes.split(|b| *b == b'\n').take(2);
    let first = lines.next()?;
    if let Some(label) = cookie_in(first) {
        return Some(label);
    }
    let first = String::from_utf8_lossy(first);
    let first = first.trim();
    if first.is_empty() || first.starts_with('#') {
        return lines.next().and_then(cookie_in);
    }
    None
}

fn cookie_in(line: &[u8]) -> Option<String> {
    let line = String::from_utf8_lossy(line);
    let comment = line
        .trim_start_matches([' ', '\t', '\x0c'])
        .strip_prefix('#')?;
    let at = comment.find("coding")?;
    let rest = comment[at + "coding".len()..].strip_prefix([':', '='])?;
    let label: String = rest
        .trim_start_matches([' ', '\t'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    (!label.is_empty()).then(|| label.to_ascii_lowercase())
}

/// Python's codec names mapped onto the WHATWG labels `encoding_rs` knows.
fn lookup_encoding(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let label = label.replace('_', "-");
    let label = match label.as_str() {
        "latin-1" | "latin1" | "l1" | "iso-8859-1" | "iso8859-1" | "8859" | "cp819" => "iso-8859-1",
        other => other,
    };
    encoding_rs::Encoding::for_label(label.as_bytes())
        .or_else(|| encoding_rs::Encoding::for_label(label.replace('-', "").as_bytes()))
}

pub fn read(path: &Path) -> Result<Decoded, ReadError> {
    decode(read_bytes(path).map_err(ReadError::Io)?)
}

/// A regular file's bytes.
pub fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without waiting (a FIFO would wait for a writer forever), then judged by
    // what was opened: only a regular file is read.
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(
            "not a regular file: a FIFO, socket or device is not read (pipe a file into \
             `mpdoctor check -` instead)",
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let text = "a = 1\nb = 'é' + x\n";
        let index = LineIndex::new(text);
        assert_eq!(index.location(text, 0), Location { line: 1, column: 1 });
        let x = text.find('x').unwrap() as u32;
        assert_eq!(
            index.location(text, x),
            Location {
                line: 2,
                column: 11
            }
        );
        assert_eq!(index.line_text(text, 1), "b = 'é' + x");
    }

    #[test]
    fn lone_carriage_returns_end_lines() {
        let text = "a\rb\r\nc\nd";
        let index = LineIndex::new(text);
        assert_eq!(index.line_count(), 4);
        assert_eq!(index.location(text, 7).line, 4);
        assert_eq!(index.line_text(text, 0), "a");
    }

    #[test]
    fn bom_is_dropped_and_invalid_utf8_reported() {
        assert_eq!(
            decode(b"\xef\xbb\xbfx = 1".to_vec()).ok().unwrap().text,
            "x = 1"
        );
        assert!(matches!(
            decode(b"x = '\xff'".to_vec()),
            Err(ReadError::NotUtf8 { valid_up_to: 5 })
        ));
    }

    #[test]
    fn declared_encodings_are_decoded() {
        let latin1 = decode(b"# -*- coding: latin-1 -*-\nname = '\xe9'\n".to_vec())
            .ok()
            .unwrap();
        assert_eq!(latin1.text, "# -*- coding: latin-1 -*-\nname = '\u{e9}'\n");
        assert!(latin1.encoding.is_some());
        let koi8 = decode(b"#!/usr/bin/env python\n# coding: koi8-r\nx = '\xc1'\n".to_vec())
            .ok()
            .unwrap();
        assert_eq!(koi8.text.lines().nth(2), Some("x = '\u{430}'"));
        // A cookie on line 2 counts only after a comment or blank line 1.
        assert!(decode(b"x = 1\n# coding: latin-1\ny = '\xe9'\n".to_vec()).is_err());
        assert!(matches!(
            decode(b"# coding: klingon\n".to_vec()),
            Err(ReadError::BadEncoding { .. })
        ));
        assert!(
            decode(b"# coding: utf-8\nx = 1\n".to_vec())
                .ok()
                .unwrap()
                .encoding
                .is_none()
        );
    }
}
