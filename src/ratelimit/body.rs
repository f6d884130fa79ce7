//! Ties a [`Permit`] to a streamed response body.
//!
//! The permit (and with it the concurrency slot) lives inside the body, so it is released when
//! the stream ends, fails or is dropped, whoever holds the response. The bytes are scanned for
//! the provider's `usage.total_tokens` (sent when `stream_options.include_usage` is set); at the
//! end of the body the permit settles with it, or keeps the estimate when none came.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::{Permit, UsageScanner};

struct Guarded {
    inner: reqwest::Body,
    permit: Option<Permit>,
    usage: UsageScanner,
}

impl Guarded {
    fn settle(&mut self) {
        if let Some(permit) = self.permit.take() {
            permit.settle(self.usage.total());
        }
    }
}

impl Body for Guarded {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, reqwest::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if this.permit.is_some() {
                        this.usage.feed(data);
                    }
                }
            }
            Poll::Ready(None | Some(Err(_))) => this.settle(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.settle();
    }
}

/// Moves `permit` into the body of `resp`.
pub(crate) fn attach(resp: reqwest::Response, permit: Permit) -> reqwest::Response {
    let (parts, body) = hyper::Response::<reqwest::Body>::from(resp).into_parts();
    let body = reqwest::Body::wrap(Guarded {
        inner: body,
        permit: Some(permit),
        usage: UsageScanner::default(),
    });
    reqwest::Response::from(hyper::Response::from_parts(parts, body))
}
