//! `[tool.mpdoctor]` in `pyproject.toml`: reading, validating and resolving per file.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};
use rustc_hash::FxHashMap;
use serde::Deserialize;

use crate::codes::{RuleCode, Selector};
use crate::semantic::mp::{MethodSet, StartMethod};

/// A Python version as ruff spells it: `py38` ... `py314`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PythonVersion {
    pub minor: u8,
}

impl PythonVersion {
    pub const OLDEST: PythonVersion = PythonVersion { minor: 8 };
    pub const NEWEST: PythonVersion = PythonVersion { minor: 14 };

    /// The start methods some supported platform uses by default from this version on:
    /// spawn (macOS since 3.8, Windows always), forkserver (Linux from 3.14), and fork
    /// (Linux before 3.14) while the range still includes those versions.
    pub fn default_start_methods(self) -> MethodSet {
        let mut set = MethodSet::single(StartMethod::Spawn);
        set.insert(StartMethod::Forkserver);
        if self.minor < 14 {
            set.insert(StartMethod::Fork);
        }
        set
    }
}

impl FromStr for PythonVersion {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let minor = s
            .strip_prefix("py3")
            .and_then(|m| m.parse::<u8>().ok())
            .filter(|m| (Self::OLDEST.minor..=Self::NEWEST.minor).contains(m));
        match minor {
            Some(minor) => Ok(PythonVersion { minor }),
            None => Err(format!(
                "unknown target version `{s}` (expected py38 ... py314)"
            )),
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "py3{}", self.minor)
    }
}

impl<'de> Deserialize<'de> for PythonVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The settings of `[tool.mpdoctor]`; every field is optional.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Options {
    pub select: Option<Vec<Selector>>,
    pub ignore: Option<Vec<Selector>>,
    pub extend_exclude: Option<Vec<String>>,
    pub per_file_ignores: Option<BTreeMap<String, Vec<Selector>>>,
    pub target_version: Option<PythonVersion>,
    pub start_methods: Option<Vec<StartMethod>>,
    /// The least severity that fails `check`: `error` (the default) or `warning`.
    pub fail_on: Option<crate::diagnostics::Severity>,
}

#[derive(Deserialize)]
struct PyProject {
    tool: Option<Tool>,
}

#[derive(Deserialize)]
struct Tool {
    mpdoctor: Option<Options>,
}

/// A configuration problem, located in its file.
#[derive(Debug)]
pub struct ConfigError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.path.display(), self.line, self.column)?;
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A loaded configuration: where it lives and what it says.
#[derive(Debug)]
pub struct Config {
    /// The file it came from.
    pub path: PathBuf,
    /// The directory patterns are relative to.
    pub root: PathBuf,
    pub options: Options,
    per_file: Vec<(GlobSet, Vec<Selector>)>,
    exclude: GlobSet,
}

impl Config {
    /// Reads `path`. `Ok(None)` means a `pyproject.toml` without `[tool.mpdoctor]`.
    pub fn load(path: &Path, explicit: bool) -> Result<Option<Config>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            key: None,
            message: format!("cannot read configuration: {e}"),
        })?;
        let error = |span: Option<std::ops::Range<usize>>, message: &str| {
            let at = span.map_or(0, |s| s.start).min(text.len());
            let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
            let line = text[..at].matches('\n').count() + 1;
            let column = text[line_start..at].chars().count() + 1;
            let line_text = text[line_start..].lines().next().unwrap_or("");
            let key = line_text
                .split_once('=')
                .map(|(k, _)| k.trim().trim_matches('"').to_string())
                .filter(|k| !k.is_empty() && !k.starts_with('['));
            ConfigError {
                path: path.to_path_buf(),
                line,
                column,
                key,
                message: message.trim().to_string(),
            }
        };
        let is_pyproject = path.file_name().is_some_and(|n| n == "pyproject.toml");
        let options: Options = if is_pyproject || !explicit {
            // Deserialized straight from the text, so that errors keep their spans.
            let doc: PyProject = toml::from_str(&text).map_err(|e| error(e.span(), e.message()))?;
            match doc.tool.and_then(|t| t.mpdoctor) {
                Some(options) => options,
                None => return Ok(None),
            }
        } else {
            // `--config mpdoctor.toml`: the settings at the top level.
            toml::from_str(&text).map_err(|e| error(e.span(), e.message()))?
        };
        // `--config pyproject.toml` has the empty path as its parent: the current directory.
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        // Real, as the files it is compared with (`Resolver::real_file`).
        let root = crate::paths::resolve(&root).unwrap_or(root);
        let glob = |pattern: &str, key: &str| {
            Glob::new(pattern).map_err(|e| {
                let at = text.find(pattern).map(|s| s..s + pattern.len());
                let mut err = error(at, &format!("invalid glob `{pattern}`: {e}"));
                err.key = Some(key.to_string());
                err
            })
        };
        let mut per_file = Vec::new();
        for (pattern, selectors) in options.per_file_ignores.iter().flatten() {
            let mut set = GlobSetBuilder::new();
            set.add(glob(pattern, "per-file-ignores")?);
            per_file.push((
                set.build().map_err(|e| error(None, &e.to_string()))?,
                selectors.clone(),
            ));
        }
        let mut exclude = GlobSetBuilder::new();
        for pattern in options.extend_exclude.iter().flatten() {
            exclude.add(glob(pattern, "extend-exclude")?);
        }
        Ok(Some(Config {
            path: path.to_path_buf(),
            root,
            options,
            per_file,
            exclude: exclude.build().map_err(|e| error(None, &e.to_string()))?,
        }))
    }

    /// Selectors from `per-file-ignores` that apply to `file`.
    pub fn per_file_ignores(&self, file: &Path) -> Vec<Selector> {
        let candidates = match_candidates(file, &self.root);
        self.per_file
            .iter()
            .filter(|(set, _)| candidates.iter().any(|c| set.is_match(c)))
            .flat_map(|(_, s)| s.iter().cloned())
            .collect()
    }

    /// Whether `extend-exclude` excludes `file` (or a directory above it).
    pub fn excludes(&self, file: &Path) -> bool {
        !self.exclude.is_empty() && excluded_by(&self.exclude, file, &self.root)
    }
}

/// The forms a pattern may match: the path relative to the root, and each of its
/// components' names, as ruff matches `exclude` patterns.
fn match_candidates(file: &Path, root: &Path) -> Vec<PathBuf> {
    // Callers pass real paths (`Resolver::real_file`, configuration folders).
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (file_abs, root_abs) = (absolute(file), absolute(root));
    let relative = file_abs
        .strip_prefix(&root_abs)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| file.to_path_buf());
    let mut out = vec![relative.clone()];
    if let Some(name) = relative.file_name() {
        out.push(PathBuf::from(name));
    }
    out
}

/// Whether the set matches the file or any directory between the root and it.
pub fn excluded_by(set: &GlobSet, file: &Path, root: &Path) -> bool {
    let candidates = match_candidates(file, root);
    matches_path_or_parents(set, &candidates[0])
}

/// Whether the set matches a relative path, one of its parents, or one of their names.
pub fn matches_path_or_parents(set: &GlobSet, relative: &Path) -> bool {
    relative
        .ancestors()
        .filter(|a| !a.as_os_str().is_empty())
        .any(|a| set.is_match(a) || a.file_name().is_some_and(|n| set.is_match(n)))
}

/// Finds and caches the configuration that applies to each directory. The caches key
/// paths by their bytes: `Path`'s own `Hash` walks components, and they are asked for
/// every file of a run, before any file is read.
#[derive(Default)]
pub struct Resolver {
    explicit: Option<Arc<Config>>,
    /// The configuration in effect in a directory (the nearest one).
    by_dir: FxHashMap<OsString, Option<Arc<Config>>>,
    /// The configuration a directory's own `pyproject.toml` holds.
    own: FxHashMap<OsString, Option<Arc<Config>>>,
    /// Real paths of the folders files were named in: resolving costs a system call per
    /// component, and a tree has far fewer folders than files.
    real_dirs: FxHashMap<OsString, PathBuf>,
    /// The configurations at or above a real directory that exclude something.
    excluders: FxHashMap<OsString, Arc<Vec<Arc<Config>>>>,
}

impl Resolver {
    /// With `--config FILE`, that file applies everywhere.
    pub fn new(explicit: Option<&Path>) -> Result<Self, ConfigError> {
        let explicit = match explicit {
            Some(path) => match Config::load(path, true)? {
                Some(c) => Some(Arc::new(c)),
                None => {
                    return Err(ConfigError {
                        path: path.to_path_buf(),
                        line: 1,
                        column: 1,
                        key: None,
                        message: "no [tool.mpdoctor] table in this pyproject.toml".into(),
                    });
                }
            },
            None => None,
        };
        Ok(Self {
            explicit,
            by_dir: FxHashMap::default(),
            own: FxHashMap::default(),
            real_dirs: FxHashMap::default(),
            excluders: FxHashMap::default(),
        })
    }

    /// The file's real folder joined with its name (see [`crate::paths::resolve_file`]).
    fn real_file(&mut self, file: &Path) -> PathBuf {
        let Some((folder, name)) = crate::paths::folder_and_name(file) else {
            return crate::paths::resolve(file).unwrap_or_else(|| file.to_path_buf());
        };
        if let Some(real) = self.real_dirs.get(folder.as_os_str()) {
            return real.join(name);
        }
        let real = crate::paths::resolve(folder).unwrap_or_else(|| folder.to_path_buf());
        let file = real.join(name);
        self.real_dirs.insert(folder.as_os_str().to_owned(), real);
        file
    }

    /// The configuration for a file: the nearest `pyproject.toml` with `[tool.mpdoctor]`
    /// in its directory or above.
    pub fn for_file(&mut self, file: &Path) -> Result<Option<Arc<Config>>, ConfigError> {
        if let Some(c) = &self.explicit {
            return Ok(Some(c.clone()));
        }
        let absolute = self.real_file(file);
        let dir = absolute.parent().unwrap_or(Path::new("/")).to_path_buf();
        self.for_dir(&dir)
    }

    /// Whether `extend-exclude` of any configuration at or above the file excludes it:
    /// a directory excluded higher up stays excluded even if it has a configuration.
    pub fn excludes(&mut self, file: &Path) -> Result<bool, ConfigError> {
        let absolute = self.real_file(file);
        if let Some(c) = &self.explicit {
            return Ok(c.excludes(&absolute));
        }
        let Some(dir) = absolute.parent() else {
            return Ok(false);
        };
        Ok(self.excluders(dir)?.iter().any(|c| c.excludes(&absolute)))
    }

    /// The configurations of `dir` and the folders above it that exclude something.
    fn excluders(&mut self, dir: &Path) -> Result<Arc<Vec<Arc<Config>>>, ConfigError> {
        if let Some(known) = self.excluders.get(dir.as_os_str()) {
            return Ok(known.clone());
        }
        let mut found = match dir.parent() {
            Some(parent) => self.excluders(parent)?.as_ref().clone(),
            None => Vec::new(),
        };
        if let Some(c) = self.own_config(dir)?
            && !c.exclude.is_empty()
        {
            found.push(c);
        }
        let found = Arc::new(found);
        self.excluders
            .insert(dir.as_os_str().to_owned(), found.clone());
        Ok(found)
    }

    fn own_config(&mut self, dir: &Path) -> Result<Option<Arc<Config>>, ConfigError> {
        if let Some(found) = self.own.get(dir.as_os_str()) {
            return Ok(found.clone());
        }
        let candidate = dir.join("pyproject.toml");
        let here = if candidate.is_file() {
            Config::load(&candidate, false)?.map(Arc::new)
        } else {
            None
        };
        self.own.insert(dir.as_os_str().to_owned(), here.clone());
        Ok(here)
    }

    fn for_dir(&mut self, dir: &Path) -> Result<Option<Arc<Config>>, ConfigError> {
        if let Some(found) = self.by_dir.get(dir.as_os_str()) {
            return Ok(found.clone());
        }
        let here = self.own_config(dir)?;
        let found = match here {
            Some(c) => Some(c),
            None => match dir.parent() {
                Some(parent) => self.for_dir(parent)?,
                None => None,
            },
        };
        self.by_dir
            .insert(dir.as_os_str().to_owned(), found.clone());
        Ok(found)
    }
}

/// Whether a rule is enabled, ruff-style: the most specific matching selector decides,
/// and `ignore` wins a tie with `select`.
pub fn is_enabled(code: RuleCode, select: &[Selector], ignore: &[Selector]) -> bool {
    let best = |list: &[Selector]| {
        list.iter()
            .filter(|s| s.matches(code))
            .map(Selector::specificity)
            .max()
    };
    match (best(select), best(ignore)) {
        (Some(s), Some(i)) => s > i,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_prefers_the_most_specific_selector() {
        let all = [Selector::All];
        assert!(is_enabled(RuleCode::MP001, &all, &[]));
        assert!(!is_enabled(
            RuleCode::MP001,
            &all,
            &[Selector::Code(RuleCode::MP001)]
        ));
        assert!(is_enabled(
            RuleCode::MP001,
            &[Selector::Code(RuleCode::MP001)],
            &[Selector::Prefix("MP".into())]
        ));
        assert!(!is_enabled(
            RuleCode::MP002,
            &[Selector::Code(RuleCode::MP001)],
            &[]
        ));
    }

    #[test]
    fn versions() {
        assert_eq!("py311".parse::<PythonVersion>().unwrap().minor, 11);
        assert!("py27".parse::<PythonVersion>().is_err());
        assert!("3.11".parse::<PythonVersion>().is_err());
        assert!(
            !PythonVersion { minor: 14 }
                .default_start_methods()
                .contains(StartMethod::Fork)
        );
    }
}
