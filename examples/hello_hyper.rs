//! A bare hyper 1.x hello-world server: the baseline of the HTTP load benchmark
//! (`benches/load.sh`), served the same way as `jeto` (hyper-util auto builder, TokioIo).
//!
//! Run: `cargo run --release --example hello_hyper -- 127.0.0.1:7880`

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
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("hello_hyper listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|_request: Request<hyper::body::Incoming>| async {
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                    b"{\"status\":\"ok\"}",
                ))))
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
