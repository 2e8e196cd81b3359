//! `mpdoctor shm`: the logic on fake `/proc` and `/dev/shm` trees, then real processes
//! and segments.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::{python_available, skipped};

fn mpdoctor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mpdoctor"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn item<'v>(doc: &'v serde_json::Value, name: &str) -> Option<&'v serde_json::Value> {
    doc["report"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
}

/// A fake shared-memory directory and process table.
struct Fake {
    _root: tempfile::TempDir,
    shm: PathBuf,
    proc: PathBuf,
    boot: i64,
}

const TICKS: i64 = 100;

impl Fake {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let shm = root.path().join("shm");
        let proc = root.path().join("proc");
        std::fs::create_dir_all(&shm).unwrap();
        std::fs::create_dir_all(&proc).unwrap();
        let boot = now() - 100_000;
        std::fs::write(proc.join("stat"), format!("cpu 0 0 0 0\nbtime {boot}\n")).unwrap();
        let fake = Fake {
            _root: root,
            shm,
            proc,
            boot,
        };
        // An init that holds nothing: an empty process table is refused.
        fake.process(1, 90_000, &[], &[]);
        fake
    }

    /// A new file. Ages come from creation times, which a test cannot set back, so
    /// `Fake::shm` runs with `--min-age 0` unless a test asks for another.
    fn file(&self, name: &str, size: usize) -> PathBuf {
        let path = self.shm.join(name);
        std::fs::write(&path, vec![0u8; size]).unwrap();
        path
    }

    fn ino(&self, name: &str) -> (u64, u64) {
        let m = std::fs::symlink_metadata(self.shm.join(name)).unwrap();
        (m.dev(), m.ino())
    }

    /// A process started `started_ago` seconds ago, holding `fds` by descriptor and
    /// `maps` (dev, ino, path shown) by mapping.
    fn process(
        &self,
        pid: i32,
        started_ago: i64,
        fds: &[&str],
        maps: &[((u64, u64), &str)],
    ) -> PathBuf {
        let dir = self.proc.join(pid.to_string());
        std::fs::create_dir_all(dir.join("fd")).unwrap();
        let start_ticks = (now() - started_ago - self.boot) * TICKS;
        let mut fields: Vec<String> = vec!["0".into(); 49];
        fields[0] = "1".into(); // ppid
        fields[16] = "1".into(); // threads
        fields[18] = start_ticks.to_string(); // starttime (field 22)
        std::fs::write(
            dir.join("stat"),
            format!("{pid} (python3) S {}\n", fields.join(" ")),
        )
        .unwrap();
        std::fs::write(dir.join("cmdline"), format!("python3\0worker-{pid}\0")).unwrap();
        for (i, name) in fds.iter().enumerate() {
            std::os::unix::fs::symlink(
                self.shm.join(name),
                dir.join("fd").join((i + 3).to_string()),
            )
            .unwrap();
        }
        let mut text = String::new();
        for (i, ((dev, ino), shown)) in maps.iter().enumerate() {
            let start = 0x7f00_0000_0000u64 + (i as u64) * 0x10_0000;
            text.push_str(&format!(
                "{start:x}-{:x} rw-s 00000000 {:02x}:{:02x} {ino} {shown}\n",
                start + 0x2000,
                rustix::fs::major(*dev),
                rustix::fs::minor(*dev)
            ));
        }
        std::fs::write(dir.join("maps"), text).unwrap();
        dir
    }

    fn shm(&self, extra: &[&str]) -> Output {
        let mut args = vec![
            "shm",
            "--json",
            "--dir",
            self.shm.to_str().unwrap(),
            "--proc",
            self.proc.to_str().unwrap(),
        ];
        if !extra.contains(&"--min-age") {
            args.extend(["--min-age", "0"]);
        }
        args.extend(extra);
        mpdoctor(&args)
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn holders_are_found_by_inode_through_descriptors_and_mappings() {
    let fake = Fake::new();
    fake.file("psm_0000aaaa", 4096);
    fake.file("sem.mp-heldbymap", 32);
    fake.file("psm_0000bbbb", 8192);
    fake.file("psm_0000cccc", 100);
    let sem = fake.ino("sem.mp-heldbymap");
    // A live glibc semaphore is mapped under a temporary name that was since unlinked.
    let shown = format!("{}/sem.Xy12ab (deleted)", fake.shm.display());
    fake.process(
        100,
        10_000,
        &["psm_0000aaaa", "psm_0000aaaa"],
        &[(sem, &shown)],
    );
    let out = fake.shm(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    let a = item(&doc, "psm_0000aaaa").unwrap();
    assert_eq!(a["verdict"], "in-use");
    assert_eq!(a["holders"][0]["pid"], 100);
    assert_eq!(a["holders"][0]["how"], serde_json::json!(["fd"]));
    let s = item(&doc, "sem.mp-heldbymap").unwrap();
    assert_eq!(
        s["verdict"], "in-use",
        "matched by inode, not by the name in maps"
    );
    assert_eq!(s["holders"][0]["how"], serde_json::json!(["map"]));
    let b = item(&doc, "psm_0000bbbb").unwrap();
    assert_eq!(b["verdict"], "leaked");
    assert_eq!(b["origin"], "python-shared-memory");
    let young = json(&fake.shm(&["--min-age", "100000"]));
    let c = item(&young, "psm_0000cccc").unwrap();
    assert_eq!(c["verdict"], "unknown", "younger than --min-age");
    // The semaphore's mapping has a name, so it is not memory nobody sees.
    assert_eq!(doc["report"]["deleted_mappings"], serde_json::json!([]));
}

#[test]
fn deleted_but_mapped_memory_is_counted_per_process() {
    let fake = Fake::new();
    fake.file("pym-1-gone", 8192);
    let gone = fake.ino("pym-1-gone");
    std::fs::remove_file(fake.shm.join("pym-1-gone")).unwrap();
    let shown = format!("{}/pym-1-gone (deleted)", fake.shm.display());
    fake.process(200, 100, &[], &[(gone, &shown)]);
    let doc = json(&fake.shm(&[]));
    assert_eq!(doc["report"]["deleted_mappings"][0]["pid"], 200);
    assert_eq!(doc["report"]["deleted_mappings"][0]["bytes"], 0x2000);
}

#[test]
fn an_entry_only_unreadable_processes_could_hold_is_likely_leaked_and_kept() {
    let fake = Fake::new();
    fake.file("psm_0000dddd", 4096);
    let dir = fake.process(300, 100, &[], &[]);
    // A descriptor table that cannot be listed, as for another user's process.
    std::fs::remove_dir(dir.join("fd")).unwrap();
    std::fs::write(dir.join("fd"), "").unwrap();
    let out = fake.shm(&[]);
    let doc = json(&out);
    let d = item(&doc, "psm_0000dddd").unwrap();
    assert_eq!(d["verdict"], "likely-leaked", "{d}");
    let reason = d["reason"].as_str().unwrap();
    // Named short (pid, user, program); the whole command line is only in the JSON.
    assert!(reason.contains("pid 300 ("), "{reason}");
    assert!(reason.ends_with(", python3)"), "{reason}");
    assert_eq!(d["could_hold"][0]["cmdline"], "python3 worker-300");
    // Root is never told to use sudo: what root cannot read, it is told to disregard.
    let advice = doc["report"]["unreadable_advice"].as_str().unwrap();
    if rustix::process::geteuid().is_root() {
        assert!(advice.contains("`--disregard 300`"), "{advice}");
        assert!(!advice.contains("sudo"), "{advice}");
    } else {
        assert!(advice.contains("sudo mpdoctor shm"), "{advice}");
    }
    assert_eq!(d["could_hold"][0]["pid"], 300);
    assert_eq!(doc["report"]["unreadable_processes"], 1);
    assert_eq!(
        out.status.code(),
        Some(3),
        "likely leaks have their own exit code"
    );
    // --clean removes nothing that is only likely leaked, and says so.
    let clean = fake.shm(&["--clean", "--yes"]);
    assert!(
        fake.shm.join("psm_0000dddd").exists(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    let clean = json(&clean);
    assert_eq!(clean["clean"][0]["outcome"], "skipped", "{clean:#}");
    assert!(
        clean["clean"][0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("likely-leaked: no readable process holds it")
    );
    // Too young: it cannot be told.
    let young = json(&fake.shm(&["--min-age", "100000"]));
    assert_eq!(item(&young, "psm_0000dddd").unwrap()["verdict"], "unknown");
    // The Prometheus metrics and the verdict filter carry it.
    let prom = fake.shm.parent().unwrap().join("metrics.prom");
    fake.shm(&["--prometheus", prom.to_str().unwrap()]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains(
            "mpdoctor_shm_entries{verdict=\"likely-leaked\",origin=\"python-shared-memory\"} 1"
        ),
        "{text}"
    );
    let filtered = json(&fake.shm(&["--verdict", "likely-leaked"]));
    assert_eq!(filtered["report"]["items"].as_array().unwrap().len(), 1);
    // Naming the unreadable process as one to disregard makes it leaked, and cleanable.
    let vouched = json(&fake.shm(&["--disregard", "300"]));
    let d = item(&vouched, "psm_0000dddd").unwrap();
    assert_eq!(d["verdict"], "leaked", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("disregarding"));
    let clean = fake.shm(&["--clean", "--yes", "--disregard", "300"]);
    assert!(
        !fake.shm.join("psm_0000dddd").exists(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[test]
fn a_live_creator_keeps_an_unheld_entry_unknown() {
    let fake = Fake::new();
    // The creator (pid 401, named in the torch name) runs and is readable; 300 is not.
    fake.file("torch_401_1_0", 4096);
    fake.process(401, 100_000, &[], &[]);
    let dir = fake.process(300, 100, &[], &[]);
    std::fs::remove_dir(dir.join("fd")).unwrap();
    std::fs::write(dir.join("fd"), "").unwrap();
    let doc = json(&fake.shm(&[]));
    let d = item(&doc, "torch_401_1_0").unwrap();
    assert_eq!(d["verdict"], "unknown", "{d}");
    assert!(d["reason"].as_str().unwrap().contains("still runs"));
}

#[test]
fn pids_in_names_are_checked_against_reuse() {
    let fake = Fake::new();
    fake.file("torch_400_1_0", 4096);
    fake.file("torch_401_1_0", 4096);
    fake.file("__KMP_REGISTERED_LIB_402_0", 64);
    // pid 400 started long before the segment: its creator. pid 401 started after it:
    // the pid was reused. pid 402 does not exist.
    fake.process(400, 50_000, &[], &[]);
    fake.process(401, -100, &[], &[]);
    let doc = json(&fake.shm(&[]));
    let alive = |n: &str| item(&doc, n).unwrap()["creator_alive"].clone();
    assert_eq!(alive("torch_400_1_0"), true);
    assert_eq!(alive("torch_401_1_0"), false);
    assert_eq!(alive("__KMP_REGISTERED_LIB_402_0"), false);
    assert_eq!(
        item(&doc, "__KMP_REGISTERED_LIB_402_0").unwrap()["origin"],
        "openmp"
    );
    assert!(
        item(&doc, "torch_401_1_0").unwrap()["reason"]
            .as_str()
            .unwrap()
            .contains("creator (pid 401) is gone")
    );
}

#[test]
fn hostile_names_links_and_directories() {
    let fake = Fake::new();
    fake.file("evil\x1b[2Jname\n", 16);
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("precious");
    std::fs::write(&target, "keep me").unwrap();
    std::os::unix::fs::symlink(&target, fake.shm.join("psm_1111aaaa")).unwrap();
    let folder = fake.shm.join("joblib_memmapping_folder_77_aa_bb");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("77-1-x.pkl"), "data").unwrap();
    let table = mpdoctor(&[
        "shm",
        "--dir",
        fake.shm.to_str().unwrap(),
        "--proc",
        fake.proc.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("evil\\x1b[2Jname\\x0a"), "{text}");
    assert!(!text.contains('\x1b'), "no raw escape reaches the terminal");
    let doc = json(&fake.shm(&[]));
    let link = item(&doc, "psm_1111aaaa").unwrap();
    assert_eq!(link["kind"], "symlink");
    assert_eq!(link["verdict"], "unknown");
    let dir = item(&doc, "joblib_memmapping_folder_77_aa_bb").unwrap();
    assert_eq!(dir["verdict"], "leaked");
    // Without --include-dirs a directory is refused; links are never touched.
    let refused = json(&fake.shm(&["--clean", "--yes"]));
    assert!(folder.exists());
    assert!(
        refused["clean"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["outcome"] == "refused")
    );
    let removed = json(&fake.shm(&["--clean", "--yes", "--include-dirs"]));
    assert!(!folder.exists(), "{removed}");
    assert!(fake.shm.join("psm_1111aaaa").symlink_metadata().is_ok());
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
}

#[test]
fn clean_removes_only_what_leaked_and_only_with_yes() {
    let fake = Fake::new();
    fake.file("psm_0000eeee", 4096);
    fake.file("psm_0000ffff", 4096);
    fake.process(500, 10_000, &["psm_0000ffff"], &[]);
    let dry = fake.shm(&["--clean"]);
    assert!(
        fake.shm.join("psm_0000eeee").exists(),
        "a dry run removes nothing"
    );
    let dry = json(&dry);
    assert_eq!(dry["clean"][0]["outcome"], "would-remove");
    let out = fake.shm(&["--clean", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "every leak was removed");
    assert!(!fake.shm.join("psm_0000eeee").exists());
    assert!(fake.shm.join("psm_0000ffff").exists(), "held");
    // An entry younger than --min-age stays, whatever else holds.
    fake.file("psm_00001111", 4096);
    let young = fake.shm(&["--clean", "--yes", "--min-age", "100000"]);
    assert!(fake.shm.join("psm_00001111").exists(), "too young");
    assert_eq!(
        young.status.code(),
        Some(0),
        "nothing is known to be leaked"
    );
}

#[test]
fn filters_formats_and_exit_codes() {
    let fake = Fake::new();
    fake.file("psm_0000abcd", 4096);
    fake.file("sem.mp-abc", 32);
    let only_sem = json(&fake.shm(&["--origin", "python-semaphore"]));
    assert_eq!(only_sem["report"]["items"].as_array().unwrap().len(), 1);
    let in_use = fake.shm(&["--verdict", "in-use"]);
    assert_eq!(in_use.status.code(), Some(0));
    let prom = fake.shm.parent().unwrap().join("metrics/mpdoctor.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let out = fake.shm(&["--prometheus", prom.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("mpdoctor_shm_entries{verdict=\"leaked\",origin=\"python-shared-memory\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE mpdoctor_shm_bytes gauge"));
    assert!(text.contains("mpdoctor_shm_unreadable_processes 0"));
    assert!(text.contains("mpdoctor_shm_filesystem_free_bytes "));
    let bad = mpdoctor(&["shm", "--dir", "/nonexistent/shm"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/shm"));
    assert_eq!(
        mpdoctor(&["shm", "--verdict", "gone"]).status.code(),
        Some(2)
    );
}

// --- real processes and segments ---

/// A view of the real `/proc` with every process whose tables can be read: in some
/// sandboxes even root cannot read pid 1's, which would make every verdict `unknown`.
fn readable_proc_view() -> tempfile::TempDir {
    let view = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/proc/stat", view.path().join("stat")).unwrap();
    std::os::unix::fs::symlink("/proc/sysvipc", view.path().join("sysvipc")).unwrap();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let readable = std::fs::read_to_string(entry.path().join("maps")).is_ok()
            && std::fs::read_dir(entry.path().join("fd")).is_ok();
        if readable {
            let _ = std::os::unix::fs::symlink(entry.path(), view.path().join(pid));
        }
    }
    view
}

/// A python3 process in its own process group, killed with the group when dropped.
struct Py {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Py {
    fn start(code: &str) -> Py {
        Py::start_args(code, &[])
    }

    fn start_args(code: &str, args: &[&str]) -> Py {
        let mut child = Command::new("python3")
            .args(["-c", code])
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Py { child, stdout }
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().to_string()
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn kill_group(&mut self) {
        // SAFETY: signals a process group this test created.
        unsafe {
            libc::kill(-self.pid(), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Py {
    fn drop(&mut self) {
        let _ = self.child.stdin.take().map(|mut s| s.write_all(b"\n"));
        self.kill_group();
    }
}

/// Removes a segment from /dev/shm when dropped, whatever the test did.
struct Segment(PathBuf);

impl Drop for Segment {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Removes System V segments when dropped, whatever the test did.
struct SysvSegments(Vec<i32>);

impl Drop for SysvSegments {
    fn drop(&mut self) {
        for id in &self.0 {
            // SAFETY: IPC_RMID on a segment this test created; takes no buffer.
            unsafe { libc::shmctl(*id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}

/// Python that makes System V segments through libc: `attached` of them attached.
const SYSV: &str = "import ctypes, sys\n\
    libc = ctypes.CDLL(None, use_errno=True)\n\
    libc.shmat.restype = ctypes.c_void_p\n\
    ids = [libc.shmget(0, 65536, 0o1000 | 0o600) for _ in range(int(sys.argv[1]))]\n\
    for i in ids[:int(sys.argv[2])]:\n    libc.shmat(i, None, 0)\n\
    print(' '.join(map(str, ids)), flush=True)\n\
    sys.stdin.readline()\n";

fn sysv(doc: &serde_json::Value, shmid: i32) -> Option<&serde_json::Value> {
    doc["report"]["sysv"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["shmid"] == shmid)
}

fn real_shm(proc: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "shm",
        "--json",
        "--dir",
        "/dev/shm",
        "--proc",
        proc.to_str().unwrap(),
    ];
    args.extend(extra);
    json(&mpdoctor(&args))
}

#[test]
fn a_live_shared_memory_segment_is_in_use_by_its_process() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let mut py = Py::start(
        "from multiprocessing import shared_memory\nimport sys\n\
         s = shared_memory.SharedMemory(create=True, size=1 << 20)\n\
         print(s.name, flush=True)\nsys.stdin.readline()\ns.close()\ns.unlink()\n",
    );
    let name = py.line();
    let _segment = Segment(Path::new("/dev/shm").join(&name));
    let view = readable_proc_view();
    let doc = real_shm(view.path(), &["--min-age", "0"]);
    let entry = item(&doc, &name).unwrap_or_else(|| panic!("{name} not listed: {doc}"));
    assert_eq!(entry["verdict"], "in-use");
    let pids: Vec<i64> = entry["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_i64().unwrap())
        .collect();
    assert!(pids.contains(&(py.pid() as i64)), "{entry}");
    let how = &entry["holders"][0]["how"];
    assert_eq!(
        how,
        &serde_json::json!(["fd", "map"]),
        "Python keeps an fd and a mapping"
    );
}

#[test]
fn a_segment_leaked_by_killing_its_creator_and_tracker_is_leaked_and_cleaned() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let mut py = Py::start(
        "from multiprocessing import shared_memory\nimport sys\n\
         s = shared_memory.SharedMemory(create=True, size=65536)\n\
         print(s.name, flush=True)\nsys.stdin.readline()\n",
    );
    let name = py.line();
    let path = Path::new("/dev/shm").join(&name);
    let _segment = Segment(path.clone());
    // SIGKILL to the whole group takes the resource tracker too: nobody unlinks it.
    py.kill_group();
    std::thread::sleep(Duration::from_millis(200));
    assert!(path.exists(), "the segment outlives its creator");
    let view = readable_proc_view();
    let doc = real_shm(view.path(), &["--min-age", "0"]);
    assert_eq!(item(&doc, &name).unwrap()["verdict"], "leaked", "{doc}");
    // Cleaning the real /dev/shm could touch other programs' entries: the segment moves
    // into a directory of this test's own on the same filesystem first.
    let own = tempfile::Builder::new()
        .prefix("mpdoctor-test-")
        .tempdir_in("/dev/shm")
        .unwrap();
    let moved = own.path().join(&name);
    std::fs::rename(&path, &moved).unwrap();
    let cleaned = clean_own_dir(own.path());
    assert!(
        !moved.exists(),
        "{}",
        String::from_utf8_lossy(&cleaned.stdout)
    );
}

#[test]
fn a_live_spawn_semaphore_is_in_use_although_mapped_under_another_name() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let mut py = Py::start(
        // The lock's own name: other tests create semaphores at the same time.
        "import multiprocessing as mp, sys\n\
         lock = mp.get_context('spawn').Lock()\n\
         print('sem.' + lock._semlock.name.lstrip('/'), flush=True)\nsys.stdin.readline()\n",
    );
    let name = py.line();
    let _segment = Segment(Path::new("/dev/shm").join(&name));
    assert!(name.starts_with("sem.mp-"), "{name}");
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", py.pid())).unwrap();
    assert!(
        !maps.contains(&name),
        "the holder maps it under a temporary name"
    );
    let view = readable_proc_view();
    let doc = real_shm(view.path(), &["--min-age", "0"]);
    let entry = item(&doc, &name).unwrap();
    assert_eq!(entry["verdict"], "in-use", "{entry}");
    assert_eq!(entry["origin"], "python-semaphore");
    assert_eq!(entry["semaphore_value"], 1, "an unlocked Lock");
}

/// `shm --json --min-age 0 --clean --yes` on a directory of the test's own, with the
/// processes that can be read.
fn clean_own_dir(dir: &Path) -> Output {
    let view = readable_proc_view();
    mpdoctor(&[
        "shm",
        "--json",
        "--min-age",
        "0",
        "--clean",
        "--yes",
        "--dir",
        dir.to_str().unwrap(),
        "--proc",
        view.path().to_str().unwrap(),
    ])
}

#[test]
fn a_planted_symlink_is_never_followed_or_removed() {
    let scan = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("psm_target");
    std::fs::write(&target, vec![1u8; 4096]).unwrap();
    std::os::unix::fs::symlink(&target, scan.path().join("psm_deadbeef")).unwrap();
    let out = clean_own_dir(scan.path());
    let doc = json(&out);
    assert_eq!(item(&doc, "psm_deadbeef").unwrap()["kind"], "symlink");
    assert!(scan.path().join("psm_deadbeef").symlink_metadata().is_ok());
    assert_eq!(std::fs::read(&target).unwrap().len(), 4096);
}

/// Other processes keep creating, holding and dropping files while `--clean --yes` runs
/// again and again: a file that is held is never removed.
#[test]
fn churn_never_removes_a_held_entry() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let scan = tempfile::tempdir().unwrap();
    let churn = format!(
        "import mmap, os, random, time\n\
         d = {dir:?}\nbad = made = attached = i = 0\nend = time.time() + 4\n\
         def inodes():\n\
         \x20   return {{e.inode() for e in os.scandir(d)}}\n\
         while time.time() < end:\n\
         \x20   names = [e.name for e in os.scandir(d) if e.name.startswith('psm_')]\n\
         \x20   if names and random.random() < 0.5:\n\
         \x20       try: fd = os.open(os.path.join(d, random.choice(names)), os.O_RDWR)\n\
         \x20       except FileNotFoundError: continue\n\
         \x20       attached += 1\n\
         \x20   else:\n\
         \x20       name = os.path.join(d, 'psm_%x%04x' % (os.getpid(), i)); i += 1\n\
         \x20       fd = os.open(name, os.O_CREAT | os.O_RDWR, 0o600); os.ftruncate(fd, 4096)\n\
         \x20       made += 1\n\
         \x20   ino = os.fstat(fd).st_ino\n\
         \x20   try: m = mmap.mmap(fd, 4096)\n\
         \x20   except ValueError: os.close(fd); continue\n\
         \x20   if random.random() < 0.5: os.close(fd); fd = None\n\
         \x20   time.sleep(random.random() * 0.05)\n\
         \x20   if fd is not None and os.fstat(fd).st_nlink == 0: bad += 1\n\
         \x20   if fd is None and ino not in inodes(): bad += 1\n\
         \x20   m.close()\n\
         \x20   if fd is not None: os.close(fd)\n\
         print(bad, made, attached, flush=True)\n",
        dir = scan.path().to_str().unwrap()
    );
    let mut churners: Vec<Py> = (0..3).map(|_| Py::start(&churn)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let mut runs = 0;
    let mut removed = 0;
    while std::time::Instant::now() < deadline {
        let out = clean_own_dir(scan.path());
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        removed += json(&out)["clean"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["outcome"] == "removed")
            .count();
        runs += 1;
    }
    for c in &mut churners {
        let line = c.line();
        let mut parts = line.split_whitespace();
        let bad: u32 = parts
            .next()
            .unwrap_or("x")
            .parse()
            .unwrap_or_else(|_| panic!("churner said {line:?}"));
        let made: u32 = parts.next().unwrap().parse().unwrap();
        let attached: u32 = parts.next().unwrap().parse().unwrap();
        assert!(
            made > 10 && attached > 10,
            "the churner made {made} and attached {attached}"
        );
        assert_eq!(bad, 0, "a held file was removed ({runs} clean runs)");
    }
    assert!(
        removed > 0,
        "the clean runs removed nothing: the test proved nothing"
    );
}

#[test]
fn a_leaked_semaphore_at_zero_is_explained() {
    let fake = Fake::new();
    let path = fake.file("sem.mp-lockheld", 32);
    // glibc keeps the value first: 0 is a Lock someone acquired and never released.
    std::fs::write(&path, [0u8; 32]).unwrap();
    let doc = json(&fake.shm(&[]));
    let sem = item(&doc, "sem.mp-lockheld").unwrap();
    assert_eq!(sem["verdict"], "leaked");
    assert_eq!(sem["semaphore_value"], 0);
    assert!(
        sem["reason"]
            .as_str()
            .unwrap()
            .contains("a lock left held by a dead process"),
        "{sem}"
    );
}

#[test]
fn other_users_entries_need_root_and_any_user() {
    if !rustix::process::geteuid().is_root() {
        skipped("changing an entry's owner needs root");
        return;
    }
    let fake = Fake::new();
    let path = fake.file("psm_0000abab", 4096);
    std::os::unix::fs::chown(&path, Some(54321), None).unwrap();
    let only_mine = json(&fake.shm(&["--user", "root"]));
    let names: Vec<&serde_json::Value> = only_mine["report"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["name"])
        .collect();
    assert!(
        !names.contains(&&serde_json::json!("psm_0000abab")),
        "{names:?}"
    );
    let theirs = json(&fake.shm(&["--user", "54321"]));
    assert_eq!(theirs["report"]["items"][0]["name"], "psm_0000abab");
    let refused = json(&fake.shm(&["--clean", "--yes"]));
    assert!(path.exists(), "{refused}");
    assert!(
        refused["clean"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--any-user")
    );
    let removed = json(&fake.shm(&["--clean", "--yes", "--any-user"]));
    assert!(!path.exists(), "{removed}");
}

#[test]
fn a_held_file_deep_inside_a_directory_keeps_the_directory() {
    let fake = Fake::new();
    let folder = fake.shm.join("joblib_memmapping_folder_88_aa_bb");
    std::fs::create_dir_all(folder.join("sub")).unwrap();
    std::fs::write(folder.join("sub/held.pkl"), "x").unwrap();
    std::os::unix::fs::symlink(folder.join("sub/held.pkl"), fake.proc.join("1/fd/3")).unwrap();
    let doc = json(&fake.shm(&[]));
    assert_eq!(
        item(&doc, "joblib_memmapping_folder_88_aa_bb").unwrap()["verdict"],
        "in-use"
    );
    fake.shm(&["--clean", "--yes", "--include-dirs"]);
    assert!(folder.join("sub/held.pkl").exists());
}

#[test]
fn group_access_and_an_empty_process_table() {
    if !rustix::process::geteuid().is_root() {
        skipped("changing owners needs root");
        return;
    }
    let fake = Fake::new();
    let path = fake.file("psm_0000aaab", 64);
    std::os::unix::fs::chown(&path, Some(1000), Some(1000)).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o660)).unwrap();
    // An unreadable process of another user, who may be in the file's group.
    let dir = fake.process(600, 100, &[], &[]);
    std::os::unix::fs::chown(&dir, Some(2000), None).unwrap();
    std::fs::remove_dir(dir.join("fd")).unwrap();
    std::fs::write(dir.join("fd"), "").unwrap();
    let doc = json(&fake.shm(&[]));
    let entry = item(&doc, "psm_0000aaab").unwrap();
    // It could hold the entry: only likely leaked, and that process is named.
    assert_eq!(entry["verdict"], "likely-leaked");
    assert_eq!(entry["could_hold"][0]["pid"], 600);
    // A process table with no process in it is an error, not "nothing holds anything".
    let empty = tempfile::tempdir().unwrap();
    let out = mpdoctor(&[
        "shm",
        "--dir",
        fake.shm.to_str().unwrap(),
        "--proc",
        empty.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lists no process"));
}

#[test]
fn system_v_segments_are_judged_by_attachments_and_their_creator() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let mut py = Py::start_args(SYSV, &["2", "1"]);
    let ids: Vec<i32> = py.line().split(' ').map(|i| i.parse().unwrap()).collect();
    let _cleanup = SysvSegments(ids.clone());
    let view = readable_proc_view();
    let doc = real_shm(view.path(), &["--min-age", "0", "--origin", "sysv"]);
    let attached = sysv(&doc, ids[0]).unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(attached["verdict"], "in-use", "{attached}");
    assert_eq!(attached["holders"][0]["pid"], py.pid());
    let detached = sysv(&doc, ids[1]).unwrap();
    assert_eq!(detached["verdict"], "unknown", "{detached}");
    assert!(detached["reason"].as_str().unwrap().contains("still runs"));
    // --clean would not touch either while their creator lives. (Only a dry run: a real
    // one here could race with the test that cleans a leaked segment.)
    let out = mpdoctor(&[
        "shm",
        "--json",
        "--proc",
        view.path().to_str().unwrap(),
        "--min-age",
        "0",
        "--origin",
        "sysv",
        "--clean",
    ]);
    let doc = json(&out);
    // Listed, with the reason, but never planned for removal.
    let planned: Vec<&str> = doc["clean"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| !matches!(a["outcome"].as_str(), Some("skipped" | "in-use")))
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    for id in &ids {
        let prefix = format!("sysv:{id} ");
        assert!(!planned.iter().any(|n| n.starts_with(&prefix)), "{doc}");
    }
    py.kill_group();
}

#[test]
fn a_system_v_segment_whose_creator_is_gone_is_leaked_and_cleaned() {
    if !python_available() {
        skipped("python3 is not installed");
        return;
    }
    let mut py = Py::start_args(SYSV, &["1", "0"]);
    let id: i32 = py.line().parse().unwrap();
    let _cleanup = SysvSegments(vec![id]);
    py.kill_group();
    let view = readable_proc_view();
    let doc = real_shm(view.path(), &["--min-age", "0", "--origin", "sysv"]);
    let seg = sysv(&doc, id).unwrap_or_else(|| panic!("{doc}"));
    assert_eq!(seg["verdict"], "leaked", "{seg}");
    assert_eq!(seg["creator_alive"], false);
    // Its creator never attached it: there is no last user to speak of.
    assert!(
        seg["reason"]
            .as_str()
            .unwrap()
            .starts_with("never attached by anyone"),
        "{seg}"
    );
    // Too young for the default --min-age.
    let doc = real_shm(view.path(), &["--origin", "sysv"]);
    assert_eq!(sysv(&doc, id).unwrap()["verdict"], "unknown");
    // Without --yes nothing happens; with it, IPC_RMID.
    let args = |yes: bool| {
        let mut a = vec!["shm", "--json", "--proc", view.path().to_str().unwrap()];
        a.extend(["--min-age", "0", "--origin", "sysv", "--clean"]);
        if yes {
            a.push("--yes");
        }
        mpdoctor(&a)
    };
    let listed = |id: i32| {
        std::fs::read_to_string("/proc/sysvipc/shm")
            .unwrap()
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
    };
    let dry = json(&args(false));
    let outcome = |doc: &serde_json::Value| {
        let prefix = format!("sysv:{id} ");
        doc["clean"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"].as_str().unwrap().starts_with(&prefix))
            .map(|a| a["outcome"].clone())
    };
    assert_eq!(outcome(&dry).unwrap(), "would-remove");
    assert!(listed(id));
    let out = args(true);
    let done = json(&out);
    assert_eq!(outcome(&done).unwrap(), "removed", "{done}");
    assert!(!listed(id));
}

#[test]
fn system_v_verdicts_check_creator_and_last_user_against_pid_reuse() {
    let fake = Fake::new();
    let t = now() - 1000;
    std::fs::create_dir_all(fake.proc.join("sysvipc")).unwrap();
    let header = "       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap";
    let rows = [
        // The creator's pid now belongs to a process that started after the segment.
        format!("0 1 600 4096 402 0 0 0 0 0 0 0 0 {t} 0 0"),
        // Its last user still runs.
        format!("0 2 600 4096 999 401 0 0 0 0 0 {t} 0 {t} 0 0"),
        // Attached twice.
        format!("305419896 3 600 8192 999 999 2 0 0 0 0 {t} 0 {t} 8192 0"),
        // Made with a key and unattached: a program may attach by that key again.
        format!("42 4 600 4096 999 0 0 0 0 0 0 0 0 {t} 0 0"),
    ];
    std::fs::write(
        fake.proc.join("sysvipc/shm"),
        format!("{header}\n{}\n", rows.join("\n")),
    )
    .unwrap();
    fake.process(401, 100_000, &[], &[]);
    fake.process(402, 100, &[], &[]);
    let out = fake.shm(&[]);
    let doc = json(&out);
    let seg = |id: i32| sysv(&doc, id).unwrap_or_else(|| panic!("{doc}")).clone();
    assert_eq!(seg(1)["verdict"], "leaked", "{}", seg(1));
    assert_eq!(seg(1)["creator_alive"], false);
    assert_eq!(seg(2)["verdict"], "unknown");
    assert!(
        seg(2)["reason"]
            .as_str()
            .unwrap()
            .contains("last user (pid 401)")
    );
    assert_eq!(seg(3)["verdict"], "in-use");
    assert_eq!(seg(3)["key"], "0x12345678");
    assert_eq!(seg(4)["verdict"], "unknown");
    assert!(seg(4)["reason"].as_str().unwrap().contains("ipcrm -m 4"));
    assert_eq!(out.status.code(), Some(1), "a leaked segment is a leak");
    let prom = fake.shm.parent().unwrap().join("sysv.prom");
    fake.shm(&["--prometheus", prom.to_str().unwrap()]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(
        text.contains("mpdoctor_shm_entries{verdict=\"leaked\",origin=\"sysv\"} 1"),
        "{text}"
    );
    // The origin filter keeps System V out of a file-only listing.
    let files = json(&fake.shm(&["--origin", "python-shared-memory"]));
    assert!(files["report"]["sysv"].as_array().unwrap().is_empty());
}
