//! Runs one future to completion on the calling thread, inside the synchronous `edgefn_v1_handle`.
//!
//! A guest has one thread and nothing that can wake a future from outside a poll: no I/O reactor,
//! no timer wheel, no other thread. So a future is polled again only when it woke itself during
//! the last poll (as a cooperative yield does); one that returns `Pending` without doing so would
//! wait forever, and is reported as [`Stalled`] instead of spinning until the deadline.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

/// The future returned `Pending` and nothing in this guest can wake it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stalled;

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "the service's future is pending and nothing can wake it: an edgefn guest has one \
             thread and no async runtime, so a future that waits for a timer, a socket or another \
             task never completes (tokio's sleep or spawn, for one); serve with futures that \
             complete without an executor's help",
        )
    }
}

/// Set when the future's waker is woken.
struct Woken(AtomicBool);

impl Wake for Woken {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Polls `future` until it is ready, as long as every `Pending` came with a wake-up.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Stalled> {
    let mut future = std::pin::pin!(future);
    let woken = Arc::new(Woken(AtomicBool::new(false)));
    let waker = Waker::from(woken.clone());
    let mut cx = Context::from_waker(&waker);
    loop {
        woken.0.store(false, Ordering::Relaxed);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        if !woken.0.load(Ordering::Relaxed) {
            return Err(Stalled);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pending `times` times, waking itself each time, then ready with how often it was polled.
    struct YieldTimes {
        times: u32,
        polls: u32,
    }

    impl Future for YieldTimes {
        type Output = u32;

        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            self.polls += 1;
            if self.polls > self.times {
                Poll::Ready(self.polls)
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    #[test]
    fn a_ready_future_is_polled_once() {
        assert_eq!(block_on(async { 7 }), Ok(7));
        assert_eq!(block_on(YieldTimes { times: 0, polls: 0 }), Ok(1));
    }

    #[test]
    fn a_future_that_wakes_itself_is_polled_until_ready() {
        assert_eq!(block_on(YieldTimes { times: 3, polls: 0 }), Ok(4));
    }

    #[test]
    fn a_future_nothing_wakes_is_stalled_not_a_hang() {
        assert_eq!(block_on(std::future::pending::<()>()), Err(Stalled));
        // Woken once, then left pending: stalled on the second poll.
        let mut first = true;
        let twice = std::future::poll_fn(move |cx| {
            if std::mem::take(&mut first) {
                cx.waker().wake_by_ref();
            }
            Poll::<()>::Pending
        });
        assert_eq!(block_on(twice), Err(Stalled));
    }

    #[test]
    fn a_waker_cloned_and_woken_later_in_the_same_poll_counts() {
        let mut polls = 0;
        let later = std::future::poll_fn(move |cx| {
            polls += 1;
            if polls == 1 {
                let waker = cx.waker().clone();
                waker.wake();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        });
        assert_eq!(block_on(later), Ok(2));
    }
}
