//! One connection's bookkeeping: its [`Activity`] (for the header, idle and write timeouts, and
//! for choosing which connection to close at the cap), the IO wrapper that feeds it, and the
//! body wrappers that time the request body and mark a request in flight until its answer has
//! been sent.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::limits::ServerLimits;

/// What a connection is doing, as far as the timeouts care.
#[derive(Debug)]
struct ActivityState {
    /// Requests whose answer is not fully sent yet.
    in_flight: usize,
    /// Whether a request was ever received: a fresh connection gets the header timeout only.
    served: bool,
    /// Since when nothing is in flight (the connection's start, or its last answer).
    idle_since: Instant,
    /// The first byte received since `idle_since`: a request is arriving.
    first_byte: Option<Instant>,
    /// Since when a write has been waiting for the client to read.
    write_blocked: Option<Instant>,
}

/// The activity of one connection, shared by its IO, its bodies and its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    state: Mutex<ActivityState>,
    close: Notify,
}

impl Activity {
    fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                served: false,
                idle_since: Instant::now(),
                first_byte: None,
                write_blocked: None,
            }),
            close: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ActivityState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn received(&self) {
        let mut state = self.lock();
        if state.in_flight == 0 && state.first_byte.is_none() {
            state.first_byte = Some(Instant::now());
        }
    }

    fn writing(&self, blocked: bool) {
        let mut state = self.lock();
        state.write_blocked = match (blocked, state.write_blocked) {
            (true, None) => Some(Instant::now()),
            (true, since) => since,
            (false, _) => None,
        };
    }

    /// A request has arrived (its head is read); it is in flight until the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        let mut state = self.lock();
        state.in_flight += 1;
        state.served = true;
        state.first_byte = None;
        InFlight {
            activity: self.clone(),
        }
    }

    /// Since when the connection is idle, `None` while a request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        let state = self.lock();
        (state.in_flight == 0).then_some(state.idle_since)
    }

    /// Why the connection must be closed now, if it must.
    fn expired(&self, now: Instant, limits: &ServerLimits) -> Option<&'static str> {
        let state = self.lock();
        let over =
            |since: Instant, secs: u64| now.duration_since(since) > Duration::from_secs(secs);
        if let Some(since) = state.write_blocked {
            if over(since, limits.write_timeout_secs) {
                return Some("the client stopped reading (write_timeout_secs)");
            }
        }
        if state.in_flight > 0 {
            return None;
        }
        match (state.served, state.first_byte) {
            (false, _) if over(state.idle_since, limits.header_read_timeout_secs) => {
                Some("no complete request head in time (header_read_timeout_secs)")
            }
            (true, Some(first)) if over(first, limits.header_read_timeout_secs) => {
                Some("no complete request head in time (header_read_timeout_secs)")
            }
            (true, None) if over(state.idle_since, limits.idle_timeout_secs) => {
                Some("idle (idle_timeout_secs)")
            }
            _ => None,
        }
    }

    /// Resolves with the reason when the connection must be closed: a timeout, or eviction.
    pub(crate) async fn watchdog(&self, limits: &ServerLimits) -> &'static str {
        let shortest = [
            limits.header_read_timeout_secs,
            limits.idle_timeout_secs,
            limits.write_timeout_secs,
        ]
        .into_iter()
        .min()
        .unwrap_or(1)
        .max(1);
        // Checked eight times per shortest timeout: a connection is closed at most 1/8 late.
        let tick = (Duration::from_secs(shortest) / 8).min(Duration::from_secs(1));
        loop {
            tokio::select! {
                () = self.close.notified() => return "closed to make room (max_connections)",
                () = tokio::time::sleep(tick) => {}
            }
            if let Some(reason) = self.expired(Instant::now(), limits) {
                return reason;
            }
        }
    }
}

/// A request in flight; dropping it (with the answer's body) makes the connection idle.
#[derive(Debug)]
pub(crate) struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut state = self.activity.lock();
        state.in_flight -= 1;
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// The open connections, so that the idlest one can be closed when a new one needs room.
#[derive(Debug, Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    next: AtomicU64,
}

impl Connections {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Activity>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a new connection.
    pub(crate) fn add(&self) -> (u64, Arc<Activity>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let activity = Activity::new();
        self.lock().insert(id, activity.clone());
        (id, activity)
    }

    /// Forgets a connection that ended.
    pub(crate) fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// How many are open.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the connection idle the longest (none with a request in flight); whether there
    /// was one.
    pub(crate) fn evict_idlest(&self) -> bool {
        let mut open = self.lock();
        let idlest = open
            .iter()
            .filter_map(|(id, a)| a.idle_since().map(|since| (since, *id)))
            .min();
        match idlest.and_then(|(_, id)| open.remove(&id)) {
            Some(activity) => {
                activity.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// A socket that reports reads and blocked writes to its connection's [`Activity`].
#[derive(Debug)]
pub(crate) struct TrackedIo<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T> TrackedIo<T> {
    pub(crate) fn new(inner: T, activity: Arc<Activity>) -> Self {
        TrackedIo { inner, activity }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TrackedIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.received();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TrackedIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.activity.writing(result.is_pending());
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.activity.writing(result.is_pending());
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.activity.writing(result.is_pending());
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {}s (body_read_timeout_secs); send the whole body with the request", .0.as_secs())]
pub struct BodyReadTimeout(pub Duration);

/// The body of a request [`crate::serve`] hands to the service: it must arrive whole within
/// `body_read_timeout_secs` (a client that announces a body, or sends `Expect: 100-continue`,
/// and never sends it gets a [`BodyReadTimeout`] error, which [`crate::JetoService`] answers
/// 408).
#[derive(Debug)]
pub struct TimedBody {
    inner: hyper::body::Incoming,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
}

impl TimedBody {
    pub(crate) fn new(inner: hyper::body::Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            timeout,
        }
    }
}

impl Body for TimedBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            let timeout = self.timeout;
            return Poll::Ready(Some(Err(Box::new(BodyReadTimeout(timeout)))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// An answer's body that keeps its request in flight until it is sent (or dropped).
#[derive(Debug)]
pub(crate) struct TrackedBody<B> {
    inner: Pin<Box<B>>,
    _in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(inner: B, in_flight: InFlight) -> Self {
        TrackedBody {
            inner: Box::pin(inner),
            _in_flight: in_flight,
        }
    }
}

impl<B: Body<Data = Bytes>> Body for TrackedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.inner.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
