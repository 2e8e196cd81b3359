//! What the command's standard error says about multiprocessing: the resource tracker's
//! warnings, the bootstrapping error of a program without a main guard, a broken pool.
//!
//! Lines are matched on the parts CPython has printed unchanged from 3.8 to 3.14, never
//! on file paths or line numbers of the standard library.

use std::collections::BTreeMap;

/// One kind of message, with what varies inside it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Message {
    /// "resource_tracker: There appear to be N leaked KIND objects to clean up at shutdown",
    /// followed on 3.13+ by the set of names.
    TrackerLeaked {
        kind: String,
        count: u64,
        names: Vec<String>,
    },
    /// "resource_tracker: '/psm_x': [Errno 2] No such file or directory": the tracker was
    /// told about a segment that someone else had already removed.
    TrackerMissing { name: String },
    /// Another error of the tracker while cleaning a name.
    TrackerFailed { name: String, error: String },
    /// "resource_tracker: process died unexpectedly, relaunching."
    TrackerRelaunched,
    /// The `RuntimeError` of a child that re-imported a main module without a guard.
    Bootstrapping,
    /// `BrokenProcessPool`: a worker of a `ProcessPoolExecutor` died.
    BrokenPool,
    /// "Can't get attribute 'f' on <module '__main__'": a spawned child could not find a
    /// function of the main module.
    MissingInMain { attribute: String },
    /// "Can't pickle ..." / "cannot pickle ...": something sent to a child cannot be pickled.
    Unpicklable { what: String },
    /// Python 3.12+: "This process (pid=N) is multi-threaded, use of fork() may lead to
    /// deadlocks in the child."
    ForkWithThreads,
    /// "KeyError: '/psm_x'": the end of the resource tracker's traceback when a name was
    /// unregistered twice (a child of the creator unregistered it).
    TrackerKeyError { name: String },
    /// "BufferError: cannot close exported pointers exist": a SharedMemory closed (or
    /// collected) while a view of its buffer was alive.
    ExportedBuffer,
    /// "ValueError: Pool is still running": `join()` on a pool not closed or terminated.
    PoolStillRunning,
    /// "RuntimeError: context has already been set": `set_start_method()` a second time
    /// (at import time in a child, or after the default context was used).
    ContextAlreadySet,
    /// "RuntimeError: Queue objects should only be shared between processes through
    /// inheritance": a lock, queue or shared value pickled after the processes started.
    SharedThroughInheritance { what: String },
}

/// Collects the recognised messages of a stream, line by line, with their counts. Keeps
/// nothing else, so a run that prints gigabytes costs no memory.
#[derive(Debug, Default)]
pub struct Scanner {
    pending: Vec<u8>,
    pub found: BTreeMap<Message, usize>,
    /// The first line that said each message, as printed (shortened).
    pub samples: BTreeMap<Message, String>,
}

/// A line longer than this is cut: no message we look for is near it.
const MAX_LINE: usize = 64 * 1024;
const MAX_SAMPLE: usize = 300;

impl Scanner {
    /// Lines end at `\n` or `\r` (progress bars redraw with `\r`). Of a longer line only
    /// the end is kept: a warning printed after output without a newline lands there.
    pub fn feed(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|b| matches!(*b, b'\n' | b'\r')) {
            self.pending.extend_from_slice(chunk);
            if self.pending.len() > MAX_LINE {
                let extra = self.pending.len() - MAX_LINE;
                self.pending.drain(..extra);
            }
            if chunk.ends_with(b"\n") || chunk.ends_with(b"\r") {
                self.line_done();
            }
        }
    }

    pub fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.line_done();
        }
    }

    fn line_done(&mut self) {
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        if let Some(message) = recognise(&line) {
            *self.found.entry(message.clone()).or_insert(0) += 1;
            self.samples.entry(message).or_insert_with(|| {
                let line = line.trim();
                let cut: String = line.chars().take(MAX_SAMPLE).collect();
                crate::shm::escape_name(cut.as_bytes())
            });
        }
    }
}

pub fn recognise(line: &str) -> Option<Message> {
    let line = line.trim_end_matches(['\n', '\r']);
    // The `warnings.warn(...)` source line that Python echoes under a warning quotes the
    // format string, never the values: it must not count twice.
    if line.trim_start().starts_with("warnings.warn(") {
        return None;
    }
    if let Some(rest) = after(line, "resource_tracker: There appear to be ") {
        let (count, rest) = rest.split_once(' ')?;
        let (kind, rest) = rest.strip_prefix("leaked ")?.split_once(" objects")?;
        // 3.13+: "...at shutdown: {'/psm_a', '/psm_b'}", in no particular order.
        let mut names: Vec<String> = rest
            .split_once(": {")
            .map(|(_, set)| {
                set.trim_end_matches('}')
                    .split(", ")
                    .map(|n| n.trim_matches(['\'', '"']).to_string())
                    .filter(|n| !n.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        return Some(Message::TrackerLeaked {
            kind: kind.to_string(),
            count: count.parse().ok()?,
            names,
        });
    }
    if line.contains("resource_tracker: process died unexpectedly, relaunching") {
        return Some(Message::TrackerRelaunched);
    }
    if let Some(rest) = after(line, "resource_tracker: '") {
        let (name, error) = rest.split_once("': ")?;
        return Some(if error.starts_with("[Errno 2]") {
            Message::TrackerMissing {
                name: name.to_string(),
            }
        } else {
            Message::TrackerFailed {
                name: name.to_string(),
                error: error.to_string(),
            }
        });
    }
    if line.contains("An attempt has been made to start a new process before the") {
        return Some(Message::Bootstrapping);
    }
    if line.contains("BrokenProcessPool")
        || line.contains("A process in the process pool was terminated abruptly")
    {
        return Some(Message::BrokenPool);
    }
    if let Some(rest) = after(line, "Can't get attribute '") {
        let (attribute, rest) = rest.split_once('\'')?;
        // Spawned children import the main module as `__mp_main__`.
        if rest.contains("<module '__main__'") || rest.contains("<module '__mp_main__'") {
            return Some(Message::MissingInMain {
                attribute: attribute.to_string(),
            });
        }
    }
    for prefix in ["Can't pickle ", "cannot pickle "] {
        if let Some(rest) = after(line, prefix) {
            let what = rest
                .split(": ")
                .next()
                .unwrap_or(rest)
                .trim_end_matches(':');
            return Some(Message::Unpicklable {
                what: what.to_string(),
            });
        }
    }
    if line.contains("is multi-threaded, use of fork() may lead to deadlocks") {
        return Some(Message::ForkWithThreads);
    }
    // Shared-memory names only: a program's own KeyError is none of ours.
    if let Some(rest) = line.strip_prefix("KeyError: '")
        && let Some(name) = rest.strip_suffix('\'')
        && name.starts_with("/psm_")
    {
        return Some(Message::TrackerKeyError {
            name: name.to_string(),
        });
    }
    if line.contains("BufferError: cannot close exported pointers exist") {
        return Some(Message::ExportedBuffer);
    }
    if line.contains("ValueError: Pool is still running") {
        return Some(Message::PoolStillRunning);
    }
    if let Some(rest) = after(line, "RuntimeError: ")
        && let Some((what, _)) =
            rest.split_once(" objects should only be shared between processes through inheritance")
    {
        return Some(Message::SharedThroughInheritance {
            what: what.to_string(),
        });
    }
    if line.contains("RuntimeError: context has already been set") {
        return Some(Message::ContextAlreadySet);
    }
    None
}

fn after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    line.find(marker).map(|i| &line[i + marker.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_set_start_method_is_recognised() {
        assert_eq!(
            recognise("RuntimeError: context has already been set"),
            Some(Message::ContextAlreadySet)
        );
    }

    #[test]
    fn shared_memory_errors_are_recognised_only_for_segment_names() {
        assert_eq!(
            recognise("KeyError: '/psm_4cfa473d'"),
            Some(Message::TrackerKeyError {
                name: "/psm_4cfa473d".into()
            })
        );
        assert_eq!(recognise("KeyError: 'user_id'"), None);
        assert_eq!(
            recognise("BufferError: cannot close exported pointers exist"),
            Some(Message::ExportedBuffer)
        );
        assert_eq!(
            recognise("ValueError: Pool is still running"),
            Some(Message::PoolStillRunning)
        );
    }

    #[test]
    fn tracker_messages() {
        let warn = "/usr/lib/python3.11/multiprocessing/resource_tracker.py:224: UserWarning: \
                    resource_tracker: There appear to be 2 leaked shared_memory objects to \
                    clean up at shutdown";
        assert_eq!(
            recognise(warn),
            Some(Message::TrackerLeaked {
                kind: "shared_memory".into(),
                count: 2,
                names: Vec::new(),
            })
        );
        assert_eq!(
            recognise(
                "P:276: UserWarning: resource_tracker: There appear to be 2 leaked \
                 shared_memory objects to clean up at shutdown: {'/psm_b', '/psm_a'}"
            ),
            Some(Message::TrackerLeaked {
                kind: "shared_memory".into(),
                count: 2,
                names: vec!["/psm_a".into(), "/psm_b".into()],
            })
        );
        assert_eq!(
            recognise("  warnings.warn('resource_tracker: There appear to be %d '"),
            None
        );
        assert_eq!(
            recognise(
                "x.py:237: UserWarning: resource_tracker: '/psm_ab12': [Errno 2] No such file \
                 or directory: '/psm_ab12'"
            ),
            Some(Message::TrackerMissing {
                name: "/psm_ab12".into()
            })
        );
        assert_eq!(
            recognise(
                "UserWarning: resource_tracker: process died unexpectedly, relaunching.  Some \
                 resources might leak."
            ),
            Some(Message::TrackerRelaunched)
        );
    }

    #[test]
    fn errors_of_children() {
        assert_eq!(
            recognise("        An attempt has been made to start a new process before the"),
            Some(Message::Bootstrapping)
        );
        assert_eq!(
            recognise(
                "AttributeError: Can't get attribute 'work' on <module '__main__' (built-in)>"
            ),
            Some(Message::MissingInMain {
                attribute: "work".into()
            })
        );
        assert_eq!(
            recognise("AttributeError: Can't pickle local object 'main.<locals>.f'"),
            Some(Message::Unpicklable {
                what: "local object 'main.<locals>.f'".into()
            })
        );
        assert_eq!(
            recognise("TypeError: cannot pickle '_thread.lock' object"),
            Some(Message::Unpicklable {
                what: "'_thread.lock' object".into()
            })
        );
        assert_eq!(recognise("an ordinary line"), None);
    }

    #[test]
    fn scanner_counts_split_lines() {
        let mut s = Scanner::default();
        s.feed(b"noise\nUserWarning: resource_tracker: There appear to be 1 leaked sema");
        s.feed(b"phore objects to clean up at shutdown\n");
        s.feed(b"UserWarning: resource_tracker: There appear to be 1 leaked semaphore objects");
        s.finish();
        // After a 200 KB progress line without a newline, and after `\r` redraws.
        s.feed(&vec![b'#'; 200_000]);
        s.feed(b"x.py:1: UserWarning: resource_tracker: There appear to be 1 leaked semaphore objects to clean up at shutdown\n");
        s.feed(b"50%\r60%\rUserWarning: resource_tracker: There appear to be 1 leaked semaphore objects\r");
        assert_eq!(
            s.found.get(&Message::TrackerLeaked {
                kind: "semaphore".into(),
                count: 1,
                names: Vec::new(),
            }),
            Some(&4)
        );
    }
}
