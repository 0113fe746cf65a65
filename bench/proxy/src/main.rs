//! The benchmark floor: a bare HTTP/1.1 reverse proxy with a pooled upstream client, no parsing,
//! no buffering (bodies stream through frame by frame). Whatever Switchyard costs above this is
//! its own work. `bench-proxy LISTEN UPSTREAM`, e.g. `bench-proxy 127.0.0.1:4302 127.0.0.1:4301`.

use std::convert::Infallible;

use bytes::Bytes;
use http::uri::{Authority, Uri};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Body = BoxBody<Bytes, hyper::Error>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:4302".into());
    let upstream: Authority = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:4301".into())
        .parse()?;
    let mut connector = HttpConnector::new();
    // Like reqwest's default, so both proxies pay the same for small writes.
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new()).build(connector);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!("bench-proxy listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let (client, upstream) = (client.clone(), upstream.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                forward(client.clone(), upstream.clone(), req)
            });
            // A failed connection only ends that connection.
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

async fn forward(
    client: Client<HttpConnector, Incoming>,
    upstream: Authority,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = Uri::builder()
        .scheme("http")
        .authority(upstream)
        .path_and_query(path)
        .build();
    let Ok(uri) = uri else {
        return Ok(bad_gateway());
    };
    *req.uri_mut() = uri;
    Ok(match client.request(req).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(_) => bad_gateway(),
    })
}

fn bad_gateway() -> Response<Body> {
    let mut r = Response::new(
        Full::new(Bytes::from_static(b"bad gateway"))
            .map_err(|e| match e {})
            .boxed(),
    );
    *r.status_mut() = StatusCode::BAD_GATEWAY;
    r
}
