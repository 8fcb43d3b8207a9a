//! Sandboxes as Kubernetes pods, through the real binary and its real Kubernetes client, against a
//! fake API server that speaks the API's wire protocol and starts each pod as a Docker container
//! (`tests/support/src/fake_kube.rs`). No Kubernetes API server can run on this machine.
//!
//! What this proves: the host drives a preview, an HMR update, a build (`exec`), the logs (`log`),
//! a warm pod claimed by a project (a label patch), adoption after a restart (pods listed by
//! label) and a stop (a delete) through the API, and the objects it sends carry the limits, the
//! restricted security context, the `RuntimeClass` and the NetworkPolicies asked of them, which
//! the container the fake starts from the pod's spec then has. What it cannot prove: that a real
//! cluster schedules and admits those pods (PodSecurity, quotas, RBAC for the host's service
//! account), binds the projects claim, or that its network plugin enforces the policies.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use blink_test_support::docker::docker;
use blink_test_support::fake_kube::FakeKube;
use blink_test_support::host::Blink;
use blink_test_support::jwt;
use blink_test_support::previews::{app, eventually_contains, logs_until};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_blink");
const ADMIN: &str = "kube-admin";

/// The pod of `project`, as last sent and patched.
fn pod_of(kube: &FakeKube, project: &str) -> Option<(String, Value)> {
    kube.pods().into_iter().find(|(_, p)| p["metadata"]["labels"]["blink.project"] == project)
}

#[tokio::test]
async fn sandboxes_run_as_pods_through_the_kubernetes_api() {
    assert!(!docker(&["images", "-q", "blink-sandbox:latest"]).is_empty(), "the sandbox image is missing");
    // gVisor's runtime class when the engine has runsc (the test command registers it).
    let runsc = docker(&["info", "-f", "{{json .Runtimes}}"]).contains("\"runsc\"");
    let classes = if runsc { BTreeMap::from([("gvisor".to_string(), "runsc".to_string())]) } else { BTreeMap::new() };
    let kube = FakeKube::start("blink-sandboxes", classes, BTreeMap::new()).await;
    let gateway = docker(&["network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}"]);
    let mut env = vec![
        ("BLINK_SANDBOXES", "true".to_string()),
        ("BLINK_SANDBOX_BACKEND", "kubernetes".into()),
        ("KUBECONFIG", kube.kubeconfig.display().to_string()),
        ("BLINK_K8S_HOST_ADDRESS", gateway.clone()),
        ("BLINK_SANDBOX_WARM", "1".into()),
        ("BLINK_PREVIEW_PATHS", "true".into()),
        ("BLINK_PREVIEW_URL", "{origin}/preview/{projectId}/".into()),
        ("BLINK_ADMIN_TOKEN", ADMIN.into()),
    ];
    if runsc {
        env.push(("BLINK_SANDBOX_RUNTIME", "gvisor".into()));
    }
    let blink = Blink::start(BIN, &env).await;

    // The pool's pod runs first; the fence and this host's opening are applied at start.
    let started = Instant::now();
    loop {
        let (_, status) = blink.send(reqwest::Method::GET, "/api/admin/sandboxes", ADMIN).await;
        if status["warm"] == 1 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no warm pod got ready\n{}", blink.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let warm = |p: &Value| p["metadata"]["labels"]["blink.warm"] == "1" && p["status"]["phase"] == "Running";
    assert!(kube.pods().values().any(warm), "the warm sandbox is a running pod");
    let policies = kube.policies();
    let fence = &policies["blink-sandboxes"]["spec"];
    assert_eq!(fence["podSelector"]["matchLabels"], json!({ "blink.sandbox": "1" }));
    assert_eq!(fence["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(fence["ingress"][0]["from"][0]["podSelector"]["matchLabels"], json!({ "app": "blink-host" }));
    assert_eq!(fence["ingress"][0]["from"][0]["namespaceSelector"], json!({}), "host pods of any namespace");
    assert_eq!(fence["ingress"][0]["ports"], json!([{ "protocol": "TCP", "port": 5173 }]));
    assert_eq!(fence["egress"], json!([]), "nothing out but what a host opens");
    let opening = &policies[&format!("blink-sandboxes-to-{}", gateway.replace('.', "-"))]["spec"];
    assert_eq!(opening["egress"][0]["to"], json!([{ "ipBlock": { "cidr": format!("{gateway}/32") } }]));
    assert_eq!(opening["egress"][0]["ports"].as_array().unwrap().len(), 1, "the registry proxy's port only");

    // A preview takes the warm pod (its label patched to the project) and serves through the proxy.
    let id = format!("kube{:x}", std::process::id());
    let user = jwt::user_token("kube-user");
    let files = |marker: &str| json!({ "projectId": id, "files": { "App.tsx": app(marker) } });
    let (status, text) = blink.post("/api/preview", Some(&user), &files("Pod one")).await;
    assert_eq!(status, 200, "{text}\n{}", blink.log());
    let page = format!("{}/preview/{id}/", blink.url);
    eventually_contains(&format!("{page}src/App.tsx"), "Pod one").await;
    let (name, pod) = pod_of(&kube, &id).expect("the project's pod");
    assert!(name.starts_with("sandbox-warm-"), "the warm pod was claimed: {name}");
    assert!(pod["metadata"]["labels"].get("blink.warm").is_none(), "a claimed pod is warm no more");

    // The pod as sent: limits, a restricted security context, the runtime class, the volumes.
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    assert_eq!(container["resources"]["limits"], json!({ "memory": "536870912", "cpu": "1000m" }));
    assert_eq!(container["resources"]["requests"], container["resources"]["limits"]);
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!((security["runAsUser"].clone(), security["runAsGroup"].clone()), (json!(1000), json!(1000)));
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["privileged"], false);
    assert_eq!(security["capabilities"], json!({ "drop": ["ALL"] }));
    assert_eq!(security["seccompProfile"], json!({ "type": "RuntimeDefault" }));
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert!(spec["securityContext"].get("fsGroup").is_none(), "no walk of the shared volume at each start");
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["hostNetwork"], false);
    assert_eq!(spec["runtimeClassName"], if runsc { json!("gvisor") } else { Value::Null });
    let volumes = spec["volumes"].as_array().unwrap();
    assert!(volumes.iter().any(|v| v["hostPath"]["path"].as_str().is_some_and(|p| p.ends_with("/app"))), "{volumes:?}");
    assert!(volumes.iter().any(|v| v["emptyDir"] == json!({ "medium": "Memory", "sizeLimit": "67108864" })));
    let owner = blink.data_dir.path().canonicalize().unwrap().display().to_string();
    assert_eq!(pod["metadata"]["annotations"]["blink.owner"], owner.as_str(), "the host that owns it");
    // … and what the container started from it has.
    let inspect = docker(&[
        "inspect",
        "-f",
        "{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.CapDrop}} {{.HostConfig.Memory}} {{.Config.User}} {{.HostConfig.Runtime}}",
        &kube.container(&name),
    ]);
    let runtime = if runsc { "runsc" } else { "runc" };
    assert_eq!(inspect, format!("true [ALL] 536870912 1000:1000 {runtime}"));

    // An update reaches the page; a build runs through the API's exec.
    let (status, text) = blink.post("/api/preview", Some(&user), &files("Pod two")).await;
    assert_eq!(status, 200, "{text}");
    eventually_contains(&format!("{page}src/App.tsx"), "Pod two").await;
    let (status, text) = blink.post("/api/build", Some(&user), &json!({ "projectId": id })).await;
    assert_eq!(status, 200, "{text}\n{}", blink.log());
    let built: Value = serde_json::from_str(&text).unwrap();
    assert!(built["files"].as_u64().unwrap() >= 2, "{built}");
    let build = kube.execs().into_iter().find(|c| c.iter().any(|a| a == "build")).expect("the build's exec");
    assert_eq!(&build[..2], ["node", "-e"], "the deadline holds inside the pod: {build:?}");
    assert!(build[2].contains("SIGKILL") && build[3] == "300", "{build:?}");

    // The logs stream follows the pod's log through the API.
    let logs = format!("{}/api/projects/{id}/logs", blink.url);
    let seen = logs_until(&logs, &user, &["[dev]", "[build]"], Duration::from_secs(15)).await;
    assert!(seen.contains("[dev]") && seen.contains("[build]"), "{seen}");

    // A restarted host finds its pods by label and adopts them: no pod is made or deleted.
    let pods_before: Vec<String> = kube.pods().keys().cloned().collect();
    let data = blink.stop().await;
    let blink = Blink::start_in(BIN, data, &env).await;
    let (status, text) = blink.post("/api/preview", Some(&user), &files("Pod three")).await;
    assert_eq!(status, 200, "{text}\n{}", blink.log());
    eventually_contains(&format!("{}/preview/{id}/src/App.tsx", blink.url), "Pod three").await;
    assert_eq!(pod_of(&kube, &id).unwrap().0, name, "the same pod serves after the restart");
    assert!(kube.deleted().is_empty(), "nothing was deleted: {:?}", kube.deleted());
    assert!(kube.pods().keys().all(|p| pods_before.contains(p)), "no pod was made");

    // The operator stops it: the pod is deleted, and its container is gone.
    let (status, _) = blink.send(reqwest::Method::DELETE, &format!("/api/admin/sandboxes/{id}"), ADMIN).await;
    assert_eq!(status, 204);
    assert_eq!(kube.deleted(), vec![name.clone()]);
    assert!(docker(&["ps", "-aq", "--filter", &format!("name={}", kube.container(&name))]).is_empty());
}
