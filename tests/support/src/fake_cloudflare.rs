//! A fake of Cloudflare's v4 REST API, as much as a site's DNS record and its Cloudflare for SaaS
//! custom hostnames need: `dns_records` and `custom_hostnames` of one zone, behind a bearer
//! token, answering in Cloudflare's `{success, errors, messages, result}` envelope. Certificates
//! stay `pending_validation` until a test calls [`FakeCloudflare::activate`], as they would until
//! Cloudflare could reach the domain. Every request is recorded for assertions.
//!
//! The error codes the host acts on (81053, 81044, 1406, 1436, 7003, 10000) are Cloudflare's;
//! those of the validation errors are only in the right range.
//!
//! Over 500 lines: one fake of one vendor API: its routes share the zone's state and Cloudflare's
//! envelope.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::git_server::{Background, bind_loopback, serve_in_background};

const API_ROOT: &str = "/client/v4";

/// Cloudflare's defaults when a list request names no `per_page`.
const DNS_RECORDS_PER_PAGE: usize = 100;
const CUSTOM_HOSTNAMES_PER_PAGE: usize = 20;

#[derive(Default)]
struct Zone {
    dns_records: Vec<Value>,
    custom_hostnames: Vec<Value>,
}

struct FakeState {
    token: String,
    zone_id: String,
    // One lock for both lists, so that a duplicate check and the insert it guards are atomic.
    zone: Mutex<Zone>,
    failures: Mutex<VecDeque<StatusCode>>,
    requests: Mutex<Vec<Value>>,
}

struct Inner {
    state: Arc<FakeState>,
    _server: Background,
}

/// The fake API on a free loopback port, on a thread of its own (like
/// [`GitServer`](crate::git_server::GitServer)), stopped when the last clone is dropped. Only the
/// zone it was started with exists.
#[derive(Clone)]
pub struct FakeCloudflare {
    /// The API root, as `https://api.cloudflare.com/client/v4` would be (no trailing slash).
    pub base_url: String,
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

impl FakeCloudflare {
    /// Starts the API for zone `zone_id`, which takes `Authorization: Bearer {token}`.
    pub async fn start(token: &str, zone_id: &str) -> Self {
        Self::start_blocking(token, zone_id)
    }

    /// Like [`FakeCloudflare::start`], for tests that have no runtime.
    pub fn start_blocking(token: &str, zone_id: &str) -> Self {
        let listener = bind_loopback();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(FakeState {
            token: token.to_string(),
            zone_id: zone_id.to_string(),
            zone: Mutex::new(Zone::default()),
            failures: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new().fallback(handle).with_state(state.clone());
        let server = serve_in_background("fake-cloudflare", listener, app);
        Self { base_url: format!("http://{addr}{API_ROOT}"), addr, inner: Arc::new(Inner { state, _server: server }) }
    }

    /// What Cloudflare does once it has validated the domain and issued the certificate: custom
    /// hostname `hostname` and its certificate become `active`.
    pub fn activate(&self, hostname: &str) {
        let mut zone = self.inner.state.zone.lock().unwrap();
        let Some(custom) = zone.custom_hostnames.iter_mut().find(|h| same_name(&h["hostname"], hostname)) else {
            let known: Vec<Value> = zone.custom_hostnames.iter().map(|h| h["hostname"].clone()).collect();
            // Panicking with the lock held would poison it for the server's thread.
            drop(zone);
            panic!("no custom hostname {hostname} to activate (there are {known:?})");
        };
        custom["status"] = json!("active");
        custom["ssl"]["status"] = json!("active");
    }

    /// The DNS records of the zone, as the API shows them.
    pub fn dns_records(&self) -> Vec<Value> {
        self.inner.state.zone.lock().unwrap().dns_records.clone()
    }

    /// The custom hostnames of the zone, as the API shows them.
    pub fn custom_hostnames(&self) -> Vec<Value> {
        self.inner.state.zone.lock().unwrap().custom_hostnames.clone()
    }

    /// Every request received, oldest first, refused ones included: `{method, path, body}`, the
    /// path with its query, the body as JSON when it parses (else `null`).
    pub fn requests(&self) -> Vec<Value> {
        self.inner.state.requests.lock().unwrap().clone()
    }

    /// Makes the next request, whatever it is, fail with `status` and Cloudflare's error envelope
    /// (code 10001), as during an outage. Calls add up: two calls fail the next two requests.
    pub fn fail_next(&self, status: u16) {
        // Checked here so that a bad status fails the test, not the server's thread.
        let status = StatusCode::from_u16(status).unwrap_or_else(|_| panic!("{status} is no HTTP status"));
        self.inner.state.failures.lock().unwrap().push_back(status);
    }
}

fn success(status: StatusCode, result: Value) -> Response {
    (status, Json(json!({ "success": true, "errors": [], "messages": [], "result": result }))).into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Response {
    let body = json!({
        "success": false,
        "errors": [{ "code": code, "message": message }],
        "messages": [],
        "result": null,
    });
    (status, Json(body)).into_response()
}

/// A page of `items`, with the `result_info` Cloudflare adds to lists.
fn page(items: Vec<Value>, query: &HashMap<String, String>, default_per_page: usize) -> Response {
    let number = |key: &str| query.get(key).and_then(|v| v.parse::<usize>().ok()).filter(|&n| n >= 1);
    let page = number("page").unwrap_or(1);
    let per_page = number("per_page").unwrap_or(default_per_page);
    let total_count = items.len();
    let shown: Vec<Value> = items.into_iter().skip((page - 1).saturating_mul(per_page)).take(per_page).collect();
    let body = json!({
        "success": true,
        "errors": [],
        "messages": [],
        "result": shown,
        "result_info": {
            "page": page,
            "per_page": per_page,
            "count": shown.len(),
            "total_count": total_count,
            "total_pages": total_count.div_ceil(per_page),
        },
    });
    (StatusCode::OK, Json(body)).into_response()
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    let presented = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.split_once(' '));
    presented.is_some_and(|(scheme, presented)| scheme.eq_ignore_ascii_case("bearer") && presented.trim() == token)
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20).await.unwrap_or_default();
    let json_body: Option<Value> = serde_json::from_slice(&body).ok();
    let query = parse_query(parts.uri.query().unwrap_or_default());
    let response = answer(&state, parts.method.as_str(), parts.uri.path(), &query, &parts.headers, json_body.as_ref());
    let path = parts.uri.path_and_query().map_or_else(|| parts.uri.path().to_string(), |p| p.as_str().to_string());
    state.requests.lock().unwrap().push(json!({
        "method": parts.method.as_str(),
        "path": path,
        "body": json_body.unwrap_or(Value::Null),
    }));
    response
}

fn answer(
    state: &FakeState,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: Option<&Value>,
) -> Response {
    if let Some(status) = state.failures.lock().unwrap().pop_front() {
        return failure(status, 10001, "Service unavailable");
    }
    if !authorized(headers, &state.token) {
        return failure(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    let Some(route) = path.strip_prefix(API_ROOT).map(|r| r.trim_end_matches('/')) else {
        return no_route();
    };
    let segments: Vec<&str> = route.trim_start_matches('/').split('/').collect();
    if let ["zones", zone, ..] = segments.as_slice()
        && *zone != state.zone_id
    {
        let message = format!("Could not route to {route}, perhaps your object identifier is invalid?");
        return failure(StatusCode::NOT_FOUND, 7003, &message);
    }
    let mut zone = state.zone.lock().unwrap();
    match (method, segments.as_slice()) {
        ("GET", ["zones", _, "dns_records"]) => {
            let found = zone
                .dns_records
                .iter()
                .filter(|r| query.get("name").is_none_or(|name| same_name(&r["name"], name)))
                .filter(|r| {
                    query
                        .get("type")
                        .is_none_or(|kind| r["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind)))
                })
                .filter(|r| query.get("content").is_none_or(|content| r["content"] == content.as_str()))
                .cloned()
                .collect();
            page(found, query, DNS_RECORDS_PER_PAGE)
        }
        ("POST", ["zones", zone_id, "dns_records"]) => create_dns_record(&mut zone, zone_id, body),
        ("GET", ["zones", _, "dns_records", id]) => match zone.dns_records.iter().find(|r| r["id"] == *id) {
            Some(record) => success(StatusCode::OK, record.clone()),
            None => no_dns_record(),
        },
        ("DELETE", ["zones", _, "dns_records", id]) => match zone.dns_records.iter().position(|r| r["id"] == *id) {
            Some(index) => {
                zone.dns_records.remove(index);
                success(StatusCode::OK, json!({ "id": id }))
            }
            None => no_dns_record(),
        },
        ("GET", ["zones", _, "custom_hostnames"]) => {
            let found = zone
                .custom_hostnames
                .iter()
                .filter(|h| query.get("hostname").is_none_or(|name| same_name(&h["hostname"], name)))
                .cloned()
                .collect();
            page(found, query, CUSTOM_HOSTNAMES_PER_PAGE)
        }
        ("POST", ["zones", _, "custom_hostnames"]) => create_custom_hostname(&mut zone, body),
        ("GET", ["zones", _, "custom_hostnames", id]) => match zone.custom_hostnames.iter().find(|h| h["id"] == *id) {
            Some(custom) => success(StatusCode::OK, custom.clone()),
            None => no_custom_hostname(),
        },
        ("DELETE", ["zones", _, "custom_hostnames", id]) => {
            match zone.custom_hostnames.iter().position(|h| h["id"] == *id) {
                Some(index) => {
                    zone.custom_hostnames.remove(index);
                    success(StatusCode::OK, json!({ "id": id }))
                }
                None => no_custom_hostname(),
            }
        }
        (_, ["zones", _, "dns_records" | "custom_hostnames", ..]) => {
            failure(StatusCode::METHOD_NOT_ALLOWED, 10405, "Method not allowed for this route")
        }
        _ => no_route(),
    }
}

fn no_route() -> Response {
    failure(StatusCode::NOT_FOUND, 7000, "No route for that URI")
}

fn no_dns_record() -> Response {
    failure(StatusCode::NOT_FOUND, 81044, "Record does not exist.")
}

fn no_custom_hostname() -> Response {
    failure(StatusCode::NOT_FOUND, 1436, "The custom hostname was not found.")
}

fn create_dns_record(zone: &mut Zone, zone_id: &str, body: Option<&Value>) -> Response {
    let invalid = |code, message| failure(StatusCode::BAD_REQUEST, code, message);
    let Some(request) = body.filter(|b| b.is_object()) else {
        return invalid(9207, "Failed to parse request body, content-type must be application/json.");
    };
    let Some(kind) = request["type"].as_str().map(str::to_ascii_uppercase) else {
        return invalid(9004, "DNS record type is required.");
    };
    if !["A", "AAAA", "CNAME", "TXT"].contains(&kind.as_str()) {
        return invalid(9004, "This record type is not supported.");
    }
    let Some(name) = request["name"].as_str().map(normalize_name).filter(|n| is_dns_name(n, true)) else {
        return invalid(9000, "DNS name is invalid.");
    };
    let content = request["content"].as_str().unwrap_or_default().to_string();
    let (content_valid, code) = match kind.as_str() {
        "A" => (content.parse::<Ipv4Addr>().is_ok(), 9005),
        "AAAA" => (content.parse::<Ipv6Addr>().is_ok(), 9006),
        "CNAME" => (is_dns_name(&normalize_name(&content), false), 9007),
        _ => (!content.is_empty(), 9008),
    };
    if !content_valid {
        return invalid(code, &format!("Content for {kind} record is invalid."));
    }
    let content = if kind == "CNAME" { normalize_name(&content) } else { content };
    let proxied = match &request["proxied"] {
        Value::Null => false,
        Value::Bool(proxied) => *proxied,
        _ => return invalid(9003, "Invalid 'proxied' value, must be a boolean."),
    };
    if proxied && kind == "TXT" {
        return invalid(9004, "TXT records cannot be proxied.");
    }
    let ttl = match &request["ttl"] {
        Value::Null => 1,
        ttl => match ttl.as_u64() {
            Some(ttl) if ttl == 1 || (60..=86400).contains(&ttl) => ttl,
            _ => return invalid(9021, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic."),
        },
    };
    let comment = match &request["comment"] {
        Value::Null => Value::Null,
        Value::String(comment) if comment.len() <= 100 => Value::String(comment.clone()),
        _ => return invalid(9102, "The comment must be a string of at most 100 characters."),
    };

    // A CNAME can share its name with no other address record, whichever came first.
    let address = |t: &str| ["A", "AAAA", "CNAME"].contains(&t);
    let clash = zone.dns_records.iter().filter(|r| same_name(&r["name"], &name)).find_map(|r| {
        let existing = r["type"].as_str().unwrap_or_default();
        if address(&kind) && address(existing) && (kind == "CNAME" || existing == "CNAME") {
            Some((81053, "An A, AAAA, or CNAME record with that host already exists."))
        } else if existing == kind && r["content"] == content.as_str() {
            Some((81058, "An identical record already exists."))
        } else {
            None
        }
    });
    if let Some((code, message)) = clash {
        return invalid(code, message);
    }

    let now = timestamp();
    let record = json!({
        "id": format!("{:032x}", rand::random::<u128>()),
        "zone_id": zone_id,
        "name": name,
        "type": kind,
        "content": content,
        "proxiable": kind != "TXT",
        "proxied": proxied,
        "ttl": ttl,
        "comment": comment,
        "tags": [],
        "meta": {},
        "created_on": now,
        "modified_on": now,
    });
    zone.dns_records.push(record.clone());
    success(StatusCode::OK, record)
}

fn create_custom_hostname(zone: &mut Zone, body: Option<&Value>) -> Response {
    let invalid = |code, message| failure(StatusCode::BAD_REQUEST, code, message);
    let Some(request) = body.filter(|b| b.is_object()) else {
        return invalid(1400, "Unable to decode the JSON request body.");
    };
    let Some(hostname) = request["hostname"].as_str().map(normalize_name).filter(|n| is_dns_name(n, true)) else {
        return invalid(1411, "Custom hostname does not contain a valid hostname.");
    };
    let Some(ssl_request) = request["ssl"].as_object() else {
        return invalid(1413, "The ssl object is required.");
    };
    let method = ssl_request.get("method").and_then(Value::as_str).unwrap_or("http");
    if !["http", "txt", "email"].contains(&method) {
        return invalid(1414, "Invalid validation method: use http, txt or email.");
    }
    if ssl_request.get("type").and_then(Value::as_str).is_some_and(|t| t != "dv") {
        return invalid(1415, "Invalid certificate type: only dv is supported.");
    }
    let origin = match &request["custom_origin_server"] {
        Value::Null => None,
        Value::String(origin) if is_dns_name(&normalize_name(origin), false) => Some(normalize_name(origin)),
        _ => return invalid(1416, "The custom origin server is not a valid hostname."),
    };
    if zone.custom_hostnames.iter().any(|h| same_name(&h["hostname"], &hostname)) {
        return failure(StatusCode::CONFLICT, 1406, "Duplicate custom hostname found.");
    }

    let id = uuid();
    // Whatever else was asked of the certificate (settings, bundle method, …) is echoed, as
    // Cloudflare does.
    let mut ssl = ssl_request.clone();
    ssl.insert("id".into(), json!(uuid()));
    ssl.insert("type".into(), json!("dv"));
    ssl.insert("method".into(), json!(method));
    ssl.insert("status".into(), json!("pending_validation"));
    let mut custom = json!({
        "id": id,
        "hostname": hostname,
        "ssl": ssl,
        "status": "pending",
        "created_at": timestamp(),
        "ownership_verification": {
            "type": "txt",
            "name": format!("_cf-custom-hostname.{hostname}"),
            "value": uuid(),
        },
        "ownership_verification_http": {
            "http_url": format!("http://{hostname}/.well-known/cf-custom-hostname-challenge/{id}"),
            "http_body": uuid(),
        },
    });
    if let Some(origin) = origin {
        custom["custom_origin_server"] = json!(origin);
    }
    zone.custom_hostnames.push(custom.clone());
    success(StatusCode::OK, custom)
}

/// Cloudflare keeps names in lower case and without the root's trailing dot.
fn normalize_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn same_name(stored: &Value, name: &str) -> bool {
    stored.as_str().is_some_and(|stored| stored == normalize_name(name))
}

/// Labels of letters, digits, `-` and `_`; a leading `*` label only where wildcards make sense.
fn is_dns_name(name: &str, wildcard: bool) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    !name.is_empty()
        && name.len() <= 253
        && labels.iter().enumerate().all(|(i, label)| {
            (wildcard && i == 0 && *label == "*")
                || (!label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        })
}

/// A random version 4 UUID, the form of Cloudflare's custom hostname ids and tokens.
fn uuid() -> String {
    let bits = (rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// Now in RFC 3339 with microseconds, as Cloudflare writes its timestamps.
fn timestamp() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let seconds = now.as_secs() as i64;
    let (days, second_of_day) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil, to spare the crate a date library.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        now.subsec_micros()
    )
}

/// `a=1&b=x%2Ey` as a map; the last of repeated keys wins.
fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .filter(|_| bytes[i] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (_, Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', None) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, None) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "cf-test-token";
    const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

    async fn call(cf: &FakeCloudflare, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        call_as(TOKEN, method, &format!("{}{path}", cf.base_url), body).await
    }

    async fn call_as(token: &str, method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = reqwest::Client::new().request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    fn cname(name: &str) -> Value {
        json!({ "type": "CNAME", "name": name, "content": "sites.example.net", "proxied": true, "ttl": 1,
                "comment": "Blink site" })
    }

    fn error_code(body: &Value) -> i64 {
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["result"], Value::Null, "{body}");
        body["errors"][0]["code"].as_i64().unwrap()
    }

    #[tokio::test]
    async fn fake_cloudflare_creates_a_dns_record_once() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        assert!(cf.base_url.ends_with("/client/v4"), "{}", cf.base_url);
        let path = format!("/zones/{ZONE}/dns_records");

        let (status, body) = call(&cf, "POST", &path, Some(cname("Demo.Example.com"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["success"], true);
        assert_eq!(body["errors"], json!([]));
        let record = &body["result"];
        let id = record["id"].as_str().unwrap();
        assert!(id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(record["zone_id"], ZONE);
        assert_eq!(record["name"], "demo.example.com");
        assert_eq!(record["type"], "CNAME");
        assert_eq!(record["content"], "sites.example.net");
        assert_eq!(record["proxied"], true);
        assert_eq!(record["ttl"], 1);
        assert_eq!(record["comment"], "Blink site");
        assert!(record["created_on"].as_str().unwrap().ends_with('Z'), "{record}");

        let (status, body) = call(&cf, "POST", &path, Some(cname("demo.example.com"))).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(error_code(&body), 81053);
        let a_record = json!({ "type": "A", "name": "demo.example.com", "content": "192.0.2.1" });
        let (status, body) = call(&cf, "POST", &path, Some(a_record)).await;
        assert_eq!((status, error_code(&body)), (400, 81053));
        assert_eq!(cf.dns_records().len(), 1);

        let requests = cf.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0]["method"], "POST");
        assert_eq!(requests[0]["path"], format!("/client/v4{path}"));
        assert_eq!(requests[0]["body"]["name"], "Demo.Example.com");
    }

    #[tokio::test]
    async fn fake_cloudflare_refuses_invalid_dns_records() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let path = format!("/zones/{ZONE}/dns_records");
        let cases = [
            json!({ "name": "a.example.com", "content": "sites.example.net" }),
            json!({ "type": "MX", "name": "a.example.com", "content": "sites.example.net" }),
            json!({ "type": "CNAME", "name": "a b.example.com", "content": "sites.example.net" }),
            json!({ "type": "CNAME", "name": "a.example.com" }),
            json!({ "type": "A", "name": "a.example.com", "content": "sites.example.net" }),
            json!({ "type": "CNAME", "name": "a.example.com", "content": "x.example.net", "proxied": "yes" }),
            json!({ "type": "CNAME", "name": "a.example.com", "content": "x.example.net", "ttl": 5 }),
        ];
        for case in cases {
            let (status, body) = call(&cf, "POST", &path, Some(case.clone())).await;
            assert_eq!(status, 400, "{case} → {body}");
            let code = error_code(&body);
            assert!((9000..10000).contains(&code), "{case} → {body}");
            assert!(!body["errors"][0]["message"].as_str().unwrap().is_empty());
        }
        assert!(cf.dns_records().is_empty());
    }

    #[tokio::test]
    async fn fake_cloudflare_lists_and_deletes_dns_records() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let path = format!("/zones/{ZONE}/dns_records");
        for name in ["one.example.com", "two.example.com"] {
            assert_eq!(call(&cf, "POST", &path, Some(cname(name))).await.0, 200);
        }
        let txt = json!({ "type": "TXT", "name": "one.example.com", "content": "hello" });
        assert_eq!(call(&cf, "POST", &path, Some(txt)).await.0, 200);

        let (status, body) = call(&cf, "GET", &format!("{path}?type=CNAME&name=one.example.com"), None).await;
        assert_eq!(status, 200, "{body}");
        let found = body["result"].as_array().unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["name"], "one.example.com");
        assert_eq!(found[0]["type"], "CNAME");
        assert_eq!(body["result_info"]["page"], 1);
        assert_eq!(body["result_info"]["count"], 1);
        assert_eq!(body["result_info"]["total_count"], 1);

        let (_, body) = call(&cf, "GET", &format!("{path}?name=one%2Eexample.com"), None).await;
        assert_eq!(body["result"].as_array().unwrap().len(), 2);
        let (_, body) = call(&cf, "GET", &path, None).await;
        assert_eq!(body["result"].as_array().unwrap().len(), 3);
        assert_eq!(body["result_info"]["total_count"], 3);

        let id = found[0]["id"].as_str().unwrap();
        let (status, body) = call(&cf, "DELETE", &format!("{path}/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"], json!({ "id": id }));
        let (status, body) = call(&cf, "DELETE", &format!("{path}/{id}"), None).await;
        assert_eq!((status, error_code(&body)), (404, 81044));
        assert_eq!(body["errors"][0]["message"], "Record does not exist.");
        assert_eq!(cf.dns_records().len(), 2);
        assert!(cf.requests().iter().any(|r| r["path"] == format!("/client/v4{path}?name=one%2Eexample.com")));
    }

    #[tokio::test]
    async fn fake_cloudflare_custom_hostname_becomes_active_when_activated() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let path = format!("/zones/{ZONE}/custom_hostnames");
        let request = json!({ "hostname": "www.customer.test", "custom_origin_server": "sites.example.net",
                              "ssl": { "method": "http", "type": "dv" } });

        let (status, body) = call(&cf, "POST", &path, Some(request.clone())).await;
        assert_eq!(status, 200, "{body}");
        let created = &body["result"];
        let id = created["id"].as_str().unwrap().to_string();
        assert_eq!(created["hostname"], "www.customer.test");
        assert_eq!(created["custom_origin_server"], "sites.example.net");
        assert_eq!(created["status"], "pending");
        assert_eq!(created["ssl"]["status"], "pending_validation");
        assert_eq!(created["ssl"]["method"], "http");
        assert_eq!(created["ssl"]["type"], "dv");
        assert!(created["ssl"]["id"].is_string());
        assert_eq!(
            created["ownership_verification_http"]["http_url"],
            format!("http://www.customer.test/.well-known/cf-custom-hostname-challenge/{id}")
        );
        assert!(created["ownership_verification_http"]["http_body"].is_string());

        let (status, body) = call(&cf, "POST", &path, Some(request)).await;
        assert_eq!((status, error_code(&body)), (409, 1406));
        assert_eq!(body["errors"][0]["message"], "Duplicate custom hostname found.");

        let (_, body) = call(&cf, "GET", &format!("{path}/{id}"), None).await;
        assert_eq!(body["result"]["ssl"]["status"], "pending_validation");
        cf.activate("www.customer.test");
        let (status, body) = call(&cf, "GET", &format!("{path}/{id}"), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["result"]["ssl"]["status"], "active");
        assert_eq!(body["result"]["status"], "active");
        assert_eq!(cf.custom_hostnames()[0]["status"], "active");

        let (_, body) = call(&cf, "GET", &format!("{path}?hostname=www.customer.test"), None).await;
        assert_eq!(body["result"].as_array().unwrap().len(), 1);
        assert_eq!(body["result"][0]["id"], id.as_str());
        let (_, body) = call(&cf, "GET", &format!("{path}?hostname=other.customer.test"), None).await;
        assert_eq!(body["result"], json!([]));
        assert_eq!(body["result_info"]["total_count"], 0);

        let (status, body) = call(&cf, "DELETE", &format!("{path}/{id}"), None).await;
        assert_eq!((status, &body["result"]), (200, &json!({ "id": id })));
        let (status, body) = call(&cf, "GET", &format!("{path}/{id}"), None).await;
        assert_eq!((status, error_code(&body)), (404, 1436));
        let (status, body) = call(&cf, "DELETE", &format!("{path}/{id}"), None).await;
        assert_eq!((status, error_code(&body)), (404, 1436));
        assert!(cf.custom_hostnames().is_empty());
    }

    #[tokio::test]
    #[should_panic(expected = "no custom hostname")]
    async fn fake_cloudflare_refuses_to_activate_an_unknown_hostname() {
        FakeCloudflare::start(TOKEN, ZONE).await.activate("nowhere.test");
    }

    #[tokio::test]
    async fn fake_cloudflare_requires_the_token() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let url = format!("{}/zones/{ZONE}/dns_records", cf.base_url);
        let (status, body) = call_as("wrong-token", "POST", &url, Some(cname("a.example.com"))).await;
        assert_eq!((status, error_code(&body)), (403, 10000));
        assert_eq!(body["errors"][0]["message"], "Authentication error");
        assert_eq!(body["messages"], json!([]));

        let response = reqwest::Client::new().get(&url).send().await.unwrap();
        assert_eq!(response.status(), 403);
        assert!(cf.dns_records().is_empty());
        assert_eq!(cf.requests().len(), 2);
    }

    #[tokio::test]
    async fn fake_cloudflare_knows_only_its_zone() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let (status, body) = call(&cf, "POST", "/zones/0000/dns_records", Some(cname("a.example.com"))).await;
        assert_eq!((status, error_code(&body)), (404, 7003));
        assert_eq!(
            body["errors"][0]["message"],
            "Could not route to /zones/0000/dns_records, perhaps your object identifier is invalid?"
        );
        let (status, body) = call(&cf, "GET", "/zones/0000/custom_hostnames/abc", None).await;
        assert_eq!((status, error_code(&body)), (404, 7003));
        assert!(cf.dns_records().is_empty());
    }

    #[tokio::test]
    async fn fake_cloudflare_fails_the_next_request_when_told() {
        let cf = FakeCloudflare::start(TOKEN, ZONE).await;
        let path = format!("/zones/{ZONE}/dns_records");
        cf.fail_next(503);
        let (status, body) = call(&cf, "POST", &path, Some(cname("a.example.com"))).await;
        assert_eq!((status, error_code(&body)), (503, 10001));
        assert_eq!(body["errors"][0]["message"], "Service unavailable");
        assert!(cf.dns_records().is_empty());

        let (status, body) = call(&cf, "POST", &path, Some(cname("a.example.com"))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(cf.dns_records().len(), 1);
        assert_eq!(cf.requests().len(), 2);
    }
}
