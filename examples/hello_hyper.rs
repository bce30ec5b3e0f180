//! A bare hyper 1.x hello-world server: the baseline of the HTTP load benchmark
//! (`benches/load.sh`), served the same way as `jeto` (hyper-util auto builder, TokioIo).
//!
//! Run: `cargo run --release --example hello_hyper -- 127.0.0.1:7880 [BODY_BYTES]`; with
//! `BODY_BYTES` it answers that many bytes instead of `{"status":"ok"}`, a baseline for
//! responses as large as Jeto's instance lists.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7880".into());
    let body = match std::env::args()
        .nth(2)
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(size) => Bytes::from(vec![b'x'; size]),
        None => Bytes::from_static(b"{\"status\":\"ok\"}"),
    };
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("hello_hyper listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
                let body = body.clone();
                async move { Ok::<_, Infallible>(Response::new(Full::new(body))) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
