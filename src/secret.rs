//! The Returning.AI credentials and the optional session key, read from Secrets Manager and cached.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};
use http::HeaderValue;
use serde::Deserialize;

use crate::error::{ApiError, ErrorCode};
use crate::lock::lock;
use crate::log::{Background, Logger};
use crate::refresh::Refresh;

/// After a failed read, wait this long (or the TTL, when shorter) before trying again, so a
/// Secrets Manager outage costs one call per interval instead of one per request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// What the secret holds. Any field may be absent; a route whose fields are absent is not
/// configured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub api_key: Option<String>,
    pub access_id: Option<String>,
    pub access_key: Option<String>,
    pub session_secret: Option<String>,
}

/// Shows which fields are present, never their values.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Credentials")
            .field("api_key", &shown(&self.api_key))
            .field("access_id", &shown(&self.access_id))
            .field("access_key", &shown(&self.access_key))
            .field("session_secret", &shown(&self.session_secret))
            .finish()
    }
}

impl Credentials {
    /// A JSON object with any of `apiKey`, `accessId`, `accessKey`, `sessionSecret`, or a plain
    /// string, which is the API key. The error never quotes the value.
    pub fn parse(secret: &str) -> Result<Self, &'static str> {
        let trimmed = secret.trim();
        let credentials = if trimmed.starts_with('{') {
            let fields: SecretFields = serde_json::from_str(trimmed).map_err(|e| {
                if e.is_data() {
                    "a field of the secret is not a string"
                } else {
                    "the secret starts with '{' but is not a JSON object"
                }
            })?;
            let field =
                |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
            Self {
                api_key: field(fields.api_key),
                access_id: field(fields.access_id),
                access_key: field(fields.access_key),
                session_secret: field(fields.session_secret),
            }
        } else {
            Self {
                api_key: Some(trimmed.to_owned()).filter(|k| !k.is_empty()),
                ..Self::default()
            }
        };
        credentials.check().map_err(|bad| bad.problem)?;
        Ok(credentials)
    }

    /// Values that could never work: refused when read, not when first used.
    pub fn check(&self) -> Result<(), BadCredential> {
        if self
            .session_secret
            .as_ref()
            .is_some_and(|s| s.len() < MIN_SESSION_SECRET_BYTES)
        {
            return Err(BadCredential {
                variable: "SESSION_SECRET",
                problem: "the session secret is shorter than 32 bytes",
            });
        }
        // The API key travels in a header; anything a header cannot carry is a broken secret.
        if self
            .api_key
            .as_ref()
            .is_some_and(|k| !k.is_ascii() || HeaderValue::from_str(k).is_err())
        {
            return Err(BadCredential {
                variable: "RAI_API_KEY",
                problem: "the API key has characters an HTTP header cannot carry",
            });
        }
        Ok(())
    }
}

/// The secret's JSON shape; other members are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SecretFields {
    api_key: Option<String>,
    access_id: Option<String>,
    access_key: Option<String>,
    session_secret: Option<String>,
}

/// A credential that cannot work: the local variable that holds it (the secret's field of the
/// same meaning otherwise) and what is wrong, never the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadCredential {
    pub variable: &'static str,
    pub problem: &'static str,
}

/// A refusal reads the secret again at most this often: a key revoked and never replaced costs
/// one Secrets Manager call per interval, and concurrent refusals share one read.
const RELOAD_COOLDOWN: Duration = Duration::from_secs(2);

/// HS256 keys shorter than the hash are brute-forceable from any token (RFC 7518 3.2).
pub const MIN_SESSION_SECRET_BYTES: usize = 32;

/// Why no credentials could be had. The text is for the log and holds no secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretUnavailable(pub String);

impl From<SecretUnavailable> for ApiError {
    fn from(e: SecretUnavailable) -> Self {
        ApiError::new(
            ErrorCode::SecretUnavailable,
            "the service's credentials cannot be read right now",
        )
        .with_detail(e.0)
    }
}

enum Source {
    SecretsManager { client: Client, secret_id: String },
    Fixed,
}

struct State {
    current: Option<Arc<Credentials>>,
    /// `None`: never read again (fixed credentials).
    next_read: Option<Instant>,
    /// When a refusal last forced a read.
    last_reload: Option<Instant>,
}

pub struct SecretStore {
    source: Source,
    ttl: Duration,
    state: Mutex<State>,
    /// Held while reading, so concurrent requests that find nothing cached make one call.
    reading: tokio::sync::Mutex<()>,
    /// Set while a background read refreshes a stale value, so there is one at a time.
    refresh: Refresh,
    log: Logger,
}

/// What the cache holds for a caller right now.
enum Cached {
    Current(Arc<Credentials>),
    /// Past its TTL: given out at once while one background read refreshes it.
    Stale(Arc<Credentials>),
    /// Nothing to give, and a read is due: the caller waits for it.
    ReadDue,
}

impl SecretStore {
    /// A store over Secrets Manager with the SDK's configuration (region, credentials, the
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER` override). A read gives up after 2 s per attempt and
    /// 5 s in all, so a hanging endpoint cannot hold a request for the SDK's defaults.
    pub fn from_sdk(aws: &SdkConfig, secret_id: String, ttl: Duration, log: Logger) -> Self {
        let config = aws_sdk_secretsmanager::config::Builder::from(aws)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(2))
                    .operation_timeout(Duration::from_secs(5))
                    .build(),
            )
            .build();
        Self::secrets_manager(Client::from_conf(config), secret_id, ttl, log)
    }

    pub fn secrets_manager(client: Client, secret_id: String, ttl: Duration, log: Logger) -> Self {
        Self {
            source: Source::SecretsManager { client, secret_id },
            ttl,
            state: Mutex::new(State {
                current: None,
                next_read: Some(Instant::now()),
                last_reload: None,
            }),
            reading: tokio::sync::Mutex::new(()),
            refresh: Refresh::default(),
            log,
        }
    }

    /// Local development: the values from the environment, never re-read.
    pub fn fixed(credentials: Credentials, log: Logger) -> Self {
        Self {
            source: Source::Fixed,
            ttl: Duration::ZERO,
            state: Mutex::new(State {
                current: Some(Arc::new(credentials)),
                next_read: None,
                last_reload: None,
            }),
            reading: tokio::sync::Mutex::new(()),
            refresh: Refresh::default(),
            log,
        }
    }

    /// The cached credentials. Past the TTL they are still given out at once while one
    /// background read refreshes them, so no caller waits on Secrets Manager while a value is
    /// cached; when that read fails the last good value stays (stale beats an outage). Only a
    /// caller with nothing cached waits for a read, and with none possible this is an error.
    pub async fn get(self: &Arc<Self>) -> Result<Arc<Credentials>, SecretUnavailable> {
        match self.cached()? {
            Cached::Current(credentials) => return Ok(credentials),
            Cached::Stale(credentials) => {
                self.refresh_in_background();
                return Ok(credentials);
            }
            Cached::ReadDue => {}
        }
        let _reading = self.reading.lock().await;
        // Another request may have read it while this one waited.
        match self.cached()? {
            Cached::Current(credentials) | Cached::Stale(credentials) => Ok(credentials),
            Cached::ReadDue => self.read().await,
        }
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let store = Arc::clone(self);
        self.refresh.start(async move {
            let _reading = store.reading.lock().await;
            if matches!(store.cached(), Ok(Cached::Stale(_))) {
                // A failure is logged inside and keeps the stale value.
                let _ = store.read().await;
            }
        });
    }

    /// Called when the upstream refused `seen` (401/403): the secret may have been rotated. Reads
    /// it once more, whatever the TTL says, and returns what is current now.
    pub async fn reload(&self, seen: &Arc<Credentials>) -> Option<Arc<Credentials>> {
        if matches!(self.source, Source::Fixed) {
            return None;
        }
        let _reading = self.reading.lock().await;
        {
            let mut state = lock(&self.state);
            let recent = state
                .last_reload
                .is_some_and(|at| at.elapsed() < RELOAD_COOLDOWN);
            if let Some(current) = &state.current
                && (recent || !Arc::ptr_eq(current, seen))
            {
                // Read moments ago, or by another request while this one waited.
                return Some(current.clone());
            }
            state.last_reload = Some(Instant::now());
        }
        self.read().await.ok()
    }

    /// `Err` when there is nothing to give and no read is due (an earlier one failed).
    fn cached(&self) -> Result<Cached, SecretUnavailable> {
        let state = lock(&self.state);
        let due = state.next_read.is_some_and(|at| Instant::now() >= at);
        match (&state.current, due) {
            (Some(current), false) => Ok(Cached::Current(current.clone())),
            (Some(current), true) => Ok(Cached::Stale(current.clone())),
            (None, false) => Err(SecretUnavailable(
                "an earlier read failed; waiting before the next try".into(),
            )),
            (None, true) => Ok(Cached::ReadDue),
        }
    }

    async fn read(&self) -> Result<Arc<Credentials>, SecretUnavailable> {
        let Source::SecretsManager { client, secret_id } = &self.source else {
            return lock(&self.state)
                .current
                .clone()
                .ok_or_else(|| SecretUnavailable("no credentials".into()));
        };
        // Boxed: the SDK's future is kilobytes, and an inline one would make every request's
        // future that large, though a read happens once per TTL.
        let result = Box::pin(fetch(client, secret_id)).await;
        let mut state = lock(&self.state);
        match result {
            Ok(fresh) => {
                let fresh = match &state.current {
                    // Keep the old Arc when nothing changed, so `reload` callers can tell.
                    Some(current) if **current == fresh => current.clone(),
                    _ => Arc::new(fresh),
                };
                state.current = Some(fresh.clone());
                state.next_read = Some(Instant::now() + self.ttl);
                Ok(fresh)
            }
            Err(why) => {
                state.next_read = Some(Instant::now() + RETRY_AFTER_FAILURE.min(self.ttl));
                let stale = state.current.clone();
                drop(state);
                let kept = if stale.is_some() {
                    "; keeping the last value"
                } else {
                    ""
                };
                self.log
                    .failure(Background::SecretRead, &format!("{}{kept}", why.0));
                stale.ok_or(why)
            }
        }
    }
}

async fn fetch(client: &Client, secret_id: &str) -> Result<Credentials, SecretUnavailable> {
    let output = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretUnavailable(format!("GetSecretValue failed: {}", describe(&e))))?;
    let text = output.secret_string().ok_or_else(|| {
        SecretUnavailable(
            "the secret has no SecretString (binary secrets are not supported)".into(),
        )
    })?;
    Credentials::parse(text).map_err(|why| SecretUnavailable(why.into()))
}

/// A short account of an SDK failure: the service's error code and message, or the kind of
/// transport failure. The full error would dump raw response headers and body into the log.
fn describe<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> String {
    match e {
        SdkError::ServiceError(service) => {
            let err = service.err();
            format!(
                "{} ({})",
                err.code().unwrap_or("unknown error"),
                err.message().unwrap_or("no message")
            )
        }
        SdkError::TimeoutError(_) => "timed out".into(),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => "timed out connecting".into(),
        SdkError::DispatchFailure(failure) if failure.is_io() => {
            "could not reach Secrets Manager".into()
        }
        // No region, no credentials, an endpoint that is no URL: nothing was sent.
        SdkError::DispatchFailure(_) => {
            "could not send the request (region, endpoint or credentials configuration)".into()
        }
        SdkError::ConstructionFailure(_) => {
            "could not build the request (region or endpoint configuration)".into()
        }
        SdkError::ResponseError(_) => "unreadable response".into(),
        _ => "unknown SDK failure".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_json_shape() {
        let c = Credentials::parse(
            r#"{"apiKey":"k","accessId":"id","accessKey":" ak ","sessionSecret":"","other":1}"#,
        )
        .unwrap();
        assert_eq!(c.api_key.as_deref(), Some("k"));
        assert_eq!(c.access_id.as_deref(), Some("id"));
        assert_eq!(c.access_key.as_deref(), Some("ak"));
        assert_eq!(c.session_secret, None);
    }

    #[test]
    fn a_plain_string_is_the_api_key() {
        let c = Credentials::parse("  plain-key\n").unwrap();
        assert_eq!(c.api_key.as_deref(), Some("plain-key"));
        assert_eq!(c.access_id, None);
    }

    #[test]
    fn malformed_secrets_are_refused_without_quoting_them() {
        for bad in [
            r#"{"apiKey": "sk-live-123""#,
            r#"{"apiKey": 42}"#,
            r#"{"apiKey": "sk-live-123\u00e9"}"#,
            "sk-live-123\nx",
            r#"{"sessionSecret": "sk-live-123-short"}"#,
        ] {
            let err = Credentials::parse(bad).unwrap_err();
            assert!(!err.contains("sk-live") && !err.contains("42"), "{err}");
        }
    }

    #[test]
    fn debug_never_shows_values() {
        let c = Credentials::parse(r#"{"apiKey":"sk-live-123"}"#).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("sk-live-123"));
        assert!(shown.contains("<set>"));
    }
}
