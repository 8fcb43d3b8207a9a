//! `/api/deploy`, `/api/projects/{id}/deploys…` and `/api/projects/{id}/domains…`: publishing a
//! project's latest build, its release history, and its custom domains (claimed, then proven).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::limits::Spend;
use super::spec::{Always, ErrorBody, Signed};
use super::{ApiError, AppState, Path};
use crate::auth::User;
use crate::deploy::{Deploy, DeployError, Domain, DomainError};

impl From<DeployError> for ApiError {
    fn from(e: DeployError) -> Self {
        let message = e.to_string();
        let coded = |status, code| ApiError::Coded { status, code, message: message.clone() };
        match e {
            DeployError::NoBuild => coded(StatusCode::CONFLICT, "no_build"),
            DeployError::UnknownDeploy(_) => coded(StatusCode::NOT_FOUND, "unknown_deploy"),
            DeployError::TooLarge(_) => coded(StatusCode::PAYLOAD_TOO_LARGE, "deploy_too_large"),
            DeployError::Storage(_) => coded(StatusCode::BAD_GATEWAY, "storage_failed"),
            DeployError::Busy(_) => coded(StatusCode::TOO_MANY_REQUESTS, "too_many_deploys"),
            DeployError::Domain(DomainError::Invalid(_)) => coded(StatusCode::UNPROCESSABLE_ENTITY, "invalid_domain"),
            DeployError::Domain(DomainError::Taken(_)) => coded(StatusCode::CONFLICT, "domain_taken"),
            DeployError::Domain(DomainError::Unknown(_)) => coded(StatusCode::NOT_FOUND, "unknown_domain"),
            DeployError::Domain(DomainError::Unproven { .. }) => coded(StatusCode::CONFLICT, "domain_not_proven"),
            DeployError::Domain(DomainError::Expired(_)) => coded(StatusCode::GONE, "domain_claim_expired"),
            DeployError::Domain(DomainError::Dns(..)) => coded(StatusCode::BAD_GATEWAY, "dns_failed"),
            DeployError::Domain(DomainError::Cloudflare(_)) => coded(StatusCode::BAD_GATEWAY, "cdn_failed"),
            DeployError::Db(e) => e.into(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeployBody {
    #[schema(pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    project_id: String,
    /// A host name of the user's to claim for the site; proven by a DNS record before it serves.
    #[serde(default)]
    custom_domain: Option<String>,
}

/// A release made live.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployed {
    /// Where the site is reachable now: the custom domain once proven, else the default name.
    url: String,
    ssl: bool,
    deploy_id: String,
    files: i64,
    bytes: i64,
    /// Files whose bytes this release stored; the rest were unchanged.
    uploaded: Option<usize>,
    default_url: String,
    /// The custom domain asked for, with what proves it while pending.
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<Domain>,
}

/// The port the caller reached us on, for a URL it can open on this machine.
pub(super) fn port(headers: &HeaderMap) -> Option<u16> {
    super::request_hosts(headers).next()?.rsplit_once(':')?.1.parse().ok()
}

pub(super) fn url(host: &str, ssl: bool, port: Option<u16>) -> String {
    match (ssl, port) {
        (true, _) => format!("https://{host}"),
        (false, Some(port)) => format!("http://{host}:{port}"),
        (false, None) => format!("http://{host}"),
    }
}

/// Publishes the project's latest build as a new live release.
#[utoipa::path(post, path = "/api/deploy", tag = "deploys", security(("bearer" = [])), request_body = DeployBody,
    responses(
        (status = 200, body = Deployed),
        (status = 400, description = "`invalid_json`, `invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`: someone else's project", body = ErrorBody),
        (status = 409, description = "`no_build`, `domain_taken`", body = ErrorBody),
        (status = 413, description = "`deploy_too_large`", body = ErrorBody),
        (status = 422, description = "`invalid_domain`", body = ErrorBody),
        (status = 502, description = "`storage_failed`, `dns_failed`, `cdn_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn deploy(
    State(state): State<AppState>,
    user: User,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    state.rates.spend(Spend::Deploy, &user.id)?;
    let body: DeployBody = super::parse_json(&body, r#"{"projectId": "…", "customDomain"?: "…"}"#)?;
    let project = body.project_id;
    super::orchestrator::claim_project(&state, &user, &project).await?;
    let domain = match body.custom_domain.as_deref().filter(|d| !d.trim().is_empty()) {
        Some(raw) => Some(state.deployer.normalize_domain(raw).map_err(DeployError::from)?),
        None => None,
    };
    let started = std::time::Instant::now();
    let deployed = super::detached({
        let (state, user, project) = (state.clone(), user.id.clone(), project.clone());
        async move {
            // Counted from here, waiting for the project's turn included.
            let _in_flight = state.deployer.start_deploy(&user)?;
            let _turn = state.workspaces.lock(&project).await?;
            // Before any name is claimed or created: a deploy without a build changes nothing.
            if !state.deployer.has_build(&project) {
                return Err(DeployError::NoBuild.into());
            }
            // Names first: a domain someone else proved, or a CDN that refuses, leaves the site as
            // it was. An unproven domain is a pending claim; the project's own name is deployed
            // anyway.
            state.deployer.ensure_site_dns(&project).await?;
            let attached = match &domain {
                Some(hostname) => Some(state.deployer.claim_domain(&user, &project, hostname).await?),
                None => None,
            };
            Ok((state.deployer.deploy(&project).await?, attached))
        }
    })
    .await;
    crate::telemetry::operation("deploy", &deployed, started.elapsed());
    let (deploy, attached) = deployed?;
    let https = state.deployer.https();
    let default_url = url(&state.deployer.host_name(&project), https, port(&headers));
    let mut answer = Deployed {
        url: default_url.clone(),
        ssl: https,
        deploy_id: deploy.id,
        files: deploy.files,
        bytes: deploy.bytes,
        uploaded: deploy.uploaded,
        default_url,
        domain: None,
    };
    if let Some(domain) = attached {
        // Without a certificate the custom domain is only reachable over plain HTTP; before its
        // proof, not at all.
        if domain.verification.is_none() {
            answer.url = url(&domain.hostname, domain.ssl, if domain.ssl { None } else { port(&headers) });
            answer.ssl = domain.ssl;
        }
        answer.domain = Some(domain);
    }
    Ok(Json(answer).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Deploys {
    /// Newest first.
    deploys: Vec<Deploy>,
}

#[utoipa::path(get, path = "/api/projects/{id}/deploys", tag = "deploys", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, body = Deploys),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    Ok(Json(Deploys { deploys: state.deployer.list(&id).await? }).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Restored {
    /// The release now live.
    live: String,
}

/// Makes an earlier release live again.
#[utoipa::path(post, path = "/api/projects/{id}/deploys/{deploy}/restore", tag = "deploys", security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id"), ("deploy" = String, Path)),
    responses(
        (status = 200, body = Restored),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`, `unknown_deploy`", body = ErrorBody),
        (status = 502, description = "`storage_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn restore(
    State(state): State<AppState>,
    user: User,
    Path((id, deploy)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    let _turn = state.workspaces.lock(&id).await?;
    state.deployer.restore(&id, &deploy).await?;
    Ok(Json(Restored { live: deploy }).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Domains {
    domains: Vec<Domain>,
}

#[utoipa::path(get, path = "/api/projects/{id}/domains", tag = "deploys", security(("bearer" = [])), params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id")),
    responses(
        (status = 200, body = Domains),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn domains(
    State(state): State<AppState>,
    user: User,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    Ok(Json(Domains { domains: state.deployer.domains(&id).await? }).into_response())
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DomainAnswer {
    domain: Domain,
}

/// Looks the domain's ownership proof up again; once found, the domain is the project's.
#[utoipa::path(post, path = "/api/projects/{id}/domains/{hostname}/verify", tag = "deploys", security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id"), ("hostname" = String, Path)),
    responses(
        (status = 200, body = DomainAnswer),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`, `unknown_domain`", body = ErrorBody),
        (status = 409, description = "`domain_not_proven`, `domain_taken`", body = ErrorBody),
        (status = 410, description = "`domain_claim_expired`", body = ErrorBody),
        (status = 422, description = "`invalid_domain`", body = ErrorBody),
        (status = 502, description = "`dns_failed`, `cdn_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn verify_domain(
    State(state): State<AppState>,
    user: User,
    Path((id, hostname)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    let _turn = state.workspaces.lock(&id).await?;
    Ok(Json(DomainAnswer { domain: state.deployer.verify_domain(&user.id, &id, &hostname).await? }).into_response())
}

#[utoipa::path(delete, path = "/api/projects/{id}/domains/{hostname}", tag = "deploys", security(("bearer" = [])),
    params(("id" = String, Path, pattern = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description = "The project's id"), ("hostname" = String, Path)),
    responses(
        (status = 204, description = "Detached: the name no longer serves the site"),
        (status = 400, description = "`invalid_project_id`", body = ErrorBody),
        (status = 404, description = "`not_found`, `unknown_domain`", body = ErrorBody),
        (status = 422, description = "`invalid_domain`", body = ErrorBody),
        (status = 502, description = "`cdn_failed`", body = ErrorBody),
        Signed, Always,
    ))]
pub(crate) async fn detach_domain(
    State(state): State<AppState>,
    user: User,
    Path((id, hostname)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    super::projects::owned(&state, &user, &id).await?;
    let _turn = state.workspaces.lock(&id).await?;
    state.deployer.detach_domain(&id, &hostname).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
