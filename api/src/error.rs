//! The API's error type and its one code table. Every error a client sees carries a stable
//! `extensions.code` and a message a person can act on; internal causes are logged, never sent.

use actix_web::http::StatusCode;
use async_graphql::ErrorExtensions;

/// Stable error codes (never reuse a retired one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    ConsentRequired,
    AuditUnavailable,
    NotFound,
    Conflict,
    BadUserInput,
    RateLimited,
    PersistedQueryNotFound,
    ServiceUnavailable,
    Internal,
}

impl Code {
    /// Every code, for the documentation test.
    pub const ALL: &'static [Code] = &[
        Code::Unauthenticated,
        Code::Forbidden,
        Code::ConsentRequired,
        Code::AuditUnavailable,
        Code::NotFound,
        Code::Conflict,
        Code::BadUserInput,
        Code::RateLimited,
        Code::PersistedQueryNotFound,
        Code::ServiceUnavailable,
        Code::Internal,
    ];

    /// The `extensions.code` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::ConsentRequired => "CONSENT_REQUIRED",
            Code::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Code::NotFound => "NOT_FOUND",
            Code::Conflict => "CONFLICT",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::RateLimited => "RATE_LIMITED",
            Code::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Code::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }

    /// The HTTP status used outside GraphQL (and for request-level GraphQL failures).
    pub fn http_status(self) -> StatusCode {
        match self {
            Code::Unauthenticated => StatusCode::UNAUTHORIZED,
            Code::Forbidden | Code::ConsentRequired => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict => StatusCode::CONFLICT,
            Code::BadUserInput | Code::PersistedQueryNotFound => StatusCode::BAD_REQUEST,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::ServiceUnavailable | Code::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the code means, for `docs/errors.md`.
    pub fn meaning(self) -> &'static str {
        match self {
            Code::Unauthenticated => "No token, or the token failed a check (the message names which)",
            Code::Forbidden => "The remit policy does not allow this field, filter, mutation or purpose",
            Code::ConsentRequired => "The field crosses agencies and no valid lawful basis covers this child, agency, purpose and field group",
            Code::AuditUnavailable => "The audit store could not record the read, so the sensitive field was withheld",
            Code::NotFound => "No such record in your scope (absent and out-of-scope look the same)",
            Code::Conflict => "A concurrent edit changed the record (stale expectedVersion) or a duplicate exists",
            Code::BadUserInput => "An argument or input field breaks a rule; the message names the field and the rule",
            Code::RateLimited => "Too many requests; retry after the time in Retry-After",
            Code::PersistedQueryNotFound => "A partner sent only a persisted-operation id (extensions.persistedQuery.sha256Hash) that is not on its safelist; APQ clients then resend the text",
            Code::ServiceUnavailable => "A dependency (database) is unavailable; retry later",
            Code::Internal => "An unexpected error; it was logged with the request id",
        }
    }
}

/// An error raised anywhere in the API layer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{reason}")]
    Forbidden {
        reason: String,
        field: Option<String>,
    },
    #[error("{reason}")]
    ConsentRequired {
        reason: String,
        field: Option<String>,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict {
        message: String,
        details: serde_json::Value,
    },
    #[error("{field}: {rule}")]
    BadInput { field: String, rule: String },
    #[error("{0}")]
    RateLimited(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A `BAD_USER_INPUT` error naming the input field and the rule it broke.
    pub fn bad_input(field: impl Into<String>, rule: impl Into<String>) -> Self {
        ApiError::BadInput {
            field: field.into(),
            rule: rule.into(),
        }
    }

    /// A `FORBIDDEN` error with a reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        ApiError::Forbidden {
            reason: reason.into(),
            field: None,
        }
    }

    /// The stable code of this error.
    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::Forbidden { .. } => Code::Forbidden,
            ApiError::ConsentRequired { .. } => Code::ConsentRequired,
            ApiError::NotFound(_) => Code::NotFound,
            ApiError::Conflict { .. } => Code::Conflict,
            ApiError::BadInput { .. } => Code::BadUserInput,
            ApiError::RateLimited(_) => Code::RateLimited,
            ApiError::Unavailable(_) => Code::ServiceUnavailable,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    /// Converts to a GraphQL error with `extensions.code`; internal causes are logged here, once.
    pub fn into_gql(self) -> async_graphql::Error {
        if let ApiError::Internal(e) = &self {
            tracing::error!(error.cause_chain = ?e, "internal error");
        }
        self.extend()
    }
}

impl ErrorExtensions for ApiError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            ApiError::Internal(_) => "internal error; it was logged with the request id".to_owned(),
            other => other.to_string(),
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", self.code().as_str());
            match self {
                ApiError::Forbidden { reason, field }
                | ApiError::ConsentRequired { reason, field } => {
                    e.set("reason", reason.as_str());
                    if let Some(f) = field {
                        e.set("field", f.as_str());
                    }
                }
                ApiError::BadInput { field, rule } => {
                    e.set("field", field.as_str());
                    e.set("rule", rule.as_str());
                }
                ApiError::Conflict { details, .. } => {
                    if let Ok(v) = async_graphql::Value::from_json(details.clone()) {
                        e.set("details", v);
                    }
                }
                _ => {}
            }
        })
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
                message: "a record with the same unique value already exists".into(),
                details: serde_json::Value::Null,
            },
            Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_)) => {
                ApiError::bad_input("input", "refers to a record that does not exist")
            }
            _ => {
                if is_statement_timeout(&e) {
                    // Not an outage: this request's statement ran (or waited on a lock) longer
                    // than CAREHUB_DB_STATEMENT_TIMEOUT_MS and PostgreSQL cancelled it.
                    ApiError::Unavailable(
                        "the database cancelled the request after the statement timeout; retry shortly or ask for less".into(),
                    )
                } else if is_unavailable(&e) {
                    ApiError::Unavailable("the database is unavailable; retry shortly".into())
                } else {
                    ApiError::Internal(anyhow::Error::new(e))
                }
            }
        }
    }
}

/// PostgreSQL cancelled the statement (SQLSTATE 57014) after `statement_timeout`.
fn is_statement_timeout(e: &sea_orm::DbErr) -> bool {
    e.to_string()
        .contains("canceling statement due to statement timeout")
}

/// The sqlx error under a sea-orm error, if any.
fn sqlx_error(e: &sea_orm::DbErr) -> Option<&sea_orm::sqlx::Error> {
    match e {
        sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(s))
        | sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(s))
        | sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(s)) => Some(s.as_ref()),
        _ => None,
    }
}

/// Pool timeouts and connection failures: the database is down or saturated, not a bug.
/// A statement in flight when the server goes away fails with an I/O error or, when
/// PostgreSQL shuts down, SQLSTATE class 57P (operator intervention) or 08 (connection).
fn is_unavailable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    let lost = sqlx_error(e).is_some_and(|s| match s {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    });
    lost || matches!(
        e,
        sea_orm::DbErr::ConnectionAcquire(_) | sea_orm::DbErr::Conn(_)
    ) || {
        let s = e.to_string();
        s.contains("pool timed out")
            || s.contains("Connection refused")
            || s.contains("connection closed")
            || s.contains("statement timeout")
            || s.contains("canceling statement")
    }
}

impl actix_web::ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code().http_status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        if let ApiError::Internal(e) = self {
            tracing::error!(error.cause_chain = ?e, "internal error");
        }
        let message = match self {
            ApiError::Internal(_) => "internal error; it was logged with the request id".to_owned(),
            other => other.to_string(),
        };
        actix_web::HttpResponse::build(self.status_code()).json(serde_json::json!({
            "errors": [{ "message": message, "extensions": { "code": self.code().as_str() } }]
        }))
    }
}

/// Result alias for the API layer.
pub type ApiResult<T> = Result<T, ApiError>;

/// GraphQL result alias.
pub type GqlResult<T> = async_graphql::Result<T>;

/// Converts API results at the GraphQL boundary.
pub trait IntoGql<T> {
    fn gql(self) -> GqlResult<T>;
}

impl<T> IntoGql<T> for ApiResult<T> {
    fn gql(self) -> GqlResult<T> {
        self.map_err(ApiError::into_gql)
    }
}
