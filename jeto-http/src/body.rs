//! [`ApiBody`]: the body of every response, whole or streamed.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The response body of every route: a whole buffer, or chunks streamed as they come.
#[derive(Debug)]
pub enum ApiBody {
    /// The whole body at once.
    Full(Option<Bytes>),
    /// Chunks from a channel, ending when the sender is dropped.
    Stream(tokio::sync::mpsc::Receiver<Bytes>),
}

impl ApiBody {
    /// A whole body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        ApiBody::Full(Some(bytes.into()))
    }

    /// An empty body.
    pub fn empty() -> Self {
        ApiBody::Full(None)
    }
}

impl Body for ApiBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut *self {
            ApiBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ApiBody::Stream(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ApiBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ApiBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            ApiBody::Full(None) => SizeHint::with_exact(0),
            ApiBody::Stream(_) => SizeHint::default(),
        }
    }
}
