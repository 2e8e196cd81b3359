//! The project around a checked file: which of its imports are modules of the project
//! (found on disk from the file's own place: package roots, `src/` layouts), and what
//! importing them, or calling their functions, starts.
//!
//! Cost stays proportional: a module is summarised only when it can reach a site that
//! starts processes through the import lines and the words of the modules on the way
//! (found by cheap scans); only modules whose text imports a process-starting library are
//! parsed to find their sites. Everything is cached for the whole run and read before
//! any file is written, so every file sees the same project.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use crate::ast::*;
use crate::semantic::exec;
use crate::semantic::mp::ProcessStart;
use crate::semantic::objects::Objects;
use crate::semantic::reach::{Reach, Remote};
use crate::semantic::{Model, Value};
use crate::source::LineIndex;

/// Top-level packages that start processes: their own modules are the libraries the
/// rules model, never project modules to look into.
const STARTING_LIBRARIES: [&str; 7] = [
    "multiprocessing",
    "multiprocess",
    "billiard",
    "concurrent",
    "torch",
    "pathos",
    "joblib",
];

/// Files that mark the top of a project: the folders there, and their `src/`, are
/// import roots too (how pytest and installed editable packages see them).
const PROJECT_MARKERS: [&str; 4] = ["pyproject.toml", "setup.py", "setup.cfg", ".git"];

/// How far above a file's package root the top of its project is looked for.
const MAX_PROJECT_DEPTH: usize = 4;

/// A file and a dotted name inside it (empty for the module itself); also a folder and
/// a name to resolve from it.
type Member = (PathBuf, String);

/// A [`Member`] as a hash key. Paths are keyed by their bytes: `Path`'s own `Hash` and
/// `Eq` walk its components, which took a tenth of the cross-module queries' time. Every
/// path here is built one way (as walked, or joined from folder listings), so a file has
/// one spelling; another would only cost a second lookup.
type MemberKey = (OsString, String);

fn member_key(file: &Path, name: String) -> MemberKey {
    (file.as_os_str().to_owned(), name)
}

/// Built at most once per file.
type SummaryCell = Arc<OnceLock<Option<Arc<Summary>>>>;

/// One run's view of the project, shared by all files.
#[derive(Default)]
pub struct Project {
    roots: Mutex<HashMap<OsString, Arc<Vec<PathBuf>>>>,
    scans: Mutex<HashMap<OsString, Arc<Scan>>>,
    reaches: Mutex<HashMap<OsString, bool>>,
    /// Of the modules that reach: whether importing them may start processes.
    imports_start: Mutex<HashMap<OsString, bool>>,
    /// The words of modules whose reach depended on what they mention.
    words: Mutex<HashMap<OsString, Arc<HashSet<String>>>>,
    /// Module members (and modules, by an empty name) from which no start can be reached.
    starts_nothing: Mutex<HashSet<MemberKey>>,
    listings: Mutex<HashMap<OsString, Arc<HashMap<String, bool>>>>,
    /// Resolutions, by the importer's folder and the name.
    resolved: Mutex<HashMap<MemberKey, Option<Member>>>,
    /// Each built once, by whichever file asks first.
    summaries: Mutex<HashMap<OsString, SummaryCell>>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Project")
    }
}

/// What the cheap scan of a module's text finds.
struct Scan {
    /// It imports a process-starting library.
    starting: bool,
    /// The modules its import lines name, relative ones with their dots.
    imports: Vec<String>,
    /// What its import lines bring in (see [`imported_names`]).
    names: Vec<String>,
}

impl Scan {
    fn of(text: &str) -> Scan {
        let statements = import_statements(text);
        let imports = import_lines(&statements);
        // The semantic model knows a process-starting call only through an import of
        // its library.
        let starting = imports.iter().any(|i| {
            let top = i.split('.').next().unwrap_or_default();
            STARTING_LIBRARIES.contains(&top)
        });
        Scan {
            starting,
            imports,
            names: imported_names(statements),
        }
    }
}

/// What a module that can reach a process-starting library does, from its own code.
/// Names of other modules are kept unresolved, as written (`.core.run_all`): the queries
/// follow them, so no module's summary depends on another's.
struct Summary {
    /// Where the module's own import-time code starts processes.
    at_import: Option<(u32, ProcessStart)>,
    /// Imported names its import-time code calls, in order.
    import_calls: Vec<String>,
    /// Modules it imports at import time, in order.
    import_modules: Vec<String>,
    /// By name (`run_all`, `Runner` for the constructor, `Runner.go`): what calling it
    /// starts here, and the imported names it calls.
    callables: HashMap<String, Callable>,
    /// Names bound by `from ... import` at module level, to what they name; and
    /// instances of imported classes, to the class.
    imported: HashMap<String, String>,
    /// Module-level instances of classes defined here, to the class's name.
    instances: HashMap<String, String>,
}

struct Callable {
    start: Option<(u32, ProcessStart)>,
    calls: Vec<String>,
}

impl Project {
    /// Whether calling `qualified`, as imported by the module at `importer`, starts
    /// processes, and where.
    pub fn call_starts(&self, importer: &Path, qualified: &str) -> Option<Remote> {
        let mut visited = HashSet::default();
        let found = self.starts(importer, qualified, &mut visited);
        self.settle(found.is_some(), visited);
        found
    }

    /// After a query: when it found nothing, nothing can be found from anything it
    /// visited (all of it is reachable from where it began), whatever the order of later
    /// queries. What was found is not kept: in an import cycle, which start a search meets
    /// first depends on where it begins.
    fn settle(&self, found: bool, visited: HashSet<MemberKey>) {
        if !found && let Ok(mut none) = self.starts_nothing.lock() {
            none.extend(visited);
        }
    }

    fn starts_nothing(&self, key: &MemberKey) -> bool {
        self.starts_nothing
            .lock()
            .is_ok_and(|none| none.contains(key))
    }

    /// Whether importing the module `qualified` (`pkg.mod`, `.mod`) from `importer` starts
    /// processes, and where. Every package on the way is imported too.
    pub fn import_starts(&self, importer: &Path, qualified: &str) -> Option<(String, Remote)> {
        let mut visited = HashSet::default();
        for name in prefixes(qualified) {
            let Some((file, rest)) = self.resolve(importer, &name) else {
                continue;
            };
            if rest.is_empty()
                && let Some(remote) = self.module_starts(&file, &mut visited)
            {
                return Some((name, remote));
            }
        }
        self.settle(false, visited);
        None
    }

    fn starts(
        &self,
        importer: &Path,
        qualified: &str,
        visited: &mut HashSet<MemberKey>,
    ) -> Option<Remote> {
        let (file, rest) = self.resolve(importer, qualified)?;
        let key = member_key(&file, rest.clone());
        if rest.is_empty() || self.starts_nothing(&key) || !visited.insert(key) {
            return None;
        }
        let summary = self.summary(&file)?;
        if let Some(callable) = summary.callables.get(&rest) {
            return self.callable_starts(file, callable, visited);
        }
        let (first, tail) = rest.split_once('.').unwrap_or((&rest, ""));
        if let Some(class) = summary.instances.get(first) {
            let callable = summary.callables.get(&format!("{class}.{tail}"))?;
            return self.callable_starts(file, callable, visited);
        }
        // A name the module imported from elsewhere (a package's `__init__` re-exports).
        let target = summary.imported.get(first)?;
        let target = if tail.is_empty() {
            target.clone()
        } else {
            format!("{target}.{tail}")
        };
        self.starts(&file, &target, visited)
    }

    fn callable_starts(
        &self,
        file: PathBuf,
        callable: &Callable,
        visited: &mut HashSet<MemberKey>,
    ) -> Option<Remote> {
        match callable.start {
            Some((line, start)) => Some(Remote {
                path: file,
                line,
                start,
            }),
            None => callable
                .calls
                .iter()
                .find_map(|q| self.starts(&file, q, visited)),
        }
    }

    fn module_starts(&self, file: &Path, visited: &mut HashSet<MemberKey>) -> Option<Remote> {
        let key = member_key(file, String::new());
        if self.starts_nothing(&key) || !visited.insert(key) {
            return None;
        }
        let summary = self.summary(file)?;
        if let Some((line, start)) = summary.at_import {
            return Some(Remote {
                path: file.to_path_buf(),
                line,
                start,
            });
        }
        summary
            .import_calls
            .iter()
            .find_map(|q| self.starts(file, q, visited))
            .or_else(|| {
                summary.import_modules.iter().find_map(|m| {
                    prefixes(m).find_map(|name| {
                        let (next, rest) = self.resolve(file, &name)?;
                        if rest.is_empty() {
                            self.module_starts(&next, visited)
                        } else {
                            None
                        }
                    })
                })
            })
    }

    /// The project file a qualified name lives in, and the rest of the name inside it
    /// (empty for the module itself): `pkg.mod.f` -> (`<root>/pkg/mod.py`, `f`).
    fn resolve(&self, importer: &Path, qualified: &str) -> Option<Member> {
        if importer.as_os_str() == "-" {
            return None;
        }
        let key = member_key(importer.parent()?, qualified.to_string());
        if let Some(known) = self.resolved.lock().ok()?.get(&key) {
            return known.clone();
        }
        let found = self.resolve_uncached(importer, qualified);
        if let Ok(mut known) = self.resolved.lock() {
            known.insert(key, found.clone());
        }
        found
    }

    fn resolve_uncached(&self, importer: &Path, qualified: &str) -> Option<Member> {
        let (dots, parts) = split(qualified);
        let level = dots.len();
        if level == 0
            && parts
                .first()
                .is_none_or(|top| STARTING_LIBRARIES.contains(top))
        {
            return None;
        }
        let dir = importer.parent()?;
        let bases: Arc<Vec<PathBuf>> = if level > 0 {
            let mut base = dir.to_path_buf();
            for _ in 1..level {
                base = base.parent()?.to_path_buf();
            }
            Arc::new(vec![base])
        } else {
            self.roots(dir)
        };
        let least = usize::from(level == 0);
        for base in bases.iter() {
            for n in (least..=parts.len()).rev() {
                if let Some(file) = self.module_file(base, &parts[..n]) {
                    return Some((file, parts[n..].join(".")));
                }
            }
        }
        None
    }

    /// Where absolute imports of a file in `dir` are looked for: its package root (the
    /// first folder up without `__init__.py`, which is the script's own folder for a
    /// script), then, when a project marker is found above it, that folder and its `src/`.
    fn roots(&self, dir: &Path) -> Arc<Vec<PathBuf>> {
        if let Some(known) = cached(&self.roots, dir) {
            return known;
        }
        let mut root = dir.to_path_buf();
        while self.listing(&root).get("__init__.py") == Some(&false) {
            match root.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => root = parent.to_path_buf(),
                _ => break,
            }
        }
        let mut roots = vec![root.clone()];
        let mut above = Some(root.as_path());
        for _ in 0..MAX_PROJECT_DEPTH {
            let Some(folder) = above else { break };
            let folder = if folder.as_os_str().is_empty() {
                Path::new(".")
            } else {
                folder
            };
            let entries = self.listing(folder);
            if PROJECT_MARKERS.iter().any(|m| entries.contains_key(*m)) {
                let src = (entries.get("src") == Some(&true)).then(|| folder.join("src"));
                for candidate in std::iter::once(folder.to_path_buf()).chain(src) {
                    if !roots.contains(&candidate) {
                        roots.push(candidate);
                    }
                }
                break;
            }
            above = folder.parent();
        }
        let roots = Arc::new(roots);
        if let Ok(mut known) = self.roots.lock() {
            known.insert(dir.as_os_str().to_owned(), roots.clone());
        }
        roots
    }

    /// `base/a/b.py`, or the package `base/a/b/__init__.py`; `base/__init__.py` for no
    /// parts. Folder listings answer, not a lookup per candidate: most names a module
    /// imports are not in the project, and the first part of the name shows it.
    fn module_file(&self, base: &Path, parts: &[&str]) -> Option<PathBuf> {
        let mut dir = base.to_path_buf();
        for (i, part) in parts.iter().enumerate() {
            let entries = self.listing(&dir);
            if i + 1 == parts.len() && entries.get(&format!("{part}.py")) == Some(&false) {
                return Some(dir.join(format!("{part}.py")));
            }
            if entries.get(*part) != Some(&true) {
                return None;
            }
            dir.push(part);
        }
        (self.listing(&dir).get("__init__.py") == Some(&false)).then(|| dir.join("__init__.py"))
    }

    /// A folder's entries, each with whether it is a folder (links followed).
    fn listing(&self, dir: &Path) -> Arc<HashMap<String, bool>> {
        if let Some(known) = cached(&self.listings, dir) {
            return known;
        }
        let read = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let mut entries = HashMap::default();
        for entry in std::fs::read_dir(read).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let is_dir = if kind.is_symlink() {
                match std::fs::metadata(entry.path()) {
                    Ok(meta) => meta.is_dir(),
                    Err(_) => continue,
                }
            } else {
                kind.is_dir()
            };
            entries.insert(entry.file_name().to_string_lossy().into_owned(), is_dir);
        }
        let entries = Arc::new(entries);
        if let Ok(mut known) = self.listings.lock() {
            known.insert(dir.as_os_str().to_owned(), entries.clone());
        }
        entries
    }

    fn scan(&self, file: &Path) -> Arc<Scan> {
        if let Some(known) = cached(&self.scans, file) {
            return known;
        }
        let text = read_lossy(file);
        self.keep_scan(file, Scan::of(&text))
    }

    fn keep_scan(&self, file: &Path, scan: Scan) -> Arc<Scan> {
        let scan = Arc::new(scan);
        if let Ok(mut known) = self.scans.lock() {
            return known
                .entry(file.as_os_str().to_owned())
                .or_insert(scan)
                .clone();
        }
        scan
    }

    /// Keeps what the import lines of a file being checked say, from the text already
    /// read: the queries of other files need not read it again.
    pub fn remember(&self, file: &Path, text: &str) {
        let known = self
            .scans
            .lock()
            .is_ok_and(|s| s.contains_key(file.as_os_str()));
        if !known {
            self.keep_scan(file, Scan::of(text));
        }
    }

    /// Whether anything in the module can start processes when a query asks: calling one
    /// of its names, or importing it. True when the module has a site itself (imports a
    /// process-starting library and uses it), or imports a project module that reaches
    /// and either starts processes when imported or has a name that reaches which this
    /// module's text mentions: a query only follows names a module writes.
    ///
    /// Decided for the module's whole import closure at once, as the least fixed point:
    /// import cycles need no special case, and every value found is final.
    fn reaches(&self, file: &Path) -> bool {
        if let Some(known) = self.known_reach(file) {
            return known;
        }
        // The closure, by the import lines (and the packages on the way); modules already
        // decided are not entered again.
        let mut edges: HashMap<OsString, Vec<PathBuf>> = HashMap::default();
        let mut reach: HashMap<OsString, bool> = HashMap::default();
        let mut at_import: HashMap<OsString, bool> = HashMap::default();
        let mut queue = VecDeque::from([file.to_path_buf()]);
        while let Some(next) = queue.pop_front() {
            if reach.contains_key(next.as_os_str()) {
                continue;
            }
            if let Some(known) = self.known_reach(&next) {
                // Decided with its own closure: both answers are final.
                let starts = known && self.known_at_import(&next).unwrap_or(true);
                at_import.insert(next.clone().into_os_string(), starts);
                reach.insert(next.into_os_string(), known);
                continue;
            }
            let scan = self.scan(&next);
            let mut targets = Vec::new();
            for import in &scan.imports {
                for name in prefixes(import) {
                    if let Some((module, _)) = self.resolve(&next, &name)
                        && module != next
                        && !targets.contains(&module)
                    {
                        queue.push_back(module.clone());
                        targets.push(module);
                    }
                }
            }
            reach.insert(
                next.as_os_str().to_owned(),
                scan.starting && self.has_sites(&next),
            );
            edges.insert(next.into_os_string(), targets);
        }
        loop {
            let mut changed = false;
            for (module, targets) in &edges {
                let path = Path::new(module);
                if !reach[module] {
                    let found = targets.iter().any(|target| {
                        reach[target.as_os_str()]
                            && (self.may_start_at_import(target, &reach, &at_import, &edges)
                                || self.mentions(path, &self.reaching_names(target, &reach)))
                    });
                    if found {
                        reach.insert(module.clone(), true);
                        changed = true;
                    }
                }
                if reach[module]
                    && !at_import.get(module).copied().unwrap_or(false)
                    && self.may_start_at_import(path, &reach, &at_import, &edges)
                {
                    at_import.insert(module.clone(), true);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let answer = reach[file.as_os_str()];
        if let (Ok(mut known), Ok(mut starts)) = (self.reaches.lock(), self.imports_start.lock()) {
            for (module, _) in edges {
                starts.insert(
                    module.clone(),
                    at_import.get(&module).copied().unwrap_or(false),
                );
                known.insert(module.clone(), reach[&module]);
            }
        }
        answer
    }

    fn known_reach(&self, file: &Path) -> Option<bool> {
        cached(&self.reaches, file)
    }

    fn known_at_import(&self, file: &Path) -> Option<bool> {
        cached(&self.imports_start, file)
    }

    /// Whether a reaching module may start processes while it is imported: its own
    /// import-time code has a site, calls an imported name of a reaching module, or
    /// imports a module that may. Errs towards yes for what the closure does not know.
    fn may_start_at_import(
        &self,
        file: &Path,
        reach: &HashMap<OsString, bool>,
        at_import: &HashMap<OsString, bool>,
        open: &HashMap<OsString, Vec<PathBuf>>,
    ) -> bool {
        let key = file.as_os_str();
        if at_import.get(key).copied().unwrap_or(false) {
            return true;
        }
        if !open.contains_key(key) {
            // Decided before this closure, or not in it.
            return at_import.get(key).copied().unwrap_or(true);
        }
        if !reach[key] {
            return false;
        }
        let Some(summary) = self.built(file) else {
            return false;
        };
        let reaching = |q: &str| self.leads_to_reach(file, q, reach);
        summary.at_import.is_some()
            || summary.import_calls.iter().any(|q| reaching(q))
            || summary.import_modules.iter().any(|m| {
                prefixes(m).any(|name| match self.resolve(file, &name) {
                    Some((module, rest)) if rest.is_empty() && module != file => {
                        at_import.get(module.as_os_str()).copied().unwrap_or(false)
                            || !reach.contains_key(module.as_os_str())
                    }
                    _ => false,
                })
            })
    }

    /// The module's top-level names through which a query can reach a start: callables
    /// with a site or a call into a reaching module, module-level instances of classes
    /// with such methods, and names imported from reaching modules. A query into the
    /// module follows only these, so an importer that never writes one cannot reach.
    fn reaching_names(&self, file: &Path, reach: &HashMap<OsString, bool>) -> HashSet<String> {
        let Some(summary) = self.built(file) else {
            return HashSet::default();
        };
        let reaching = |q: &str| self.leads_to_reach(file, q, reach);
        let mut names: HashSet<String> = summary
            .callables
            .iter()
            .filter(|(_, c)| c.start.is_some() || c.calls.iter().any(|q| reaching(q)))
            .map(|(name, _)| name.split('.').next().unwrap_or_default().to_string())
            .collect();
        for (instance, class) in &summary.instances {
            if names.contains(class) {
                names.insert(instance.clone());
            }
        }
        for (name, target) in &summary.imported {
            if reaching(target) {
                names.insert(name.clone());
            }
        }
        names
    }

    /// Whether a name as the module at `file` writes it lives in a module of the project
    /// that reaches, as far as the closure knows (yes for a module outside it).
    fn leads_to_reach(
        &self,
        file: &Path,
        qualified: &str,
        reach: &HashMap<OsString, bool>,
    ) -> bool {
        self.resolve(file, qualified)
            .is_some_and(|(module, _)| reach.get(module.as_os_str()).copied().unwrap_or(true))
    }

    /// Whether the module's text has one of the names as a whole word, anywhere (strings
    /// and comments too: erring towards yes).
    fn mentions(&self, file: &Path, names: &HashSet<String>) -> bool {
        if names.is_empty() {
            return false;
        }
        let words = self.words(file);
        names.iter().any(|n| words.contains(n))
    }

    fn words(&self, file: &Path) -> Arc<HashSet<String>> {
        if let Some(known) = cached(&self.words, file) {
            return known;
        }
        let text = read_lossy(file);
        let words: HashSet<String> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let words = Arc::new(words);
        if let Ok(mut known) = self.words.lock() {
            known.insert(file.as_os_str().to_owned(), words.clone());
        }
        words
    }

    /// Whether anything this text imports (at any depth of the file) from the project
    /// could start processes when imported or called: what MP001 follows across modules.
    /// It asks the same questions as [`Self::call_starts`] and [`Self::import_starts`], for
    /// every member an import can reach, so a file for which this is false has no
    /// cross-module finding.
    pub fn imports_may_start(&self, importer: &Path, text: &str) -> bool {
        self.any_may_start(importer, &imported_names(import_statements(text)))
    }

    /// [`Self::imports_may_start`] for a file whose import lines were read before (see
    /// [`Self::remember`]), or are read now.
    pub fn file_imports_may_start(&self, importer: &Path) -> bool {
        self.any_may_start(importer, &self.scan(importer).names)
    }

    fn any_may_start(&self, importer: &Path, names: &[String]) -> bool {
        names.iter().any(|name| {
            if self.import_starts(importer, name).is_some() {
                return true;
            }
            let Some((file, rest)) = self.resolve(importer, name) else {
                return false;
            };
            let mut visited = HashSet::default();
            let found = self.exposes(&file, &rest, &mut visited);
            self.settle(found, visited);
            found
        })
    }

    /// Whether a member of the module under `prefix` (all of them when empty) starts
    /// processes when called, or is a module that does when imported: every name that
    /// [`Self::starts`] could be asked about, under that prefix.
    fn exposes(&self, file: &Path, prefix: &str, visited: &mut HashSet<MemberKey>) -> bool {
        if !visited.insert(member_key(file, format!("*{prefix}"))) {
            return false;
        }
        let Some(summary) = self.summary(file) else {
            return false;
        };
        if prefix.is_empty() && summary.at_import.is_some() {
            return true;
        }
        let head = prefix.split('.').next().unwrap_or_default();
        // A module-level instance's methods are its class's.
        let class = summary.instances.get(head).map(String::as_str);
        let under = |name: &str| {
            let first = name.split('.').next();
            prefix.is_empty() || first == Some(head) || (class.is_some() && first == class)
        };
        let callables = summary
            .callables
            .iter()
            .filter(|(name, _)| under(name))
            .any(|(_, c)| {
                self.callable_starts(file.to_path_buf(), c, visited)
                    .is_some()
            });
        callables
            || summary
                .imported
                .iter()
                .filter(|(name, _)| under(name))
                .any(|(_, target)| match self.resolve(file, target) {
                    Some((next, rest)) => self.exposes(&next, &rest, visited),
                    None => false,
                })
    }

    fn summary(&self, file: &Path) -> Option<Arc<Summary>> {
        if !self.reaches(file) {
            return None;
        }
        self.built(file)
    }

    /// Whether the module's own code starts processes anywhere a query can ask about: at
    /// import time or in one of its callables. Every start a query finds ends at such a
    /// site, in a module that imports a process-starting library.
    fn has_sites(&self, file: &Path) -> bool {
        self.built(file).is_some_and(|s| {
            s.at_import.is_some() || s.callables.values().any(|c| c.start.is_some())
        })
    }

    /// The module's summary, built on first use, whatever it reaches.
    fn built(&self, file: &Path) -> Option<Arc<Summary>> {
        let cell = self
            .summaries
            .lock()
            .ok()?
            .entry(file.as_os_str().to_owned())
            .or_default()
            .clone();
        // Building one summary never asks for another: no lock is held across modules.
        cell.get_or_init(|| summarize(file).map(Arc::new)).clone()
    }
}

/// What a cache keyed by path holds for `path`.
fn cached<T: Clone>(cache: &Mutex<HashMap<OsString, T>>, path: &Path) -> Option<T> {
    cache.lock().ok()?.get(path.as_os_str()).cloned()
}

/// A module's text for the cheap scans: whatever it is encoded in, its import lines and
/// words are ASCII. Nothing for a file that cannot be read.
fn read_lossy(file: &Path) -> String {
    match crate::source::read_bytes(file).map(String::from_utf8) {
        Ok(Ok(text)) => text,
        // The check of valid UTF-8 is much faster than the lossy conversion's.
        Ok(Err(e)) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        Err(_) => String::new(),
    }
}

/// `..pkg.mod` -> (`..`, [`pkg`, `mod`]).
fn split(qualified: &str) -> (&str, Vec<&str>) {
    let rest = qualified.trim_start_matches('.');
    let dots = &qualified[..qualified.len() - rest.len()];
    let parts = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('.').collect()
    };
    (dots, parts)
}

/// Import statements found without parsing: `import a.b, c as d` gives (`a.b`, None) and
/// (`c`, None); `from .m import x, (y, z)` (also over several lines) gives (`.m`, [x, y,
/// z]). Lines inside strings may add names that do not exist, which only costs a lookup.
fn import_statements(text: &str) -> Vec<(String, Option<Vec<String>>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    // Only lines with `import` in them are read; those before `resume` were read already.
    let mut resume = 0;
    for at in memchr::memmem::find_iter(bytes, b"import") {
        if at < resume {
            continue;
        }
        let start = memchr::memrchr(b'\n', &bytes[..at]).map_or(0, |n| n + 1);
        let mut end = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |n| at + n);
        resume = end;
        let line = text[start..end].trim_start();
        let line = line.split('#').next().unwrap_or_default();
        if let Some(rest) = line.strip_prefix("import ") {
            for item in rest.split([',', ';']) {
                let name = item.split(" as ").next().unwrap_or_default().trim();
                if is_dotted(name) {
                    out.push((name.to_string(), None));
                }
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let Some((module, names)) = rest.split_once(" import") else {
                continue;
            };
            let module = module.trim();
            if !(is_dotted(module) || module.chars().all(|c| c == '.')) || module.is_empty() {
                continue;
            }
            let mut names = names.to_string();
            if names.contains('(') && !names.contains(')') {
                while end < bytes.len() {
                    let from = end + 1;
                    end = memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |n| from + n);
                    let more = text[from..end].split('#').next().unwrap_or_default();
                    names.push_str(more);
                    if more.contains(')') {
                        break;
                    }
                }
                resume = end;
            }
            let names = names
                .split([',', '(', ')', '\\', ';'])
                .map(|item| item.split(" as ").next().unwrap_or_default().trim())
                .filter(|name| *name == "*" || (!name.is_empty() && is_dotted(name)))
                .map(str::to_string)
                .collect();
            out.push((module.to_string(), Some(names)));
        }
    }
    out
}

/// `module.name` for a name imported from a module (`.x` from `.`).
fn joined(module: &str, name: &str) -> String {
    let separator = if module.ends_with('.') { "" } else { "." };
    format!("{module}{separator}{name}")
}

/// The modules import lines name, each `from` name also as a possible submodule: the
/// edges of the import graph.
fn import_lines(statements: &[(String, Option<Vec<String>>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (module, names) in statements {
        let Some(names) = names else {
            out.push(module.clone());
            continue;
        };
        if !module.chars().all(|c| c == '.') {
            out.push(module.clone());
        }
        out.extend(
            names
                .iter()
                .filter(|n| *n != "*")
                .map(|name| joined(module, name)),
        );
    }
    out
}

/// What import lines bring in: `import a.b` the module `a.b`; `from m import x, y` the
/// members `m.x` and `m.y` (each may be a submodule), and `from m import *` all of `m`.
fn imported_names(statements: Vec<(String, Option<Vec<String>>)>) -> Vec<String> {
    let mut out = Vec::new();
    for (module, names) in statements {
        match names {
            // `import a.b` binds `a`: what the code reaches through it is in `a` or `a.b`
            // (a sibling `a.c` only if something else imported it).
            None => out.extend(prefixes(&module)),
            Some(names) => out.extend(names.iter().map(|name| {
                if name == "*" {
                    module.clone()
                } else {
                    joined(&module, name)
                }
            })),
        }
    }
    out
}

fn is_dotted(name: &str) -> bool {
    let name = name.trim_start_matches('.');
    !name.is_empty()
        && name
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

fn summarize(file: &Path) -> Option<Summary> {
    let text = crate::source::read(file).ok()?.into_source(file).text;
    let parsed = crate::python::parse(&text);
    let model = Model::new(&parsed.module);
    let objects = Objects::new(&model);
    let index = LineIndex::new(&text);
    let line = |offset: u32| index.line_of(offset) as u32 + 1;
    // Calls into other modules are only recorded here; the queries follow them.
    let calls = std::cell::RefCell::new(Vec::new());
    let record = |qualified: &str| -> Option<Remote> {
        calls.borrow_mut().push(qualified.to_string());
        None
    };
    let forced = exec::import_time_start_methods(&model);
    let is_main = file.file_name().is_some_and(|n| n == "__main__.py");

    let reach = Reach::new(&model, &objects, Some(&record));
    let at_import = reach
        .body_starts(&model.module.body, ScopeId::MODULE)
        .filter(|_| !is_main)
        .map(|site| {
            let mut start = site.start;
            start.method = start
                .method
                .or_else(|| exec::method_set_before(&forced, site.range.start));
            (line(site.range.start), start)
        });
    let import_calls = calls.take();
    let import_modules = exec::import_time_imports(&model)
        .into_iter()
        .flat_map(imported_modules)
        .map(|(module, _)| module)
        .collect();

    let mut named: Vec<(String, &FunctionDef)> = Vec::new();
    for stmt in &model.module.body {
        match &stmt.kind {
            StmtKind::FunctionDef(f) => named.push((f.name.name.clone(), f)),
            StmtKind::ClassDef(class) => {
                if let Some(init) = model.method(class, "__init__") {
                    named.push((class.name.name.clone(), init));
                }
                for item in &class.body {
                    if let StmtKind::FunctionDef(m) = &item.kind {
                        named.push((format!("{}.{}", class.name.name, m.name.name), m));
                    }
                }
            }
            _ => {}
        }
    }
    let mut callables = HashMap::default();
    for (name, f) in named {
        // A fresh walk per name: its record is what calling that name reaches.
        let reach = Reach::new(&model, &objects, Some(&record));
        let start = reach
            .function_starts(f)
            .map(|site| (line(site.range.start), site.start));
        callables.insert(
            name,
            Callable {
                start,
                calls: calls.take(),
            },
        );
    }
    let mut imported = HashMap::default();
    let mut instances = HashMap::default();
    // `runner = Runner()` at module level: `runner.go` is `Runner.go`, here or elsewhere.
    for stmt in &model.module.body {
        if let StmtKind::Assign { targets, value } = &stmt.kind
            && let [target] = targets.as_slice()
            && let Some(name) = target.as_name()
        {
            match model.resolve(value, ScopeId::MODULE) {
                Value::LocalInstance(class) => {
                    instances.insert(name.to_string(), class.name.name.clone());
                }
                Value::Returned(path) => {
                    imported.insert(name.to_string(), path);
                }
                _ => {}
            }
        }
    }
    for stmt in exec::import_time_imports(&model) {
        if let StmtKind::ImportFrom {
            module,
            level,
            names,
        } = &stmt.kind
        {
            for alias in names.iter().filter(|a| a.name != "*") {
                let local = alias.asname.as_ref().map_or(&alias.name, |a| &a.name);
                imported.insert(
                    local.clone(),
                    member_path(module.as_deref(), *level, &alias.name),
                );
            }
        }
    }
    Some(Summary {
        at_import,
        import_calls,
        import_modules,
        callables,
        imported,
        instances,
    })
}

/// The modules an import statement imports, each with the range that names it:
/// `import a.b` names `a.b` (and so `a`) at the alias; `from .m import x` names `.m` at the
/// statement, and `.m.x`, in case `x` is a submodule, at the name.
pub fn imported_modules(stmt: &Stmt) -> Vec<(String, Range)> {
    match &stmt.kind {
        StmtKind::Import(names) => names.iter().map(|a| (a.name.clone(), a.range)).collect(),
        StmtKind::ImportFrom {
            module,
            level,
            names,
        } => module
            .iter()
            .map(|m| (format!("{}{m}", ".".repeat(*level as usize)), stmt.range))
            .chain(
                names
                    .iter()
                    .filter(|a| a.name != "*")
                    .map(|a| (member_path(module.as_deref(), *level, &a.name), a.range)),
            )
            .collect(),
        _ => Vec::new(),
    }
}

/// `..a.b.c` -> `..a`, `..a.b`, `..a.b.c`: the modules importing it imports, in order.
fn prefixes(qualified: &str) -> impl Iterator<Item = String> + '_ {
    let (dots, parts) = split(qualified);
    (1..=parts.len()).map(move |n| format!("{dots}{}", parts[..n].join(".")))
}

/// What `from <module> import <name>` names, as the semantic model spells it.
pub fn member_path(module: Option<&str>, level: u32, name: &str) -> String {
    let dots = ".".repeat(level as usize);
    match module {
        Some(m) => format!("{dots}{m}.{name}"),
        None => format!("{dots}{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_lines_are_found_without_parsing() {
        let text = "import a.b, c as d\nfrom .m import (x,\n    y)  # note\nfrom .. import z\n\
                    from pkg import *\n    import e; import f\n";
        assert_eq!(
            import_lines(&import_statements(text)),
            ["a.b", "c", ".m", ".m.x", ".m.y", "..z", "pkg", "e"]
        );
        let crlf = "from a import (b,  # important\r\n    c)\r\nimport d\r\nx = 'import e'\r\n";
        assert_eq!(
            import_lines(&import_statements(crlf)),
            ["a", "a.b", "a.c", "d"]
        );
    }

    /// The fixture package: `relay` and `loop` import each other and reach `starters`
    /// through names they write; `bystander` imports `starters` but writes none of its
    /// names that start processes, so it is never summarised for the queries.
    #[test]
    fn reach_follows_the_names_a_module_writes_through_cycles() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/MP001/mp001_project");
        let project = Project::default();
        for (module, reaches) in [
            ("bystander.py", false),
            ("loop.py", true),
            ("relay.py", true),
            ("quiet.py", false),
            // Through `mp001_project.tools`, the package that `import
            // mp001_project.tools.extra` imports on the way.
            ("via_package.py", true),
            ("tools/extra.py", false),
            ("api.py", true),
            ("starters.py", true),
            ("__init__.py", false),
        ] {
            assert_eq!(project.reaches(&root.join(module)), reaches, "{module}");
        }
        // The same answers whichever module is asked first.
        let fresh = Project::default();
        assert!(!fresh.reaches(&root.join("bystander.py")));
        assert!(fresh.reaches(&root.join("relay.py")));
        assert!(fresh.reaches(&root.join("loop.py")));
        let importer = root.join("user.py");
        assert!(
            project
                .call_starts(&importer, "mp001_project.loop.go")
                .is_some()
        );
        assert!(
            project
                .call_starts(&importer, "mp001_project.bystander.describe")
                .is_none()
        );
    }

    #[test]
    fn relative_names_split_into_dots_and_parts() {
        assert_eq!(split("..pkg.mod"), ("..", vec!["pkg", "mod"]));
        assert_eq!(split("."), (".", vec![]));
        assert_eq!(split("a"), ("", vec!["a"]));
    }
}
