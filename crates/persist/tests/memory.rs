//! The memory backend is the same queue: random operations on a disk queue and a memory queue
//! give the same answers, step by step, whatever the clock does.

use persist::{DeadJob, Job, Lease, Queue, QueueOptions, Selection, Stats};
use proptest::prelude::*;
use serde_json::json;

const T0: u64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Action {
    Enqueue(u8, u8),
    EnqueueMany(Vec<(u8, u8)>),
    Lease(u64),
    Ack(usize),
    Retry(usize, u64, bool),
    Dead(usize, bool),
    Extend(usize, u64),
    Requeue(u8),
    Purge(u8),
    Forward(u64),
    Back(u64),
    Compact,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (0u8..6, any::<u8>()).prop_map(|(k, v)| Action::Enqueue(k, v)),
        1 => proptest::collection::vec((0u8..6, any::<u8>()), 0..6).prop_map(Action::EnqueueMany),
        6 => (1u64..120_000).prop_map(Action::Lease),
        4 => any::<usize>().prop_map(Action::Ack),
        3 => (any::<usize>(), 0u64..200_000, any::<bool>()).prop_map(|(i, d, c)| Action::Retry(i, d, c)),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(i, c)| Action::Dead(i, c)),
        1 => (any::<usize>(), 0u64..300_000).prop_map(|(i, d)| Action::Extend(i, d)),
        1 => (0u8..5).prop_map(Action::Requeue),
        1 => (0u8..5).prop_map(Action::Purge),
        4 => (0u64..90_000).prop_map(Action::Forward),
        1 => (0u64..400_000).prop_map(Action::Back),
        1 => Just(Action::Compact),
    ]
}

/// What a job looks like from outside, without its id (ids are positions, which differ).
fn seen(job: &Job) -> String {
    format!(
        "{} {} attempts={} deliveries={} retry={:?} history={:?}",
        job.key,
        job.payload.get(),
        job.attempts,
        job.deliveries,
        job.next_retry_at,
        job.history
    )
}

fn seen_dead(dead: &DeadJob) -> String {
    format!(
        "{} dead_at={} {} {}",
        seen(&dead.job),
        dead.dead_at,
        dead.class,
        dead.error
    )
}

fn outcome<T>(result: persist::Result<T>, show: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => show(value),
        // The variant, not the message: messages name paths.
        Err(e) => format!(
            "error {}",
            format!("{e:?}").split([' ', '{', '(']).next().unwrap()
        ),
    }
}

fn selection(pick: u8, dead: &[DeadJob]) -> Selection {
    match pick {
        0 => Selection::All,
        1 => Selection::Class("permanent".into()),
        2 => Selection::DeadBetween {
            from: T0,
            to: T0 + 200_000,
        },
        _ => match dead.get(pick as usize - 3) {
            Some(d) => Selection::One(d.job.id),
            None => Selection::All,
        },
    }
}

struct Side {
    queue: Queue,
    leases: Vec<Lease>,
}

impl Side {
    fn act(&mut self, action: &Action, now: u64) -> String {
        let pick = |leases: &Vec<Lease>, i: usize| (!leases.is_empty()).then(|| i % leases.len());
        match action {
            Action::Enqueue(k, v) => {
                outcome(self.queue.enqueue(&format!("k{k}"), &json!(v), now), |_| {
                    "ok".into()
                })
            }
            Action::EnqueueMany(items) => outcome(
                self.queue
                    .enqueue_many(items.iter().map(|(k, v)| (format!("k{k}"), json!(v))), now),
                |ids| format!("{} ids", ids.len()),
            ),
            Action::Lease(visibility) => {
                outcome(self.queue.lease(*visibility, now), |lease| match lease {
                    Some(lease) => {
                        let shown = format!("leased {} until {}", seen(&lease.job), lease.until);
                        self.leases.push(lease);
                        shown
                    }
                    None => "none".into(),
                })
            }
            Action::Ack(i) => match pick(&self.leases, *i) {
                Some(i) => outcome(self.queue.ack(&self.leases.remove(i)), |_| "acked".into()),
                None => "no lease".into(),
            },
            Action::Retry(i, delay, counted) => match pick(&self.leases, *i) {
                Some(i) => {
                    let lease = self.leases.remove(i);
                    outcome(
                        self.queue
                            .retry(&lease, now + delay, *counted, "transient", "boom", now),
                        |_| "retried".into(),
                    )
                }
                None => "no lease".into(),
            },
            Action::Dead(i, permanent) => match pick(&self.leases, *i) {
                Some(i) => {
                    let lease = self.leases.remove(i);
                    let class = if *permanent { "permanent" } else { "not_found" };
                    outcome(
                        self.queue.dead_letter(&lease, class, "gave up", now),
                        |_| "dead".into(),
                    )
                }
                None => "no lease".into(),
            },
            Action::Extend(i, by) => match pick(&self.leases, *i) {
                Some(i) => {
                    let until = now + by;
                    outcome(self.queue.extend(&mut self.leases[i], until, now), |_| {
                        "extended".into()
                    })
                }
                None => "no lease".into(),
            },
            Action::Requeue(pick) => {
                let dead = self.queue.dead_letters().unwrap();
                outcome(self.queue.requeue_dead(selection(*pick, &dead), now), |n| {
                    format!("requeued {n}")
                })
            }
            Action::Purge(pick) => {
                let dead = self.queue.dead_letters().unwrap();
                outcome(self.queue.purge_dead(selection(*pick, &dead)), |n| {
                    format!("purged {n}")
                })
            }
            Action::Compact => outcome(self.queue.compact(), |_| "compacted".into()),
            Action::Forward(_) | Action::Back(_) => "time".into(),
        }
    }

    fn state(&mut self, now: u64) -> (Vec<String>, Vec<String>, Stats) {
        let jobs = self.queue.jobs().unwrap().iter().map(seen).collect();
        let dead = self
            .queue
            .dead_letters()
            .unwrap()
            .iter()
            .map(seen_dead)
            .collect();
        let stats = self.queue.stats(now).unwrap();
        let len = self.queue.len().unwrap();
        assert_eq!(
            len,
            stats.pending + stats.leased,
            "len() counts what stats() counts"
        );
        assert_eq!(self.queue.is_empty().unwrap(), len == 0);
        (jobs, dead, stats)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn memory_and_disk_give_the_same_answers(actions in proptest::collection::vec(action(), 1..60)) {
        let tmp = tempfile::Builder::new().prefix("persist-memory-").tempdir().unwrap();
        let options = QueueOptions { compact_min_records: 12, max_segment_bytes: 2_000, ..QueueOptions::default() };
        let mut disk = Side { queue: Queue::open(tmp.path().join("q"), options).unwrap(), leases: Vec::new() };
        let mut memory = Side { queue: Queue::in_memory(), leases: Vec::new() };
        prop_assert!(memory.queue.dir().is_none());
        let mut now = T0;
        for (step, action) in actions.iter().enumerate() {
            match action {
                Action::Forward(d) => now += d,
                Action::Back(d) => now -= d,
                _ => {}
            }
            let on_disk = disk.act(action, now);
            let in_memory = memory.act(action, now);
            prop_assert_eq!(&on_disk, &in_memory, "step {}: {:?}", step, action);
            prop_assert_eq!(disk.state(now), memory.state(now), "state after step {}: {:?}", step, action);
        }
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64)
}
