//! The wall clock the binary drives the engine on: it sleeps until a deadline, and wakes
//! early when a job is queued or a signal asks it to stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use engine::{Clock, Notice, Wake, wall_ms};
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
    /// What the watch on Plex heard, not yet taken by the driver.
    notices: std::sync::Mutex<std::collections::VecDeque<Notice>>,
}

/// Where the watch on Plex sends what it hears: to the clock, which wakes the driver.
#[derive(Clone, Debug)]
pub(crate) struct Notices(Arc<Inner>);

impl Notices {
    /// Passes `notice` on, and wakes the driver for it.
    pub(crate) fn send(&self, notice: Notice) {
        self.0
            .notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_back(notice);
        self.0.nudged.store(true, Ordering::SeqCst);
        self.0.wake.notify_one();
    }
}

impl WallClock {
    /// Where a watch on Plex sends its notices.
    pub(crate) fn notices(&self) -> Notices {
        Notices(self.inner.clone())
    }

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

    fn now_us(&self) -> u64 {
        engine::wall_us()
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

    fn utc_offset_ms(&self, now: u64) -> i64 {
        crate::time::local_offset_ms(now)
    }

    fn take_notice(&mut self) -> Option<Notice> {
        self.inner
            .notices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}
