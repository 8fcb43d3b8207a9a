//! Deploys and their host names: no site answers for another user's, a custom domain is served
//! only once its owner proved it, and one user cannot tie up the host with deploys.

use std::time::Duration;

use blink_test_support::fake_dns::FakeDns;
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use blink_test_support::s3::{Fault, FaultyProxy, S3Server};
use blink_test_support::sites::{complete, site};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

fn project() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A build as `/api/build` leaves it: a page naming `marker`, and one script.
fn write_build(blink: &Blink, project: &str, marker: &str) {
    let dist = blink.data_dir.path().join("builds").join(project).join("dist");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join("assets")).unwrap();
    let page =
        format!("<!doctype html><html><body><h1>{marker}</h1><script src=\"/assets/app.js\"></script></body></html>");
    std::fs::write(dist.join("index.html"), page).unwrap();
    std::fs::write(dist.join("assets/app.js"), format!("console.log({marker:?});")).unwrap();
}

async fn send(blink: &Blink, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", blink.url))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn post(blink: &Blink, path: &str, token: &str, body: Value) -> (u16, Value) {
    send(blink, reqwest::Method::POST, path, token, Some(body)).await
}

async fn deploy(blink: &Blink, token: &str, project: &str, domain: Option<&str>) -> (u16, Value) {
    let mut body = json!({ "projectId": project });
    if let Some(domain) = domain {
        body["customDomain"] = json!(domain);
    }
    post(blink, "/api/deploy", token, body).await
}

/// The page a host name serves, if it serves a deployed page.
async fn page(blink: &Blink, host: &str) -> Option<String> {
    complete(blink, host).await.ok()
}

/// Item 4: project ids are lowercase DNS labels, so no id differing only by case (or that a
/// host name cannot spell) can take over another user's site name.
#[tokio::test]
async fn a_project_id_differing_only_by_case_cannot_take_over_a_site() {
    let blink = Blink::start(BIN, &[]).await;
    let (alice, mallory) = (jwt::user_token("alice-case"), jwt::user_token("mallory-case"));

    let (status, body) = post(&blink, "/api/projects", &alice, json!({ "id": "shop" })).await;
    assert_eq!(status, 201, "{body}");
    write_build(&blink, "shop", "alice's shop");
    let (status, body) = deploy(&blink, &alice, "shop", None).await;
    assert_eq!(status, 200, "{body}");

    // Mallory's `Shop` would answer at the same host name: refused wherever an id enters.
    write_build(&blink, "Shop", "mallory's shop");
    let (status, body) = post(&blink, "/api/projects", &mallory, json!({ "id": "Shop" })).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{body}");
    let (status, body) = deploy(&blink, &mallory, "Shop", None).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{body}");
    let chat = json!({ "projectId": "Shop", "messages": [{ "role": "user", "content": "hi" }] });
    let (status, body) = post(&blink, "/api/orchestrator", &mallory, chat).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{body}");
    let (status, body) = send(&blink, reqwest::Method::GET, "/api/projects/Shop/deploys", &mallory, None).await;
    assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{body}");
    for bad in ["shop_", "-shop", "shop-", &"a".repeat(64), "sh.op"] {
        let (status, body) = post(&blink, "/api/projects", &mallory, json!({ "id": bad })).await;
        assert_eq!((status, body["error"].clone()), (400, json!("invalid_project_id")), "{bad}: {body}");
    }
    let (status, body) = post(&blink, "/api/projects", &mallory, json!({ "id": "a".repeat(63) })).await;
    assert_eq!(status, 201, "63 characters is a DNS label: {body}");

    // Whatever case a visitor's browser sends, Alice's site answers.
    for host in ["shop.sites.localhost", "Shop.sites.localhost", "SHOP.sites.localhost"] {
        let html = page(&blink, host).await.unwrap_or_default();
        assert!(html.contains("alice's shop"), "{host}: {html}");
    }
}

/// Item 5: a custom domain is served only after its claimer proved it by a DNS TXT record;
/// claims waiting for their proof block no one and expire; the API's own names come from the
/// configuration, whatever `Host` a claim is sent with.
#[tokio::test]
async fn a_custom_domain_is_served_only_once_proven_and_never_the_apis_own_name() {
    let dns = FakeDns::start();
    let blink = Blink::start(
        BIN,
        &[
            dns.host_env(),
            ("BLINK_RESERVED_DOMAINS", "api.blink.test".into()),
            ("BLINK_PREVIEW_DOMAIN", "preview.blink.test".into()),
        ],
    )
    .await;
    let (alice, mallory) = (jwt::user_token("alice-domain"), jwt::user_token("mallory-domain"));
    let (alices, mallorys) = (project(), project());
    write_build(&blink, &alices, "alice's shop");
    write_build(&blink, &mallorys, "mallory's page");

    // Mallory claims Alice's domain first: her site deploys, the domain stays pending, unserved.
    let (status, claimed) = deploy(&blink, &mallory, &mallorys, Some("www.alice-shop.com")).await;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(claimed["domain"]["status"], "pending", "{claimed}");
    assert_eq!(claimed["domain"]["verification"]["type"], "TXT");
    assert_eq!(claimed["domain"]["verification"]["name"], "_blink-challenge.www.alice-shop.com");
    let mallorys_token = claimed["domain"]["verification"]["value"].as_str().unwrap().to_string();
    assert!(!claimed["url"].as_str().unwrap().contains("alice-shop"), "{claimed}");
    assert_eq!(page(&blink, "www.alice-shop.com").await, None, "a pending domain is not served");

    // Alice is not blocked: her own claim, with its own token.
    let (status, body) = deploy(&blink, &alice, &alices, Some("www.alice-shop.com")).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    let alices_token = body["domain"]["verification"]["value"].as_str().unwrap().to_string();
    assert_ne!(alices_token, mallorys_token);
    let verify = format!("/api/projects/{alices}/domains/www.alice-shop.com/verify");
    let (status, body) = post(&blink, &verify, &alice, json!({})).await;
    assert_eq!((status, body["error"].clone()), (409, json!("domain_not_proven")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("_blink-challenge.www.alice-shop.com"), "{body}");

    // She publishes her token at her DNS provider: proven, hers, served.
    dns.add_txt("_blink-challenge.www.alice-shop.com", &alices_token);
    let (status, body) = post(&blink, &verify, &alice, json!({})).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("active")), "{body}");
    assert!(page(&blink, "www.alice-shop.com").await.unwrap_or_default().contains("alice's shop"));

    // Mallory's claim was dropped; proving it is refused, and so is claiming it again.
    let mallorys_verify = format!("/api/projects/{mallorys}/domains/www.alice-shop.com/verify");
    let (status, body) = post(&blink, &mallorys_verify, &mallory, json!({})).await;
    assert_eq!((status, body["error"].clone()), (409, json!("domain_taken")), "{body}");
    let (status, body) =
        send(&blink, reqwest::Method::GET, &format!("/api/projects/{mallorys}/domains"), &mallory, None).await;
    assert_eq!((status, body["domains"].clone()), (200, json!([])), "{body}");
    let (status, body) = deploy(&blink, &mallory, &mallorys, Some("www.alice-shop.com")).await;
    assert_eq!((status, body["error"].clone()), (409, json!("domain_taken")), "{body}");
    assert!(page(&blink, "www.alice-shop.com").await.unwrap_or_default().contains("alice's shop"));

    // The API's configured name is refused whatever name the claim is sent by.
    for (header, value) in [("host", "127.0.0.1"), ("host", "elsewhere.example"), ("x-forwarded-host", "x.example")] {
        let response = reqwest::Client::new()
            .post(format!("{}/api/deploy", blink.url))
            .header(header, value)
            .bearer_auth(&mallory)
            .json(&json!({ "projectId": mallorys, "customDomain": "API.blink.test" }))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!((status, body["error"].clone()), (422, json!("invalid_domain")), "{header}: {value}: {body}");
    }
    // The previews' domain is projects' previews: none of its names can be claimed.
    for name in ["preview.blink.test", "shop.preview.blink.test"] {
        let (status, body) = deploy(&blink, &mallory, &mallorys, Some(name)).await;
        assert_eq!((status, body["error"].clone()), (422, json!("invalid_domain")), "{name}: {body}");
    }
    // A name the API answers by that the operator did not list: a claim sent by another name
    // stays pending, so that name never serves Mallory's site.
    let (status, body) = deploy(&blink, &mallory, &mallorys, Some("blink.api.example")).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    let health = site(&blink, "blink.api.example", "/", &[]).await.text().await.unwrap();
    assert!(!health.contains("mallory's page"), "{health}");

    // An unproven claim expires: its token, published late, proves nothing.
    let blink = Blink::start(BIN, &[dns.host_env(), ("BLINK_DOMAIN_CLAIM_TTL_SECS", "1".into())]).await;
    let mallorys = project();
    write_build(&blink, &mallorys, "mallory's late page");
    let (status, claimed) = deploy(&blink, &mallory, &mallorys, Some("late.example.org")).await;
    assert_eq!((status, claimed["domain"]["status"].clone()), (200, json!("pending")), "{claimed}");
    let token = claimed["domain"]["verification"]["value"].as_str().unwrap().to_string();
    let expires_at = claimed["domain"]["verification"]["expiresAt"].as_i64().unwrap();
    let now = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    while now() <= expires_at {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    dns.add_txt("_blink-challenge.late.example.org", &token);
    let verify = format!("/api/projects/{mallorys}/domains/late.example.org/verify");
    let (status, body) = post(&blink, &verify, &mallory, json!({})).await;
    assert_eq!((status, body["error"].clone()), (410, json!("domain_claim_expired")), "{body}");
    assert_eq!(page(&blink, "late.example.org").await, None);
    let (_, body) =
        send(&blink, reqwest::Method::GET, &format!("/api/projects/{mallorys}/domains"), &mallory, None).await;
    assert_eq!(body["domains"], json!([]), "{body}");
    let (status, again) = deploy(&blink, &mallory, &mallorys, Some("late.example.org")).await;
    assert_eq!((status, again["domain"]["status"].clone()), (200, json!("pending")), "{again}");
    assert_ne!(again["domain"]["verification"]["value"].as_str().unwrap(), token, "a new claim, a new token");
    assert_eq!(page(&blink, "late.example.org").await, None);
}

/// Item 9: a deploy reads each file within a per-file limit (streamed, never whole), and one
/// user has at most the configured number of deploys in flight, one whose client hung up included
/// (it runs to its end); others are unaffected.
#[tokio::test]
async fn deploys_are_bounded_per_file_and_per_user_in_flight() {
    // The per-file limit at its edge.
    let blink = Blink::start(BIN, &[("BLINK_DEPLOY_MAX_FILE_BYTES", "1000".into())]).await;
    let user = jwt::user_token("heavy-deployer");
    let id = project();
    write_build(&blink, &id, "sized");
    let big = blink.data_dir.path().join("builds").join(&id).join("dist/assets/big.bin");
    std::fs::write(&big, vec![b'x'; 1000]).unwrap();
    let (status, body) = deploy(&blink, &user, &id, None).await;
    assert_eq!(status, 200, "a file of exactly the limit passes: {body}");
    std::fs::write(&big, vec![b'x'; 1001]).unwrap();
    let (status, body) = deploy(&blink, &user, &id, None).await;
    assert_eq!((status, body["error"].clone()), (413, json!("deploy_too_large")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("BLINK_DEPLOY_MAX_FILE_BYTES"), "{body}");
    let (_, list) = send(&blink, reqwest::Method::GET, &format!("/api/projects/{id}/deploys"), &user, None).await;
    assert_eq!(list["deploys"].as_array().unwrap().len(), 1, "the refused deploy left nothing: {list}");

    // Deploys in flight per user: the store holds every upload until released.
    let s3 = S3Server::start("blink-sites");
    let proxy = FaultyProxy::start(&s3, 1, Fault::Hold);
    let mut env: Vec<(&str, String)> = s3.host_env().into_iter().filter(|(k, _)| *k != "BLINK_S3_ENDPOINT").collect();
    env.extend([
        ("BLINK_S3_ENDPOINT", proxy.endpoint.clone()),
        ("BLINK_S3_PARALLEL", "1".into()),
        ("BLINK_S3_TIMEOUT_SECS", "600".into()),
        ("BLINK_DEPLOY_MAX_CONCURRENT_PER_USER", "2".into()),
    ]);
    let blink = Blink::start(BIN, &env).await;
    let (mallory, bob) = (jwt::user_token("busy-mallory"), jwt::user_token("patient-bob"));
    let projects: Vec<String> = (0..4).map(|_| project()).collect();
    for id in &projects {
        write_build(&blink, id, id);
    }
    // Mallory hangs up on her second deploy once it is uploading: it goes on, and still counts.
    let (hang_up, hung_up) = tokio::sync::oneshot::channel::<()>();
    let held = deploy(&blink, &mallory, &projects[0], None);
    let left = async {
        tokio::select! {
            answer = deploy(&blink, &mallory, &projects[1], None) => panic!("answered before the hang-up: {answer:?}"),
            _ = hung_up => {}
        }
    };
    let bobs = deploy(&blink, &bob, &projects[3], None);
    let checks = async {
        // Both of Mallory's deploys and Bob's are uploading (each holds one upload at the store).
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while proxy.troubled() < 3 {
            assert!(std::time::Instant::now() < deadline, "the three deploys never reached the store");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        hang_up.send(()).unwrap();
        // Time for the host to see the closed connection.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (status, body) = deploy(&blink, &mallory, &projects[2], None).await;
        assert_eq!(
            (status, body["error"].clone()),
            (429, json!("too_many_deploys")),
            "a deploy whose client left still runs, so it still counts: {body}"
        );
        proxy.release();
    };
    let (held, (), bobs, ()) = tokio::join!(held, left, bobs, checks);
    assert_eq!(held.0, 200, "{}", held.1);
    assert_eq!(bobs.0, 200, "another user's deploy is not counted against Mallory: {}", bobs.1);
    // The deploy whose client left finishes on its own, and is then no longer counted.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, list) =
            send(&blink, reqwest::Method::GET, &format!("/api/projects/{}/deploys", projects[1]), &mallory, None).await;
        if list["deploys"].as_array().is_some_and(|d| !d.is_empty()) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the deploy whose client left never finished: {list}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = deploy(&blink, &mallory, &projects[2], None).await;
    assert_eq!(status, 200, "finished deploys are no longer counted: {body}");
    assert!(page(&blink, &format!("{}.sites.localhost", projects[2])).await.is_some());
}
