//! Futures run together on one task: the jobs of a batch, in flight at once.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Runs `futures` together and gives their outputs in their order. Each poll polls every
/// one not yet done: a batch holds a few jobs, so that costs less than a waker per future
/// (and a virtual world needs every sleeper polled to know which wakes first).
pub(crate) async fn all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut running: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx: &mut Context<'_>| {
        let mut pending = false;
        for (future, output) in running.iter_mut().zip(outputs.iter_mut()) {
            if output.is_some() {
                continue;
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(out) => *output = Some(out),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(outputs.iter_mut().filter_map(Option::take).collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use crate::memory::{VirtualTime, block_on};

    #[test]
    fn sleeps_in_flight_together_overlap_and_end_in_order() {
        let time = VirtualTime::new(1_000);
        let ended = std::cell::RefCell::new(Vec::new());
        let sleep = |ms: u64, name: &'static str| {
            let (time, ended) = (&time, &ended);
            async move {
                time.sleep_until(time.now() + ms).await;
                // A second request after the first, as a job's read follows its find.
                time.sleep_until(time.now() + ms).await;
                ended.borrow_mut().push((name, time.now()));
                name
            }
        };
        let out = block_on(super::all(vec![
            sleep(300, "slow"),
            sleep(100, "fast"),
            sleep(200, "middle"),
        ]));
        assert_eq!(out, ["slow", "fast", "middle"]);
        // Together: the batch takes as long as its slowest, not the sum.
        assert_eq!(time.now(), 1_600);
        assert_eq!(
            ended.into_inner(),
            [("fast", 1_200), ("middle", 1_400), ("slow", 1_600)]
        );
    }
}
