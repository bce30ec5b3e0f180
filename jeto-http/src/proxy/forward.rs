//! Passing a request to a machine and its answer back: streamed both ways (nothing is
//! buffered), bounded in body size and in time to the answer's headers; a `101 Switching
//! Protocols` answer joins the two connections.

use std::net::SocketAddr;

use http::{header, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};

use super::{headers, pages, ProxyBody, ProxyService};
use crate::{ClientAddr, TimedBody};

/// The host name a request is for (no port, lowercase): from `Host`, else the URI.
pub(crate) fn host_of<B>(request: &Request<B>) -> Option<String> {
    let raw = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))?;
    let authority: http::uri::Authority = raw.parse().ok()?;
    Some(authority.host().trim_end_matches('.').to_ascii_lowercase())
}

pub(crate) async fn forward(
    proxy: &ProxyService,
    mut request: Request<TimedBody>,
    host: &str,
    target: SocketAddr,
    max_body: u64,
) -> Response<ProxyBody> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_body) {
        return pages::page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too large",
            &format!("This site takes request bodies of at most {max_body} bytes."),
        );
    }
    let upgrade = headers::upgrade_asked(request.headers());
    let client_upgrade = upgrade.is_some().then(|| hyper::upgrade::on(&mut request));
    let client_ip = request
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.0.ip())
        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into());
    let (mut parts, body) = request.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    headers::add_forwarded(&mut parts.headers, client_ip, proxy.config.https, host);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    parts.uri = match Uri::builder()
        .scheme("http")
        .authority(target.to_string())
        .path_and_query(path)
        .build()
    {
        Ok(uri) => uri,
        Err(_) => {
            return pages::page(
                StatusCode::BAD_REQUEST,
                "Bad request",
                "The request's path cannot be passed on.",
            )
        }
    };
    parts.version = http::Version::HTTP_11;
    let body = Limited::new(body, usize::try_from(max_body).unwrap_or(usize::MAX))
        .map_err(|e| e as Box<dyn std::error::Error + Send + Sync>)
        .boxed();
    let sent = proxy.client.request(Request::from_parts(parts, body));
    let answer = match tokio::time::timeout(proxy.config.response_timeout, sent).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => {
            tracing::debug!(%target, %error, "the machine did not answer");
            return pages::page(
                StatusCode::BAD_GATEWAY,
                "No answer",
                &format!(
                    "The machine did not answer on port {}: is its web server up?",
                    target.port()
                ),
            );
        }
        Err(_) => {
            return pages::page(
                StatusCode::GATEWAY_TIMEOUT,
                "Too slow",
                &format!(
                    "The machine did not answer within {} s.",
                    proxy.config.response_timeout.as_secs()
                ),
            )
        }
    };
    if answer.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client_upgrade) = client_upgrade {
            return join_upgrade(answer, client_upgrade);
        }
    }
    let (mut parts, body) = answer.into_parts();
    headers::remove_hop_by_hop(&mut parts.headers);
    Response::from_parts(
        parts,
        body.map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
            .boxed(),
    )
}

/// Answers the visitor's 101 and, once both sides switched, copies bytes between them until
/// either ends.
fn join_upgrade(
    mut answer: Response<hyper::body::Incoming>,
    client: hyper::upgrade::OnUpgrade,
) -> Response<ProxyBody> {
    let machine = hyper::upgrade::on(&mut answer);
    tokio::spawn(async move {
        let (client, machine) = match tokio::try_join!(client, machine) {
            Ok(both) => both,
            Err(error) => {
                tracing::debug!(%error, "an upgrade did not complete");
                return;
            }
        };
        let mut client = hyper_util::rt::TokioIo::new(client);
        let mut machine = hyper_util::rt::TokioIo::new(machine);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut machine).await;
    });
    let (parts, _) = answer.into_parts();
    Response::from_parts(
        parts,
        http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed(),
    )
}
