//! Outbound HTTP shared by the Returning.AI calls and the session sources: the one client, the
//! transport rules for the URLs it may call, and capped body reads.

use std::time::Duration;

use http::header;
use reqwest::Url;
use serde::de::DeserializeOwned;

use crate::log::Logger;

/// What each caller of the outside world (key sets, userinfo) is built with: the one client, how
/// long one exchange may take (`RAI_UPSTREAM_TIMEOUT_MS`), and the log for its background failures.
#[derive(Clone)]
pub struct Outbound {
    pub http: reqwest::Client,
    pub timeout: Duration,
    pub log: Logger,
}

/// Builds the client every outbound call shares. Redirects are off: a redirect would carry an API
/// key or a user's session to wherever the `Location` points.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(55))
        .user_agent(concat!("rai-widget-auth/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Why an outbound exchange gave nothing usable. The texts are for the log: they hold no URL
/// query, header or body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("timed out")]
    Timeout,
    #[error("body too large")]
    TooLarge,
    #[error("answered {0}")]
    Status(u16),
    #[error("not JSON")]
    NotJson,
    #[error("transport error: {0}")]
    Transport(String),
}

impl From<reqwest::Error> for FetchError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Self::Timeout;
        }
        // The innermost cause says what failed (refused, reset, certificate); the outer texts
        // repeat the URL.
        let mut why = String::new();
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
        while let Some(s) = source {
            why = s.to_string();
            source = s.source();
        }
        if why.is_empty() {
            why = "request failed".into();
        }
        Self::Transport(why)
    }
}

/// Reads a body up to `limit` bytes; a longer one is refused rather than buffered.
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GETs a JSON document (a key set, a discovery document): any status but 200..=299 and any body
/// that is not `T` within `limit` bytes is an error.
pub async fn get_json<T: DeserializeOwned>(
    http: &reqwest::Client,
    url: Url,
    limit: usize,
) -> Result<T, FetchError> {
    let response = http
        .get(url)
        .header(header::ACCEPT, "application/json")
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    let bytes = read_capped(response, limit).await?;
    serde_json::from_slice(&bytes).map_err(|_| FetchError::NotJson)
}

/// Credentials and session keys travel over these URLs, so plain HTTP is only accepted for
/// loopback stand-ins (local runs and tests). Shared by start-up checks and by the `jwks_uri`
/// that OIDC discovery hands back.
pub fn check_transport(url: &Url) -> Result<(), &'static str> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err("must use https (plain http only for loopback addresses)"),
        _ => Err("must be an https URL"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        for ok in [
            "https://id.example.com/jwks",
            "http://127.0.0.1:9000/x",
            "http://127.8.0.1/x",
            "http://[::1]:80/x",
            "http://localhost:3000",
        ] {
            assert_eq!(check_transport(&Url::parse(ok).unwrap()), Ok(()), "{ok}");
        }
        for bad in [
            "http://id.example.com",
            "http://10.0.0.1",
            "http://localhost.evil.example",
            "ftp://id.example.com",
            "file:///etc/passwd",
        ] {
            assert!(check_transport(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
