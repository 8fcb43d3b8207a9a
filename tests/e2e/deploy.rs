//! Deploys through the real `blink` binary: releases stored in a real S3-compatible server
//! (`s3s-fs` on loopback), served by the host by `Host` header, rolled back and cleaned up;
//! atomic under concurrent readers and when the store dies half-way; custom domains proven
//! through a fake DNS server and certified through a fake of Cloudflare's API; and the deploy
//! limits at their edges.
//!
//! A deploy publishes the project's latest build, which `/api/build` leaves in
//! `<data>/builds/{id}/dist` (the sandbox tests drive that step for real). These tests write that
//! folder directly, to control its files exactly: hundreds of them, or one changed byte.
//!
//! Over 500 lines: one test file per surface (deploys, sites and domains), so a failure names the
//! surface.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use blink_test_support::fake_cloudflare::FakeCloudflare;
use blink_test_support::fake_dns::FakeDns;
use blink_test_support::host::Blink;
use blink_test_support::s3::{ACCESS_KEY, Fault, FaultyProxy, S3Server, SECRET_KEY};
use blink_test_support::sites::{complete, short_hash, site, write_build};
use blink_test_support::{db, jwt};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

fn project() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn post(blink: &Blink, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response =
        reqwest::Client::new().post(format!("{}{path}", blink.url)).bearer_auth(token).json(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get_json(blink: &Blink, path: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(format!("{}{path}", blink.url)).bearer_auth(token).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// `aws s3api head-object`: the object's headers as the store keeps them, read by another client.
fn head_object(s3: &S3Server, key: &str) -> Value {
    let output = Command::new("aws")
        .args(["--endpoint-url", &s3.endpoint, "s3api", "head-object", "--bucket", &s3.bucket, "--key", key])
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .expect("the AWS CLI (scripts/test.sh installs it)");
    assert!(output.status.success(), "head-object {key}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn release_keys(s3: &S3Server, project: &str, release: &str) -> Vec<String> {
    let prefix = format!("sites/{project}/{release}/");
    s3.keys().into_iter().filter_map(|k| k.strip_prefix(&prefix).map(str::to_string)).collect()
}

async fn start_with(s3: &S3Server, extra: &[(&str, String)]) -> Blink {
    let mut env = s3.host_env();
    env.extend(extra.iter().cloned());
    Blink::start(BIN, &env).await
}

#[tokio::test]
async fn releases_go_to_s3_are_served_by_host_name_rolled_back_and_cleaned_up() {
    let s3 = S3Server::start("blink-sites");
    let blink = start_with(&s3, &[("BLINK_DEPLOY_KEEP", "2".into()), ("BLINK_DEPLOY_GRACE_SECS", "0".into())]).await;
    let id = project();
    let token = jwt::user_token("s3-deployer");
    let host = format!("{id}.sites.localhost");

    let script = write_build(blink.data_dir.path(), &id, "one", 3, 100);
    let dist = blink.data_dir.path().join("builds").join(&id).join("dist");
    std::fs::write(dist.join("hello world.txt"), "hi").unwrap();
    let (status, first) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{first}");
    let first_id = first["deployId"].as_str().unwrap().to_string();
    assert_eq!(
        (first["files"].as_i64(), first["uploaded"].as_i64(), first["ssl"].as_bool()),
        (Some(9), Some(9), Some(false))
    );
    let mut stored = release_keys(&s3, &id, &first_id);
    stored.sort();
    let mut expected: Vec<String> =
        vec!["favicon.svg".into(), "hello world.txt".into(), "index.html".into(), "robots.txt".into()];
    expected.extend(
        std::fs::read_dir(blink.data_dir.path().join("builds").join(&id).join("dist/assets"))
            .unwrap()
            .map(|e| format!("assets/{}", e.unwrap().file_name().to_string_lossy())),
    );
    expected.sort();
    assert_eq!(stored, expected, "every file of the build is an object under the release's prefix");

    // The objects carry their type and caching, as a CDN in front of the bucket would need.
    let js = head_object(&s3, &format!("sites/{id}/{first_id}{script}"));
    assert_eq!(js["ContentType"], "text/javascript; charset=utf-8");
    assert_eq!(js["CacheControl"], "public, max-age=31536000, immutable");
    let index = head_object(&s3, &format!("sites/{id}/{first_id}/index.html"));
    assert_eq!(
        (index["ContentType"].as_str(), index["CacheControl"].as_str()),
        (Some("text/html; charset=utf-8"), Some("no-cache"))
    );
    assert_eq!(head_object(&s3, &format!("sites/{id}/{first_id}/favicon.svg"))["ContentType"], "image/svg+xml");

    // Served through the host from the bucket.
    let html = complete(&blink, &host).await.unwrap();
    assert!(html.contains(&script));
    let response = site(&blink, &host, &script, &[]).await;
    assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    assert_eq!(response.text().await.unwrap(), "console.log(\"one\");");
    assert_eq!(site(&blink, &host, &script, &[("if-none-match", &etag)]).await.status(), 304);
    let part = site(&blink, &host, &script, &[("range", "bytes=8-10")]).await;
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 8-10/19");
    assert_eq!(part.text().await.unwrap(), "log");
    let other_version = site(&blink, &host, &script, &[("range", "bytes=8-10"), ("if-range", "\"0000\"")]).await;
    assert_eq!(other_version.status(), 200, "a range of other bytes than the client's is the whole file");
    let beyond = site(&blink, &host, &script, &[("range", "bytes=500-600")]).await;
    assert_eq!((beyond.status().as_u16(), beyond.headers()["content-range"].to_str().unwrap()), (416, "bytes */19"));
    let route = site(&blink, &host, "/settings/profile", &[]).await;
    assert_eq!((route.status().as_u16(), route.headers()["cache-control"].to_str().unwrap()), (200, "no-cache"));
    assert!(route.text().await.unwrap().contains("<div id=\"root\">"), "client-side routes get index.html");
    assert_eq!(site(&blink, &host, "/assets/missing-1234.js", &[]).await.status(), 404);
    assert_eq!(site(&blink, &host, "/robots.txt", &[]).await.text().await.unwrap(), "User-agent: *\n");
    assert_eq!(site(&blink, &host, "/hello%20world.txt", &[]).await.text().await.unwrap(), "hi");

    // A redeploy with one changed file stores only that file and the page naming it.
    let old_script = script.clone();
    let script = format!("/assets/index-{}.js", short_hash("two"));
    std::fs::rename(dist.join(old_script.trim_start_matches('/')), dist.join(script.trim_start_matches('/'))).unwrap();
    std::fs::write(dist.join(script.trim_start_matches('/')), "console.log(\"two\");").unwrap();
    let html = std::fs::read_to_string(dist.join("index.html")).unwrap().replace(&old_script, &script);
    std::fs::write(dist.join("index.html"), html).unwrap();
    let (status, second) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!((status, second["files"].as_i64(), second["uploaded"].as_i64()), (200, Some(9), Some(2)), "{second}");
    let second_id = second["deployId"].as_str().unwrap().to_string();
    let mut changed = release_keys(&s3, &id, &second_id);
    changed.sort();
    assert_eq!(changed, vec![script.trim_start_matches('/').to_string(), "index.html".to_string()]);
    let html = complete(&blink, &host).await.unwrap();
    assert!(html.contains(&script));
    assert_eq!(site(&blink, &host, &script, &[]).await.text().await.unwrap(), "console.log(\"two\");");
    // The same bytes keep their ETag across releases: browsers revalidate them for free.
    let favicon_etag = site(&blink, &host, "/favicon.svg", &[]).await.headers()["etag"].clone();

    // Rollback: the first release is live again at once, its unchanged files included.
    let (status, _) = post(&blink, &format!("/api/projects/{id}/deploys/{first_id}/restore"), &token, &json!({})).await;
    assert_eq!(status, 200);
    let html = complete(&blink, &host).await.unwrap();
    assert!(html.contains(&old_script));
    assert_eq!(site(&blink, &host, &old_script, &[]).await.text().await.unwrap(), "console.log(\"one\");");
    assert_eq!(site(&blink, &host, "/favicon.svg", &[]).await.headers()["etag"], favicon_etag);
    let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    let live: Vec<&str> = list["deploys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["live"] == true)
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(live, vec![first_id.as_str()]);

    // Two more releases with everything changed: only the newest two are kept. The first
    // release's objects are deleted, and the second's, except what the kept ones still use.
    let mut newest = Vec::new();
    for version in ["three", "four"] {
        write_build(blink.data_dir.path(), &id, version, 3, 100);
        let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
        assert_eq!(status, 200, "{body}");
        newest.push(body["deployId"].as_str().unwrap().to_string());
    }
    let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    let listed: Vec<&str> = list["deploys"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert_eq!(listed, vec![newest[1].as_str(), newest[0].as_str()]);
    let prefixes: std::collections::BTreeSet<String> =
        s3.keys().iter().map(|k| k.split('/').nth(2).unwrap().to_string()).collect();
    // "three" rewrote favicon.svg and robots.txt with the same bytes: still stored in the first
    // release's prefix, which therefore keeps exactly those two objects.
    assert_eq!(release_keys(&s3, &id, &first_id).len(), 2, "{prefixes:?}");
    assert!(release_keys(&s3, &id, &second_id).is_empty(), "{prefixes:?}");
    assert!(complete(&blink, &host).await.unwrap().contains(&short_hash("four")));
    assert_eq!(site(&blink, &host, "/favicon.svg", &[]).await.status(), 200);
    let (status, body) =
        post(&blink, &format!("/api/projects/{id}/deploys/{first_id}/restore"), &token, &json!({})).await;
    assert_eq!((status, body["error"].clone()), (404, json!("unknown_deploy")));

    // Deleting the project deletes every object it stored.
    let response = reqwest::Client::new()
        .delete(format!("{}/api/projects/{id}", blink.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert!(s3.keys().iter().all(|k| !k.contains(&id)), "{:?}", s3.keys());
}

#[tokio::test]
async fn readers_only_see_whole_releases_even_when_the_store_dies_mid_upload() {
    let mut s3 = S3Server::start("blink-sites");
    let blink = start_with(
        &s3,
        &[
            ("BLINK_S3_MAX_ATTEMPTS", "2".into()),
            ("BLINK_S3_TIMEOUT_SECS", "5".into()),
            // One upload at a time, so that stopping the store lands half-way.
            ("BLINK_S3_PARALLEL", "1".into()),
        ],
    )
    .await;
    let id = project();
    let token = jwt::user_token("atomic-deployer");
    let host = format!("{id}.sites.localhost");
    write_build(blink.data_dir.path(), &id, "v0", 150, 20_000);
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");
    let v0_id = body["deployId"].as_str().unwrap().to_string();

    // Readers poll while two full redeploys go live: every page they get has all its assets.
    let done = AtomicBool::new(false);
    let reader = async {
        let mut pages = std::collections::BTreeSet::new();
        while !done.load(Ordering::SeqCst) {
            match complete(&blink, &host).await {
                Ok(html) => {
                    pages.insert(html.split("index-").nth(1).unwrap_or_default()[..8].to_string());
                }
                Err(e) => panic!("a torn release: {e:?}"),
            }
        }
        pages
    };
    let writer = async {
        for version in ["v1", "v2"] {
            write_build(blink.data_dir.path(), &id, version, 150, 20_000);
            let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
            assert_eq!(status, 200, "{body}");
        }
        done.store(true, Ordering::SeqCst);
    };
    let (pages, ()) = tokio::join!(reader, writer);
    assert!(!pages.is_empty());

    // Now the store dies half-way through a deploy: the deploy fails, nothing of it goes live,
    // and readers keep getting the previous release whole whenever the store answers.
    let before = s3.keys().len();
    write_build(blink.data_dir.path(), &id, "broken", 150, 20_000);
    let deploying = tokio::spawn({
        let (url, token, id) = (blink.url.clone(), token.clone(), id.clone());
        async move {
            let response = reqwest::Client::new()
                .post(format!("{url}/api/deploy"))
                .bearer_auth(token)
                .json(&json!({ "projectId": id }))
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while s3.keys().len() < before + 60 {
        assert!(std::time::Instant::now() < deadline, "the upload never got half-way");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    s3.stop();
    let uploaded_when_stopped = s3.keys().len() - before;
    assert!(uploaded_when_stopped < 153, "the store stopped before the upload ended ({uploaded_when_stopped})");
    let (status, body) = deploying.await.unwrap();
    assert_eq!((status, body["error"].clone()), (502, json!("storage_failed")), "{body}");
    // While the store is down the origin says so; it never serves a page of the broken release.
    let down = site(&blink, &host, "/", &[]).await;
    assert_eq!(down.status(), 502);
    s3.resume();
    let html = complete(&blink, &host).await.unwrap();
    assert!(html.contains(&format!("index-{}", short_hash("v2"))), "the previous release is still live: {html}");
    let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    assert_eq!(list["deploys"].as_array().unwrap().len(), 3, "the failed release is not listed: {list}");

    // The next deploy succeeds and sweeps the failed release's objects.
    write_build(blink.data_dir.path(), &id, "v3", 150, 20_000);
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");
    let releases: std::collections::BTreeSet<String> =
        s3.keys().iter().filter_map(|k| k.split('/').nth(2).map(str::to_string)).collect();
    let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    let listed: std::collections::BTreeSet<String> =
        list["deploys"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(releases, listed, "objects exist only for listed releases");
    assert!(listed.contains(&v0_id));
}

#[tokio::test]
async fn custom_domains_get_a_cloudflare_hostname_and_ssl_only_once_the_certificate_is_active() {
    let cloudflare = FakeCloudflare::start("cf-token", "zone-1").await;
    let dns = FakeDns::start();
    let s3 = S3Server::start("blink-sites");
    let blink = start_with(
        &s3,
        &[
            ("BLINK_SITES_DOMAIN", "sites.blink.test".into()),
            ("BLINK_CLOUDFLARE_TOKEN", "cf-token".into()),
            ("BLINK_CLOUDFLARE_API", cloudflare.base_url.clone()),
            ("BLINK_CLOUDFLARE_ZONE_ID", "zone-1".into()),
            ("BLINK_CLOUDFLARE_ORIGIN", "origin.blink.test".into()),
            ("BLINK_CLOUDFLARE_POLL_SECS", "1".into()),
            ("BLINK_RESERVED_DOMAINS", "api.blink.test,blink.api.test,public.blink.test".into()),
            dns.host_env(),
        ],
    )
    .await;
    let (alice, bob) = (jwt::user_token("alice-domains"), jwt::user_token("bob-domains"));
    let id = project();
    write_build(blink.data_dir.path(), &id, "alice", 0, 0);

    // The default host name: a proxied record in the zone, served over HTTPS by Cloudflare.
    let (status, body) = post(&blink, "/api/deploy", &alice, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["url"].as_str(), body["ssl"].as_bool()),
        (Some(format!("https://{id}.sites.blink.test").as_str()), Some(true))
    );
    let records = cloudflare.dns_records();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(
        (&records[0]["type"], &records[0]["name"], &records[0]["content"], &records[0]["proxied"]),
        (&json!("CNAME"), &json!(format!("{id}.sites.blink.test")), &json!("origin.blink.test"), &json!(true))
    );

    // A custom domain: pending until its TXT record proves it is Alice's, with no custom
    // hostname before.
    let (status, body) =
        post(&blink, "/api/deploy", &alice, &json!({ "projectId": id, "customDomain": "App.Client.com" })).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    assert!(cloudflare.custom_hostnames().is_empty());
    prove(&dns, "app.client.com", &body);
    // Proven: a custom hostname whose certificate is pending, so no SSL yet.
    let (status, body) =
        post(&blink, "/api/deploy", &alice, &json!({ "projectId": id, "customDomain": "App.Client.com" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ssl"], false, "{body}");
    let port = blink.url.rsplit(':').next().unwrap();
    assert_eq!(body["url"], format!("http://app.client.com:{port}"));
    assert_eq!(body["domain"]["sslStatus"], "pending_validation");
    assert_eq!(body["domain"]["cnameTarget"], format!("{id}.sites.blink.test"));
    let hostnames = cloudflare.custom_hostnames();
    assert_eq!(hostnames.len(), 1);
    assert_eq!(hostnames[0]["hostname"], "app.client.com");
    assert_eq!(hostnames[0]["custom_origin_server"], format!("{id}.sites.blink.test"));
    assert_eq!(cloudflare.dns_records().len(), 1, "the project's record is made once");
    // The site answers on the custom domain, as Cloudflare forwards it to the origin.
    assert!(complete(&blink, "app.client.com").await.unwrap().contains(&short_hash("alice")));

    // The host polls the certificate on its own; once active, `ssl` says so.
    let polls = |cf: &FakeCloudflare| {
        cf.requests()
            .iter()
            .filter(|r| r["method"] == "GET" && r["path"].as_str().unwrap().contains("/custom_hostnames/"))
            .count()
    };
    let seen = polls(&cloudflare);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(polls(&cloudflare) > seen, "the pending certificate is polled");
    let (_, domains) = get_json(&blink, &format!("/api/projects/{id}/domains"), &alice).await;
    assert_eq!(domains["domains"][0]["ssl"], false);
    cloudflare.activate("app.client.com");
    let (_, domains) = get_json(&blink, &format!("/api/projects/{id}/domains"), &alice).await;
    assert_eq!(
        (domains["domains"][0]["ssl"].as_bool(), domains["domains"][0]["sslStatus"].as_str()),
        (Some(true), Some("active"))
    );
    let (status, body) =
        post(&blink, "/api/deploy", &alice, &json!({ "projectId": id, "customDomain": "app.client.com" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["url"].as_str(), body["ssl"].as_bool()), (Some("https://app.client.com"), Some(true)));
    assert_eq!(cloudflare.custom_hostnames().len(), 1, "a redeploy reuses the custom hostname");

    // Another user cannot take the domain, nor can another project of the same user.
    let bobs = project();
    write_build(blink.data_dir.path(), &bobs, "bob", 0, 0);
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": "app.client.com." })).await;
    assert_eq!((status, body["error"].clone()), (409, json!("domain_taken")), "{body}");
    let (_, list) = get_json(&blink, &format!("/api/projects/{bobs}/deploys"), &bob).await;
    assert_eq!(list["deploys"], json!([]), "a refused domain deploys nothing");
    assert!(complete(&blink, "app.client.com").await.unwrap().contains(&short_hash("alice")));
    let second = project();
    write_build(blink.data_dir.path(), &second, "alice-2", 0, 0);
    let (status, body) =
        post(&blink, "/api/deploy", &alice, &json!({ "projectId": second, "customDomain": "app.client.com" })).await;
    assert_eq!((status, body["error"].clone()), (409, json!("domain_taken")), "{body}");
    let unbuilt = project();
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": unbuilt, "customDomain": "early.bob.com" })).await;
    assert_eq!((status, body["error"].clone()), (409, json!("no_build")), "{body}");
    let (_, domains) = get_json(&blink, &format!("/api/projects/{unbuilt}/domains"), &bob).await;
    assert_eq!(domains["domains"], json!([]), "a deploy without a build claims no domain");
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": "https://shop.bob.com" })).await;
    assert_eq!((status, body["error"].clone()), (422, json!("invalid_domain")), "{body}");
    // Names of the service itself: a project under the sites domain, the CDN's origin, and the
    // operator's reserved names, whatever name the request arrives by.
    for taken in [format!("{id}.sites.blink.test"), "origin.blink.test".into(), "api.blink.test".into()] {
        let (status, body) =
            post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": taken })).await;
        assert_eq!((status, body["error"].clone()), (422, json!("invalid_domain")), "{taken}: {body}");
    }
    let api = reqwest::Client::new()
        .post(format!("{}/api/deploy", blink.url))
        .header("host", "blink.api.test")
        .bearer_auth(&bob)
        .json(&json!({ "projectId": bobs, "customDomain": "blink.api.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 422, "the API's configured name is refused");
    let behind_proxy = reqwest::Client::new()
        .post(format!("{}/api/deploy", blink.url))
        .header("x-forwarded-host", "public.blink.test")
        .bearer_auth(&bob)
        .json(&json!({ "projectId": bobs, "customDomain": "public.blink.test" }))
        .send()
        .await
        .unwrap();
    assert_eq!(behind_proxy.status(), 422, "the API's public name behind a proxy is refused");

    // Cloudflare failing once the domain is proven: a clear error, and nothing more deployed.
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": "shop.bob.com" })).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    prove(&dns, "shop.bob.com", &body);
    cloudflare.fail_next(503);
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": "shop.bob.com" })).await;
    assert_eq!((status, body["error"].clone()), (502, json!("cdn_failed")), "{body}");
    let (_, list) = get_json(&blink, &format!("/api/projects/{bobs}/deploys"), &bob).await;
    assert_eq!(list["deploys"].as_array().unwrap().len(), 1, "{list}");

    // The API's own paths are never a custom domain's, should it be the API's name.
    let health = site(&blink, "app.client.com", "/healthz", &[]).await.text().await.unwrap();
    assert!(!health.contains("<div id=\"root\">"), "{health}");
    // Removed in Cloudflare's dashboard meanwhile: detaching still works.
    let id_on_cloudflare = cloudflare.custom_hostnames()[0]["id"].as_str().unwrap().to_string();
    let removed = reqwest::Client::new()
        .delete(format!("{}/zones/zone-1/custom_hostnames/{id_on_cloudflare}", cloudflare.base_url))
        .bearer_auth("cf-token")
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    // Alice detaches the domain: its custom hostname goes, and Bob can have it.
    let response = reqwest::Client::new()
        .delete(format!("{}/api/projects/{id}/domains/app.client.com", blink.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert!(cloudflare.custom_hostnames().is_empty());
    let (_, domains) = get_json(&blink, &format!("/api/projects/{id}/domains"), &alice).await;
    assert_eq!(domains["domains"], json!([]));
    let again = reqwest::Client::new()
        .delete(format!("{}/api/projects/{id}/domains/app.client.com", blink.url))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(again.json::<Value>().await.unwrap()["error"], "unknown_domain");
    let (status, body) =
        post(&blink, "/api/deploy", &bob, &json!({ "projectId": bobs, "customDomain": "app.client.com" })).await;
    assert_eq!((status, body["domain"]["status"].clone()), (200, json!("pending")), "{body}");
    prove(&dns, "app.client.com", &body);
    let verify = format!("/api/projects/{bobs}/domains/app.client.com/verify");
    let (status, body) = post(&blink, &verify, &bob, &json!({})).await;
    assert_eq!((status, body["domain"]["ssl"].as_bool()), (200, Some(false)), "{body}");
    assert!(complete(&blink, "app.client.com").await.unwrap().contains(&short_hash("bob")));
    // Domains survive a restart of the host.
    let data = blink.stop().await;
    let mut env = s3.host_env();
    env.extend([
        ("BLINK_SITES_DOMAIN", "sites.blink.test".to_string()),
        ("BLINK_CLOUDFLARE_TOKEN", "cf-token".into()),
        ("BLINK_CLOUDFLARE_API", cloudflare.base_url.clone()),
        ("BLINK_CLOUDFLARE_ZONE_ID", "zone-1".into()),
        ("BLINK_CLOUDFLARE_ORIGIN", "origin.blink.test".into()),
    ]);
    let blink = Blink::start_in(BIN, data, &env).await;
    assert!(complete(&blink, "app.client.com").await.unwrap().contains(&short_hash("bob")));
}

#[tokio::test]
async fn throttled_and_stalled_uploads_are_retried_within_their_limits() {
    let s3 = S3Server::start("blink-sites");
    let token = jwt::user_token("throttled-deployer");
    let through = |proxy: &FaultyProxy, settings: &[(&'static str, &str)]| {
        let mut env: Vec<(&str, String)> =
            s3.host_env().into_iter().filter(|(k, _)| *k != "BLINK_S3_ENDPOINT").collect();
        env.push(("BLINK_S3_ENDPOINT", proxy.endpoint.clone()));
        env.extend(settings.iter().map(|(k, v)| (*k, v.to_string())));
        env
    };
    // Each case: the fault, the host's limits, whether the deploy gets through, and what its
    // error says when it does not.
    let stall = Fault::Stall(std::time::Duration::from_secs(3));
    let cases = [
        (Fault::SlowDown, vec![("BLINK_S3_MAX_ATTEMPTS", "3")], None),
        (Fault::SlowDown, vec![("BLINK_S3_MAX_ATTEMPTS", "1")], Some("SlowDown")),
        (stall, vec![("BLINK_S3_MAX_ATTEMPTS", "2"), ("BLINK_S3_TIMEOUT_SECS", "1")], None),
        (stall, vec![("BLINK_S3_MAX_ATTEMPTS", "1"), ("BLINK_S3_TIMEOUT_SECS", "1")], Some("timeout")),
    ];
    for (fault, settings, refused) in cases {
        let proxy = FaultyProxy::start(&s3, 3, fault);
        let blink = Blink::start(BIN, &through(&proxy, &settings)).await;
        let id = project();
        write_build(blink.data_dir.path(), &id, "faulty", 25, 100);
        let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
        match refused {
            None => {
                // Every third object was troubled once, then retried.
                assert_eq!((status, body["uploaded"].as_i64()), (200, Some(30)), "{settings:?}: {body}");
                assert_eq!(proxy.troubled(), 10, "{settings:?}");
                assert_eq!(release_keys(&s3, &id, body["deployId"].as_str().unwrap()).len(), 30);
                assert!(complete(&blink, &format!("{id}.sites.localhost")).await.is_ok());
            }
            Some(cause) => {
                // The first trouble fails the deploy, clearly, and nothing of it stays.
                assert_eq!((status, body["error"].clone()), (502, json!("storage_failed")), "{settings:?}: {body}");
                let message = body["message"].as_str().unwrap().to_lowercase();
                assert!(message.contains(&cause.to_lowercase()), "{settings:?}: {body}");
                assert!(s3.keys().iter().all(|k| !k.contains(&id)), "swept: {:?}", s3.keys());
                let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
                assert_eq!(list["deploys"], json!([]));
            }
        }
    }
}

#[tokio::test]
async fn a_domain_proven_by_many_users_at_once_goes_to_exactly_one_on_both_databases() {
    for (backend, database) in db::backends().await {
        let dns = FakeDns::start();
        let mut env: Vec<(&str, String)> = database.iter().map(|url| ("DATABASE_URL", url.clone())).collect();
        env.push(dns.host_env());
        let blink = Blink::start(BIN, &env).await;
        // Eight claims, all pending: none blocks another.
        let mut racers = Vec::new();
        for n in 0..8 {
            let (token, id) = (jwt::user_token(&format!("racer-{n}")), project());
            write_build(blink.data_dir.path(), &id, &format!("racer-{n}"), 0, 0);
            let body = json!({ "projectId": id, "customDomain": "race.example.org" });
            let (status, answer) = post(&blink, "/api/deploy", &token, &body).await;
            assert_eq!((status, answer["domain"]["status"].clone()), (200, json!("pending")), "{backend}: {answer}");
            prove(&dns, "race.example.org", &answer);
            racers.push((token, id));
        }
        // Every one of them published its proof: all verify at once, and exactly one wins.
        let proofs = racers.iter().enumerate().map(|(n, (token, id))| {
            let blink = &blink;
            async move {
                let path = format!("/api/projects/{id}/domains/race.example.org/verify");
                let (status, answer) = post(blink, &path, token, &json!({})).await;
                (status, answer, n)
            }
        });
        let results = futures::future::join_all(proofs).await;
        let winners: Vec<_> = results.iter().filter(|(status, ..)| *status == 200).collect();
        assert_eq!(winners.len(), 1, "{backend}: {results:?}");
        for (status, answer, _) in results.iter().filter(|(status, ..)| *status != 200) {
            assert_eq!((*status, answer["error"].clone()), (409, json!("domain_taken")), "{backend}: {answer}");
        }
        let winner = winners[0].2;
        let page = complete(&blink, "race.example.org").await.unwrap();
        assert!(page.contains(&short_hash(&format!("racer-{winner}"))), "{backend}: the winner's site is served");
        // The losers' claims are gone.
        for (n, (token, id)) in racers.iter().enumerate().filter(|(n, _)| *n != winner) {
            let (_, domains) = get_json(&blink, &format!("/api/projects/{id}/domains"), token).await;
            assert_eq!(domains["domains"], json!([]), "{backend}: racer {n}");
        }
    }
}

/// Publishes the ownership proof a pending claim's answer asks for.
fn prove(dns: &FakeDns, domain: &str, answer: &Value) {
    let verification = &answer["domain"]["verification"];
    assert_eq!(verification["name"], format!("_blink-challenge.{domain}"), "{answer}");
    dns.add_txt(verification["name"].as_str().unwrap(), verification["value"].as_str().unwrap());
}

#[tokio::test]
async fn deploy_limits_hold_at_their_edges() {
    let blink =
        Blink::start(BIN, &[("BLINK_DEPLOY_MAX_FILES", "5".into()), ("BLINK_DEPLOY_MAX_BYTES", "2000".into())]).await;
    let token = jwt::user_token("limits-deployer");
    let id = project();
    // Five files: index, script, style, favicon, robots.
    write_build(blink.data_dir.path(), &id, "v", 0, 0);
    let size = dir_size(&blink.data_dir.path().join("builds").join(&id).join("dist"));
    assert!(size < 2000);
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");
    write_build(blink.data_dir.path(), &id, "w", 1, 0);
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!((status, body["error"].clone()), (413, json!("deploy_too_large")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("BLINK_DEPLOY_MAX_FILES"));
    // Exactly at the byte limit passes; one byte more does not.
    write_build(blink.data_dir.path(), &id, "x", 0, 0);
    let dist = blink.data_dir.path().join("builds").join(&id).join("dist");
    let pad = 2000 - dir_size(&dist);
    std::fs::write(dist.join("robots.txt"), "#".repeat(pad as usize + "User-agent: *\n".len())).unwrap();
    assert_eq!(dir_size(&dist), 2000);
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{body}");
    std::fs::write(dist.join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/> ").unwrap();
    let (status, body) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!((status, body["error"].clone()), (413, json!("deploy_too_large")), "{body}");
    // The refused deploys left the last good release live.
    let (_, list) = get_json(&blink, &format!("/api/projects/{id}/deploys"), &token).await;
    assert_eq!(list["deploys"].as_array().unwrap().len(), 2);
    let host = format!("{id}.sites.localhost");
    assert!(complete(&blink, &host).await.unwrap().contains(&short_hash("x")));
    // A rollback is seen at once, even by a browser holding the newer page's date.
    let first = list["deploys"][1]["id"].as_str().unwrap().to_string();
    let (status, _) = post(&blink, &format!("/api/projects/{id}/deploys/{first}/restore"), &token, &json!({})).await;
    assert_eq!(status, 200);
    let page = site(&blink, &host, "/", &[("if-modified-since", "Fri, 01 Jan 2100 00:00:00 GMT")]).await;
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains(&short_hash("v")));
}

#[tokio::test]
async fn releases_made_before_s3_was_configured_stay_served_and_restorable() {
    let blink = Blink::start(BIN, &[]).await;
    let token = jwt::user_token("moving-deployer");
    let id = project();
    let host = format!("{id}.sites.localhost");
    write_build(blink.data_dir.path(), &id, "local", 2, 100);
    let (status, local) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{local}");
    let data = blink.stop().await;

    // The operator configures S3: the live local release is still served.
    let s3 = S3Server::start("blink-sites");
    let blink = Blink::start_in(BIN, data, &s3.host_env()).await;
    assert!(complete(&blink, &host).await.unwrap().contains(&short_hash("local")));
    write_build(blink.data_dir.path(), &id, "remote", 2, 100);
    let (status, remote) = post(&blink, "/api/deploy", &token, &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{remote}");
    assert_eq!(remote["uploaded"], remote["files"], "nothing is reused across stores");
    assert!(complete(&blink, &host).await.unwrap().contains(&short_hash("remote")));
    assert_eq!(release_keys(&s3, &id, remote["deployId"].as_str().unwrap()).len(), 7);
    let restore = format!("/api/projects/{id}/deploys/{}/restore", local["deployId"].as_str().unwrap());
    let (status, _) = post(&blink, &restore, &token, &json!({})).await;
    assert_eq!(status, 200);
    assert!(complete(&blink, &host).await.unwrap().contains(&short_hash("local")));
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| if e.path().is_dir() { dir_size(&e.path()) } else { e.metadata().unwrap().len() })
        .sum()
}
