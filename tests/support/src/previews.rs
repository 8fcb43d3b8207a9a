//! A project's preview as a page sees it: the app a test posts, its modules polled until they
//! change, and the HMR WebSocket Vite's client opens.

use std::time::Duration;

use futures::StreamExt;

pub type HmrSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The smallest `App.tsx` that shows `marker`.
pub fn app(marker: &str) -> String {
    format!("export default function App() {{\n  return <h1>{marker}</h1>;\n}}\n")
}

/// Polls `url` until it answers 200 with `needle` in its body, and returns the body.
pub async fn eventually_contains(url: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..150 {
        let response = reqwest::Client::new().get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        if status == 200 && body.contains(needle) {
            return body;
        }
        last = format!("{status}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} never contained {needle:?}; last answer {last}");
}

/// The HMR WebSocket of the preview at `url` (its base, ending in `/`), opened as Vite's client
/// opens it, once it said it is connected.
pub async fn hmr_socket(url: &str) -> HmrSocket {
    let client = reqwest::get(format!("{url}@vite/client")).await.unwrap().text().await.unwrap();
    let token_at = client.find("wsToken = \"").map(|i| i + "wsToken = \"".len());
    let ws_token = token_at.map(|i| client[i..].split('"').next().unwrap().to_string()).unwrap_or_default();
    let ws_url = format!("{}?token={ws_token}", url.replacen("http://", "ws://", 1));
    let mut request = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(ws_url).unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "vite-hmr".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.expect("the HMR socket");
    assert_eq!(response.status(), 101);
    let first = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.unwrap().unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("connected"), "{first}");
    socket
}

/// The next update (or full reload) the socket carries, within `within`.
pub async fn next_update(socket: &mut HmrSocket, within: Duration) -> String {
    tokio::time::timeout(within, async {
        while let Some(message) = socket.next().await {
            let text = message.unwrap().into_text().unwrap().to_string();
            if text.contains("\"update\"") || text.contains("full-reload") {
                return text;
            }
        }
        String::new()
    })
    .await
    .expect("an HMR message")
}

/// Reads a project's logs stream (`GET /api/projects/{id}/logs` at `url`) until every needle has
/// been seen or `within` has passed, and returns what was read.
pub async fn logs_until(url: &str, token: &str, needles: &[&str], within: Duration) -> String {
    let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "the logs stream at {url}");
    let mut stream = response.bytes_stream();
    let mut seen = String::new();
    let _ = tokio::time::timeout(within, async {
        while let Some(Ok(chunk)) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if needles.iter().all(|n| seen.contains(n)) {
                return;
            }
        }
    })
    .await;
    seen
}
