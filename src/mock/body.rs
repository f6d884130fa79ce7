//! The response body of the mock server: pre-serialised bytes sent event by event (with an
//! optional delay between events), batched when there is no delay, and optionally cut short by
//! dropping the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Largest frame written at once when events are batched.
const BATCH_BYTES: usize = 32 * 1024;

/// Pause before cutting, so the events already produced reach the socket first.
const FLUSH_PAUSE: Duration = Duration::from_millis(20);

/// A response body made of `data` split at `ends`, optionally ending with a connection cut.
#[derive(Debug)]
pub(crate) struct MockBody {
    data: Bytes,
    ends: Vec<usize>,
    next: usize,
    pos: usize,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: bool,
    cut_paused: bool,
    exact_len: Option<u64>,
}

impl MockBody {
    /// A complete body with a known length.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let len = data.len();
        MockBody::new(data, vec![len], Duration::ZERO, false, Some(len as u64))
    }

    /// A body that announces `data.len()` bytes but sends only the first half, then drops the
    /// connection.
    pub(crate) fn half_then_cut(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let len = data.len();
        MockBody::new(data, vec![len / 2], Duration::ZERO, true, Some(len as u64))
    }

    /// A chunked body sending the events ending at `ends`, `delay` apart, then finishing cleanly
    /// or (`cut`) dropping the connection.
    pub(crate) fn events(data: Bytes, ends: Vec<usize>, delay: Duration, cut: bool) -> Self {
        MockBody::new(data, ends, delay, cut, None)
    }

    fn new(data: Bytes, ends: Vec<usize>, delay: Duration, cut: bool, exact_len: Option<u64>) -> Self {
        MockBody {
            data,
            ends,
            next: 0,
            pos: 0,
            delay,
            sleep: None,
            cut,
            cut_paused: false,
            exact_len,
        }
    }
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(sleep) = this.sleep.as_mut() {
                ready!(sleep.as_mut().poll(cx));
                this.sleep = None;
            }
            if this.next < this.ends.len() {
                let start = this.pos;
                let mut end = this.ends[this.next];
                this.next += 1;
                if this.delay.is_zero() {
                    while this.next < this.ends.len() && this.ends[this.next] - start <= BATCH_BYTES {
                        end = this.ends[this.next];
                        this.next += 1;
                    }
                } else if this.next < this.ends.len() {
                    this.sleep = Some(Box::pin(tokio::time::sleep(this.delay)));
                }
                this.pos = end;
                if end > start {
                    return Poll::Ready(Some(Ok(Frame::data(this.data.slice(start..end)))));
                }
                continue;
            }
            if !this.cut {
                return Poll::Ready(None);
            }
            if !this.cut_paused {
                // Let hyper flush what it has buffered, then fail the body so it drops the connection.
                this.cut_paused = true;
                this.sleep = Some(Box::pin(tokio::time::sleep(FLUSH_PAUSE)));
                continue;
            }
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "mock fault: connection cut",
            ))));
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.cut && self.next >= self.ends.len() && self.sleep.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match self.exact_len {
            Some(len) if self.next == 0 => SizeHint::with_exact(len),
            _ => SizeHint::default(),
        }
    }
}
