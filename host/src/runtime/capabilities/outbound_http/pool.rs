//! The open connections of one function's outbound client, kept per worker thread. An HTTP/1.1
//! connection is driven inside the calling task while it carries a call, and lies idle, unpolled,
//! between calls: no connection task, channel hand-off or wake-up per call, which is what hyper's
//! pooling client spends on each. An HTTP/2 connection (TLS that negotiated `h2`) runs in its own
//! task and is shared by the thread's calls, as its streams multiplex.
//!
//! An idle connection is taken only while it is younger than the idle timeout and still open; a
//! sweep closes the others, so a function that stops calling does not keep sockets open.

use crate::http::client_io::Conn;
use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::{http1, http2};
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;
use tokio::time::{Instant as TokioInstant, Sleep};

/// Where a connection goes: scheme and authority, as the (normalized) URL writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin<'a> {
    tls: bool,
    authority: &'a str,
}

impl Origin<'_> {
    /// The origin of an absolute URI.
    pub(crate) fn of(uri: &Uri) -> Origin<'_> {
        Origin {
            tls: uri.scheme_str() == Some("https"),
            authority: uri.authority().map_or("", |a| a.as_str()),
        }
    }
}

/// What drives an HTTP/1.1 connection: writes its requests, reads its responses.
type Http1Driver = Pin<Box<http1::Connection<Conn, Full<Bytes>>>>;

/// An HTTP/1.1 connection and the future that drives it, polled by whoever holds it.
pub(crate) struct Http1 {
    pub(crate) sender: http1::SendRequest<Full<Bytes>>,
    /// `None` once it has finished: dropping it at once drops its queue too, so a request it
    /// never took comes back to the sender as unsent (to go out on another connection) rather
    /// than waiting in a queue nothing reads.
    driver: Option<Http1Driver>,
    /// The deadline of the call it carries. It stays with the connection and each call moves it:
    /// moving a timer later is an atomic update, where a new timer per call takes the timer
    /// wheel's lock to register and again to cancel.
    deadline: Pin<Box<Sleep>>,
}

/// The call's deadline passed before its exchange was done.
#[derive(Debug)]
pub(crate) struct TimedOut;

impl Http1 {
    /// Starts HTTP/1.1 on a connected stream (no I/O happens until it is driven), for a call due
    /// by `deadline`.
    pub(crate) async fn handshake(io: Conn, deadline: TokioInstant) -> hyper::Result<Http1> {
        let (sender, driver) = http1::handshake(io).await?;
        Ok(Http1 {
            sender,
            driver: Some(Box::pin(driver)),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
        })
    }

    /// Sets the deadline of the call this connection now carries.
    pub(crate) fn due_by(&mut self, deadline: TokioInstant) {
        self.deadline.as_mut().reset(deadline);
    }

    /// Waits until the connection can take a request (an idle one is at once, unless it has
    /// closed: then the error), or until the call's deadline.
    pub(crate) async fn ready(&mut self) -> Result<hyper::Result<()>, TimedOut> {
        poll_fn(|cx| {
            self.poll_driver(cx);
            match self.sender.poll_ready(cx) {
                Poll::Ready(ready) => Poll::Ready(Ok(ready)),
                Poll::Pending => self.poll_deadline(cx),
            }
        })
        .await
    }

    /// Runs `work` (an exchange on this connection) while driving the connection, which is what
    /// writes the request and reads the response into its body, until the call's deadline.
    /// `work` is pinned by the caller: taken by value, it would be held twice in this future,
    /// as the argument and as the pinned copy.
    pub(crate) async fn driving<F: Future>(
        &mut self,
        mut work: Pin<&mut F>,
    ) -> Result<F::Output, TimedOut> {
        poll_fn(|cx| {
            self.poll_driver(cx);
            match work.as_mut().poll(cx) {
                Poll::Ready(output) => Poll::Ready(Ok(output)),
                Poll::Pending => self.poll_deadline(cx),
            }
        })
        .await
    }

    fn poll_deadline<T>(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TimedOut>> {
        self.deadline.as_mut().poll(cx).map(|()| Err(TimedOut))
    }

    /// Drives the connection as far as it goes now; notes when it has closed.
    fn poll_driver(&mut self, cx: &mut Context<'_>) {
        if let Some(driver) = &mut self.driver
            && driver.as_mut().poll(cx).is_ready()
        {
            self.driver = None;
        }
    }

    /// Whether the connection is still open, looked at without waiting (an idle connection the
    /// server has closed reads its end of file here).
    fn still_open(&mut self) -> bool {
        self.poll_driver(&mut Context::from_waker(Waker::noop()));
        self.driver.is_some() && !self.sender.is_closed()
    }

    /// Whether the connection is open and between messages, ready for the next request at once.
    /// One that is not (the server answered before it read the whole request body, which is
    /// still being written) would make the next call wait for the rest.
    fn idle_and_open(&mut self) -> bool {
        self.still_open() && self.sender.is_ready()
    }
}

/// A connection taken for one call.
pub(crate) enum Taken {
    /// An idle HTTP/1.1 connection, now the caller's; give it back with [`Pools::put`].
    Http1(Http1),
    /// The origin's shared HTTP/2 connection.
    Http2(http2::SendRequest<Full<Bytes>>),
}

/// An idle HTTP/1.1 connection and when it became idle.
struct IdleHttp1 {
    conn: Http1,
    since: Instant,
}

impl IdleHttp1 {
    /// Whether a call may take it at `now`: still open, and idle for less than `idle_timeout`.
    fn usable(&mut self, now: Instant, idle_timeout: Duration) -> bool {
        unexpired(self.since, now, idle_timeout) && self.conn.still_open()
    }
}

/// An origin's shared HTTP/2 connection and when a call last took it.
struct SharedHttp2 {
    sender: http2::SendRequest<Full<Bytes>>,
    last_used: Instant,
}

impl SharedHttp2 {
    /// Whether a call may take it at `now`: still open, and used less than `idle_timeout` ago.
    fn usable(&self, now: Instant, idle_timeout: Duration) -> bool {
        unexpired(self.last_used, now, idle_timeout) && !self.sender.is_closed()
    }
}

/// The one idle-timeout rule, for taking a connection and for the sweep alike.
fn unexpired(since: Instant, now: Instant, idle_timeout: Duration) -> bool {
    now.saturating_duration_since(since) < idle_timeout
}

/// One origin's connections on one thread.
struct OriginConnections {
    tls: bool,
    authority: String,
    /// Idle HTTP/1.1 connections, the most recently used last.
    idle: Vec<IdleHttp1>,
    /// Closed by the sweep once unused for the idle timeout (its calls still running keep
    /// their clones of the sender, so they finish).
    http2: Option<SharedHttp2>,
}

/// One thread's connections, by origin.
type ThreadConnections = Mutex<Vec<OriginConnections>>;

/// A function's connections on every worker thread.
pub(crate) struct Pools {
    threads: Arc<ThreadLocal<ThreadConnections>>,
    idle_timeout: Duration,
    max_idle_per_origin: usize,
    /// A sweep task is running (it clears this when it ends, or when its runtime drops it).
    sweeping: Arc<AtomicBool>,
}

impl Pools {
    pub(crate) fn new(idle_timeout: Duration, max_idle_per_origin: usize) -> Pools {
        Pools {
            threads: Arc::new(ThreadLocal::new()),
            idle_timeout,
            max_idle_per_origin,
            sweeping: Arc::new(AtomicBool::new(false)),
        }
    }

    fn here(&self) -> std::sync::MutexGuard<'_, Vec<OriginConnections>> {
        let connections = self.threads.get_or(ThreadConnections::default);
        // A panic while the lock was held leaves nothing half-changed that matters here.
        connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// An open connection to `origin` on this thread, if one is free: its HTTP/2 connection, else
    /// the most recently idle HTTP/1.1 one that has not timed out. Closed and stale ones met on
    /// the way are dropped.
    pub(crate) fn take(&self, origin: Origin<'_>, now: Instant) -> Option<Taken> {
        let mut here = self.here();
        let entry = here.iter_mut().find(|e| e.is(origin))?;
        if let Some(shared) = &mut entry.http2 {
            if shared.usable(now, self.idle_timeout) {
                shared.last_used = now;
                return Some(Taken::Http2(shared.sender.clone()));
            }
            entry.http2 = None;
        }
        while let Some(mut idle) = entry.idle.pop() {
            if idle.usable(now, self.idle_timeout) {
                return Some(Taken::Http1(idle.conn));
            }
        }
        None
    }

    /// Keeps `conn`, idle since `now`, for the next call to `origin`, unless it has closed, is
    /// not between messages, or the origin already has as many idle connections as it may keep.
    pub(crate) fn put(&self, origin: Origin<'_>, mut conn: Http1, now: Instant) {
        if !conn.idle_and_open() {
            return;
        }
        {
            let mut here = self.here();
            let entry = entry_for(&mut here, origin);
            if entry.idle.len() >= self.max_idle_per_origin {
                return;
            }
            entry.idle.push(IdleHttp1 { conn, since: now });
        }
        self.start_sweeping();
    }

    /// Shares `sender`, a new HTTP/2 connection to `origin`, with this thread's later calls.
    pub(crate) fn share_http2(
        &self,
        origin: Origin<'_>,
        sender: http2::SendRequest<Full<Bytes>>,
        now: Instant,
    ) {
        entry_for(&mut self.here(), origin).http2 = Some(SharedHttp2 {
            sender,
            last_used: now,
        });
        self.start_sweeping();
    }

    /// Idle connections kept on every thread (for tests).
    #[cfg(test)]
    pub(crate) fn idle_count(&self) -> usize {
        let threads: &ThreadLocal<ThreadConnections> = &self.threads;
        threads
            .iter()
            .map(|t| {
                let here = t.lock().unwrap_or_else(|p| p.into_inner());
                here.iter().map(|e| e.idle.len()).sum::<usize>()
            })
            .sum()
    }

    /// Starts the task that closes idle connections once they time out, if none runs.
    fn start_sweeping(&self) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Release);
            return;
        };
        let sweep = Sweep {
            threads: Arc::downgrade(&self.threads),
            idle_timeout: self.idle_timeout,
            running: self.sweeping.clone(),
        };
        runtime.spawn(sweep.run());
    }
}

impl OriginConnections {
    fn is(&self, origin: Origin<'_>) -> bool {
        self.tls == origin.tls && self.authority == origin.authority
    }
}

fn entry_for<'a>(
    here: &'a mut Vec<OriginConnections>,
    origin: Origin<'_>,
) -> &'a mut OriginConnections {
    let index = match here.iter().position(|e| e.is(origin)) {
        Some(index) => index,
        None => {
            here.push(OriginConnections {
                tls: origin.tls,
                authority: origin.authority.to_owned(),
                idle: Vec::new(),
                http2: None,
            });
            here.len() - 1
        }
    };
    &mut here[index]
}

/// The sweep task's state; dropping it (the client is gone, or the task's runtime shut down) lets
/// the next idle connection start another.
struct Sweep {
    threads: Weak<ThreadLocal<ThreadConnections>>,
    idle_timeout: Duration,
    running: Arc<AtomicBool>,
}

impl Drop for Sweep {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Release);
    }
}

impl Sweep {
    /// Every idle timeout, closes the idle connections that have timed out or closed, for as long
    /// as the function's client lives.
    async fn run(self) {
        loop {
            tokio::time::sleep(self.idle_timeout).await;
            let Some(threads) = self.threads.upgrade() else {
                return;
            };
            let now = Instant::now();
            for thread in threads.iter() {
                let mut here = thread.lock().unwrap_or_else(|p| p.into_inner());
                for entry in here.iter_mut() {
                    entry
                        .idle
                        .retain_mut(|idle| idle.usable(now, self.idle_timeout));
                    if entry
                        .http2
                        .as_ref()
                        .is_some_and(|shared| !shared.usable(now, self.idle_timeout))
                    {
                        entry.http2 = None;
                    }
                }
                here.retain(|e| !e.idle.is_empty() || e.http2.is_some());
            }
        }
    }
}
