//! JWT authentication through the real binary: Supabase's HS256 secret and asymmetric keys from a
//! JWKS endpoint (ES256, RS256, rotation). An accepted token reaches request validation (400 for an
//! empty body); a refused one gets a JSON 401.

use blink_test_support::host::Blink;
use blink_test_support::jwt::{self, JwksServer, SigningKey};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");

/// 400 when the token is accepted (the empty body is then refused), 401 when it is not.
async fn check(blink: &Blink, token: Option<&str>) -> (u16, Value) {
    let (status, text) = blink.post("/api/orchestrator", token, &json!({})).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn expect_401(result: (u16, Value), why: &str) {
    assert_eq!(result.0, 401, "{why}: {:?}", result.1);
    assert_eq!(result.1["error"], "Unauthorized", "{why}");
    assert!(result.1["message"].as_str().is_some_and(|m| !m.is_empty()), "{why}: no message");
}

#[tokio::test]
async fn hs256_tokens() {
    let blink = Blink::start(BIN, &[]).await;
    assert_eq!(check(&blink, Some(&jwt::user_token("alice"))).await.0, 400);

    expect_401(check(&blink, None).await, "missing");
    expect_401(check(&blink, Some("not.a.jwt")).await, "garbage");

    let mut expired = jwt::claims("alice");
    expired["exp"] = json!(jwt::now() - 3600);
    let (status, body) = check(&blink, Some(&jwt::hs256(&expired, jwt::SECRET))).await;
    expect_401((status, body.clone()), "expired");
    assert!(body["message"].as_str().unwrap().contains("expired"));

    let forged = jwt::hs256(&jwt::claims("alice"), "another-secret-of-a-good-length-too!!");
    expect_401(check(&blink, Some(&forged)).await, "forged");

    let mut wrong_aud = jwt::claims("alice");
    wrong_aud["aud"] = json!("anon");
    let (status, body) = check(&blink, Some(&jwt::hs256(&wrong_aud, jwt::SECRET))).await;
    expect_401((status, body.clone()), "wrong audience");
    assert!(body["message"].as_str().unwrap().contains("audience"));

    let mut no_exp = jwt::claims("alice");
    no_exp.as_object_mut().unwrap().remove("exp");
    expect_401(check(&blink, Some(&jwt::hs256(&no_exp, jwt::SECRET))).await, "no expiry");

    // An unsigned token (`alg: none`) is never accepted.
    expect_401(check(&blink, Some(&jwt::unsigned(&jwt::claims("alice")))).await, "alg none");
}

#[tokio::test]
async fn jwks_es256_and_rs256_with_key_rotation() {
    let ec = SigningKey::es256("ec-1");
    let rsa = SigningKey::rs256("rsa-1");
    let jwks = JwksServer::start(&[&ec, &rsa]).await;
    let blink = Blink::start(BIN, &[("BLINK_JWKS_URL", jwks.url()), ("BLINK_JWKS_MIN_REFRESH_SECS", "0".into())]).await;

    assert_eq!(check(&blink, Some(&ec.sign(&jwt::claims("bob")))).await.0, 400, "ES256");
    assert_eq!(check(&blink, Some(&rsa.sign(&jwt::claims("bob")))).await.0, 400, "RS256");
    let fetches = jwks.hits();
    assert_eq!(check(&blink, Some(&ec.sign(&jwt::claims("bob")))).await.0, 400);
    assert_eq!(jwks.hits(), fetches, "known keys are served from the cache");

    // Rotation: a new key appears and the old one is withdrawn.
    let ec2 = SigningKey::es256("ec-2");
    jwks.publish(&[&ec2, &rsa]);
    assert_eq!(
        check(&blink, Some(&ec2.sign(&jwt::claims("bob")))).await.0,
        400,
        "the new key is fetched on first sight"
    );
    expect_401(check(&blink, Some(&ec.sign(&jwt::claims("bob")))).await, "withdrawn key");

    // A token signed by a key the JWKS never published, under a published key id.
    let impostor = SigningKey::es256("ec-2");
    expect_401(check(&blink, Some(&impostor.sign(&jwt::claims("bob")))).await, "forged with a known kid");

    let mut wrong_aud = jwt::claims("bob");
    wrong_aud["aud"] = json!("someone-else");
    expect_401(check(&blink, Some(&rsa.sign(&wrong_aud))).await, "RS256 wrong audience");
    let mut expired = jwt::claims("bob");
    expired["exp"] = json!(jwt::now() - 120);
    expect_401(check(&blink, Some(&rsa.sign(&expired))).await, "RS256 expired");
}

#[tokio::test]
async fn unknown_key_ids_cannot_hammer_the_key_server() {
    let ec = SigningKey::es256("ec-1");
    let jwks = JwksServer::start(&[&ec]).await;
    let blink =
        Blink::start(BIN, &[("BLINK_JWKS_URL", jwks.url()), ("BLINK_JWKS_MIN_REFRESH_SECS", "3600".into())]).await;
    assert_eq!(check(&blink, Some(&ec.sign(&jwt::claims("carol")))).await.0, 400);
    let fetches = jwks.hits();
    for i in 0..5 {
        let stranger = SigningKey::es256(&format!("unknown-{i}"));
        expect_401(check(&blink, Some(&stranger.sign(&jwt::claims("carol")))).await, "unknown kid");
    }
    assert!(jwks.hits() <= fetches + 1, "{} fetches for 5 unknown key ids", jwks.hits() - fetches);
}

#[tokio::test]
async fn a_key_withdrawn_from_the_jwks_stops_working_after_the_ttl() {
    let old = SigningKey::es256("old");
    let new = SigningKey::es256("new");
    let jwks = JwksServer::start(&[&old, &new]).await;
    let blink = Blink::start(BIN, &[("BLINK_JWKS_URL", jwks.url()), ("BLINK_JWKS_TTL_SECS", "1".into())]).await;
    assert_eq!(check(&blink, Some(&old.sign(&jwt::claims("dave")))).await.0, 400);
    jwks.publish(&[&new]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    expect_401(check(&blink, Some(&old.sign(&jwt::claims("dave")))).await, "revoked key");
    assert_eq!(check(&blink, Some(&new.sign(&jwt::claims("dave")))).await.0, 400);
}
