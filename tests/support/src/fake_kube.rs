//! A fake Kubernetes API server for the host's Kubernetes sandbox backend: the real wire protocol
//! (REST and JSON objects, `Status` errors, JSON merge and server-side apply patches, the `log`
//! stream, `exec` over a WebSocket with the `v4`/`v5.channel.k8s.io` framing) in front of the
//! local Docker engine, which plays the kubelet: a pod is a container started as its spec says
//! (image, command, env, user, read-only root, dropped capabilities, no new privileges, memory and
//! CPU limits, a memory `/tmp`, the `RuntimeClass`'s handler as the runtime, `hostPath` and claim
//! volumes as bind mounts).
//!
//! It does not schedule, admit (no PodSecurity, no RBAC), bind claims or enforce NetworkPolicies:
//! it keeps them, as a test reads them. Everything it was sent is kept for the test to read.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

#[derive(Default)]
struct Inner {
    pods: BTreeMap<String, Value>,
    policies: BTreeMap<String, Value>,
    /// Pod names deleted, in order.
    deleted: Vec<String>,
    /// Commands run through `exec`.
    execs: Vec<Vec<String>>,
    next_uid: u64,
}

#[derive(Clone)]
struct World {
    inner: Arc<Mutex<Inner>>,
    /// `RuntimeClass` name → the Docker runtime that is its handler.
    runtime_classes: BTreeMap<String, String>,
    /// Claim name → the directory that is its volume.
    claims: BTreeMap<String, PathBuf>,
    prefix: String,
}

pub struct FakeKube {
    world: World,
    pub addr: SocketAddr,
    /// The kubeconfig file pointing at this server (`KUBECONFIG`).
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeKube {
    /// Starts the server on a free loopback port. Its containers are named `{prefix}{pod}`.
    pub async fn start(
        namespace: &str,
        runtime_classes: BTreeMap<String, String>,
        claims: BTreeMap<String, PathBuf>,
    ) -> Self {
        let prefix = format!("fake-kube-{:x}-", std::process::id());
        let world = World { inner: Arc::default(), runtime_classes, claims, prefix };
        let app = axum::Router::new()
            .route("/api/v1/namespaces/{ns}/pods", get(list_pods).post(create_pod))
            .route("/api/v1/namespaces/{ns}/pods/{name}", get(get_pod).delete(delete_pod).patch(patch_pod))
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .route("/api/v1/namespaces/{ns}/pods/{name}/exec", get(pod_exec).post(pod_exec))
            .route(
                "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies/{name}",
                axum::routing::patch(apply_policy),
            )
            .with_state(world.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake API server");
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let config = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{addr}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: host\n    namespace: {namespace}\n\
             current-context: fake\nusers:\n- name: host\n  user:\n    token: fake-token\n"
        );
        std::fs::write(&kubeconfig, config).unwrap();
        Self { world, addr, kubeconfig, _dir: dir }
    }

    /// The pods as last sent or patched, by name (status as last reported).
    pub fn pods(&self) -> BTreeMap<String, Value> {
        self.world.inner.lock().unwrap().pods.clone()
    }

    pub fn policies(&self) -> BTreeMap<String, Value> {
        self.world.inner.lock().unwrap().policies.clone()
    }

    pub fn deleted(&self) -> Vec<String> {
        self.world.inner.lock().unwrap().deleted.clone()
    }

    pub fn execs(&self) -> Vec<Vec<String>> {
        self.world.inner.lock().unwrap().execs.clone()
    }

    /// The Docker container playing a pod.
    pub fn container(&self, pod: &str) -> String {
        format!("{}{pod}", self.world.prefix)
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let names: Vec<String> = self.world.inner.lock().unwrap().pods.keys().map(|p| self.container(p)).collect();
        for name in names {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &name]).output();
        }
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), axum::Json(body)).into_response()
}

fn docker(args: &[String]) -> Result<String, String> {
    let out = std::process::Command::new("docker").args(args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The query's pairs, decoded, repeated keys kept.
fn query_pairs(query: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_deref().unwrap_or_default().as_bytes()).into_owned().collect()
}

/// Whether the pod's labels match a `k=v,k2=v2` selector.
fn selects(pod: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (key, value) = term.split_once('=').unwrap_or((term, ""));
        pod["metadata"]["labels"][key].as_str() == Some(value)
    })
}

/// The pod with its status as the container's state says.
fn refreshed(world: &World, name: &str) -> Option<Value> {
    let mut pod = world.inner.lock().unwrap().pods.get(name)?.clone();
    let container = format!("{}{name}", world.prefix);
    let state = docker(&[
        "inspect".into(),
        "-f".into(),
        "{{.State.Running}} {{.State.ExitCode}} {{.NetworkSettings.IPAddress}}".into(),
        container,
    ]);
    // No container yet: the pod is being started.
    let Ok(state) = state else {
        pod["status"] = json!({ "phase": "Pending" });
        return Some(pod);
    };
    let fields: Vec<String> = state.split(' ').map(String::from).collect();
    let (phase, ip) = match fields.as_slice() {
        [running, _, ip] if running == "true" => ("Running", Some(ip.clone())),
        [_, code, _] if code == "0" => ("Succeeded", None),
        _ => ("Failed", None),
    };
    pod["status"] = json!({ "phase": phase, "podIP": ip });
    world.inner.lock().unwrap().pods.insert(name.to_string(), pod.clone());
    Some(pod)
}

async fn list_pods(State(world): State<World>, RawQuery(query): RawQuery) -> Response {
    let selector = query_pairs(&query).into_iter().find(|(k, _)| k == "labelSelector").map(|(_, v)| v);
    let names: Vec<String> = world.inner.lock().unwrap().pods.keys().cloned().collect();
    let items: Vec<Value> = names
        .iter()
        .filter_map(|n| refreshed(&world, n))
        .filter(|p| selector.as_deref().is_none_or(|s| selects(p, s)))
        .collect();
    axum::Json(json!({ "apiVersion": "v1", "kind": "PodList", "metadata": { "resourceVersion": "1" }, "items": items }))
        .into_response()
}

/// `docker run` arguments for the pod, as a kubelet would start it.
fn run_args(world: &World, pod: &Value) -> Result<Vec<String>, String> {
    let name = pod["metadata"]["name"].as_str().ok_or("a pod needs a name")?;
    let spec = &pod["spec"];
    let container = &spec["containers"][0];
    let security = &container["securityContext"];
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), format!("{}{name}", world.prefix)];
    let mut push = |a: &[&str]| args.extend(a.iter().map(|s| s.to_string()));
    push(&["--label", "fake-kube=1"]);
    if let (Some(uid), Some(gid)) = (security["runAsUser"].as_i64(), security["runAsGroup"].as_i64()) {
        push(&["--user", &format!("{uid}:{gid}")]);
    }
    if security["readOnlyRootFilesystem"] == true {
        push(&["--read-only"]);
    }
    for capability in security["capabilities"]["drop"].as_array().into_iter().flatten() {
        push(&["--cap-drop", capability.as_str().unwrap_or_default()]);
    }
    if security["allowPrivilegeEscalation"] == false {
        push(&["--security-opt", "no-new-privileges"]);
    }
    let limits = &container["resources"]["limits"];
    if let Some(memory) = limits["memory"].as_str() {
        push(&["--memory", memory, "--memory-swap", memory]);
    }
    if let Some(cpu) = limits["cpu"].as_str().and_then(|c| c.strip_suffix('m')).and_then(|m| m.parse::<f64>().ok()) {
        push(&["--cpus", &format!("{}", cpu / 1000.0)]);
    }
    if let Some(class) = spec["runtimeClassName"].as_str() {
        let handler = world.runtime_classes.get(class).ok_or(format!("no RuntimeClass {class}"))?;
        push(&["--runtime", handler]);
    }
    for env in container["env"].as_array().into_iter().flatten() {
        push(&[
            "-e",
            &format!("{}={}", env["name"].as_str().unwrap_or_default(), env["value"].as_str().unwrap_or_default()),
        ]);
    }
    for mount in container["volumeMounts"].as_array().into_iter().flatten() {
        let target = mount["mountPath"].as_str().unwrap_or_default();
        let volume = spec["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|v| v["name"] == mount["name"])
            .ok_or("a mount names no volume")?;
        if volume["emptyDir"]["medium"] == "Memory" {
            let size = volume["emptyDir"]["sizeLimit"].as_str().unwrap_or("64m");
            push(&["--tmpfs", &format!("{target}:size={size}")]);
        } else if let Some(path) = volume["hostPath"]["path"].as_str() {
            push(&["-v", &format!("{path}:{target}")]);
        } else if let Some(claim) = volume["persistentVolumeClaim"]["claimName"].as_str() {
            let root = world.claims.get(claim).ok_or(format!("no claim {claim}"))?;
            let sub = mount["subPath"].as_str().unwrap_or_default();
            push(&["-v", &format!("{}:{target}", root.join(sub).display())]);
        }
    }
    if let Some(dir) = container["workingDir"].as_str() {
        push(&["-w", dir]);
    }
    let command: Vec<String> =
        container["command"].as_array().into_iter().flatten().filter_map(|c| c.as_str().map(String::from)).collect();
    if let Some((first, rest)) = command.split_first() {
        push(&["--entrypoint", first]);
        push(&[container["image"].as_str().unwrap_or_default()]);
        args.extend(rest.iter().cloned());
    } else {
        push(&[container["image"].as_str().unwrap_or_default()]);
    }
    Ok(args)
}

async fn create_pod(State(world): State<World>, body: Bytes) -> Response {
    let Ok(mut pod) = serde_json::from_slice::<Value>(&body) else {
        return status(400, "BadRequest", "the body is not a pod");
    };
    let Some(name) = pod["metadata"]["name"].as_str().map(String::from) else {
        return status(422, "Invalid", "metadata.name: Required value");
    };
    {
        let mut inner = world.inner.lock().unwrap();
        if inner.pods.contains_key(&name) {
            return status(409, "AlreadyExists", &format!("pods \"{name}\" already exists"));
        }
        inner.next_uid += 1;
        pod["metadata"]["uid"] = json!(format!("uid-{}", inner.next_uid));
        pod["metadata"]["creationTimestamp"] = json!("2026-12-01T00:00:00Z");
        pod["status"] = json!({ "phase": "Pending" });
        inner.pods.insert(name.clone(), pod.clone());
    }
    let args = match run_args(&world, &pod) {
        Ok(args) => args,
        Err(e) => {
            world.inner.lock().unwrap().pods.remove(&name);
            return status(422, "Invalid", &e);
        }
    };
    let run = tokio::task::spawn_blocking(move || docker(&args)).await.unwrap();
    if let Err(e) = run {
        world.inner.lock().unwrap().pods.remove(&name);
        return status(500, "InternalError", &e);
    }
    (StatusCode::CREATED, axum::Json(pod)).into_response()
}

async fn get_pod(State(world): State<World>, Path((_, name)): Path<(String, String)>) -> Response {
    match refreshed(&world, &name) {
        Some(pod) => axum::Json(pod).into_response(),
        None => status(404, "NotFound", &format!("pods \"{name}\" not found")),
    }
}

async fn delete_pod(State(world): State<World>, Path((_, name)): Path<(String, String)>) -> Response {
    let Some(pod) = world.inner.lock().unwrap().pods.remove(&name) else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    world.inner.lock().unwrap().deleted.push(name.clone());
    let container = format!("{}{name}", world.prefix);
    let _ = tokio::task::spawn_blocking(move || docker(&["rm".into(), "-f".into(), container])).await;
    axum::Json(pod).into_response()
}

/// A JSON merge patch (RFC 7386): `null` removes.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A patch's body, refused unless it comes as the patch type the route takes (kube-rs sends
/// server-side apply as JSON under the YAML type, which JSON is a subset of).
fn patch_body(headers: &HeaderMap, body: &[u8], wanted: &str) -> Result<Value, Box<Response>> {
    let kind = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if kind != wanted {
        return Err(Box::new(status(415, "UnsupportedMediaType", &format!("this route takes {wanted}, not {kind}"))));
    }
    serde_json::from_slice(body).map_err(|_| Box::new(status(400, "BadRequest", "the patch is not JSON")))
}

async fn patch_pod(
    State(world): State<World>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let patch = match patch_body(&headers, &body, "application/merge-patch+json") {
        Ok(patch) => patch,
        Err(refused) => return *refused,
    };
    let mut inner = world.inner.lock().unwrap();
    let Some(pod) = inner.pods.get_mut(&name) else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    merge(pod, &patch);
    let pod = pod.clone();
    drop(inner);
    axum::Json(refreshed(&world, &name).unwrap_or(pod)).into_response()
}

async fn pod_log(
    State(world): State<World>,
    Path((_, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    if !world.inner.lock().unwrap().pods.contains_key(&name) {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    }
    let pairs = query_pairs(&query);
    let value = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    let mut args = vec!["logs".to_string()];
    if value("follow").as_deref() == Some("true") {
        args.push("-f".into());
    }
    if let Some(tail) = value("tailLines") {
        args.extend(["--tail".into(), tail]);
    }
    args.push(format!("{}{name}", world.prefix));
    let Ok(mut child) = tokio::process::Command::new("docker")
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
    else {
        return status(500, "InternalError", "docker logs");
    };
    let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = chunks(stdout);
    let err = chunks(stderr);
    let merged = futures::stream::select(out, err);
    // The child lives as long as the body.
    let body = futures::StreamExt::map(merged, move |chunk| {
        let _child = &child;
        Ok::<_, std::io::Error>(chunk)
    });
    Response::builder().header("content-type", "text/plain").body(Body::from_stream(body)).unwrap()
}

/// Byte chunks of a reader, as a stream.
fn chunks<R: tokio::io::AsyncRead + Unpin + Send + 'static>(reader: R) -> futures::stream::BoxStream<'static, Vec<u8>> {
    Box::pin(futures::stream::unfold(reader, |mut reader| async move {
        let mut buffer = vec![0u8; 8192];
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((buffer, reader))
            }
        }
    }))
}

async fn pod_exec(
    State(world): State<World>,
    Path((_, name)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(pod) = refreshed(&world, &name) else {
        return status(404, "NotFound", &format!("pods \"{name}\" not found"));
    };
    if pod["status"]["phase"] != "Running" {
        return status(400, "BadRequest", "container is not running");
    }
    let command: Vec<String> =
        query_pairs(&query).into_iter().filter(|(k, _)| k == "command").map(|(_, v)| v).collect();
    world.inner.lock().unwrap().execs.push(command.clone());
    let security = &pod["spec"]["containers"][0]["securityContext"];
    let user =
        format!("{}:{}", security["runAsUser"].as_i64().unwrap_or(0), security["runAsGroup"].as_i64().unwrap_or(0));
    let dir = pod["spec"]["containers"][0]["workingDir"].as_str().unwrap_or("/").to_string();
    let container = format!("{}{name}", world.prefix);
    upgrade
        .protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .on_upgrade(move |socket| run_exec(socket, container, user, dir, command))
}

/// Runs the command in the container and speaks the channel protocol: each frame's first byte is
/// its stream (1 stdout, 2 stderr, 3 the final `Status`).
async fn run_exec(mut socket: WebSocket, container: String, user: String, dir: String, command: Vec<String>) {
    let mut args = vec!["exec".to_string(), "-u".into(), user, "-w".into(), dir, container];
    args.extend(command);
    let child = tokio::process::Command::new("docker")
        .args(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let Ok(mut child) = child else { return };
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let (channel, read) = tokio::select! {
            n = stdout.read(&mut out_buf), if out_open => (1u8, n.map(|n| out_buf[..n].to_vec())),
            n = stderr.read(&mut err_buf), if err_open => (2u8, n.map(|n| err_buf[..n].to_vec())),
        };
        match read {
            Ok(bytes) if !bytes.is_empty() => {
                let mut frame = vec![channel];
                frame.extend(bytes);
                if socket.send(Message::Binary(frame.into())).await.is_err() {
                    return;
                }
            }
            _ if channel == 1 => out_open = false,
            _ => err_open = false,
        }
    }
    let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(1);
    let status = if code == 0 {
        json!({ "metadata": {}, "status": "Success" })
    } else {
        json!({
            "metadata": {}, "status": "Failure",
            "message": format!("command terminated with non-zero exit code: {code}"),
            "reason": "NonZeroExitCode",
            "details": { "causes": [{ "reason": "ExitCode", "message": code.to_string() }] },
        })
    };
    let mut frame = vec![3u8];
    frame.extend(status.to_string().into_bytes());
    let _ = socket.send(Message::Binary(frame.into())).await;
    let _ = socket.send(Message::Close(None)).await;
}

/// Server-side apply: the object sent is the object kept.
async fn apply_policy(
    State(world): State<World>,
    Path((_, name)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let policy = match patch_body(&headers, &body, "application/apply-patch+yaml") {
        Ok(policy) => policy,
        Err(refused) => return *refused,
    };
    if policy["metadata"]["name"] != name.as_str() {
        return status(400, "BadRequest", "the name in the body differs from the path's");
    }
    world.inner.lock().unwrap().policies.insert(name, policy.clone());
    axum::Json(policy).into_response()
}
