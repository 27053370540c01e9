//! Per-request errors: the contract's status and code for the caller, the detail for the log.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

use crate::response;

/// The stable error codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    MissingSession,
    InvalidSession,
    EmailNotVerified,
    OriginNotAllowed,
    NotFound,
    MethodNotAllowed,
    UpstreamRateLimited,
    UpstreamError,
    NotConfigured,
    SecretUnavailable,
    UpstreamTimeout,
}

impl ErrorCode {
    pub fn status(self) -> StatusCode {
        match self {
            Self::MissingSession | Self::InvalidSession => StatusCode::UNAUTHORIZED,
            Self::EmailNotVerified | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UpstreamRateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamError => StatusCode::BAD_GATEWAY,
            Self::NotConfigured | Self::SecretUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingSession => "missing_session",
            Self::InvalidSession => "invalid_session",
            Self::EmailNotVerified => "email_not_verified",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UpstreamRateLimited => "upstream_rate_limited",
            Self::UpstreamError => "upstream_error",
            Self::NotConfigured => "not_configured",
            Self::SecretUnavailable => "secret_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
        }
    }
}

/// An error on its way to becoming a response. `message` is a fixed text, so nothing a caller,
/// a token or an upstream sent can reach the response through it; `detail` goes only to the log.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: &'static str,
    pub detail: Option<String>,
    /// The upstream's `Retry-After`, passed on with 429.
    pub retry_after: Option<HeaderValue>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: &'static str) -> Self {
        Self {
            code,
            message,
            detail: None,
            retry_after: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({ "error": self.code.as_str(), "message": self.message });
        let mut response = response::json(self.code.status(), &body);
        let headers = response.headers_mut();
        match self.code {
            ErrorCode::MissingSession => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ErrorCode::InvalidSession => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ErrorCode::MethodNotAllowed => {
                headers.insert(
                    header::ALLOW,
                    HeaderValue::from_static(response::ALLOWED_METHODS),
                );
            }
            _ => {}
        }
        if let Some(retry_after) = self.retry_after {
            headers.insert(header::RETRY_AFTER, retry_after);
        }
        response
    }
}

impl From<crate::secret::SecretUnavailable> for ApiError {
    fn from(e: crate::secret::SecretUnavailable) -> Self {
        ApiError::new(
            ErrorCode::SecretUnavailable,
            "the service's credentials cannot be read right now",
        )
        .with_detail(e.0)
    }
}

impl From<crate::upstream::UpstreamError> for ApiError {
    fn from(e: crate::upstream::UpstreamError) -> Self {
        use crate::upstream::UpstreamError as U;
        let detail = format!("Returning.AI {e}");
        match e {
            U::Timeout => ApiError::new(
                ErrorCode::UpstreamTimeout,
                "Returning.AI did not answer in time",
            ),
            U::RateLimited { retry_after } => ApiError {
                retry_after,
                ..ApiError::new(
                    ErrorCode::UpstreamRateLimited,
                    "Returning.AI is rate limiting; retry later",
                )
            },
            U::Refused(_) | U::Status(_) | U::BadBody(_) | U::Transport(_) => ApiError::new(
                ErrorCode::UpstreamError,
                "Returning.AI did not return a token",
            ),
        }
        .with_detail(detail)
    }
}
