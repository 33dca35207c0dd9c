//! Small helpers shared by the modules: time, quoting, file permissions, output flags,
//! threads. Signals (`signals`), processes (`processes`) and inotify's events (`inotify`) are
//! files of their own, re-exported here.
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;

mod inotify;
mod processes;
mod signals;

pub use inotify::drain_inotify;

pub use processes::{
    alive_with_arg, end_groups, groups_alive, kill_and_wait, process_groups_of, processes_on,
    runner_alive, Ender, Proc,
};
pub use signals::{
    blocking_stop_signals, default_interrupts, defer_interrupts, defer_interrupts_quietly,
    forward_signals, interrupt_exit_code, interrupted, outlive_stop_signals, restore_sigpipe,
    set_child_group, signal_group, sleep_unless_interrupted,
};

/// Whether to colour output on stdout: a terminal, and `NO_COLOR` unset or empty.
pub fn color_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
/// The width of the terminal on stdout, if it is one.
pub fn terminal_width() -> Option<usize> {
    terminal_size().map(|(cols, _)| cols)
}

/// The height of the terminal on stdout, in lines, if it is one.
pub fn terminal_height() -> Option<usize> {
    terminal_size().map(|(_, rows)| rows).filter(|r| *r > 0)
}

/// The terminal on stdout's (columns, rows), if it is one.
fn terminal_size() -> Option<(usize, usize)> {
    #[repr(C)]
    struct WinSize {
        rows: u16,
        cols: u16,
        xpixel: u16,
        ypixel: u16,
    }
    extern "C" {
        fn ioctl(fd: i32, request: std::ffi::c_ulong, ...) -> i32;
    }
    #[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd"))]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x4008_7468;
    #[cfg(not(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd")))]
    const TIOCGWINSZ: std::ffi::c_ulong = 0x5413;
    let mut ws = WinSize {
        rows: 0,
        cols: 0,
        xpixel: 0,
        ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the pointer given.
    let rc = unsafe { ioctl(1, TIOCGWINSZ, &mut ws as *mut WinSize) };
    (rc == 0 && ws.cols > 0).then_some((usize::from(ws.cols), usize::from(ws.rows)))
}

static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Set the global `-v` and `-q` flags (once, after parsing the command line).
pub fn set_output_flags(verbose: bool, quiet: bool) {
    VERBOSE.store(verbose, std::sync::atomic::Ordering::Relaxed);
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// `-v`: print every git and tmux command before running it.
pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// `-q`: leave out the informational lines of up, down and merge.
pub fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// With `-v`, print `+ program args…` on stderr, every word quoted for a shell.
pub fn trace<S: AsRef<str>>(program: &str, args: &[S]) {
    if verbose() {
        let mut line = format!("+ {program}");
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a.as_ref()));
        }
        eprintln!("{line}");
    }
}

/// Like `println!`, but not with `-q`: for the informational lines of up, down and merge.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        if !$crate::util::quiet() {
            println!($($arg)*);
        }
    };
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-11-24T10:00:00Z` for a Unix time.
pub fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `1h02m`, `3m05s`, `42s`.
pub fn duration(secs: u64) -> String {
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    }
}

/// A user's string made safe to print on a terminal: the one function every user string
/// (a prompt, a command, a path, an env value, a log line) goes through before fleet prints
/// it. Control characters (C0, DEL, C1: an ESC starts an OSC 52 that sets the clipboard,
/// or clears the screen) and the invisible reordering marks of Unicode (bidi overrides,
/// zero-width characters) are shown as escapes (`\n`, `\t`, `\u{1b}`); the rest as it is.
pub fn display(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, false)
}

/// [`display`] for a message of several lines (an error, a multi-line script): its line
/// breaks and tabs kept, every other control character escaped.
pub fn display_text(s: &str) -> std::borrow::Cow<'_, str> {
    escape(s, true)
}

fn escape(s: &str, keep_lines: bool) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| {
        (c.is_control() && !(keep_lines && (c == '\n' || c == '\t')))
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
    };
    if !s.chars().any(hidden) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if !hidden(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A user's text (a multi-line `command:`, a prompt) on one line of at most `max`
/// characters, as [`display`] shows it: its first non-empty line, trimmed, with ` …` when
/// more lines or characters were left out.
pub fn one_line(s: &str, max: usize) -> String {
    let mut lines = s.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let cut = first.chars().count() > max;
    let mut line: String = first.chars().take(max).collect();
    if cut || lines.next().is_some() {
        line.push_str(" …");
    }
    display(&line).into_owned()
}

/// [`display`] for a path.
pub fn display_path(p: &Path) -> String {
    display(&p.display().to_string()).into_owned()
}

/// Quote a word for a POSIX shell (used only for display, e.g. `--dry-run`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// May this process write to `path` (a file, or a directory to create files in)?
pub fn writable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    extern "C" {
        fn access(path: *const std::ffi::c_char, mode: i32) -> i32;
    }
    const W_OK: i32 = 2;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated string that lives across the call.
    unsafe { access(c.as_ptr(), W_OK) == 0 }
}

/// Create a directory (and parents) readable by the user only, through no symlink
/// ([`crate::safe_fs`]).
pub fn private_dir(path: &Path) -> Result<()> {
    crate::safe_fs::create_dir(path, true)
}

/// Write a file atomically (temp file + rename), readable by the user only, through no
/// symlink ([`crate::safe_fs`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::safe_fs::write_atomic(path, bytes)
}

/// Open a file for appending, creating it (and its directory) user-only, through no symlink
/// ([`crate::safe_fs`]).
pub fn append_private(path: &Path) -> Result<fs::File> {
    crate::safe_fs::open(path, crate::safe_fs::How::Append)
}

/// `f` of every item, on two threads a core (each mostly waits on the git it runs; measured on
/// 2 cores, 32 worktrees of a 5,000-file repo: about half the time of one thread, more threads
/// gain nothing), answers in the items' order; None for the items of a thread that panicked.
pub fn in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<Option<R>> {
    let jobs = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let per = items.len().div_ceil(jobs).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .zip(items.chunks(per))
            .flat_map(|(h, chunk)| match h.join() {
                Ok(done) => done.into_iter().map(Some).collect(),
                Err(_) => std::iter::repeat_with(|| None)
                    .take(chunk.len())
                    .collect::<Vec<_>>(),
            })
            .collect()
    })
}

/// The real user id of this process.
pub fn uid() -> u32 {
    extern "C" {
        fn getuid() -> u32;
    }
    // SAFETY: getuid(2) cannot fail and has no preconditions.
    unsafe { getuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_514_400), "2026-11-24T10:00:00Z");
        assert_eq!(duration(42), "42s");
        assert_eq!(duration(185), "3m05s");
        assert_eq!(duration(3720), "1h02m");
    }

    #[test]
    fn quotes_for_display() {
        assert_eq!(
            display("a\u{1b}]52;c;eA==\u{7}\nb"),
            r"a\u{1b}]52;c;eA==\u{7}\nb"
        );
        assert_eq!(display("plain ünïcode"), "plain ünïcode");
        assert_eq!(display("\u{202e}x"), r"\u{202e}x");
        assert_eq!(shell_quote("main"), "main");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
