//! The watchdog's signals: an interrupt is recorded, passed on to the command when it was
//! sent to the watchdog alone, and the report is still printed.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};

static COUNT: AtomicUsize = AtomicUsize::new(0);
static LAST: AtomicI32 = AtomicI32::new(0);
static FROM_TERMINAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(signal: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { info.as_ref().map_or(0, |i| i.si_code) };
    // A terminal's ^C comes from the kernel and reaches the whole foreground group.
    FROM_TERMINAL.store(code == libc::SI_KERNEL, Ordering::SeqCst);
    LAST.store(signal, Ordering::SeqCst);
    COUNT.fetch_add(1, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP, except those the caller ignores (`nohup`, `trap ''`):
/// they stay ignored, for mpdoctor and, through exec, for the command.
pub fn install() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction reads the current action into a zeroed struct, then installs
        // a handler that only touches atomics.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(signal, std::ptr::null(), &mut old);
            if old.sa_sigaction == libc::SIG_IGN {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

/// (signals received so far, the last one, whether it came from a terminal)
pub fn pending() -> (usize, libc::c_int, bool) {
    (
        COUNT.load(Ordering::SeqCst),
        LAST.load(Ordering::SeqCst),
        FROM_TERMINAL.load(Ordering::SeqCst),
    )
}

/// Orphans of the run are re-parented to the watchdog, not to init, so they stay in view
/// and are reaped here.
pub fn become_subreaper() {
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
    }
}
