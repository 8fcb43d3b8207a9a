//! The operators' console in headless Chromium, against the real binary and a fake model server:
//! sign in, check and upload the example validator, run a canary and watch both versions' numbers,
//! activate and roll back in one click, edit the planner's prompt and see the model receive it,
//! open a run's timeline, try the accessibility validator on recorded runs, grant credits, and
//! read who did all of it in the audit log. Each screen is saved as a PNG in the test output.
//!
//! Over 500 lines: one walk through the console, screen by screen, as an operator would take it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use blink_test_support::A11Y_VALIDATOR;
use blink_test_support::browser::Browser;
use blink_test_support::fake_llm::{FakeLlm, Rule, footer_rules};
use blink_test_support::host::Blink;
use blink_test_support::{jwt, sse};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "console-operator-secret";
const MARK: &str = "CONSOLE-PROMPT-MARK-7";

/// Footers as in the other tests, and a logo whose `<img>` has no alt text: what the
/// accessibility validator exists to find.
fn rules() -> Vec<Rule> {
    let plan = json!({ "intent": "add a logo", "steps": [
        { "id": 1, "action": "create", "target": "Logo", "path": "Logo.tsx", "description": "The logo" },
    ]});
    let mut rules = vec![
        Rule::text(&["You plan changes", "our logo"], plan.to_string()),
        Rule::text(
            &["Your part:\n- create Logo.tsx"],
            "```tsx\nfunction Logo() {\n  return <img src=\"/logo.png\" width={32} />;\n}\n```",
        ),
    ];
    rules.extend(footer_rules());
    rules
}

fn shots() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

async fn run(blink: &Blink, ask: &str) -> Value {
    let token = jwt::user_token("user-1");
    let body = json!({ "messages": [{ "role": "user", "content": ask }], "projectId": "shop" });
    let (status, text) = blink.post("/api/orchestrator", Some(&token), &body).await;
    assert_eq!(status, 200, "{text}\n{}", blink.log());
    let events = sse::events(&text);
    assert!(events.iter().any(|e| e["type"] == "result"), "{events:#?}");
    events.into_iter().find(|e| e["type"] == "result").unwrap()
}

/// A host on the fake model with sandboxes off, and `extra` settings.
async fn start(llm: &FakeLlm, extra: &[(&'static str, String)]) -> Blink {
    let mut env = vec![
        ("BLINK_LLM_BASE_URL", llm.base_url()),
        ("BLINK_ADMIN_TOKEN", ADMIN.into()),
        ("BLINK_PLUGIN_MAX_BYTES", (8 * 1024 * 1024).to_string()),
        ("BLINK_SANDBOXES", "false".into()),
    ];
    env.extend_from_slice(extra);
    Blink::start(BIN, &env).await
}

/// The runs `query` selects, as the admin API lists them.
async fn admin_runs(blink: &Blink, query: &str) -> Vec<Value> {
    let (status, body) = call(blink, reqwest::Method::GET, &format!("/api/admin/runs?{query}"), ADMIN, None).await;
    assert_eq!(status, 200, "{body}");
    body["runs"].as_array().unwrap().clone()
}

/// The version of `role` that served the latest run.
async fn last_served(blink: &Blink, role: &str) -> String {
    let runs = admin_runs(blink, "limit=1").await;
    runs[0]["agents"][role].as_str().unwrap_or_else(|| panic!("{runs:?}")).to_string()
}

struct Console {
    browser: Browser,
    shot: usize,
    saved: Vec<PathBuf>,
}

impl Console {
    async fn eval(&mut self, js: &str) -> Value {
        self.browser.eval(js).await
    }

    /// Waits until `js` is true in the page.
    async fn until(&mut self, what: &str, js: &str) {
        for _ in 0..200 {
            if self.eval(js).await == json!(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let text = self.browser.text().await;
        panic!("the console never got to {what} ({js}); it shows:\n{text}\nerrors: {:?}", self.browser.console_errors);
    }

    async fn click(&mut self, selector: &str) {
        let found = self.eval(&format!("(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; e.click(); return true; }})()")).await;
        assert_eq!(found, json!(true), "nothing to click at {selector}: {}", self.browser.text().await);
    }

    async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return false; e.value = {value:?}; \
             e.dispatchEvent(new Event('input', {{ bubbles: true }})); e.dispatchEvent(new Event('change', {{ bubbles: true }})); return true; }})()",
            value = value
        );
        assert_eq!(self.eval(&js).await, json!(true), "no field at {selector}");
    }

    async fn text_of(&mut self, selector: &str) -> String {
        let js =
            format!("(() => {{ const e = document.querySelector({selector:?}); return e ? e.innerText : null; }})()");
        self.eval(&js).await.as_str().unwrap_or_default().to_string()
    }

    /// Opens a section and waits for it to be drawn again (`ready` names an element of it; one
    /// still there from before is marked, so only a fresh one counts).
    async fn tab(&mut self, name: &str, ready: &str) {
        self.eval(&format!("document.querySelector({ready:?})?.setAttribute('data-stale', '')")).await;
        self.click(&format!("#tab-{name}")).await;
        let fresh = format!(
            "(() => {{ const e = document.querySelector({ready:?}); return !!e && !e.hasAttribute('data-stale'); }})()"
        );
        self.until(&format!("the {name} screen"), &fresh).await;
    }

    async fn save(&mut self, name: &str) {
        self.shot += 1;
        let path = shots().join(format!("{:02}-{name}.png", self.shot));
        self.browser.screenshot(&path).await;
        self.saved.push(path);
    }

    /// A version's number in its row of the role's versions table.
    async fn stat(&mut self, role: &str, version: &str, stat: &str) -> u64 {
        let selector = format!("#versions-{role} tr[data-version='{version}'] td[data-stat='{stat}']");
        let text = self.text_of(&selector).await;
        text.replace(',', "").trim().parse().unwrap_or_else(|_| panic!("{selector} shows {text:?}"))
    }
}

#[tokio::test]
async fn an_operator_runs_the_host_from_the_console() {
    let llm = FakeLlm::start(rules()).await;
    let blink = start(&llm, &[]).await;
    let _ = std::fs::remove_dir_all(shots());

    // The page and its files come with a strict policy, and no cookie is ever set.
    let page = reqwest::get(format!("{}/console", blink.url)).await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    for directive in ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'none'"] {
        assert!(policy.contains(directive), "{policy}");
    }
    assert!(page.headers().get("set-cookie").is_none());
    assert_eq!(page.headers()["cross-origin-opener-policy"], "same-origin");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style: {html}");

    // Some traffic before the operator arrives.
    for _ in 0..3 {
        run(&blink, "Add a footer").await;
    }

    let mut browser = Browser::launch().await;
    browser.watch_console().await;
    browser.viewport(1280, 860).await;
    let mut ui = Console { browser, shot: 0, saved: Vec::new() };
    ui.browser.open(&format!("{}/console", blink.url), "Sign in").await;
    ui.save("sign-in").await;

    // A wrong token is refused with a message; the right one opens the console.
    ui.fill("#token", "not-the-token").await;
    ui.click("#sign-in-form button[type=submit]").await;
    ui.until("a refusal", "document.querySelector('#sign-in-error').innerText.length > 0").await;
    ui.fill("#token", ADMIN).await;
    ui.click("#sign-in-form button[type=submit]").await;
    ui.until("the agents screen", "!!document.querySelector('#role-validator')").await;
    let href = ui.eval("location.href").await;
    assert!(!href.as_str().unwrap().contains(ADMIN), "the token is never in a URL: {href}");
    assert_eq!(ui.eval("document.cookie").await, json!(""));
    assert_eq!(ui.eval("sessionStorage.getItem('blink-console-token')").await, json!(ADMIN));

    // Every control has a name a screen reader can say.
    let unlabeled = ui
        .eval(
            "[...document.querySelectorAll('input, select, textarea')].filter(e => e.type !== 'hidden' && \
             !(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.outerHTML)",
        )
        .await;
    assert_eq!(unlabeled, json!([]), "controls without a label");

    // Checking a file that is not a component changes nothing and says why.
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), b"not a component").unwrap();
    ui.browser.choose_files("#upload-file", &[junk.path()]).await;
    ui.click("#upload-check").await;
    ui.until("the refusal", "document.querySelector('#upload-verdict').innerText.includes('Refused')").await;
    assert!(ui.text_of("#upload-verdict").await.contains("not_a_component"));

    // The example validator: checked first (it serves nothing yet), its verdict on screen.
    ui.browser.choose_files("#upload-file", &[Path::new(A11Y_VALIDATOR)]).await;
    ui.fill("#upload-author", "a11y-team").await;
    ui.fill("#upload-notes", "accessibility checks").await;
    ui.click("#upload-check").await;
    ui.until("the verdict", "document.querySelector('#upload-verdict').innerText.includes('Passed')").await;
    let verdict = ui.text_of("#upload-verdict").await;
    assert!(verdict.contains("blink:agents@0.1.0") && verdict.contains("Nothing serves it yet"), "{verdict}");
    ui.save("upload-verdict").await;
    let builtin = last_served(&blink, "validator").await;
    run(&blink, "Add a footer").await;
    assert_eq!(last_served(&blink, "validator").await, builtin, "a checked version serves nothing");

    // A 50 % canary, set with the slider; both versions' numbers grow as runs come in.
    ui.tab("agents", "#canary-share-validator").await;
    let a11y = ui.eval("document.querySelector('#canary-version-validator').value").await.as_str().unwrap().to_string();
    ui.fill("#canary-share-validator", "50").await;
    ui.click("#canary-apply-validator").await;
    ui.until("the canary badge", "document.querySelector('#role-validator').innerText.includes('canary 50 %')").await;
    let before = (ui.stat("validator", &builtin, "runs").await, ui.stat("validator", &a11y, "runs").await);
    for _ in 0..16 {
        run(&blink, "Add a footer").await;
    }
    ui.tab("agents", "#versions-validator").await;
    let after = (ui.stat("validator", &builtin, "runs").await, ui.stat("validator", &a11y, "runs").await);
    assert!(after.0 > before.0 && after.1 > before.1, "both versions served some of 16 runs: {before:?} → {after:?}");
    assert_eq!(after.0 + after.1, before.0 + before.1 + 16);
    ui.save("canary-statistics").await;

    // End the canary; activate the new version in one click, then roll back in one click.
    ui.click("#canary-end-validator").await;
    ui.until("the canary's end", "!document.querySelector('#canary-end-validator')").await;
    ui.click(&format!("#versions-validator tr[data-version='{a11y}'] button[data-action=activate]")).await;
    ui.until(
        "the new version active",
        &format!("!!document.querySelector(\"#versions-validator tr[data-version='{a11y}'] .badge.active\")"),
    )
    .await;
    run(&blink, "Add a footer").await;
    assert_eq!(last_served(&blink, "validator").await, a11y);
    ui.click("#rollback-validator").await;
    ui.until(
        "the rollback",
        &format!("!!document.querySelector(\"#versions-validator tr[data-version='{builtin}'] .badge.active\")"),
    )
    .await;
    ui.save("rolled-back").await;
    run(&blink, "Add a footer").await;
    assert_eq!(last_served(&blink, "validator").await, builtin, "the next run is served by the previous version");

    // The planner's prompt: edited, reviewed as a diff, saved; the next run's model request carries it.
    ui.tab("settings", "#setting-system_prompt").await;
    let source = ui.text_of("[data-source='system_prompt']").await;
    assert_eq!(source, "built-in");
    let prompt = ui.eval("document.querySelector('#setting-system_prompt').value").await.as_str().unwrap().to_string();
    assert!(prompt.starts_with("You plan changes"), "the built-in prompt is shown: {prompt:.80}");
    ui.fill("#setting-system_prompt", &format!("{MARK}: keep plans short.\n{prompt}")).await;
    ui.click("#settings-review").await;
    ui.until("the diff", "!!document.querySelector('#settings-diff .add')").await;
    assert!(ui.text_of("#settings-diff .add").await.contains(MARK));
    ui.save("prompt-diff").await;
    ui.click("#settings-save").await;
    ui.until(
        "the saved setting",
        "document.querySelector(\"[data-source='system_prompt']\")?.innerText === 'set over the API'",
    )
    .await;
    run(&blink, "Add a footer").await;
    let planned =
        llm.received().into_iter().rev().find(|r| r.text().contains("You plan changes")).expect("a plan request");
    assert!(planned.text().contains(MARK), "the next run's model request carries the new prompt");
    // Revert goes back to the built-in text.
    ui.click("[data-revert='system_prompt']").await;
    ui.until(
        "the reverted setting",
        "document.querySelector(\"[data-source='system_prompt']\")?.innerText === 'built-in'",
    )
    .await;

    // Traffic the example validator has something to say about, then a run's timeline.
    for _ in 0..4 {
        run(&blink, "Put our logo in the corner").await;
    }
    ui.tab("runs", "#runs-table").await;
    let listed = ui.eval("document.querySelectorAll('#runs-table tbody tr').length").await.as_u64().unwrap();
    assert!(listed >= 20, "{listed} runs listed");
    ui.click("#runs-table button[data-run]").await;
    ui.until("the timeline", "!!document.querySelector('#run-timeline li')").await;
    let timeline = ui.text_of("#run-timeline").await;
    for step in ["phase", "plan", "file_generated", "validation", "result"] {
        assert!(timeline.contains(step), "{step} in the timeline:\n{timeline}");
    }
    assert!(ui.text_of("#run-detail").await.contains("Logo.tsx"));
    ui.save("run-timeline").await;

    // Filtering by outcome and by the version that served.
    let served = admin_runs(&blink, &format!("limit=500&version={a11y}")).await.len();
    assert!(served > 1 && served < 27, "{served}");
    ui.fill("#runs-version", &a11y).await;
    ui.click("#runs-apply").await;
    let caption = format!("{served} run(s), newest first");
    ui.until("the filtered list", &format!("document.querySelector('#runs-table caption')?.innerText === {caption:?}"))
        .await;

    // The accessibility validator tried on the latest 20 recorded runs, as a chained validator.
    ui.tab("evaluate", "#eval-version").await;
    ui.fill("#eval-version", &a11y).await;
    ui.click("#eval-mode-chain").await;
    ui.fill("#eval-last", "20").await;
    ui.click("#eval-run").await;
    ui.until("the evaluation", "!!document.querySelector('#eval-totals')").await;
    let totals = ui.text_of("#eval-totals").await;
    assert!(totals.starts_with("20 run(s) validated again"), "{totals}");
    assert!(totals.contains("finds more in 4 run(s)"), "the 4 logo runs: {totals}");
    let findings = ui.text_of("#eval-table").await;
    assert!(findings.contains("<img> has no alt text"), "{findings}");
    println!("evaluation in the console: {totals}");
    ui.save("evaluation").await;

    // Sandboxes are off on this host, and the screen says so.
    ui.tab("sandboxes", "#sandboxes h2").await;
    ui.until("the sandboxes message", "document.querySelector('#sandboxes').innerText.includes('turned off')").await;
    ui.save("sandboxes").await;

    // Accounts: a grant with a reason, and the balance as people read it.
    ui.tab("accounts", "#users-table").await;
    ui.fill("#grant-user", "user-1").await;
    ui.fill("#grant-amount", "25").await;
    ui.fill("#grant-reason", "support ticket 42").await;
    ui.click("#grant-submit").await;
    ui.until("the grant", "document.querySelector('#status').innerText.includes('user-1 now has')").await;
    ui.until("the new balance", "document.querySelector('#users-table').innerText.includes('credits')").await;
    ui.fill("#project-id", "shop").await;
    ui.click("#project-lookup").await;
    ui.until("the project", "document.querySelector('#project-detail').innerText.includes('owned by')").await;
    ui.save("accounts").await;

    // Another operator, by JWT: a user who is not an admin is told so; an admin's changes carry their name.
    ui.click("#sign-out").await;
    ui.until("the sign-in form", "!document.querySelector('#sign-in').hidden").await;
    assert_eq!(ui.eval("sessionStorage.getItem('blink-console-token')").await, Value::Null);
    ui.fill("#token", &jwt::user_token("user-1")).await;
    ui.click("#sign-in-form button[type=submit]").await;
    ui.until("the refusal", "document.querySelector('#sign-in-error').innerText.includes('not an administrator')")
        .await;
    let mut claims = jwt::claims("ops-2");
    claims["app_metadata"] = json!({ "role": "admin" });
    ui.fill("#token", &jwt::hs256(&claims, jwt::SECRET)).await;
    ui.click("#sign-in-form button[type=submit]").await;
    ui.until("the agents screen", "!!document.querySelector('#rollback-validator')").await;
    ui.click(&format!("#versions-validator tr[data-version='{a11y}'] button[data-action=activate]")).await;
    ui.until("the activation", "document.querySelector('#status').innerText.includes('now serves new runs')").await;

    // The audit log: every change above, with who made it.
    ui.tab("audit", "#audit-table").await;
    let audit = ui.text_of("#audit-table").await;
    for change in [
        "PUT /api/admin/plugins/validator/canary",
        "POST /api/admin/plugins/validator/rollback",
        &format!("POST /api/admin/plugins/validator/{a11y}/activate"),
        "PUT /api/admin/agents/planner/settings",
        "POST /api/admin/evaluations",
        "POST /api/admin/credits",
        "support ticket 42",
        "admin-token",
        "user:ops-2 (ops-2@example.com)",
    ] {
        assert!(audit.contains(change), "{change} in the audit log:\n{audit}");
    }
    ui.save("audit-log").await;

    // Keyboard: the arrow keys move between sections.
    ui.eval("document.querySelector('#tab-audit').focus()").await;
    let key = json!({ "type": "keyDown", "key": "ArrowLeft", "code": "ArrowLeft", "windowsVirtualKeyCode": 37 });
    ui.browser.call("Input.dispatchKeyEvent", key).await;
    ui.browser
        .call(
            "Input.dispatchKeyEvent",
            json!({ "type": "keyUp", "key": "ArrowLeft", "code": "ArrowLeft", "windowsVirtualKeyCode": 37 }),
        )
        .await;
    ui.until(
        "the accounts tab by keyboard",
        "document.activeElement.id === 'tab-accounts' && !document.querySelector('#accounts').hidden",
    )
    .await;

    // A page on another site holds no credential to send: its forged change is refused.
    let forged = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator/rollback", blink.url))
        .header("origin", "https://evil.example")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);

    let errors: Vec<&String> =
        ui.browser.console_errors.iter().filter(|e| !e.contains("Failed to load resource")).collect();
    assert!(errors.is_empty(), "no script error and nothing the policy refused: {errors:#?}");
    for path in &ui.saved {
        assert!(std::fs::metadata(path).unwrap().len() > 10_000, "{} is a real screenshot", path.display());
        println!("screenshot: {}", path.display());
    }
}

async fn call(blink: &Blink, method: reqwest::Method, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", blink.url)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_routes_behind_the_console_hold_their_limits_and_refuse_bad_input() {
    use reqwest::Method;
    let llm = FakeLlm::start(rules()).await;
    let blink = start(&llm, &[("BLINK_EVAL_MAX_RUNS", "3".into())]).await;
    let user = jwt::user_token("user-1");
    let error = |(status, body): (u16, Value)| (status, body["error"].as_str().unwrap_or_default().to_string());

    // A run served by a validator that is deleted afterwards, then two by the built-in one.
    let plugin = std::fs::read(blink_test_support::HOSTILE_VALIDATOR).unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator", blink.url))
        .bearer_auth(ADMIN)
        .body(plugin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let gone = response.json::<Value>().await.unwrap()["version"]["version"].as_str().unwrap().to_string();
    run(&blink, "Add a footer").await;
    let (status, _) = call(&blink, Method::POST, "/api/admin/plugins/validator/builtin/activate", ADMIN, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&blink, Method::DELETE, &format!("/api/admin/plugins/validator/{gone}"), ADMIN, None).await;
    assert_eq!(status, 204);
    run(&blink, "Add a footer").await;
    run(&blink, "Add a footer").await;

    // Only operators: a signed-in user is refused every one of these, and nothing is recorded.
    for (method, path) in [
        (Method::GET, "/api/admin/runs"),
        (Method::GET, "/api/admin/users"),
        (Method::GET, "/api/admin/audit"),
        (Method::GET, "/api/admin/projects/shop"),
        (Method::POST, "/api/admin/evaluations"),
        (Method::DELETE, "/api/admin/sandboxes/shop"),
    ] {
        let body = (method == Method::POST).then(|| json!({ "version": "builtin" }));
        assert_eq!(error(call(&blink, method, path, &user, body).await), (403, "forbidden".into()), "{path}");
    }

    // Page sizes at their edges, filters the store can match exactly, or a stable code.
    for (path, expected) in [
        ("/api/admin/runs?limit=500", (200, String::new())),
        ("/api/admin/runs?limit=501", (400, "invalid_limit".into())),
        ("/api/admin/runs?limit=0", (400, "invalid_limit".into())),
        ("/api/admin/runs?outcome=files", (200, String::new())),
        ("/api/admin/runs?outcome=fil%25", (400, "invalid_outcome".into())),
        ("/api/admin/runs?version=ABC", (400, "invalid_version".into())),
        ("/api/admin/runs?since=yesterday", (400, "invalid_query".into())),
        ("/api/admin/audit?limit=500", (200, String::new())),
        ("/api/admin/audit?limit=501", (400, "invalid_limit".into())),
        ("/api/admin/users?limit=0", (400, "invalid_limit".into())),
        ("/api/admin/runs/no-such-run", (404, "not_found".into())),
        ("/api/admin/projects/no-such-project", (404, "not_found".into())),
        ("/api/admin/projects/Not_An_Id", (400, "invalid_project_id".into())),
    ] {
        assert_eq!(error(call(&blink, Method::GET, path, ADMIN, None).await), expected, "{path}");
    }
    let (status, runs) = call(&blink, Method::GET, "/api/admin/runs?user=user-1&outcome=files", ADMIN, None).await;
    assert_eq!((status, runs["runs"].as_array().unwrap().len()), (200, 3), "{runs}");
    let (_, none) = call(&blink, Method::GET, "/api/admin/runs?user=someone-else", ADMIN, None).await;
    assert_eq!(none["runs"], json!([]));
    let (_, served) = call(&blink, Method::GET, &format!("/api/admin/runs?version={gone}"), ADMIN, None).await;
    assert_eq!(served["runs"].as_array().unwrap().len(), 1, "{served}");
    let id = runs["runs"][0]["id"].as_str().unwrap();
    let (status, one) = call(&blink, Method::GET, &format!("/api/admin/runs/{id}"), ADMIN, None).await;
    assert_eq!(status, 200);
    assert_eq!(one["userId"], "user-1");
    assert!(one["creditsSpent"].as_i64().unwrap() > 0, "the run's model calls cost credits: {one}");
    assert!(one["run"]["events"].as_array().unwrap().iter().any(|e| e["type"] == "result"));
    let (status, project) = call(&blink, Method::GET, "/api/admin/projects/shop", ADMIN, None).await;
    assert_eq!((status, project["ownerId"].clone(), project["deploys"].clone()), (200, json!("user-1"), json!([])));
    assert_eq!(
        error(call(&blink, Method::DELETE, "/api/admin/sandboxes/shop", ADMIN, None).await),
        (503, "sandbox_unavailable".into())
    );

    // Evaluations: bad bodies, unknown versions, the run cap at its edge.
    let evaluate = |body: Value| call(&blink, Method::POST, "/api/admin/evaluations", ADMIN, Some(body));
    assert_eq!(error(evaluate(json!({ "mode": "replace" })).await), (400, "invalid_json".into()));
    assert_eq!(error(evaluate(json!({ "version": "builtin", "runs": 3 })).await), (400, "invalid_json".into()));
    assert_eq!(error(evaluate(json!({ "version": "builtin", "mode": "swap" })).await), (400, "invalid_json".into()));
    assert_eq!(error(evaluate(json!({ "version": "0".repeat(64) })).await), (404, "not_found".into()));
    assert_eq!(error(evaluate(json!({ "version": "builtin", "last": 4 })).await), (400, "invalid_limit".into()));
    assert_eq!(error(evaluate(json!({ "version": "builtin", "last": 0 })).await), (400, "invalid_limit".into()));
    let (status, report) = evaluate(json!({ "version": "builtin", "last": 3 })).await;
    assert_eq!(status, 200, "{report}");
    // The built-in validator is deterministic: on the runs it served, it finds what it found.
    let totals = &report["totals"];
    assert_eq!((totals["runs"].clone(), totals["failed"].clone()), (json!(2), json!(1)), "{report}");
    assert_eq!((totals["runsWithAdded"].clone(), totals["runsWithRemoved"].clone()), (json!(0), json!(0)));
    // The run whose validator was deleted says so instead of being compared with something else.
    let orphan = report["runs"].as_array().unwrap().iter().find(|r| r["servedBy"] == gone.as_str()).unwrap();
    assert!(orphan["error"].as_str().unwrap().contains("cannot be loaded"), "{orphan}");
    let (status, report) = evaluate(json!({ "version": "builtin", "last": 3, "user": "someone-else" })).await;
    assert_eq!((status, report["runs"].clone()), (200, json!([])));

    // Every change is recorded with who made it and how it was answered, refusals included.
    let (_, audit) = call(&blink, Method::GET, "/api/admin/audit", ADMIN, None).await;
    let entries = audit["entries"].as_array().unwrap();
    let seen = |method: &str, path: &str, status: u64| {
        entries
            .iter()
            .any(|e| e["method"] == method && e["path"] == path && e["status"] == status && e["actor"] == "admin-token")
    };
    assert!(seen("POST", "/api/admin/plugins/validator", 201), "{audit:#}");
    assert!(seen("DELETE", &format!("/api/admin/plugins/validator/{gone}"), 204));
    assert!(seen("POST", "/api/admin/evaluations", 404));
    assert!(seen("POST", "/api/admin/evaluations", 200));
    assert!(entries.iter().all(|e| e["actor"] == "admin-token"), "a refused user is never recorded as an actor");
    let times: Vec<i64> = entries.iter().map(|e| e["at"].as_i64().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    // Paging by (time, id): the second page starts right after the first page's last entry,
    // entries of the same millisecond included.
    let (_, first) = call(&blink, Method::GET, "/api/admin/audit?limit=2", ADMIN, None).await;
    let last = &first["entries"][1];
    let next = format!("/api/admin/audit?limit=1&before={}&beforeId={}", last["at"], last["id"].as_str().unwrap());
    let (_, page) = call(&blink, Method::GET, &next, ADMIN, None).await;
    assert_eq!(page["entries"][0]["id"], entries[2]["id"], "{first:#}\n{page:#}");
    let (_, runs_page) = call(&blink, Method::GET, "/api/admin/runs?limit=2", ADMIN, None).await;
    let last = &runs_page["runs"][1];
    let next = format!("/api/admin/runs?limit=1&until={}&beforeId={}", last["createdAt"], last["id"].as_str().unwrap());
    let (_, next_page) = call(&blink, Method::GET, &next, ADMIN, None).await;
    let (_, all) = call(&blink, Method::GET, "/api/admin/runs?limit=3", ADMIN, None).await;
    assert_eq!(next_page["runs"][0]["id"], all["runs"][2]["id"]);

    // A project that chains a validator: replacing the main validator keeps the chain on both
    // sides, so the built-in replacing itself finds no difference, its chain's findings included.
    let response = reqwest::Client::new()
        .post(format!("{}/api/admin/plugins/validator?activate=false", blink.url))
        .bearer_auth(ADMIN)
        .body(std::fs::read(blink_test_support::HOSTILE_VALIDATOR).unwrap())
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let (status, _) = blink.post("/api/projects", Some(&user), &json!({ "id": "chained" })).await;
    assert_eq!(status, 201);
    let response = reqwest::Client::new()
        .put(format!("{}/api/projects/chained/pipeline", blink.url))
        .bearer_auth(&user)
        .json(&json!({ "extraValidators": [gone] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = json!({ "messages": [{ "role": "user", "content": "Add a footer" }], "projectId": "chained" });
    let (status, text) = blink.post("/api/orchestrator", Some(&user), &body).await;
    assert_eq!(status, 200, "{text}");
    let (status, report) = evaluate(json!({ "version": "builtin", "project": "chained", "last": 1 })).await;
    assert_eq!(status, 200, "{report}");
    let row = &report["runs"][0];
    assert_eq!((row["added"].clone(), row["removed"].clone()), (json!([]), json!([])), "{report:#}");
    assert_eq!(row["confidenceBefore"], row["confidenceAfter"]);
    assert!(row["confidenceBefore"].as_u64().unwrap() < 100, "the chained validator's verdict is on both sides: {row}");

    // With previews on the API's origin, the console is off: a user's app there would share it.
    let exposed = start(&llm, &[("BLINK_PREVIEW_PATHS", "true".into())]).await;
    let response = reqwest::get(format!("{}/console", exposed.url)).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "console_disabled");
}
