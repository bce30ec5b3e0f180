//! A reader of `GET /api/events` (Server-Sent Events) for the tests.

use std::time::Duration;

use serde_json::Value;

/// An SSE stream being read: frames parsed as they come.
pub struct Sse {
    response: reqwest::Response,
    buffer: String,
}

impl Sse {
    pub async fn open(base: &str, key: &str, query: &str, last: Option<u64>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .get(format!("{base}/api/events{query}"))
            .header("X-JETO-KEY", key);
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        request.send().await.unwrap()
    }

    pub async fn follow(base: &str, key: &str, query: &str, last: Option<u64>) -> Sse {
        let response = Sse::open(base, key, query, last).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Sse {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (id, type, JSON), skipping comments; `None` after `wait` with none.
    pub async fn next(&mut self, wait: Duration) -> Option<(u64, String, Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, None, None);
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        kind = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(v).ok();
                    }
                }
                match (id, kind, data) {
                    (Some(id), Some(kind), Some(data)) => return Some((id, kind, data)),
                    (None, Some(kind), Some(data)) => return Some((0, kind, data)),
                    _ => continue, // a comment or the retry line
                }
            }
            let chunk = tokio::time::timeout(wait, self.response.chunk())
                .await
                .ok()?;
            let chunk = chunk.unwrap()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Every event arriving until none comes for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<(u64, String, Value)> {
        let mut events = Vec::new();
        while let Some(event) = self.next(quiet).await {
            events.push(event);
        }
        events
    }
}
