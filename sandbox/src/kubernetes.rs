//! The Kubernetes backend: sandboxes as pods of one namespace, through the cluster's API (kube-rs).
//!
//! Each sandbox is a pod from the sandbox image with the limits as resource limits (requests equal
//! to them), a restricted security context (non-root, read-only root, every capability dropped, no
//! privilege escalation, the runtime's default seccomp profile, no service account token), the
//! `RuntimeClass` the operator names (gVisor's, say), a memory-backed `/tmp`, and the project's
//! directory mounted at `/app`: a sub-path of the projects volume every host mounts, or, without a
//! claim, the host's own path (one-node clusters). One NetworkPolicy fences every sandbox of the
//! namespace: traffic in only from the hosts to the dev server's port, traffic out only to the
//! hosts' registry proxy. Commands run through the API's `exec`, output through its `log`, and
//! sandboxes are found by label, so a restarted host finds its own.
//!
//! Over 500 lines: one implementation of the backend trait, whose methods share the pod's shape,
//! its lookup by label and the API's error mapping.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::error::SandboxError;
use crate::output::OutputTail;
use crate::{
    APP_DIR, ExecOutput, Limits, OWNER_LABEL, PROJECT_LABEL, SANDBOX_LABEL, SandboxBackend, SandboxInfo, SandboxSpec,
    WARM_LABEL, validate_project,
};

/// The one NetworkPolicy of the namespace's sandboxes.
pub const POLICY_NAME: &str = "blink-sandboxes";
/// How long a new pod may take to run and get an address.
const START_WAIT: Duration = Duration::from_secs(120);
/// Runs `argv[2..]` in a process group of its own and kills the whole group with SIGKILL after
/// `argv[1]` seconds, exiting 137 as a killed command does; the sandbox image has node and no
/// `timeout`.
const DEADLINE: &str = "const [secs, ...cmd] = process.argv.slice(1);\
const child = require('child_process').spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', detached: true });\
const timer = setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch {} process.exit(137); }, Number(secs) * 1000);\
child.on('error', (e) => { console.error(e.message); process.exit(127); });\
child.on('exit', (code, signal) => { clearTimeout(timer); process.exit(code ?? 128 + (require('os').constants.signals[signal] || 9)); });";
/// What a command's output keeps: its end, where a build's errors are.
const MAX_OUTPUT: usize = 4 << 20;

/// How [`KubernetesBackend`] creates sandboxes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KubernetesConfig {
    /// The namespace sandboxes live in; `None`: the client configuration's (in a pod, its own).
    pub namespace: Option<String>,
    /// The sandbox image, as the cluster's nodes pull it.
    pub image: String,
    pub limits: Limits,
    pub dev_port: u16,
    /// The unprivileged uid and gid sandboxes run as.
    pub uid: i64,
    pub gid: i64,
    /// The `RuntimeClass` of every sandbox pod (`gvisor`); `None`: the cluster's default.
    pub runtime_class: Option<String>,
    /// The claim of the projects volume; a sandbox mounts its project's directory as a sub-path
    /// of it. `None`: a `hostPath` of the project's directory (one-node clusters, development).
    pub projects_claim: Option<String>,
    /// Where the hosts mount that volume: the project's sub-path is its directory relative to this.
    pub projects_root: PathBuf,
    /// The address sandboxes reach the hosts' registry proxy at (the host pod's IP).
    pub host_address: Option<IpAddr>,
    /// Labels the host pods carry: the only pods the policy lets reach a sandbox's dev server.
    pub host_labels: BTreeMap<String, String>,
    /// Set as the owner annotation on every sandbox this backend creates.
    pub owner: Option<String>,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            image: "blink-sandbox:latest".into(),
            limits: Limits::default(),
            dev_port: 5173,
            uid: 1000,
            gid: 1000,
            runtime_class: None,
            projects_claim: None,
            projects_root: PathBuf::from("/"),
            host_address: None,
            host_labels: BTreeMap::from([("app".into(), "blink-host".into())]),
            owner: None,
        }
    }
}

/// Sandboxes as pods of a Kubernetes cluster.
pub struct KubernetesBackend {
    config: KubernetesConfig,
    pods: Api<Pod>,
    policies: Api<NetworkPolicy>,
}

fn engine(e: kube::Error) -> SandboxError {
    match e {
        kube::Error::Api(status) if status.code == 404 => SandboxError::NotFound(status.message),
        // The API server cannot be reached (refused, reset, no route, TLS): try again later.
        kube::Error::HyperError(e) => SandboxError::EngineUnavailable(e.to_string()),
        kube::Error::Service(e) => SandboxError::EngineUnavailable(e.to_string()),
        other => SandboxError::Engine(other.to_string()),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == code)
}

/// Project ids become pod names and label values: DNS labels, lower case.
fn pod_name(project: &str) -> Result<String, SandboxError> {
    validate_project(project)?;
    if project.len() > 55 || !project.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(SandboxError::Invalid(format!(
            "invalid project id {project:?} for Kubernetes: at most 55 lower-case letters, digits or '-'"
        )));
    }
    Ok(format!("sandbox-{project}"))
}

impl KubernetesBackend {
    /// Connects with the client configuration found as `kubectl` finds it (in a pod, its service
    /// account; else `KUBECONFIG` or `~/.kube/config`).
    pub async fn connect(config: KubernetesConfig) -> Result<Self, SandboxError> {
        let client_config = kube::Config::infer().await.map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
        let namespace = config.namespace.clone().unwrap_or_else(|| client_config.default_namespace.clone());
        let client =
            kube::Client::try_from(client_config).map_err(|e| SandboxError::EngineUnavailable(e.to_string()))?;
        Ok(Self {
            pods: Api::namespaced(client.clone(), &namespace),
            policies: Api::namespaced(client, &namespace),
            config,
        })
    }

    /// The pod of the project, by label (a claimed warm pod keeps its first name).
    async fn find(&self, project: &str) -> Result<Option<Pod>, SandboxError> {
        pod_name(project)?;
        let selector = format!("{SANDBOX_LABEL}=1,{PROJECT_LABEL}={project}");
        let pods = self.pods.list(&ListParams::default().labels(&selector)).await.map_err(engine)?;
        Ok(pods.items.into_iter().find(|p| p.metadata.deletion_timestamp.is_none()))
    }

    async fn running_pod(&self, project: &str) -> Result<String, SandboxError> {
        let pod = self.find(project).await?.ok_or_else(|| SandboxError::NotFound(project.to_string()))?;
        let info = self.info(&pod);
        if !info.running {
            return Err(SandboxError::NotRunning(project.to_string()));
        }
        Ok(info.name)
    }

    fn info(&self, pod: &Pod) -> SandboxInfo {
        let meta = &pod.metadata;
        let mut labels: HashMap<String, String> = meta.labels.clone().unwrap_or_default().into_iter().collect();
        // The owner is a path, which a label's value cannot hold: it is an annotation.
        if let Some(owner) = meta.annotations.as_ref().and_then(|a| a.get(OWNER_LABEL)) {
            labels.insert(OWNER_LABEL.into(), owner.clone());
        }
        let status = pod.status.as_ref();
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running") && meta.deletion_timestamp.is_none();
        let ip = status.and_then(|s| s.pod_ip.as_deref()).and_then(|ip| ip.parse::<IpAddr>().ok());
        SandboxInfo {
            project: labels.get(PROJECT_LABEL).cloned().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            id: meta.uid.clone().unwrap_or_default(),
            running,
            address: ip.filter(|_| running).map(|ip| SocketAddr::new(ip, self.config.dev_port)),
            created: meta.creation_timestamp.as_ref().map_or(0, |t| t.0.as_second()),
            labels,
        }
    }

    /// The pod a spec asks for, as the cluster's own objects say it.
    fn pod(&self, spec: &SandboxSpec) -> Result<Pod, SandboxError> {
        let c = &self.config;
        let limits = json!({
            "memory": c.limits.memory_bytes.to_string(),
            "cpu": format!("{}m", c.limits.nano_cpus / 1_000_000),
        });
        let app = match &c.projects_claim {
            Some(claim) => {
                let sub_path = spec.app_dir.strip_prefix(&c.projects_root).map_err(|_| {
                    SandboxError::Invalid(format!(
                        "{} is not under {}",
                        spec.app_dir.display(),
                        c.projects_root.display()
                    ))
                })?;
                (
                    json!({ "name": "app", "persistentVolumeClaim": { "claimName": claim } }),
                    sub_path.display().to_string(),
                )
            }
            None => {
                (json!({ "name": "app", "hostPath": { "path": spec.app_dir, "type": "Directory" } }), String::new())
            }
        };
        let mut mount = json!({ "name": "app", "mountPath": APP_DIR });
        if !app.1.is_empty() {
            mount["subPath"] = json!(app.1);
        }
        let env: Vec<_> = spec.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect();
        let mut labels = json!({ SANDBOX_LABEL: "1", PROJECT_LABEL: spec.project });
        if spec.warm {
            labels[WARM_LABEL] = json!("1");
        }
        let annotations = c.owner.as_ref().map(|o| json!({ OWNER_LABEL: o }));
        let mut container = json!({
            "name": "sandbox",
            "image": c.image,
            "imagePullPolicy": "IfNotPresent",
            "workingDir": APP_DIR,
            "env": env,
            "ports": [{ "containerPort": c.dev_port, "protocol": "TCP" }],
            "resources": { "limits": limits, "requests": limits },
            "securityContext": {
                "runAsNonRoot": true,
                "runAsUser": c.uid,
                "runAsGroup": c.gid,
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "privileged": false,
                "capabilities": { "drop": ["ALL"] },
                "seccompProfile": { "type": "RuntimeDefault" },
            },
            "volumeMounts": [mount, { "name": "tmp", "mountPath": "/tmp" }],
        });
        if !spec.command.is_empty() {
            container["command"] = json!(spec.command);
        }
        let pod = json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": pod_name(&spec.project)?, "labels": labels, "annotations": annotations },
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": false,
                "enableServiceLinks": false,
                "hostNetwork": false,
                "hostPID": false,
                "hostIPC": false,
                "runtimeClassName": c.runtime_class,
                "securityContext": {
                    "runAsNonRoot": true,
                    "runAsUser": c.uid,
                    "runAsGroup": c.gid,
                    // No fsGroup: the host gives the project's directory to the sandbox user, and
                    // a kubelet would otherwise walk the whole shared volume at each start.
                    "seccompProfile": { "type": "RuntimeDefault" },
                },
                "containers": [container],
                "volumes": [app.0, { "name": "tmp", "emptyDir": { "medium": "Memory", "sizeLimit": c.limits.tmpfs_bytes.to_string() } }],
            },
        });
        serde_json::from_value(pod).map_err(|e| SandboxError::Invalid(e.to_string()))
    }

    /// Waits until the pod runs with an address, or has failed.
    async fn until_running(&self, name: &str, project: &str) -> Result<SandboxInfo, SandboxError> {
        let started = tokio::time::Instant::now();
        loop {
            let pod = self.pods.get(name).await.map_err(engine)?;
            let info = self.info(&pod);
            if info.running && info.address.is_some() {
                return Ok(info);
            }
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
            if phase == "Failed" || phase == "Succeeded" {
                return Err(SandboxError::NotRunning(project.to_string()));
            }
            if started.elapsed() > START_WAIT {
                return Err(SandboxError::Engine(format!(
                    "the pod {name} did not run within {}s",
                    START_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The sandboxes' policies. Policies add up: one lets traffic in only from the hosts to the dev
    /// server's port, and lets nothing out; each host adds one letting sandboxes reach its own
    /// address on the given ports (its registry proxy), named after that address.
    fn policies(&self, ports: &[u16]) -> Result<(NetworkPolicy, Option<NetworkPolicy>), SandboxError> {
        let c = &self.config;
        let fence = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": { "name": POLICY_NAME, "labels": { SANDBOX_LABEL: "1" } },
            "spec": {
                "podSelector": { "matchLabels": { SANDBOX_LABEL: "1" } },
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{
                    // Host pods in any namespace (a selector of pods alone means this one).
                    "from": [{ "namespaceSelector": {}, "podSelector": { "matchLabels": c.host_labels } }],
                    "ports": [{ "protocol": "TCP", "port": c.dev_port }],
                }],
                "egress": [],
            },
        });
        let fence = serde_json::from_value(fence).map_err(|e| SandboxError::Invalid(e.to_string()))?;
        let Some(ip) = c.host_address else { return Ok((fence, None)) };
        let prefix = if ip.is_ipv4() { 32 } else { 128 };
        let ports: Vec<_> = ports.iter().map(|p| json!({ "protocol": "TCP", "port": p })).collect();
        let name = format!("{POLICY_NAME}-to-{}", ip.to_string().replace(['.', ':'], "-"));
        let opening = json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": { "name": name, "labels": { SANDBOX_LABEL: "1" } },
            "spec": {
                "podSelector": { "matchLabels": { SANDBOX_LABEL: "1" } },
                "policyTypes": ["Egress"],
                "egress": [{ "to": [{ "ipBlock": { "cidr": format!("{ip}/{prefix}") } }], "ports": ports }],
            },
        });
        let opening = serde_json::from_value(opening).map_err(|e| SandboxError::Invalid(e.to_string()))?;
        Ok((fence, Some(opening)))
    }
}

#[async_trait::async_trait]
impl SandboxBackend for KubernetesBackend {
    async fn ping(&self) -> Result<(), SandboxError> {
        self.pods.list(&ListParams::default().limit(1)).await.map(drop).map_err(engine)
    }

    async fn ensure(&self, spec: &SandboxSpec) -> Result<SandboxInfo, SandboxError> {
        let name = pod_name(&spec.project)?;
        if let Some(pod) = self.find(&spec.project).await? {
            let info = self.info(&pod);
            if info.running {
                return Ok(info);
            }
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
            if phase == "Pending" {
                // Being scheduled, pulled or started (by this host or another): wait for it.
                return self.until_running(&info.name, &spec.project).await;
            }
            // A pod does not start again: a stopped sandbox is made anew.
            self.remove(&spec.project).await?;
        }
        let uid = u32::try_from(self.config.uid).map_err(|_| SandboxError::Invalid("the sandbox uid".into()))?;
        let gid = u32::try_from(self.config.gid).map_err(|_| SandboxError::Invalid("the sandbox gid".into()))?;
        crate::appdir::prepare_app_dir(spec.app_dir.clone(), uid, gid).await?;
        let pod = self.pod(spec)?;
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {}
            // Another host or task created it first: the name is the lock.
            Err(e) if is_status(&e, 409) => {}
            Err(e) => return Err(engine(e)),
        }
        self.until_running(&name, &spec.project).await
    }

    async fn resume(&self, project: &str) -> Result<SandboxInfo, SandboxError> {
        let pod = self.find(project).await?.ok_or_else(|| SandboxError::NotFound(project.to_string()))?;
        let info = self.info(&pod);
        if info.running { Ok(info) } else { Err(SandboxError::NotFound(project.to_string())) }
    }

    async fn inspect(&self, project: &str) -> Result<Option<SandboxInfo>, SandboxError> {
        Ok(self.find(project).await?.map(|p| self.info(&p)))
    }

    async fn exec(
        &self,
        project: &str,
        command: &[String],
        env: &[(String, String)],
        timeout: Duration,
    ) -> Result<ExecOutput, SandboxError> {
        if command.is_empty() {
            return Err(SandboxError::Invalid("empty command".into()));
        }
        let name = self.running_pod(project).await?;
        // The API's exec has no environment and no deadline of its own: `env` sets one, and the
        // image's node keeps the deadline, killing the command and everything it started.
        let secs = timeout.as_secs().max(1).to_string();
        let mut full: Vec<String> = ["node", "-e", DEADLINE, &secs, "env"].into_iter().map(String::from).collect();
        full.extend(env.iter().map(|(k, v)| format!("{k}={v}")));
        full.extend(command.iter().cloned());
        let began = tokio::time::Instant::now();
        let params = AttachParams::default().stdout(true).stderr(true).stdin(false);
        let mut process = self.pods.exec(&name, full, &params).await.map_err(engine)?;
        let (Some(mut stdout), Some(mut stderr)) = (process.stdout(), process.stderr()) else {
            return Err(SandboxError::Engine("exec gave no output streams".into()));
        };
        let status = process.take_status();
        let read = async {
            // Kept as it comes, the end only: a command may print without end.
            let mut kept = OutputTail::new(MAX_OUTPUT);
            let (mut out_buf, mut err_buf) = (vec![0u8; 8192], vec![0u8; 8192]);
            let (mut out_open, mut err_open) = (true, true);
            while out_open || err_open {
                tokio::select! {
                    n = stdout.read(&mut out_buf), if out_open => match n {
                        Ok(n) if n > 0 => kept.push(&out_buf[..n]),
                        _ => out_open = false,
                    },
                    n = stderr.read(&mut err_buf), if err_open => match n {
                        Ok(n) if n > 0 => kept.push(&err_buf[..n]),
                        _ => err_open = false,
                    },
                }
            }
            let status = match status {
                Some(status) => status.await,
                None => None,
            };
            (kept, status)
        };
        let (kept, status) = match tokio::time::timeout(timeout + Duration::from_secs(5), read).await {
            Ok(done) => done,
            Err(_) => return Err(SandboxError::Timeout { after: timeout, output: String::new() }),
        };
        let exit_code = match status {
            Some(s) if s.status.as_deref() == Some("Success") => 0,
            Some(s) => s
                .details
                .and_then(|d| d.causes)
                .and_then(|causes| causes.into_iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
                .and_then(|c| c.message)
                .and_then(|m| m.parse().ok())
                .unwrap_or(1),
            None => 1,
        };
        // The deadline exits 137 when it killed the command (as the memory limit's kill does,
        // well before the deadline).
        if exit_code == 137 && began.elapsed() >= timeout {
            return Err(SandboxError::Timeout { after: timeout, output: kept.into_string() });
        }
        Ok(ExecOutput { exit_code, output: kept.into_string() })
    }

    async fn logs(
        &self,
        project: &str,
        tail: usize,
    ) -> Result<BoxStream<'static, Result<String, SandboxError>>, SandboxError> {
        let pod = self.find(project).await?.ok_or_else(|| SandboxError::NotFound(project.to_string()))?;
        let name = pod.metadata.name.unwrap_or_default();
        let params = LogParams { follow: true, tail_lines: Some(tail as i64), ..LogParams::default() };
        let lines = self.pods.log_stream(&name, &params).await.map_err(engine)?.lines();
        Ok(lines.map_err(|e| SandboxError::Engine(e.to_string())).boxed())
    }

    async fn stop(&self, project: &str) -> Result<(), SandboxError> {
        // A pod cannot be stopped and started again: stopping is removing (the files stay).
        if self.find(project).await?.is_none() {
            return Err(SandboxError::NotFound(project.to_string()));
        }
        self.remove(project).await
    }

    async fn remove(&self, project: &str) -> Result<(), SandboxError> {
        let Some(pod) = self.find(project).await? else { return Ok(()) };
        let name = pod.metadata.name.unwrap_or_default();
        let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
        match self.pods.delete(&name, &now).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Ok(()),
            Err(e) => Err(engine(e)),
        }
    }

    async fn rename(&self, from: &str, to: &str) -> Result<SandboxInfo, SandboxError> {
        pod_name(to)?;
        if self.find(to).await?.is_some() {
            return Err(SandboxError::Invalid(format!("project {to} already has a sandbox")));
        }
        let pod = self.find(from).await?.ok_or_else(|| SandboxError::NotFound(from.to_string()))?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        // A pod keeps its name; whose it is, is its labels. Warm no more, once a project's.
        let patch = json!({ "metadata": { "labels": { PROJECT_LABEL: to, WARM_LABEL: null } } });
        let pod = self.pods.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(engine)?;
        Ok(self.info(&pod))
    }

    async fn list(&self) -> Result<Vec<SandboxInfo>, SandboxError> {
        let pods =
            self.pods.list(&ListParams::default().labels(&format!("{SANDBOX_LABEL}=1"))).await.map_err(engine)?;
        Ok(pods.items.iter().map(|p| self.info(p)).collect())
    }

    async fn host_address(&self) -> Result<IpAddr, SandboxError> {
        self.config.host_address.ok_or_else(|| {
            SandboxError::Invalid("the hosts' address for sandboxes is not set (BLINK_K8S_HOST_ADDRESS)".into())
        })
    }

    async fn allow_host_ports(&self, ports: &[u16]) -> Result<(), SandboxError> {
        let (fence, opening) = self.policies(ports)?;
        let apply = PatchParams::apply("blink-host").force();
        for policy in std::iter::once(fence).chain(opening) {
            let name = policy.metadata.name.clone().unwrap_or_default();
            self.policies.patch(&name, &apply, &Patch::Apply(&policy)).await.map_err(engine)?;
        }
        Ok(())
    }
}
