//! `POST /api/orchestrator`: a chat in, an SSE stream of the run out (`docs/protocol.md`).

use std::collections::BTreeMap;
use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use blink_agent_sdk::{ChatMessage, ChatRole, ProjectFile, RuntimeTarget};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::Instrument as _;

use super::limits::Spend;
use super::spec::{Always, ErrorBody, Signed};
use super::{ApiError, AppState};
use crate::auth::User;
use crate::config::Limits;
use crate::db::now_ms;
use crate::pipeline::events::{ErrorCode, Event};
use crate::pipeline::store::{self, RunRecord};
use crate::pipeline::{AgentChoice, RunRequest, paths};
use crate::plugins::PluginError;

/// A chat about an app, with the app's files as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Body {
    /// Oldest first; at least one.
    #[serde(default)]
    messages: Option<Vec<MessageIn>>,
    #[serde(default)]
    project_context: Option<String>,
    #[serde(default)]
    file_tree: Option<FileTree>,
    /// The run's project: created on first use; its pipeline (pinned and chained agents) serves
    /// the run. The files the run reads are the request's own.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: Option<String>,
    /// Path → content.
    #[serde(default)]
    files: Option<BTreeMap<String, String>>,
    /// `browser` or `vite`; the host's default when absent.
    #[serde(default)]
    target: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct MessageIn {
    /// `user`, `assistant` or `system`.
    role: String,
    /// A string, or OpenAI-style content parts of which the text parts are kept.
    #[schema(value_type = Object)]
    content: Value,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum FileTree {
    Text(String),
    List(Vec<String>),
}

/// Plans, writes, validates and repairs the app's files, streaming the run as SSE: each `data:`
/// line is an `Event`, ending with a `result`; failures after the stream starts are `error`
/// events, never a status.
#[utoipa::path(post, path = "/api/orchestrator", tag = "runs", security(("bearer" = [])), request_body = Body,
    responses(
        (status = 200, description = "The run's events; `x-blink-run-id` names the run for `/api/runs/{id}`",
            content_type = "text/event-stream", body = crate::pipeline::events::Event,
            headers(("x-blink-run-id" = String))),
        (status = 400, description = "`Messages array required` (no `message`), `invalid_json`, `invalid_body`, \
            `too_many_messages`, `invalid_message`, `too_many_files`, `context_too_large`, `invalid_target`, `invalid_path`, \
            `invalid_project_id`", body = ErrorBody),
        (status = 402, description = "`no_credits`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 413, description = "`payload_too_large`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn orchestrate(
    State(state): State<AppState>,
    user: User,
    request_id: Option<axum::Extension<super::observe::RequestId>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(e) = state.rates.spend(Spend::Run, &user.id) {
        return e.into_response();
    }
    let parsed = body
        .map_err(|e| rejection(e, state.limits.max_body_bytes))
        .and_then(|bytes| parse(&bytes, &state.limits, state.default_target));
    let (request, project_id) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => return e.into_response(),
    };
    let mut choice = AgentChoice::default();
    if let Some(id) = &project_id {
        if let Err(e) = claim_project(&state, &user, id).await {
            return e.into_response();
        }
        choice = match state.plugins.choice_for(id).await {
            Ok(choice) => choice,
            Err(PluginError::Db(e)) => return ApiError::from(e).into_response(),
            Err(e) => {
                tracing::error!(project = %id, "the project's pipeline cannot be loaded: {e}");
                let message = format!("This project's agents cannot be loaded: {e}");
                return ApiError::Unavailable(message).into_response();
            }
        };
    }
    // No credits: say so before the stream, as the frontend expects.
    match state.credits.balance(&user.id).await {
        Ok(balance) if balance <= 0 => return ApiError::NoCredits.into_response(),
        Ok(_) => {}
        Err(e) => return ApiError::from(e).into_response(),
    }
    tracing::info!(
        user = %user.id, messages = request.messages.len(), files = request.files.len(),
        target = request.target.as_str(), project = ?project_id, "orchestration"
    );
    let run_id = uuid::Uuid::new_v4().to_string();
    let request_id = request_id.map(|axum::Extension(id)| id.0.to_string());
    stream(state, request, choice, (user.id, run_id, request_id), project_id).into_response()
}

/// The caller's project: created on first use, someone else's answered like a missing one.
pub(super) async fn claim_project(state: &AppState, user: &User, id: &str) -> Result<(), ApiError> {
    Ok(state.projects.claim(&user.id, id).await?)
}

fn rejection(e: BytesRejection, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request("invalid_body", e.body_text())
    }
}

/// Validates and bounds the body. Returns the run request and the project id, if any.
fn parse(
    bytes: &[u8],
    limits: &Limits,
    default_target: RuntimeTarget,
) -> Result<(RunRequest, Option<String>), ApiError> {
    if bytes.len() > limits.max_body_bytes {
        return Err(ApiError::PayloadTooLarge { limit: limits.max_body_bytes });
    }
    let body: Body = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("invalid_json", format!("The body is not valid JSON: {e}")))?;
    let raw = body.messages.unwrap_or_default();
    if raw.is_empty() {
        return Err(ApiError::MessagesRequired);
    }
    if raw.len() > limits.max_messages {
        return Err(ApiError::bad_request(
            "too_many_messages",
            format!("{} messages sent; at most {} are accepted", raw.len(), limits.max_messages),
        ));
    }
    let mut messages = Vec::with_capacity(raw.len());
    for (i, m) in raw.into_iter().enumerate() {
        let role = match m.role.as_str() {
            "user" => ChatRole::User,
            "assistant" => ChatRole::Assistant,
            "system" => ChatRole::System,
            other => {
                return Err(ApiError::bad_request(
                    "invalid_message",
                    format!("messages[{i}].role {other:?} is not user, assistant or system"),
                ));
            }
        };
        let content = match m.content {
            Value::String(s) => s,
            Value::Array(parts) => {
                parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_message",
                    format!("messages[{i}].content must be a string"),
                ));
            }
        };
        messages.push(ChatMessage { role, content });
    }
    if !messages.iter().any(|m| m.role == ChatRole::User && !m.content.trim().is_empty()) {
        return Err(ApiError::MessagesRequired);
    }

    let files_map = body.files.unwrap_or_default();
    if files_map.len() > limits.max_files {
        return Err(ApiError::bad_request(
            "too_many_files",
            format!("{} files sent; at most {} are accepted", files_map.len(), limits.max_files),
        ));
    }
    let mut files = Vec::with_capacity(files_map.len());
    for (path, content) in files_map {
        files.push(ProjectFile { path: clean_path(&path)?, content });
    }
    let project_context = body.project_context.unwrap_or_default();
    let file_tree_bytes = match &body.file_tree {
        None => 0,
        Some(FileTree::Text(t)) => t.len(),
        Some(FileTree::List(l)) => l.iter().map(|p| p.len() + 1).sum(),
    };
    let context_bytes = project_context.len()
        + file_tree_bytes
        + files.iter().map(|f| f.content.len()).sum::<usize>()
        + messages.iter().map(|m| m.content.len()).sum::<usize>();
    if context_bytes > limits.max_context_bytes {
        return Err(ApiError::bad_request(
            "context_too_large",
            format!(
                "the conversation and project total {context_bytes} bytes; at most {} are accepted",
                limits.max_context_bytes
            ),
        ));
    }
    let file_tree = match body.file_tree {
        None => files.iter().map(|f| f.path.clone()).collect(),
        Some(FileTree::Text(text)) => {
            text.lines().map(str::trim).filter(|l| !l.is_empty()).map(clean_path).collect::<Result<_, _>>()?
        }
        Some(FileTree::List(list)) => list.iter().map(|p| clean_path(p)).collect::<Result<_, _>>()?,
    };
    let target = match body.target.as_deref() {
        None => default_target,
        Some(t) => RuntimeTarget::parse(t).ok_or_else(|| {
            ApiError::bad_request("invalid_target", format!("target {t:?} is neither \"browser\" nor \"vite\""))
        })?,
    };
    Ok((RunRequest { messages, file_tree, project_context, files, target }, body.project_id))
}

/// A project-relative path, or a 400: paths are later written to disk.
fn clean_path(path: &str) -> Result<String, ApiError> {
    paths::project_path(path)
        .ok_or_else(|| ApiError::bad_request("invalid_path", format!("{path:?} is not a valid project file path")))
}

/// What a run record keeps of the request: enough to recognise it, not the whole project.
fn summary(request: &RunRequest, project_id: &Option<String>) -> String {
    let last =
        request.messages.iter().rev().find(|m| m.role == ChatRole::User).map(|m| m.content.as_str()).unwrap_or("");
    let last: String = last.chars().take(500).collect();
    serde_json::json!({
        "projectId": project_id,
        "messages": request.messages.len(),
        "lastMessage": last,
        "files": request.files.len(),
        "fileTree": request.file_tree.len(),
        "projectContextBytes": request.project_context.len(),
        "target": request.target.as_str(),
    })
    .to_string()
}

fn stream(
    state: AppState,
    request: RunRequest,
    choice: AgentChoice,
    (user, run_id, request_id): (String, String, Option<String>),
    project_id: Option<String>,
) -> impl IntoResponse {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Event>();
    let (client_tx, client_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let cancel = state.shutdown.child_token();
    let run_cancel = cancel.clone();
    let request_summary = summary(&request, &project_id);
    let header_run_id = run_id.clone();
    // The run's log lines name it, under the request that started it.
    let run_span = tracing::info_span!("run", run = %run_id);
    // The client gets no event before the run's row exists, and the row gets no event before
    // the client's connection has it: whatever moment the host dies at, a run the client saw
    // is recorded, and its recorded events are a prefix of what the client was sent.
    let (recorded_tx, recorded_rx) = tokio::sync::oneshot::channel::<()>();
    let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0usize);
    tokio::spawn(
        async move {
            use futures::FutureExt;
            let created_at = now_ms();
            let mut record = RunRecord {
                id: run_id.clone(),
                user_id: user.clone(),
                project_id: project_id.clone(),
                request: request_summary,
                agents: "{}".into(),
                outcome: String::new(),
                model_calls: 0,
                prompt_tokens: 0,
                completion_tokens: 0,
                created_at,
                finished_at: 0,
                request_id,
            };
            let (persist_tx, mut persist_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            let run = async {
                let failed = tx.clone();
                let account = Some((user.clone(), run_id.clone()));
                // A bug must still end the stream the way the frontend understands.
                match std::panic::AssertUnwindSafe(state.pipeline.run(request, account, choice, tx, run_cancel))
                    .catch_unwind()
                    .await
                {
                    Ok(report) => Some(report),
                    Err(_) => {
                        tracing::error!(run = %run_id, "the orchestration panicked");
                        for event in
                            Event::failure(ErrorCode::AgentFailed, "Internal error: the run stopped unexpectedly.")
                        {
                            let _ = failed.send(event);
                        }
                        None
                    }
                }
            };
            // Every event is recorded as sent, whether or not the client is still there to read it.
            let forward = async {
                let mut lines = Vec::new();
                let mut changes = None;
                while let Some(event) = rx.recv().await {
                    if let Event::Result { conversational: false, files, deleted_files, .. } = &event {
                        let written: Vec<(String, String)> =
                            files.iter().map(|f| (f.path.clone(), f.content.clone())).collect();
                        changes = Some((written, deleted_files.clone()));
                    }
                    let line = serde_json::to_string(&event).unwrap_or_else(|_| String::from("{}"));
                    let _ = client_tx.send(line.clone());
                    let _ = persist_tx.send(line.clone());
                    lines.push(line);
                }
                drop(persist_tx);
                (lines, changes)
            };
            // Events are appended once the connection has them, in batches of whatever queued during
            // the last write: the stream never waits for the database after its start.
            let persist = async {
                // Written beside the run, not before it (the run picks its agents at once, as it did
                // when runs were written at their end), so a host that dies mid-run leaves a run
                // another host marks interrupted, with the events it had sent.
                let started = match store::start_run(&state.db, &record, &state.instance).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!(run = %run_id, "the run's start could not be recorded: {e}");
                        false
                    }
                };
                let _ = recorded_tx.send(());
                let (mut pending, mut written, mut failing) = (Vec::new(), 0usize, !started);
                let (mut queued, mut connected) = (true, true);
                // Once the run has ended, its last events are recorded when the client has them, or
                // with the run's outcome if it is gone or reads slower than this.
                let mut ended = std::pin::pin!(tokio::time::sleep(std::time::Duration::MAX));
                loop {
                    tokio::select! {
                        line = persist_rx.recv(), if queued => match line {
                            Some(line) => pending.push(line),
                            None => {
                                queued = false;
                                ended.as_mut().reset(tokio::time::Instant::now() + SLOW_READER);
                            }
                        },
                        changed = sent_rx.changed(), if connected => connected = changed.is_ok(),
                        () = &mut ended => break,
                    }
                    while let Ok(line) = persist_rx.try_recv() {
                        pending.push(line);
                    }
                    let ready = (*sent_rx.borrow()).saturating_sub(written).min(pending.len());
                    if ready > 0 && !failing {
                        match store::append_events(&state.db, &run_id, written as i64, &pending[..ready]).await {
                            Ok(()) => {
                                pending.drain(..ready);
                                written += ready;
                            }
                            Err(e) => {
                                tracing::warn!(run = %run_id, "the run's events are recorded at its end: {e}");
                                failing = true;
                            }
                        }
                    }
                    if !queued && (pending.is_empty() || !connected || failing) {
                        break;
                    }
                }
                (written, started)
            };
            let (report, (lines, changes), (persisted, started)) = tokio::join!(run, forward, persist);
            // The project's workspace takes the run's result before the stream ends, so a preview
            // already shows it (Vite reloads what changed) when the client reads `[DONE]`.
            if let (Some(project), Some((written, deleted))) = (&project_id, changes) {
                let turn = state.workspaces.lock(project).await;
                let (workspaces, owned) = (state.workspaces.clone(), project.clone());
                let applied = match &turn {
                    Ok(_) => {
                        tokio::task::spawn_blocking(move || workspaces.apply_changes(&owned, &written, &deleted)).await
                    }
                    Err(e) => Ok(Err(crate::workspace::WorkspaceError::Turn(e.to_string()))),
                };
                match applied {
                    Ok(Ok(applied)) => {
                        tracing::debug!(
                            written = applied.written.len(),
                            deleted = applied.deleted.len(),
                            "run applied"
                        );
                        if let Some(previews) = &state.previews {
                            previews.changed(project, &applied).await;
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(run = %run_id, "the run's files could not be applied to the project: {e}")
                    }
                    Err(e) => tracing::error!(run = %run_id, "applying the run's files panicked: {e}"),
                }
            }
            let (outcome, agents, calls, prompt, completion) = match report {
                Some(r) => (
                    r.outcome.to_json(),
                    serde_json::json!(r.agents),
                    r.model_calls,
                    r.prompt_tokens,
                    r.completion_tokens,
                ),
                None => {
                    (serde_json::json!({ "kind": "failed", "code": "agent_failed" }), serde_json::json!({}), 0, 0, 0)
                }
            };
            crate::telemetry::run(outcome["kind"].as_str().unwrap_or("unknown"));
            record.agents = agents.to_string();
            record.outcome = outcome.to_string();
            record.model_calls = i64::from(calls);
            record.prompt_tokens = i64::try_from(prompt).unwrap_or(i64::MAX);
            record.completion_tokens = i64::try_from(completion).unwrap_or(i64::MAX);
            record.finished_at = now_ms();
            let recorded = async {
                if !started {
                    store::start_run(&state.db, &record, &state.instance).await?;
                }
                store::append_events(&state.db, &run_id, persisted as i64, &lines[persisted..]).await?;
                store::finish_run(&state.db, &record).await
            };
            if let Err(e) = recorded.await {
                tracing::error!(run = %run_id, "the run could not be recorded: {e}");
            }
            // The stream ends once the run is recorded: a client that reads the run after `[DONE]`
            // finds how it ended.
            drop(client_tx);
        }
        .instrument(run_span),
    );
    // Dropping the response body (the client went away) cancels the run: no further model calls.
    let guard = cancel.drop_guard();
    let events = futures::stream::once(async move {
        let _ = recorded_rx.await;
        UnboundedReceiverStream::new(client_rx)
    })
    .flatten()
    .map(move |line| {
        sent_tx.send_modify(|sent| *sent += 1);
        Ok::<_, Infallible>(SseEvent::default().data(line))
    })
    .chain(futures::stream::once(async { Ok(SseEvent::default().data("[DONE]")) }))
    .map(move |item| {
        let _keep = &guard;
        item
    });
    let keepalive = KeepAlive::new().interval(state.keepalive).text("keep-alive");
    ([(RUN_ID_HEADER, header_run_id)], Sse::new(events).keep_alive(keepalive))
}

/// How long a run that has ended waits for its client to take its last events before it is
/// recorded as ended anyway.
const SLOW_READER: std::time::Duration = std::time::Duration::from_secs(10);

/// The response header naming the run, for `GET /api/runs/{id}`.
pub(crate) const RUN_ID_HEADER: &str = "x-blink-run-id";
