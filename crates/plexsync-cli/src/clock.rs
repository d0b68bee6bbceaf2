//! The wall clock the binary drives the engine on: it sleeps until a deadline, and wakes
//! early when a job is queued or a signal asks it to stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use engine::{Clock, Wake, wall_ms};
use tokio::sync::Notify;

/// The wall clock, with SIGINT/SIGTERM and queue nudges.
#[derive(Debug)]
pub(crate) struct WallClock {
    inner: Arc<Inner>,
    /// Keeps the queue directory watched while the clock lives.
    _watcher: Option<notify::RecommendedWatcher>,
}

#[derive(Debug, Default)]
struct Inner {
    wake: Notify,
    stop: AtomicBool,
    nudged: AtomicBool,
    signals: AtomicU8,
}

impl WallClock {
    /// A clock that stops on SIGINT or SIGTERM (a second one exits at once). With `queue`,
    /// it also wakes whenever a file in the queue directory changes: a job was queued.
    pub(crate) fn new(queue: Option<&Path>) -> WallClock {
        let inner = Arc::new(Inner::default());
        let on_signal = inner.clone();
        tokio::spawn(async move {
            loop {
                wait_for_signal().await;
                if on_signal.signals.fetch_add(1, Ordering::SeqCst) >= 1 {
                    tracing::warn!("asked twice: stopping now");
                    std::process::exit(130);
                }
                tracing::info!("stopping after the job in hand (again to stop at once)");
                on_signal.stop.store(true, Ordering::SeqCst);
                on_signal.wake.notify_one();
            }
        });
        let watcher = queue.and_then(|dir| {
            let on_change = inner.clone();
            let mut watcher =
                notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                    if event.is_ok_and(|e| e.kind.is_modify() || e.kind.is_create()) {
                        on_change.nudged.store(true, Ordering::SeqCst);
                        on_change.wake.notify_one();
                    }
                })
                .ok()?;
            notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::NonRecursive).ok()?;
            Some(watcher)
        });
        WallClock {
            inner,
            _watcher: watcher,
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

impl Clock for WallClock {
    fn now(&self) -> u64 {
        wall_ms()
    }

    async fn sleep_until(&mut self, at: u64) -> Wake {
        loop {
            let wait = std::time::Duration::from_millis(at.saturating_sub(wall_ms()));
            if self.inner.stop.load(Ordering::SeqCst) {
                return Wake::Stop;
            }
            if self.inner.nudged.swap(false, Ordering::SeqCst) {
                return Wake::Nudged;
            }
            tokio::select! {
                _ = tokio::time::sleep(wait) => return Wake::Deadline,
                _ = self.inner.wake.notified() => {}
            }
        }
    }

    fn stop_requested(&self) -> bool {
        self.inner.stop.load(Ordering::SeqCst)
    }
}
