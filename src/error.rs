//! Per-request errors: the contract's status and code for the caller, the detail for the log.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::response::{self, Response};

/// The stable error codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadRequest,
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
            Self::BadRequest => StatusCode::BAD_REQUEST,
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
            Self::BadRequest => "bad_request",
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

/// The error body of the contract.
#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: &'static str,
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

    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn to_response(&self) -> Response {
        let body = ErrorBody {
            error: self.code.as_str(),
            message: self.message,
        };
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
        if let Some(retry_after) = &self.retry_after {
            headers.insert(header::RETRY_AFTER, retry_after.clone());
        }
        response
    }
}
