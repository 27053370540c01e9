//! The two Returning.AI calls, over one HTTP client built at init.

use std::time::{Duration, Instant};

use lambda_http::http::{HeaderValue, StatusCode, header};
use reqwest::Url;
use serde_json::{Map, Value, json};

use crate::config::UpstreamConfig;

/// Token responses are a few hundred bytes; anything past this is not one.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the client every outbound call shares. Redirects are off: a redirect would carry the
/// API key to wherever the `Location` points.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(55))
        .user_agent(concat!("rai-widget-auth/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[derive(Debug)]
pub enum UpstreamError {
    /// No answer before the timeout or the invocation deadline.
    Timeout,
    RateLimited {
        retry_after: Option<HeaderValue>,
    },
    /// 401 or 403: the credentials were refused, maybe rotated.
    Refused(StatusCode),
    /// Any other status that is not a success.
    Status(StatusCode),
    /// A success whose body is not the expected JSON.
    BadBody(&'static str),
    /// Connection, TLS or protocol failure.
    Transport(String),
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out"),
            Self::RateLimited { .. } => f.write_str("answered 429"),
            Self::Refused(s) | Self::Status(s) => write!(f, "answered {}", s.as_u16()),
            Self::BadBody(why) => write!(f, "unusable body: {why}"),
            Self::Transport(why) => write!(f, "transport error: {why}"),
        }
    }
}

pub struct Upstream {
    http: reqwest::Client,
    signin_url: Option<Url>,
    embed_token_url: Url,
    timeout: Duration,
}

impl Upstream {
    pub fn new(http: reqwest::Client, config: &UpstreamConfig) -> Self {
        let signin_url = config
            .community_id
            .as_ref()
            .and_then(|community| join(&config.widget_api_url, &["widget", community, "signin"]));
        let embed_token_url = join(
            &config.api_v2_url,
            &["v2", "api", "widget-access-keys", "token"],
        )
        .unwrap_or_else(|| config.api_v2_url.clone());
        Self {
            http,
            signin_url,
            embed_token_url,
            timeout: config.timeout,
        }
    }

    /// `false` when `RAI_COMMUNITY_ID` is unset, which leaves `/widget-auth` unconfigured.
    pub fn has_community(&self) -> bool {
        self.signin_url.is_some()
    }

    /// Legacy sign-in. Returns `{token}` plus `refreshToken` and `expiresIn` when present.
    pub async fn widget_signin(
        &self,
        api_key: &str,
        email: &HeaderValue,
        deadline: Option<Instant>,
    ) -> Result<Value, UpstreamError> {
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
        let body = self.send(request, deadline).await?;
        let token =
            non_empty_string(body.get("token")).ok_or(UpstreamError::BadBody("no token"))?;
        let mut out = Map::new();
        out.insert("token".into(), token.into());
        if let Some(refresh) = non_empty_string(body.get("refreshToken")) {
            out.insert("refreshToken".into(), refresh.into());
        }
        if let Some(expires_in) = body.get("expiresIn").filter(|v| v.is_number()) {
            out.insert("expiresIn".into(), expires_in.clone());
        }
        Ok(Value::Object(out))
    }

    /// Access Key Embed. Returns `{embedToken, expiresIn}` from the upstream's `data`.
    pub async fn embed_token(
        &self,
        access_id: &str,
        access_key: &str,
        identifiers: &Map<String, Value>,
        deadline: Option<Instant>,
    ) -> Result<Value, UpstreamError> {
        let body = json!({
            "accessId": access_id,
            "accessKey": access_key,
            "userIdentifiers": identifiers,
        });
        let request = self
            .http
            .post(self.embed_token_url.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        let body = self.send(request, deadline).await?;
        let data = body.get("data");
        let token = non_empty_string(data.and_then(|d| d.get("embedToken")))
            .ok_or(UpstreamError::BadBody("no data.embedToken"))?;
        let mut out = Map::new();
        out.insert("embedToken".into(), token.into());
        if let Some(expires_in) = data
            .and_then(|d| d.get("expiresIn"))
            .filter(|v| v.is_number())
        {
            out.insert("expiresIn".into(), expires_in.clone());
        }
        Ok(Value::Object(out))
    }

    /// Sends, and reads a JSON object back, all within the timeout capped by the deadline.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        deadline: Option<Instant>,
    ) -> Result<Map<String, Value>, UpstreamError> {
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
            let response = request.send().await.map_err(transport)?;
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
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(UpstreamError::BadBody("not a JSON object")),
            }
        };
        tokio::time::timeout(budget, exchange)
            .await
            .unwrap_or(Err(UpstreamError::Timeout))
    }
}

/// Reads a body up to `limit` bytes; a longer one is refused rather than buffered.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, UpstreamError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(UpstreamError::BadBody("body too large"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > limit {
            return Err(UpstreamError::BadBody("body too large"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub fn transport(e: reqwest::Error) -> UpstreamError {
    if e.is_timeout() {
        return UpstreamError::Timeout;
    }
    // The error's Display can include the URL, which holds no credential here (they travel in
    // headers and bodies), but the source chain is enough to tell what failed.
    let mut why = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    if why.is_empty() {
        why = "request failed".into();
    }
    UpstreamError::Transport(why)
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

fn non_empty_string(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
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
}
