//! A host's fleet asked `fleet status --json` again and again over one connection kept
//! between asks ([`Asker`], opened again when an ask failed): what `wait`
//! ([`super::remote::Waiter`]) polls with, and what `status --watch` keeps asking in the
//! background ([`Board`]: a thread per host, so a silent host, up to ssh's 10 s connect
//! timeout, never holds up a frame, the other hosts or this machine's agents).
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use super::ssh::Link;
use crate::manifest::Host;
use crate::util;

/// One host asked over the link it keeps between asks.
pub struct Asker<'p> {
    pub host: &'p Host,
    /// The agents asked about (every agent of the host's fleet when empty).
    pub names: Vec<String>,
    /// More arguments of `status --json` there (`--monitor`).
    extra: Vec<String>,
    link: Option<Link<'p>>,
}

impl<'p> Asker<'p> {
    pub fn new(host: &'p Host, names: Vec<String>, extra: Vec<String>) -> Asker<'p> {
        Asker {
            host,
            names,
            extra,
            link: None,
        }
    }

    /// The agents' objects of `status --json` there, over the kept link (connecting first
    /// when there is none, or its master ended). An error names the host; the link is
    /// dropped then, so the next ask connects again.
    pub fn ask(&mut self) -> Result<Vec<Value>> {
        let link = match self.link.take().filter(Link::is_open) {
            Some(link) => link,
            None => Link::open(self.host)?,
        };
        let mut args = vec!["status".to_string(), "--json".into()];
        args.extend(self.extra.iter().cloned());
        args.extend(self.names.iter().cloned());
        let answer = super::ops::status_json(&link, &args);
        if answer.is_ok() {
            self.link = Some(link);
        }
        answer
    }
}

/// [`Asker::ask`] of every asker, all at once; the answers in their order.
pub fn ask_all(askers: &mut [&mut Asker]) -> Vec<Result<Vec<Value>>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = askers
            .iter_mut()
            .map(|a| s.spawn(move || a.ask()))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("asking a host failed")))
            })
            .collect()
    })
}

/// What a host last answered: its agents' objects, or why it did not answer (naming it).
pub type Answer = std::result::Result<Vec<Value>, String>;

/// What `status --watch` heard from each host so far, by host name (a host that has not
/// answered yet is missing).
pub type Heard = BTreeMap<String, Answer>;

/// A host and the agents asked about there (from [`crate::manifest::Plan::split_names`]).
pub type Ask = (Host, Vec<String>);

/// The hosts of a `status --watch`, each asked every `every` by a thread of its own over
/// its kept link; the frames read what was heard last, never waiting for a host.
pub struct Board {
    asks: Vec<Ask>,
    heard: Arc<Mutex<Heard>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Board {
    /// Starts asking every host of `asks`, now and then every `every`; `extra` are more
    /// arguments of `status --json` there.
    pub fn start(asks: Vec<Ask>, every: Duration, extra: &[String]) -> Board {
        let heard = Arc::new(Mutex::new(Heard::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads = asks
            .iter()
            .cloned()
            .map(|(host, names)| {
                let (heard, stop, extra) = (heard.clone(), stop.clone(), extra.to_vec());
                std::thread::spawn(move || keep_asking(&host, names, extra, every, &heard, &stop))
            })
            .collect();
        Board {
            asks,
            heard,
            stop,
            threads,
        }
    }

    /// What it asks: a new manifest that asks something else needs a new board.
    pub fn asks(&self) -> &[Ask] {
        &self.asks
    }

    /// What each host answered last.
    pub fn heard(&self) -> Heard {
        self.heard.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Stops asking; the links are closed (`ssh -O exit`) by the threads that end within a
    /// few seconds (one stuck connecting ends by itself later).
    pub fn finish(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for t in std::mem::take(&mut self.threads) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Board {
    /// Its threads stop at their next look (they end by themselves, closing their links).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A board's thread: asks `host` every `every` until stopped (or interrupted).
fn keep_asking(
    host: &Host,
    names: Vec<String>,
    extra: Vec<String>,
    every: Duration,
    heard: &Mutex<Heard>,
    stop: &AtomicBool,
) {
    let stopped = || stop.load(Ordering::SeqCst) || util::interrupted();
    let mut asker = Asker::new(host, names, extra);
    while !stopped() {
        let answer = asker.ask().map_err(|e| format!("{e:#}"));
        if let Ok(mut heard) = heard.lock() {
            heard.insert(host.name.clone(), answer);
        }
        let next = Instant::now() + every;
        while Instant::now() < next && !stopped() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
