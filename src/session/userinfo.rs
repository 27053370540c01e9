//! One call to the site's userinfo endpoint (`SESSION_USERINFO_URL`): the caller's credential
//! goes out exactly as it arrived, and nothing else from the request does.

use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode, header};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::config::UserinfoConfig;
use crate::error::{ApiError, ErrorCode};
use crate::outbound::{FetchError, Outbound, read_capped};

use super::claims::Kept;
use super::credential::Credential;
use super::invalid;

/// The contract's cap on a userinfo answer.
pub const MAX_USERINFO_BYTES: usize = 64 * 1024;

/// The one header line that carries the credential to the userinfo endpoint: the session header
/// with its own name and raw value, or `Cookie: <SESSION_COOKIE>=<value>` and no other cookie.
#[derive(Debug, Clone)]
pub struct Forward {
    name: HeaderName,
    value: HeaderValue,
}

impl Forward {
    pub fn new(credential: &Credential<'_>) -> Result<Self, ApiError> {
        match credential {
            Credential::Header { name, value, .. } => {
                let mut value = (*value).clone();
                // Kept out of any Debug output of the client.
                value.set_sensitive(true);
                Ok(Self {
                    name: (*name).clone(),
                    value,
                })
            }
            Credential::Cookie { name, raw, .. } => {
                let mut value = HeaderValue::from_str(&format!("{name}={raw}")).map_err(|_| {
                    invalid("the session token is malformed")
                        .with_detail("session cookie cannot be forwarded")
                })?;
                value.set_sensitive(true);
                Ok(Self {
                    name: header::COOKIE,
                    value,
                })
            }
        }
    }

    /// The bytes that identify the credential: its header name and value. Hashed, never kept.
    pub fn identity(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.name.as_str().len() + 1 + self.value.len());
        bytes.extend_from_slice(self.name.as_str().as_bytes());
        bytes.push(b':');
        bytes.extend_from_slice(self.value.as_bytes());
        bytes
    }
}

/// Why a userinfo call gave no session. Cloned to every request that shared the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserinfoError {
    /// 401 or 403: the site does not know this credential.
    Refused(u16),
    /// The member at the pointer is `null`: the endpoint says no one is signed in.
    NoUser,
    /// A status, body or transport the contract turns into 502.
    Failed(String),
    /// No answer within `RAI_UPSTREAM_TIMEOUT_MS`.
    Timeout,
}

impl UserinfoError {
    /// A failure of the site's endpoint, not a verdict on the caller (the 502/504 kind).
    pub fn is_fetch_failure(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::Timeout)
    }

    /// The caller's answer; the detail (a status, a reason, never a body) goes to the log.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            Self::Refused(status) => invalid("the session is not valid")
                .with_detail(format!("userinfo answered {status}")),
            Self::NoUser => invalid("the session is not valid")
                .with_detail("userinfo answered no user (null at the pointer)"),
            Self::Failed(why) => {
                ApiError::new(ErrorCode::UpstreamError, "the session could not be checked")
                    .with_detail(format!("userinfo {why}"))
            }
            Self::Timeout => ApiError::new(
                ErrorCode::UpstreamTimeout,
                "the session could not be checked in time",
            )
            .with_detail("userinfo timed out"),
        }
    }
}

/// The userinfo endpoint and what is kept of its answers.
pub struct Userinfo {
    http: reqwest::Client,
    url: Url,
    pointer: Option<String>,
    timeout: Duration,
    keep: Kept,
}

impl Userinfo {
    pub fn new(config: &UserinfoConfig, outbound: &Outbound, keep: Kept) -> Self {
        Self {
            http: outbound.http.clone(),
            url: config.url.clone(),
            pointer: config.pointer.clone(),
            timeout: outbound.timeout,
            keep,
        }
    }

    /// `GET {SESSION_USERINFO_URL}` with the credential, within the upstream timeout.
    pub async fn fetch(&self, forward: &Forward) -> Result<Map<String, Value>, UserinfoError> {
        match tokio::time::timeout(self.timeout, self.exchange(forward)).await {
            Ok(result) => result,
            Err(_) => Err(UserinfoError::Timeout),
        }
    }

    async fn exchange(&self, forward: &Forward) -> Result<Map<String, Value>, UserinfoError> {
        let response = self
            .http
            .get(self.url.clone())
            .header(header::ACCEPT, "application/json")
            .header(forward.name.clone(), forward.value.clone())
            .send()
            .await
            .map_err(fetch_failed)?;
        match response.status() {
            StatusCode::OK => {}
            status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                return Err(UserinfoError::Refused(status.as_u16()));
            }
            // Redirects included: the client follows none, and a login page is no answer.
            status => {
                return Err(UserinfoError::Failed(format!(
                    "answered {}",
                    status.as_u16()
                )));
            }
        }
        let body = read_capped(response, MAX_USERINFO_BYTES)
            .await
            .map_err(fetch_failed)?;
        let document: Value = serde_json::from_slice(&body)
            .map_err(|_| UserinfoError::Failed("answered with a body that is not JSON".into()))?;
        let selected = match &self.pointer {
            Some(pointer) => document.pointer(pointer).ok_or_else(|| {
                UserinfoError::Failed(format!("answer has nothing at the pointer {pointer}"))
            })?,
            None => &document,
        };
        match selected {
            Value::Object(claims) => Ok(self.keep.from(claims)),
            Value::Null if self.pointer.is_some() => Err(UserinfoError::NoUser),
            _ => Err(UserinfoError::Failed(
                "answer's claims are not a JSON object".into(),
            )),
        }
    }
}

fn fetch_failed(e: impl Into<FetchError>) -> UserinfoError {
    match e.into() {
        FetchError::Timeout => UserinfoError::Timeout,
        FetchError::TooLarge => UserinfoError::Failed(format!(
            "answer is larger than {} KiB",
            MAX_USERINFO_BYTES / 1024
        )),
        other => UserinfoError::Failed(other.to_string()),
    }
}
