//! A small HTTP/1.1 listener (hyper) for read-only endpoints: GET and HEAD only, one handler
//! that maps a path to a [`Reply`]. The daemon's `/healthz` and `/metrics`
//! ([`crate::service::health`]) are served through it, so that module decides what to say and
//! this one how to speak HTTP.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

/// What a handler answers for one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// HTTP status code.
    pub(crate) status: u16,
    /// `Content-Type`.
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

/// Binds the listener (at start-up, so a taken port stops the daemon instead of leaving it
/// without health checks).
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on http.listen = {addr}"))
}

/// Serves `handle` (called with the request path) until `stop` completes. Every response is
/// `Cache-Control: no-store`: the endpoints report live state.
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    handle: H,
    stop: impl Future<Output = ()>,
) -> Result<()>
where
    H: Fn(String) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "health and metrics listening");
    }
    tokio::pin!(stop);
    loop {
        tokio::select! {
            r = listener.accept() => {
                let (stream, peer) = match r {
                    Ok(c) => c,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        warn!(error = %e, "http accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let handle = handle.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let handle = handle.clone();
                        async move { Ok::<_, Infallible>(respond(req, handle).await) }
                    });
                    let conn = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = conn.await {
                        debug!(error = %e, %peer, "http connection ended with an error");
                    }
                });
            }
            () = &mut stop => return Ok(()),
        }
    }
}

async fn respond<H, F>(req: Request<Incoming>, handle: H) -> Response<Full<Bytes>>
where
    H: Fn(String) -> F,
    F: Future<Output = Reply>,
{
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = response(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let reply = handle(req.uri().path().to_owned()).await;
    let code = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response(code, reply.content_type, reply.body)
}

fn response(code: StatusCode, ctype: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
