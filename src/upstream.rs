//! The two Returning.AI calls, over the one HTTP client built at init.

use std::time::{Duration, Instant};

use http::{HeaderValue, StatusCode, header};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, UpstreamConfig};
use crate::error::{ApiError, ErrorCode};
use crate::outbound::{FetchError, read_capped};

/// Token responses are a few hundred bytes; anything past this is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No answer before the timeout or the invocation deadline.
    #[error("timed out")]
    Timeout,
    #[error("answered 429")]
    RateLimited { retry_after: Option<HeaderValue> },
    /// 401 or 403: the credentials were refused, maybe rotated.
    #[error("answered {}", .0.as_u16())]
    Refused(StatusCode),
    /// Any other status that is not a success.
    #[error("answered {}", .0.as_u16())]
    Status(StatusCode),
    /// A success whose body is not the expected JSON.
    #[error("unusable body: {0}")]
    BadBody(&'static str),
    /// Connection, TLS or protocol failure.
    #[error("transport error: {0}")]
    Transport(String),
}

impl From<FetchError> for UpstreamError {
    fn from(e: FetchError) -> Self {
        match e {
            FetchError::Timeout => Self::Timeout,
            FetchError::TooLarge => Self::BadBody("body too large"),
            FetchError::NotJson => Self::BadBody("not a JSON object"),
            FetchError::Status(status) => {
                Self::Status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY))
            }
            FetchError::Transport(why) => Self::Transport(why),
        }
    }
}

impl From<UpstreamError> for ApiError {
    fn from(e: UpstreamError) -> Self {
        let detail = format!("Returning.AI {e}");
        match e {
            UpstreamError::Timeout => ApiError::new(
                ErrorCode::UpstreamTimeout,
                "Returning.AI did not answer in time",
            ),
            UpstreamError::RateLimited { retry_after } => ApiError {
                retry_after,
                ..ApiError::new(
                    ErrorCode::UpstreamRateLimited,
                    "Returning.AI is rate limiting; retry later",
                )
            },
            UpstreamError::Refused(_)
            | UpstreamError::Status(_)
            | UpstreamError::BadBody(_)
            | UpstreamError::Transport(_) => ApiError::new(
                ErrorCode::UpstreamError,
                "Returning.AI did not return a token",
            ),
        }
        .with_detail(detail)
    }
}

/// The legacy sign-in API's reply. Unknown members are not passed on.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignInReply {
    success: Option<bool>,
    token: Option<String>,
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_none")]
    expires_in: Option<serde_json::Number>,
}

/// The access-key API's reply: the token sits in `data`.
#[derive(Deserialize)]
struct EmbedReply {
    success: Option<bool>,
    data: Option<EmbedData>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmbedData {
    embed_token: Option<String>,
    #[serde(default, deserialize_with = "number_or_none")]
    expires_in: Option<serde_json::Number>,
}

/// What the access-key API is sent.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmbedRequest<'a> {
    access_id: &'a str,
    access_key: &'a str,
    user_identifiers: &'a Identifiers,
}

/// `userIdentifiers`: each configured `data-*` key with its value from the session.
pub type Identifiers = serde_json::Map<String, serde_json::Value>;

/// The 200 body of `/widget-auth`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInBody {
    pub token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<serde_json::Number>,
}

/// The 200 body of `/embed-token`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbedBody {
    pub embed_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<serde_json::Number>,
}

/// `expiresIn` is optional upstream: anything but a number counts as absent.
fn number_or_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Number>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => Ok(Some(n)),
        _ => Ok(None),
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|s| !s.is_empty())
}

pub struct Upstream {
    http: reqwest::Client,
    /// `None` when `RAI_COMMUNITY_ID` is unset, which leaves `/widget-auth` unconfigured.
    signin_url: Option<Url>,
    embed_token_url: Url,
    timeout: Duration,
}

impl Upstream {
    pub fn new(http: reqwest::Client, config: &UpstreamConfig) -> Result<Self, ConfigError> {
        let signin_url = config
            .community_id
            .as_ref()
            .map(|community| {
                join(&config.widget_api_url, &["widget", community, "signin"])
                    .ok_or_else(|| ConfigError::new("RAI_WIDGET_API_URL", "cannot take a path"))
            })
            .transpose()?;
        let embed_token_url = join(
            &config.api_v2_url,
            &["v2", "api", "widget-access-keys", "token"],
        )
        .ok_or_else(|| ConfigError::new("RAI_API_V2_URL", "cannot take a path"))?;
        Ok(Self {
            http,
            signin_url,
            embed_token_url,
            timeout: config.timeout,
        })
    }

    pub fn has_community(&self) -> bool {
        self.signin_url.is_some()
    }

    /// Legacy sign-in. Returns `{token}` plus `refreshToken` and `expiresIn` when present.
    pub async fn widget_signin(
        &self,
        api_key: &str,
        email: &HeaderValue,
        deadline: Option<Instant>,
    ) -> Result<SignInBody, UpstreamError> {
        let url = self
            .signin_url
            .clone()
            .ok_or(UpstreamError::BadBody("no community id"))?;
        let api_key = HeaderValue::from_str(api_key).map_err(|_| {
            UpstreamError::Transport("the API key is not a valid header value".into())
        })?;
        let request = self
            .http
            .post(url)
            .header("returningai-api-key", api_key)
            .header("email", email.clone())
            .header(header::CONTENT_TYPE, "application/json");
        let reply: SignInReply = self.send(request, deadline).await?;
        if reply.success == Some(false) {
            return Err(UpstreamError::BadBody("success: false"));
        }
        Ok(SignInBody {
            token: non_empty(reply.token).ok_or(UpstreamError::BadBody("no token"))?,
            refresh_token: non_empty(reply.refresh_token),
            expires_in: reply.expires_in,
        })
    }

    /// Access Key Embed. Returns `{embedToken, expiresIn}` from the upstream's `data`.
    pub async fn embed_token(
        &self,
        access_id: &str,
        access_key: &str,
        identifiers: &Identifiers,
        deadline: Option<Instant>,
    ) -> Result<EmbedBody, UpstreamError> {
        let body = EmbedRequest {
            access_id,
            access_key,
            user_identifiers: identifiers,
        };
        let request = self
            .http
            .post(self.embed_token_url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(&body).map_err(|_| UpstreamError::BadBody("request"))?);
        let reply: EmbedReply = self.send(request, deadline).await?;
        if reply.success == Some(false) {
            return Err(UpstreamError::BadBody("success: false"));
        }
        let data = reply.data.ok_or(UpstreamError::BadBody("no data"))?;
        Ok(EmbedBody {
            embed_token: non_empty(data.embed_token)
                .ok_or(UpstreamError::BadBody("no data.embedToken"))?,
            expires_in: data.expires_in,
        })
    }

    /// Sends, and reads a JSON object back, all within the timeout capped by the deadline.
    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
        deadline: Option<Instant>,
    ) -> Result<T, UpstreamError> {
        let budget = match deadline {
            Some(deadline) => self
                .timeout
                .min(deadline.saturating_duration_since(Instant::now())),
            None => self.timeout,
        };
        if budget.is_zero() {
            return Err(UpstreamError::Timeout);
        }
        let exchange = async {
            let response = request.send().await.map_err(FetchError::from)?;
            let status = response.status();
            match status.as_u16() {
                200..=299 => {}
                429 => {
                    return Err(UpstreamError::RateLimited {
                        retry_after: response
                            .headers()
                            .get(header::RETRY_AFTER)
                            .filter(|v| is_retry_after(v))
                            .cloned(),
                    });
                }
                401 | 403 => return Err(UpstreamError::Refused(status)),
                _ => return Err(UpstreamError::Status(status)),
            }
            let bytes = read_capped(response, MAX_BODY_BYTES).await?;
            serde_json::from_slice(&bytes)
                .map_err(|_| UpstreamError::BadBody("not the expected JSON object"))
        };
        tokio::time::timeout(budget, exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout))
    }
}

/// Delta-seconds or an HTTP-date; anything else is not passed on.
fn is_retry_after(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else {
        return false;
    };
    let seconds = !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit());
    let date = text.len() <= 40
        && text.ends_with(" GMT")
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b',' || b == b':');
    seconds || date
}

/// Appends path segments to a base URL, keeping any path the base already has.
fn join(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(segments);
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path() {
        let base = Url::parse("https://api.example.com/proxy/").unwrap();
        assert_eq!(
            join(&base, &["widget", "c1", "signin"]).unwrap().as_str(),
            "https://api.example.com/proxy/widget/c1/signin"
        );
        let bare = Url::parse("https://api.example.com").unwrap();
        assert_eq!(
            join(&bare, &["v2", "api"]).unwrap().as_str(),
            "https://api.example.com/v2/api"
        );
    }

    #[test]
    fn retry_after_is_filtered() {
        for ok in ["30", "0", "Wed, 21 Oct 2026 07:28:00 GMT"] {
            assert!(is_retry_after(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["", "-1", "soon", "30; rm -rf", "12345678901"] {
            assert!(!is_retry_after(&HeaderValue::from_static(bad)), "{bad}");
        }
    }

    #[test]
    fn replies_are_read_by_their_types() {
        let reply: SignInReply =
            serde_json::from_str(r#"{"token":"t","expiresIn":"soon","other":1}"#).unwrap();
        assert_eq!(reply.token.as_deref(), Some("t"));
        assert!(
            reply.expires_in.is_none(),
            "a non-number expiresIn is dropped"
        );
        assert!(serde_json::from_str::<SignInReply>(r#"{"token":42}"#).is_err());
        let body = SignInBody {
            token: "t".into(),
            refresh_token: None,
            expires_in: Some(300.into()),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"token":"t","expiresIn":300}"#
        );
    }
}
