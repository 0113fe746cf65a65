//! The accept loop: each connection served by hyper's HTTP/1 connection builder.
//!
//! Not `axum::serve`: its version-sniffing builder (HTTP/1 or HTTP/2 on the same port) with
//! upgrade support rewinds the first read of every connection and sets up an upgrade channel on
//! every request, and wraps each connection in a `select!` on its shutdown signal. The gateway
//! speaks HTTP/1.1 to its clients (the OpenAI SDKs do) and has no upgradable routes, so it serves
//! the same router without those layers; `bench-stack` measures the difference.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Accept and serve until `stop` resolves; returns the watcher that drains the open
/// connections, and closes the listener (no new connections) on return.
pub async fn accept_until(
    listener: TcpListener,
    app: Router,
    stop: impl std::future::Future<Output = ()>,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = &mut stop => break,
        };
        let tcp = match accepted {
            Ok((tcp, _)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like: the next accept may work once
                // connections close, so wait a little instead of spinning or exiting.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // TCP_NODELAY on every connection: with Nagle on, each SSE event after the first waits
        // for the client's delayed ACK, about 40 ms. Best effort: a socket that refuses it still
        // works, only slower.
        let _ = tcp.set_nodelay(true);
        let svc = TowerToHyperService::new(app.clone());
        let conn =
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), svc);
        let conn = graceful.watch(conn);
        // A failed connection (client reset, bad request line) only ends that connection.
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    graceful
}
