//! Reading inotify's events: the one parser of the kernel's `struct inotify_event` records
//! (a watch, a mask, a cookie, a name's length, then the name padded with NULs), for every
//! watcher fleet has (`status --watch`'s, `logs --follow`'s).
use std::os::fd::RawFd;

/// Reads every event waiting on the non-blocking inotify descriptor `fd` into `buf` and
/// hands each to `each` (its watch, its mask, the name without its padding, empty for the
/// watched place itself), until nothing more is waiting.
pub fn drain_inotify(fd: RawFd, buf: &mut [u8], mut each: impl FnMut(i32, u32, &[u8])) {
    loop {
        // SAFETY: reading into a buffer of its own length from a non-blocking fd.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let Ok(n) = usize::try_from(n) else {
            return; // EAGAIN: nothing more
        };
        if n == 0 {
            return;
        }
        let mut at = 0;
        while at + 16 <= n {
            let word = |i: usize| {
                let b = &buf[at + i..at + i + 4];
                u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
            };
            let (wd, mask, len) = (word(0) as i32, word(4), word(12) as usize);
            let end = (at + 16 + len).min(n);
            let name = &buf[at + 16..end];
            let name = &name[..name.iter().position(|b| *b == 0).unwrap_or(name.len())];
            each(wd, mask, name);
            at = end;
        }
    }
}
