//! Who made an entry, from its name.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// `multiprocessing.shared_memory.SharedMemory` (`psm_<8 hex>`), also `multiprocess`.
    PythonSharedMemory,
    /// A multiprocessing semaphore, lock or queue under spawn/forkserver (`sem.mp-*`),
    /// also billiard.
    PythonSemaphore,
    /// joblib/loky semaphores (`sem.loky-<pid>-*`).
    Loky,
    /// joblib's memmapping folders (`joblib_memmapping_folder_<pid>_*`).
    Joblib,
    /// PyTorch's `file_system` sharing strategy (`torch_<pid>_*`).
    Torch,
    /// The OpenMP runtime's registration (`__KMP_REGISTERED_LIB_<pid>_<uid>`).
    OpenMp,
    PostgreSql,
    Nccl,
    Chromium,
    /// Another POSIX semaphore (`sem.*`).
    Semaphore,
    Other,
    /// A System V shared memory segment (`/proc/sysvipc/shm`), never a file.
    SysV,
}

impl Origin {
    pub const ALL: [Origin; 12] = [
        Origin::PythonSharedMemory,
        Origin::PythonSemaphore,
        Origin::Loky,
        Origin::Joblib,
        Origin::Torch,
        Origin::OpenMp,
        Origin::PostgreSql,
        Origin::Nccl,
        Origin::Chromium,
        Origin::Semaphore,
        Origin::Other,
        Origin::SysV,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::PythonSharedMemory => "python-shared-memory",
            Origin::PythonSemaphore => "python-semaphore",
            Origin::Loky => "loky",
            Origin::Joblib => "joblib",
            Origin::Torch => "torch",
            Origin::OpenMp => "openmp",
            Origin::PostgreSql => "postgresql",
            Origin::Nccl => "nccl",
            Origin::Chromium => "chromium",
            Origin::Semaphore => "semaphore",
            Origin::Other => "other",
            Origin::SysV => "sysv",
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::str::FromStr for Origin {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Origin::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = Origin::ALL.iter().map(|o| o.as_str()).collect();
                format!("unknown origin `{s}` (known: {})", known.join(", "))
            })
    }
}

/// The origin of a name and the creator's pid when the name encodes one.
pub fn classify(name: &[u8]) -> (Origin, Option<i32>) {
    let Ok(name) = std::str::from_utf8(name) else {
        return (Origin::Other, None);
    };
    let pid_after = |prefix: &str| -> Option<i32> {
        let rest = name.strip_prefix(prefix)?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty()
            || !rest[digits.len()..].starts_with('_') && !rest[digits.len()..].starts_with('-')
        {
            return None;
        }
        digits.parse().ok()
    };
    if let Some(hex) = name.strip_prefix("psm_")
        && !hex.is_empty()
        && hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        return (Origin::PythonSharedMemory, None);
    }
    if name.starts_with("sem.mp-") {
        return (Origin::PythonSemaphore, None);
    }
    if let Some(pid) = pid_after("sem.loky-") {
        return (Origin::Loky, Some(pid));
    }
    if let Some(pid) = pid_after("joblib_memmapping_folder_") {
        return (Origin::Joblib, Some(pid));
    }
    if let Some(pid) = pid_after("torch_") {
        return (Origin::Torch, Some(pid));
    }
    if let Some(pid) = pid_after("__KMP_REGISTERED_LIB_") {
        return (Origin::OpenMp, Some(pid));
    }
    if name.starts_with("PostgreSQL.") {
        return (Origin::PostgreSql, None);
    }
    if name.starts_with("nccl-") {
        return (Origin::Nccl, None);
    }
    if name.starts_with(".org.chromium.Chromium.") || name.starts_with(".com.google.Chrome.") {
        return (Origin::Chromium, None);
    }
    if name.starts_with("sem.") {
        return (Origin::Semaphore, None);
    }
    (Origin::Other, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            classify(b"psm_9f38b629"),
            (Origin::PythonSharedMemory, None)
        );
        assert_eq!(classify(b"psm_notahex!"), (Origin::Other, None));
        assert_eq!(
            classify(b"sem.mp-hmfy0jcn"),
            (Origin::PythonSemaphore, None)
        );
        assert_eq!(
            classify(b"sem.loky-4242-abcdefgh"),
            (Origin::Loky, Some(4242))
        );
        assert_eq!(
            classify(b"joblib_memmapping_folder_77_abc_def"),
            (Origin::Joblib, Some(77))
        );
        assert_eq!(classify(b"torch_123_456_0"), (Origin::Torch, Some(123)));
        assert_eq!(
            classify(b"__KMP_REGISTERED_LIB_8943_0"),
            (Origin::OpenMp, Some(8943))
        );
        assert_eq!(classify(b"PostgreSQL.1234"), (Origin::PostgreSql, None));
        assert_eq!(classify(b"nccl-AbC123"), (Origin::Nccl, None));
        assert_eq!(
            classify(b".org.chromium.Chromium.x1"),
            (Origin::Chromium, None)
        );
        assert_eq!(classify(b"sem.foo"), (Origin::Semaphore, None));
        assert_eq!(classify(b"torch_x"), (Origin::Other, None));
        assert_eq!(classify(b"\xff\xfe"), (Origin::Other, None));
    }
}
