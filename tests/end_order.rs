//! How a run's end is written and read: the runner writes the final record first, then the
//! closing `[fleet] NAME done … after …` line, under the agent's end lock (`.fleet/run/
//! NAME.end`); `logs -f`, which stops once the record says the run ended, waits for that
//! lock, so it still shows the line. The order is seen through inotify (one queue, in the
//! order the kernel saw the writes), the wait through `/proc/locks`: no sleeps, no timing.
mod common;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::path::Path;

use common::{Fleet, DEADLINE};

/// An inotify instance (non-blocking) watching `path` for `mask`; its fd.
fn watch(fd: Option<i32>, path: &Path, mask: u32) -> i32 {
    // SAFETY: plain syscalls; the path lives across the call.
    let fd = fd.unwrap_or_else(|| unsafe { libc::inotify_init1(libc::IN_NONBLOCK) });
    assert!(fd >= 0, "inotify_init1");
    let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let wd = unsafe { libc::inotify_add_watch(fd, c.as_ptr(), mask) };
    assert!(wd >= 0, "inotify_add_watch {}", path.display());
    fd
}

/// The events queued so far on `fd`, in order: (watch descriptor, name).
fn events(fd: i32) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // SAFETY: the buffer outlives the call and its length is passed.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return found;
        }
        let mut at = 0;
        while at < n as usize {
            let head = at + std::mem::size_of::<libc::inotify_event>();
            let wd = i32::from_ne_bytes(buf[at..at + 4].try_into().unwrap());
            let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
            let name = String::from_utf8_lossy(&buf[head..head + len]);
            found.push((wd, name.trim_end_matches('\0').to_string()));
            at = head + len;
        }
    }
}

#[test]
fn the_runner_writes_the_record_before_the_closing_line() {
    let f = Fleet::new();
    let gate = f.fifo("gate");
    f.manifest(&format!(
        "agents:\n  - name: a1\n    prompt: x\n    command: \"read x < '{}'; echo agent words\"\n",
        gate.display()
    ));
    f.fleet(&["up"]).success();
    f.wait_for("a1 to run", DEADLINE, |f| f.state("a1") == "running");
    let agents = f.repo.join(".fleet").join("agents");
    let fd = watch(None, &agents, libc::IN_MOVED_TO);
    let fd = watch(Some(fd), &f.log_path("a1"), libc::IN_MODIFY);
    // watch descriptors are numbered from 1 in the order added: 1 the records, 2 the log.
    writeln!(
        fs::OpenOptions::new().write(true).open(&gate).unwrap(),
        "go"
    )
    .unwrap();
    f.wait_for("a1's closing line", DEADLINE, |f| {
        f.log("a1")
            .lines()
            .any(|l| l.starts_with("[fleet] a1 done"))
    });
    f.wait_for("a1's record to say done", DEADLINE, |f| {
        f.state("a1") == "done"
    });
    let seen = events(fd);
    // SAFETY: our own fd.
    unsafe { libc::close(fd) };
    let record = seen
        .iter()
        .rposition(|(wd, name)| *wd == 1 && name == "a1.json");
    let line = seen.iter().rposition(|(wd, _)| *wd == 2);
    assert!(
        record.is_some() && record < line,
        "the last record write comes before the last log write (the closing line): {seen:?}\n{}",
        f.log("a1")
    );
    assert!(f
        .log("a1")
        .trim_end()
        .lines()
        .last()
        .unwrap()
        .starts_with("[fleet] a1 done"));
}

/// Whether some process waits (`->` in /proc/locks) for a lock on the file `path`.
fn someone_waits_on(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let ino = fs::metadata(path).unwrap().ino().to_string();
    let locks = fs::read_to_string("/proc/locks").unwrap_or_default();
    locks.lines().any(|l| {
        let w: Vec<&str> = l.split_whitespace().collect();
        w.get(1) == Some(&"->") && w.get(6).and_then(|at| at.rsplit(':').next()) == Some(&ino)
    })
}

#[test]
fn logs_follow_waits_for_the_end_lock_before_it_stops() {
    let f = Fleet::new();
    f.manifest("agents:\n  - name: a1\n    prompt: x\n    command: \"echo agent words\"\n");
    f.fleet(&["up"]).success();
    f.wait_for("a1 to end", DEADLINE, |f| f.state("a1") == "done");
    // The test stands where a writer is between the two writes of an end: the record says
    // done, the lock is held, a line is still to come.
    let end = f.repo.join(".fleet").join("run").join("a1.end");
    let lock = fs::File::open(&end).expect("the runner made its end lock");
    lock.lock().unwrap();
    let follow = f.spawn_fleet(&["logs", "a1", "-f"]);
    f.wait_for("logs -f to wait for the end lock", DEADLINE, |_| {
        someone_waits_on(&end)
    });
    let mut log = fs::OpenOptions::new()
        .append(true)
        .open(f.log_path("a1"))
        .unwrap();
    writeln!(log, "[fleet] a1 done (exit 0) after 1s at the test's end").unwrap();
    drop(lock);
    let run = follow.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains("[fleet] a1 done (exit 0) after 1s at the test's end"),
        "{}",
        run.stdout
    );
}

#[test]
fn logs_follow_shows_the_line_fleet_down_ends_a_run_with() {
    let f = Fleet::new();
    // An agent that ignores the hangup: down waits out its grace before SIGKILL, between
    // the record and the line.
    f.manifest("agents:\n  - name: a1\n    prompt: x\n    command: \"trap '' HUP TERM; echo agent words; sleep 300\"\n");
    f.fleet(&["up"]).success();
    let follow = f.spawn_fleet(&["logs", "a1", "-f"]);
    f.wait_for("logs -f to follow a1", DEADLINE, |_| {
        follow.stdout_so_far().contains("agent words")
    });
    // down records a1 stopped, ends its runner, then notes the stop in the log, holding
    // a1's end lock from the record to that line.
    f.fleet(&["down"]).success();
    let run = follow.wait();
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("[fleet] a1 stopped by fleet down at "),
        "{}",
        run.stdout
    );
}
