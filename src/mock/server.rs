//! The HTTP side of the mock provider: the accept loop and per-connection hyper tasks; each
//! request is recorded, handed to [`routes`](super::routes) and stamped with an `x-request-id`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::body::MockBody;
use super::routes;
use super::state::{lock, Shared};
use super::RecordedRequest;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Decrements the live-connection count when a connection task ends.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once shutdown has been requested.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Dropping the returned guard here keeps the caller's future `Send`.
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts connections until shutdown, then drops the listener.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.live.fetch_add(1, Ordering::AcqRel);
                    let guard = LiveGuard(Arc::clone(&shared));
                    tokio::spawn(serve_connection(stream, builder.clone(), guard));
                }
                Err(err) => {
                    log::warn!("mock server: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    shared.listener_closed.store(true, Ordering::Release);
}

async fn serve_connection(stream: TcpStream, builder: hyper::server::conn::http1::Builder, guard: LiveGuard) {
    let _ = stream.set_nodelay(true);
    let shared = Arc::clone(&guard.0);
    let mut stop = shared.shutdown.subscribe();
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(err) = result {
                log::debug!("mock server: connection ended: {err}");
            }
        }
        () = stopped(&mut stop) => {}
    }
    drop(guard);
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<MockBody> {
    let received = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
    shared.count.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            log::debug!("mock server: failed to read request body: {err}");
            Bytes::new()
        }
    };
    if shared.behaviour.record {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let record = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: body.clone(),
            received_at: received,
        };
        lock(&shared.log).push(record);
    }

    let mut resp = routes::handle(&shared, seq, &parts, &body).await;
    if let Ok(value) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    resp
}
