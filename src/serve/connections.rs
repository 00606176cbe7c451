//! Accepting HTTP connections within limits, so that clients on the network cannot hold
//! the daemon's sockets (and with them its file descriptors) for as long as they like.
//!
//! - At most [`HttpLimits::max_connections`] connections are served at once. Past that
//!   the accept loop stops accepting: new connections wait in the kernel's listen
//!   backlog, costing the process no descriptor, and are taken as slots free up. (Closing
//!   them instead would turn away a health probe during an attack as surely as the
//!   attacker; waiting lets it through within one header timeout.)
//! - A connection that has not sent a request's complete headers within
//!   [`HttpLimits::header_timeout`] is closed; this also ends idle keep-alive connections,
//!   since hyper starts the timer again as soon as a response is written.
//! - A request whose handling, body read included, takes longer than
//!   [`HttpLimits::request_timeout`] is answered 408 and its connection closed.
//! - A connection is asked to close after [`HttpLimits::connection_lifetime`], once its
//!   request in flight is answered, so that steady valid requests cannot keep a slot.
//!
//! So every slot is free again within `connection_lifetime + request_timeout`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::response::{IntoResponse, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long and how many: the HTTP server's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HttpLimits {
    /// How long a client may take to send a request's headers.
    pub(crate) header_timeout: Duration,
    /// How long one request may take, reading its body included.
    pub(crate) request_timeout: Duration,
    /// How many connections are served at once.
    pub(crate) max_connections: usize,
    /// How long one connection is kept, however busy.
    pub(crate) connection_lifetime: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            header_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_connections: 64,
            connection_lifetime: Duration::from_secs(120),
        }
    }
}

/// How many connections wait in the kernel's listen backlog once every slot is taken
/// (the kernel caps it at `net.core.somaxconn`). Tokio's own `bind` asks for 128; past
/// the backlog the kernel turns connections away, so a flood of idle connections
/// would make it turn away probes too.
const LISTEN_BACKLOG: u32 = 1024;

/// Listens on `addr` with a backlog of [`LISTEN_BACKLOG`].
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `router` on `listener` within `limits`, until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, router: Router, limits: HttpLimits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        match listener.accept().await {
            Ok((stream, _peer)) => {
                tokio::spawn(serve_connection(stream, router.clone(), limits, permit));
            }
            Err(err) => {
                // Out of descriptors (EMFILE) or a connection reset before it was taken:
                // wait a little rather than spin, and go on.
                tracing::warn!("cannot accept an HTTP connection: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection; its slot is given back when this returns.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: HttpLimits,
    _slot: OwnedSemaphorePermit,
) {
    let router = TowerToHyperService::new(router);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let response = router.call(request);
        async move {
            match tokio::time::timeout(limits.request_timeout, response).await {
                Ok(response) => response,
                Err(_) => Ok(request_timed_out()),
            }
        }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(stream), service);
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = tokio::time::sleep(limits.connection_lifetime) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!("HTTP connection closed: {err}");
    }
}

fn request_timed_out() -> Response {
    let status = axum::http::StatusCode::REQUEST_TIMEOUT;
    let headers = [("connection", "close")];
    (status, headers, "the request took too long\n").into_response()
}
