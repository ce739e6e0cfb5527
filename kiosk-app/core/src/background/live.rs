//! The live stream: `GET /api/v1/live` (Server-Sent Events), held open while the kiosk is
//! online. Each `changes` event is a [`LiveNotice`] handed to the sync loop, which pulls when the
//! feed is ahead of its cursor. A dropped stream reconnects after a backoff with full jitter.
//!
//! Only the stream lives here: what a notice leads to is the loop's decision.

use std::sync::Arc;
use std::time::Duration;

use sync_protocol::wire::{ErrorBody, ErrorCode, LiveNotice};
use tokio::sync::mpsc;

use super::{Shared, backoff, lock};

/// Longest line kept from the stream; a longer one is cut (and its event will not parse).
const MAX_LINE: usize = 64 * 1024;

/// How one connection ended.
enum Ended {
    /// The server refused the token: the kiosk was revoked; the sync loop will see it too.
    Revoked,
    /// The loop is gone.
    Unheard,
    /// Network or server trouble: try again later.
    Failed(String),
}

/// Holds the live stream open whenever the status says online, until the task is aborted.
pub(super) async fn run(
    shared: Arc<Shared>,
    notices: mpsc::Sender<LiveNotice>,
    backoff_start: Duration,
    backoff_cap: Duration,
) {
    let endpoint = {
        let store = lock(&shared.store);
        match (store.identity(), store.device_token()) {
            (Ok(Some(identity)), Ok(Some(token))) => (
                format!("{}/api/v1/live", identity.server_url.trim_end_matches('/')),
                token,
            ),
            _ => {
                tracing::warn!("live stream: this kiosk is not enrolled; only timed syncs run");
                return;
            }
        }
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        // The server sends a keep-alive every 15 s: silence for longer means a dead link.
        .read_timeout(Duration::from_secs(45))
        .build()
        .expect("a TLS backend is compiled in");
    let mut status = shared.status.subscribe();
    let mut failures = 0u32;
    loop {
        if status.wait_for(|s| s.online && !s.revoked).await.is_err() {
            return;
        }
        let (connected, ended) = listen(&http, &endpoint, &shared, &notices).await;
        shared.update(|s| s.live = false);
        match ended {
            Ended::Revoked | Ended::Unheard => return,
            Ended::Failed(reason) => {
                failures = if connected { 1 } else { failures + 1 };
                tracing::debug!(%reason, failures, "live stream down");
            }
        }
        let wait = backoff(
            failures,
            backoff_start,
            backoff_cap,
            &mut rand::thread_rng(),
        );
        tokio::time::sleep(wait).await;
    }
}

/// One connection: reads events until it ends. Returns whether it was connected at all.
async fn listen(
    http: &reqwest::Client,
    (url, token): &(String, String),
    shared: &Shared,
    notices: &mpsc::Sender<LiveNotice>,
) -> (bool, Ended) {
    let sent = http
        .get(url)
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "text/event-stream")
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(err) => return (false, Ended::Failed(err.to_string())),
    };
    let status = response.status();
    if !status.is_success() {
        let body: Option<ErrorBody> = response.json().await.ok();
        return match body {
            Some(ErrorBody {
                code: ErrorCode::DeviceRevoked,
                ..
            }) => (false, Ended::Revoked),
            _ => (false, Ended::Failed(format!("HTTP {status}"))),
        };
    }
    // Not while revoked: the loop may have stopped the stream just now.
    shared.update(|s| s.live = !s.revoked);
    tracing::debug!("live stream connected");
    let mut events = EventStream::default();
    loop {
        let chunk = match response.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return (true, Ended::Failed("closed by the server".into())),
            Err(err) => return (true, Ended::Failed(err.to_string())),
        };
        for event in events.push(&chunk) {
            if event.name != "changes" {
                continue;
            }
            match serde_json::from_str::<LiveNotice>(&event.data) {
                Ok(notice) => {
                    if notices.send(notice).await.is_err() {
                        return (true, Ended::Unheard);
                    }
                }
                Err(err) => tracing::warn!(error = %err, "live stream: a notice not understood"),
            }
        }
    }
}

/// One event of a `text/event-stream`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    /// The `event:` field; "message" when absent.
    name: String,
    /// The `data:` lines, joined by newlines.
    data: String,
}

/// Splits a `text/event-stream` into events, whatever the chunk boundaries.
#[derive(Debug, Default)]
struct EventStream {
    line: Vec<u8>,
    name: String,
    data: String,
    has_data: bool,
}

impl EventStream {
    /// Feeds `bytes`; returns the events they complete.
    fn push(&mut self, bytes: &[u8]) -> Vec<Event> {
        let mut events = Vec::new();
        for &byte in bytes {
            if byte != b'\n' {
                if self.line.len() < MAX_LINE {
                    self.line.push(byte);
                }
                continue;
            }
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if let Some(event) = self.line_done(&String::from_utf8_lossy(&line)) {
                events.push(event);
            }
        }
        events
    }

    fn line_done(&mut self, line: &str) -> Option<Event> {
        if line.is_empty() {
            let name = std::mem::take(&mut self.name);
            if !std::mem::take(&mut self.has_data) {
                return None;
            }
            return Some(Event {
                name: if name.is_empty() {
                    "message".to_owned()
                } else {
                    name
                },
                data: std::mem::take(&mut self.data),
            });
        }
        if line.starts_with(':') {
            return None; // a comment: the keep-alive
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => self.name = value.to_owned(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {} // id, retry: not used
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, data: &str) -> Event {
        Event {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_come_whole_whatever_the_chunks() {
        let stream = b"event: changes\ndata: {\"a\":1}\n\n:keep-alive\n\nevent: changes\r\ndata: {\"a\":2}\r\n\r\n";
        let whole = EventStream::default().push(stream);
        assert_eq!(
            whole,
            [event("changes", "{\"a\":1}"), event("changes", "{\"a\":2}")]
        );
        for size in 1..stream.len() {
            let mut parser = EventStream::default();
            let pieces: Vec<Event> = stream
                .chunks(size)
                .flat_map(|chunk| parser.push(chunk))
                .collect();
            assert_eq!(pieces, whole, "chunks of {size}");
        }
    }

    #[test]
    fn data_lines_join_and_a_missing_name_is_message() {
        let events = EventStream::default().push(b"data: one\ndata:two\nid: 7\n\n\n");
        assert_eq!(events, [event("message", "one\ntwo")]);
    }

    #[test]
    fn an_unfinished_event_waits_for_its_blank_line() {
        let mut parser = EventStream::default();
        assert!(parser.push(b"event: changes\ndata: {}\n").is_empty());
        assert_eq!(parser.push(b"\n"), [event("changes", "{}")]);
    }

    #[test]
    fn a_notice_as_the_server_sends_it_reads_back() {
        use rand::SeedableRng;
        use sync_protocol::UnixMillis;
        use sync_protocol::ids::EventId;
        use sync_protocol::wire::Cursor;

        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let notice = LiveNotice {
            event_id: EventId::new(UnixMillis(1_790_000_000_000), &mut rng),
            position: Cursor { tx: 41, pos: 7 },
            package_version: 3,
        };
        let text = format!(
            "event: changes\ndata: {}\n\n",
            serde_json::to_string(&notice).unwrap()
        );
        let events = EventStream::default().push(text.as_bytes());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "changes");
        let read: LiveNotice = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(read, notice);
    }
}
