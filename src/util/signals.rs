//! Signals: the only place fleet sets signal dispositions (SIGPIPE restored, Ctrl-C/SIGTERM/
//! SIGHUP deferred to a flag, passed on to a runner's agent) and sends signals to a process
//! group.
/// Restore the default SIGPIPE action so `fleet status | head` ends quietly instead of
/// failing to print (Rust ignores SIGPIPE by default).
pub fn restore_sigpipe() {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    const SIGPIPE: i32 = 13;
    const SIG_DFL: usize = 0;
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions.
    unsafe {
        signal(SIGPIPE, SIG_DFL);
    }
}

static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Whether the first Ctrl-C says "stopping after the step at hand": only for a command that
/// has steps to finish (`up`); [`defer_interrupts_quietly`] turns it off.
static ANNOUNCE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
/// The first stop signal that arrived (0: none yet), for the exit code 128+N.
static FIRST_SIGNAL: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// The exit code of a command that stopped on a signal: 128 + the first signal that came
/// (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP; 130 when none is known).
pub fn interrupt_exit_code() -> i32 {
    match FIRST_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        0 => 130,
        n => 128 + n,
    }
}

extern "C" fn on_interrupt(signum: i32) {
    extern "C" {
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
        fn _exit(status: i32) -> !;
    }
    let first: &[u8] = if signum == SIGINT {
        b"\nfleet: stopping after the step at hand (Ctrl-C again to quit now)\n"
    } else {
        b"\nfleet: stopping after the step at hand (the same signal again quits now)\n"
    };
    // SAFETY: write(2), kill(2) and _exit(2) are async-signal-safe; the buffer is static.
    unsafe {
        if INTERRUPTED.swap(true, std::sync::atomic::Ordering::SeqCst) {
            // Quitting now: a child fleet runs in a group of its own (the merge train's
            // verify) goes with it, not left running on.
            let group = CHILD_GROUP.load(std::sync::atomic::Ordering::SeqCst);
            if foreign_group(group) {
                kill(-group, SIGKILL);
            }
            _exit(interrupt_exit_code());
        }
        let _ = FIRST_SIGNAL.compare_exchange(
            0,
            signum,
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
        );
        if ANNOUNCE.load(std::sync::atomic::Ordering::SeqCst) {
            write(2, first.as_ptr(), first.len());
        }
    }
}

const SIGHUP: i32 = 1;
const SIGINT: i32 = 2;
pub(super) const SIGKILL: i32 = 9;
pub(super) const SIGTERM: i32 = 15;

/// From now on Ctrl-C (SIGINT), SIGTERM and SIGHUP (the terminal closed, the ssh connection
/// dropped) only set a flag ([`interrupted`]) so the caller can finish its current step and
/// stop cleanly. [`default_interrupts`] undoes it.
pub fn defer_interrupts() {
    // The handler only stores to an atomic and writes(2), which are async-signal-safe.
    on_stop_signals(on_interrupt as extern "C" fn(i32) as usize);
}

/// [`defer_interrupts`] for a command that only watches (`status --watch`, `wait`, `logs
/// -f`): Ctrl-C ends its loop and the command says itself what it was doing, without up's
/// "stopping after the step at hand".
pub fn defer_interrupts_quietly() {
    ANNOUNCE.store(false, std::sync::atomic::Ordering::SeqCst);
    defer_interrupts();
}

/// Ctrl-C, SIGTERM and SIGHUP end the process again.
pub fn default_interrupts() {
    const SIG_DFL: usize = 0;
    on_stop_signals(SIG_DFL);
}

/// Sets what SIGHUP, SIGINT and SIGTERM (the signals that stop fleet) do: `handler` is the
/// address of an async-signal-safe handler, or SIG_DFL.
fn on_stop_signals(handler: usize) {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    for signum in [SIGHUP, SIGINT, SIGTERM] {
        // SAFETY: every caller passes SIG_DFL or a handler that only makes
        // async-signal-safe calls.
        unsafe {
            signal(signum, handler);
        }
    }
}

static CHILD_GROUP: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" {
    pub(super) fn kill(pid: i32, sig: i32) -> i32;
    fn raise(sig: i32) -> i32;
}

extern "C" fn forward_and_die(signum: i32) {
    extern "C" {
        fn signal(signum: i32, handler: usize) -> usize;
    }
    let group = CHILD_GROUP.load(std::sync::atomic::Ordering::SeqCst);
    // SAFETY: kill, signal and raise are async-signal-safe.
    unsafe {
        if foreign_group(group) {
            kill(-group, signum);
        }
        signal(signum, 0);
        raise(signum);
    }
}

/// For a process whose child runs in a process group of its own (so that it can be stopped
/// as a whole): SIGHUP, SIGINT and SIGTERM go on to that group (see [`set_child_group`]),
/// then end this process as they would have.
pub fn forward_signals() {
    // The handler only makes async-signal-safe calls (kill, signal, raise).
    on_stop_signals(forward_and_die as extern "C" fn(i32) as usize);
}

/// The process group [`forward_signals`] passes signals to, and that a second Ctrl-C after
/// [`defer_interrupts`] kills before fleet quits (0: none).
pub fn set_child_group(pgid: u32) {
    CHILD_GROUP.store(pgid as i32, std::sync::atomic::Ordering::SeqCst);
}

extern "C" fn outlive(_signum: i32) {}

/// For a process that waits for its child and ends as it ends (`fleet _net-inside`): SIGHUP,
/// SIGINT and SIGTERM no longer end this process. Whoever sends them reaches the child too
/// (the runner signals the whole process group, the terminal's Ctrl-C its foreground
/// group), so passing them on would deliver them twice (two Ctrl-C quit claude's TUI). A
/// handler, not an ignored signal, so the child does not inherit the disposition.
pub fn outlive_stop_signals() {
    // The handler does nothing, which is async-signal-safe.
    on_stop_signals(outlive as extern "C" fn(i32) as usize);
}

/// Send `sig` to every process of a process group, unless it is no group fleet may end
/// ([`foreign_group`]).
pub fn signal_group(pgid: u32, sig: i32) {
    let Ok(group) = i32::try_from(pgid) else {
        return;
    };
    if foreign_group(group) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            kill(-group, sig);
        }
    }
}

/// Whether fleet may signal process group `group` as a whole: a real group other than
/// fleet's own. kill(2) reads group 0 as the caller's own and -1 as every process it may
/// signal, and fleet's own group holds whoever started it (a shell's job, a test harness):
/// a stale or misread number must never reach them. Async-signal-safe.
pub fn foreign_group(group: i32) -> bool {
    extern "C" {
        fn getpgrp() -> i32;
    }
    // SAFETY: getpgrp has no preconditions and is async-signal-safe.
    group > 1 && group != unsafe { getpgrp() }
}

/// Did a SIGINT or SIGTERM arrive since [`defer_interrupts`]?
pub fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

/// Sleep up to `total`, waking early when interrupted; false when interrupted. Asleep to the
/// deadline in one `nanosleep`, which a signal's handler cuts short (it is never restarted,
/// `SA_RESTART` or not); a second at a time, for a signal taken by another thread.
pub fn sleep_unless_interrupted(total: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + total;
    while !interrupted() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        let slice = left.min(std::time::Duration::from_secs(1));
        // SAFETY: an all-zero timespec is valid; nanosleep reads the one it is given and is
        // asked for no remainder.
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        ts.tv_sec = slice.as_secs() as libc::time_t;
        ts.tv_nsec = slice.subsec_nanos().into();
        unsafe {
            libc::nanosleep(&ts, std::ptr::null_mut());
        }
    }
    false
}

/// Run a wait that takes the signal mask to wait with (`ppoll`, `pselect`) unless a stop
/// signal already came ([`interrupted`]): SIGHUP, SIGINT and SIGTERM are blocked from the
/// check to the wait, which unblocks them atomically, so one arriving in between still cuts
/// the wait short instead of being missed until the next wakeup. The wait's result (-1 when
/// interrupted, or not run).
pub fn blocking_stop_signals(wait: impl FnOnce(*const libc::sigset_t) -> i32) -> i32 {
    // SAFETY: sigset_t is plain data, set up by sigemptyset/sigaddset before any use; the
    // old mask is restored before returning.
    unsafe {
        let mut stops: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut stops);
        for signum in [SIGHUP, SIGINT, SIGTERM] {
            libc::sigaddset(&mut stops, signum);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &stops, &mut old);
        let mut unblocked = old;
        for signum in [SIGHUP, SIGINT, SIGTERM] {
            libc::sigdelset(&mut unblocked, signum);
        }
        let result = if interrupted() { -1 } else { wait(&unblocked) };
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        result
    }
}

#[cfg(test)]
mod guard_tests {
    use super::*;

    #[test]
    fn no_group_of_kills_own_is_foreign() {
        extern "C" {
            fn getpgrp() -> i32;
        }
        // SAFETY: getpgrp has no preconditions.
        let own = unsafe { getpgrp() };
        assert!(!foreign_group(0), "0: the caller's own group");
        assert!(!foreign_group(1), "-1: every process");
        assert!(!foreign_group(-5));
        assert!(!foreign_group(own), "fleet's own group");
        // A group fleet may not end is not signalled: this test survives SIGKILL to its own.
        signal_group(own as u32, SIGKILL);
        signal_group(0, SIGKILL);
    }
}
