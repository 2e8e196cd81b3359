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
        let mut starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
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
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: String) -> Self {
        let index = LineIndex::new(&text);
        Self {
            path: path.into(),
            text,
            index,
        }
    }

    pub fn location(&self, offset: u32) -> Location {
        self.index.location(&self.text, offset)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Why a file could not be turned into text.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    /// Not UTF-8: the byte offset of the first invalid sequence.
    NotUtf8 {
        valid_up_to: usize,
    },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "cannot read file: {e}"),
            ReadError::NotUtf8 { valid_up_to } => write!(
                f,
                "file is not valid UTF-8 (first invalid byte at offset {valid_up_to}); \
                 Python 3 source must be UTF-8 unless it declares another encoding, \
                 which mpdoctor does not decode"
            ),
        }
    }
}

/// Decodes a file's bytes; a UTF-8 byte-order mark is dropped, as Python does.
pub fn decode(bytes: Vec<u8>) -> Result<String, ReadError> {
    let bytes = match bytes.strip_prefix(b"\xef\xbb\xbf") {
        Some(rest) => rest.to_vec(),
        None => bytes,
    };
    String::from_utf8(bytes).map_err(|e| ReadError::NotUtf8 {
        valid_up_to: e.utf8_error().valid_up_to(),
    })
}

pub fn read(path: &Path) -> Result<String, ReadError> {
    let bytes = std::fs::read(path).map_err(ReadError::Io)?;
    decode(bytes)
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
    fn bom_is_dropped_and_invalid_utf8_reported() {
        assert_eq!(decode(b"\xef\xbb\xbfx = 1".to_vec()).unwrap(), "x = 1");
        assert!(matches!(
            decode(b"x = '\xff'".to_vec()),
            Err(ReadError::NotUtf8 { valid_up_to: 5 })
        ));
    }
}
