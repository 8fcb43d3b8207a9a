//! The one place that knows HTTP status codes: every route's failure becomes the JSON the
//! frontend reads, `{"error": <stable code>, "message": <text>}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::spec::ErrorBody;
use crate::auth::AuthError;
use crate::db::DbError;
use crate::plugins::PluginError;
use crate::runtime::LoadError;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The exact body today's frontend and edge function use for an empty conversation.
    #[error("Messages array required")]
    MessagesRequired,
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(AuthError),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    Unavailable(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("this needs an administrator")]
    Forbidden,
    /// A component that cannot serve the role it was uploaded for.
    #[error("{message}")]
    BadComponent { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Any other failure with its own status and stable code.
    #[error("{message}")]
    Coded { status: StatusCode, code: &'static str, message: String },
    #[error("{0}")]
    Internal(String),
    /// The exact body today's frontend expects when a user has no credits left.
    #[error("Credits exhausted.")]
    NoCredits,
    /// The caller spent this route's calls; `retry_after` seconds give one back.
    #[error("too many {what}: try again in {retry_after} s")]
    RateLimited { what: &'static str, retry_after: u64 },
}

impl From<PluginError> for ApiError {
    fn from(e: PluginError) -> Self {
        let message = e.to_string();
        match e {
            PluginError::Load(LoadError::NotAComponent(_)) => Self::BadComponent { code: "not_a_component", message },
            PluginError::Load(LoadError::WrongContract(_)) => Self::BadComponent { code: "wrong_contract", message },
            PluginError::Load(LoadError::WrongWorld(_)) => Self::BadComponent { code: "wrong_world", message },
            PluginError::TooLarge { limit, .. } => Self::PayloadTooLarge { limit },
            PluginError::UnknownVersion(_) => Self::NotFound("plugin version"),
            PluginError::Active(_) => Self::Conflict { code: "version_active", message },
            PluginError::BadShare(_) => Self::bad_request("invalid_share", message),
            PluginError::NothingToRollBack => Self::Conflict { code: "nothing_to_roll_back", message },
            PluginError::Db(e) => e.into(),
            PluginError::Storage(m) => Self::Internal(m),
            PluginError::InUse { .. } => Self::Conflict { code: "version_in_use", message },
            PluginError::BadPipeline(_) => Self::BadComponent { code: "invalid_pipeline", message },
        }
    }
}

impl From<crate::plugins::settings::SettingsError> for ApiError {
    fn from(e: crate::plugins::settings::SettingsError) -> Self {
        match e {
            crate::plugins::settings::SettingsError::Invalid(m) => Self::bad_request("invalid_settings", m),
            crate::plugins::settings::SettingsError::Db(e) => e.into(),
        }
    }
}

impl From<crate::workspace::WorkspaceError> for ApiError {
    fn from(e: crate::workspace::WorkspaceError) -> Self {
        use crate::workspace::WorkspaceError;
        let message = e.to_string();
        match e {
            WorkspaceError::InvalidPath { .. } => Self::bad_request("invalid_path", message),
            WorkspaceError::TooManyFiles(..) => Self::bad_request("too_many_files", message),
            WorkspaceError::TooLarge(..) => {
                Self::Coded { status: StatusCode::PAYLOAD_TOO_LARGE, code: "payload_too_large", message }
            }
            WorkspaceError::Io(_) => Self::Internal(message),
            WorkspaceError::Turn(_) => turn_unavailable(message),
        }
    }
}

/// The project's turn across hosts could not be taken (the shared database is out of reach).
pub(super) fn turn_unavailable(message: String) -> ApiError {
    ApiError::Coded { status: StatusCode::SERVICE_UNAVAILABLE, code: "project_turn_unavailable", message }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(m) => {
                tracing::error!("database error: {m}");
                Self::Unavailable("The database is unavailable; try again shortly.".into())
            }
        }
    }
}

impl From<crate::projects::ProjectError> for ApiError {
    fn from(e: crate::projects::ProjectError) -> Self {
        use crate::projects::ProjectError;
        let message = e.to_string();
        match e {
            ProjectError::InvalidId(_) => Self::bad_request("invalid_project_id", message),
            ProjectError::NameTooLong => Self::bad_request("invalid_name", message),
            ProjectError::NotFound => Self::NotFound("project"),
            ProjectError::Db(e) => e.into(),
            ProjectError::Turn(_) => turn_unavailable(message),
        }
    }
}

impl ApiError {
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
}

impl ApiError {
    /// The status and the JSON body this error answers with.
    pub(crate) fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let coded = |status, code: &str, message: &str| (status, ErrorBody::new(code, message));
        match self {
            Self::MessagesRequired => (
                StatusCode::BAD_REQUEST,
                ErrorBody { error: "Messages array required".into(), message: None, retry_after_seconds: None },
            ),
            Self::BadRequest { code, message } => coded(StatusCode::BAD_REQUEST, code, message),
            Self::Unauthorized(e) => coded(StatusCode::UNAUTHORIZED, "Unauthorized", &e.to_string()),
            Self::PayloadTooLarge { .. } => {
                coded(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", &self.to_string())
            }
            Self::Unavailable(m) => coded(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            Self::NotFound(_) => coded(StatusCode::NOT_FOUND, "not_found", &self.to_string()),
            Self::BadComponent { code, message } => coded(StatusCode::UNPROCESSABLE_ENTITY, code, message),
            Self::Conflict { code, message } => coded(StatusCode::CONFLICT, code, message),
            Self::Coded { status, code, message } => coded(*status, code, message),
            Self::Internal(m) => {
                tracing::error!("internal error: {m}");
                coded(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error.")
            }
            Self::Forbidden => coded(StatusCode::FORBIDDEN, "forbidden", &self.to_string()),
            Self::NoCredits => coded(StatusCode::PAYMENT_REQUIRED, "no_credits", "Credits exhausted."),
            Self::RateLimited { retry_after, .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                ErrorBody {
                    retry_after_seconds: Some(*retry_after),
                    ..ErrorBody::new("rate_limited", &self.to_string())
                },
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let mut response = (status, Json(body)).into_response();
        if let Self::RateLimited { retry_after, .. } = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        response
    }
}
