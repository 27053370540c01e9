//! The application: built once at init, then one `handle` per invocation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value};

use crate::config::{Config, ConfigError, SecretConfig, no_session_keys};
use crate::cors::{Cors, Origin};
use crate::error::{ApiError, ErrorCode};
use crate::log::Logger;
use crate::response::{self, ALLOWED_METHODS};
use crate::secret::{Credentials, SecretStore};
use crate::session::{Keys, Session, Sessions};
use crate::upstream::{self, Upstream, UpstreamError};

/// Kept back from the invocation deadline to write the response after an upstream timeout.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    WidgetAuth,
    EmbedToken,
}

impl Route {
    /// Routes match on the end of the path, so any stage or base path may come before them.
    pub fn of(path: &str) -> Option<Self> {
        let path = path.strip_suffix('/').unwrap_or(path);
        if path.ends_with("/widget-auth") {
            Some(Self::WidgetAuth)
        } else if path.ends_with("/embed-token") {
            Some(Self::EmbedToken)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::WidgetAuth => "widget-auth",
            Self::EmbedToken => "embed-token",
        }
    }
}

/// Why the function could not start. Its `Display` is the one init log line.
#[derive(Debug)]
pub enum InitError {
    Config(ConfigError),
    HttpClient(String),
}

impl std::fmt::Display for InitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => e.fmt(f),
            Self::HttpClient(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for InitError {}

impl From<ConfigError> for InitError {
    fn from(e: ConfigError) -> Self {
        Self::Config(e)
    }
}

pub struct App {
    sessions: Sessions,
    secrets: SecretStore,
    upstream: Upstream,
    cors: Option<Cors>,
    email_claim: String,
    identifiers: Vec<(String, String)>,
    cold: AtomicBool,
    log: Logger,
}

impl App {
    /// Builds the app, loading the AWS configuration from the environment when the credentials
    /// live in Secrets Manager.
    pub async fn init(config: Config, log: Logger) -> Result<Self, InitError> {
        let aws = match config.secret {
            SecretConfig::SecretsManager { .. } => {
                Some(aws_config::load_defaults(BehaviorVersion::latest()).await)
            }
            SecretConfig::Environment(_) => None,
        };
        Self::init_with(config, aws.as_ref(), log).await
    }

    /// Builds the shared clients, then reads the secret and the session keys together.
    pub async fn init_with(
        config: Config,
        aws: Option<&SdkConfig>,
        log: Logger,
    ) -> Result<Self, InitError> {
        let http = upstream::http_client().map_err(|e| InitError::HttpClient(e.to_string()))?;
        let secrets = match (config.secret, aws) {
            (SecretConfig::SecretsManager { secret_id, ttl }, Some(aws)) => {
                let client_config = aws_sdk_secretsmanager::config::Builder::from(aws)
                    .timeout_config(
                        TimeoutConfig::builder()
                            .operation_attempt_timeout(Duration::from_secs(2))
                            .operation_timeout(Duration::from_secs(5))
                            .build(),
                    )
                    .build();
                SecretStore::secrets_manager(
                    aws_sdk_secretsmanager::Client::from_conf(client_config),
                    secret_id,
                    ttl,
                    log.clone(),
                )
            }
            (SecretConfig::SecretsManager { .. }, None) => {
                return Err(ConfigError::new(
                    "RAI_SECRET_ID",
                    "set, but no AWS configuration was given",
                )
                .into());
            }
            (SecretConfig::Environment(credentials), _) => {
                SecretStore::fixed(credentials, log.clone())
            }
        };
        let sessions = Sessions::new(
            &config.session,
            http.clone(),
            config.upstream.timeout,
            log.clone(),
        );

        match sessions.keys() {
            Keys::KeySet(keys) => {
                // A failed read is logged inside and answered per request.
                let _ = tokio::join!(secrets.get(), keys.load());
            }
            Keys::SecretOrDiscovery(discovery) => match (secrets.get().await, discovery) {
                (Ok(c), _) if c.session_secret.is_some() => {}
                (Ok(_), Some(keys)) => keys.load().await,
                (Ok(_), None) => return Err(no_session_keys().into()),
                // Which key applies is known once the secret can be read; until then requests
                // answer secret_unavailable.
                (Err(_), _) => {}
            },
        }

        Ok(Self {
            cors: Cors::new(config.cors_origins, &config.session.header),
            upstream: Upstream::new(http, &config.upstream),
            email_claim: config.session.email_claim,
            identifiers: config.session.identifiers,
            sessions,
            secrets,
            cold: AtomicBool::new(true),
            log,
        })
    }

    pub async fn handle(&self, request: Request) -> Response<Body> {
        let started = Instant::now();
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let context = request.lambda_context_ref();
        let deadline = context.and_then(|c| deadline(c.deadline));
        let route = Route::of(request.uri().path());
        let origin = self
            .cors
            .as_ref()
            .map_or(Origin::NotChecked, |cors| cors.check(request.headers()));
        let mut upstream_time = None;

        let responding = self.respond(route, &request, &origin, deadline, &mut upstream_time);
        // Secret reads and key fetches have their own limits; this bounds their sum, so the
        // caller always gets the function's own answer and a log line, never a cut-off.
        let outcome = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), responding)
                .await
                .unwrap_or_else(|_| {
                    Err(ApiError::new(
                        ErrorCode::UpstreamTimeout,
                        "the request did not finish in time",
                    )
                    .with_detail("the invocation deadline came first"))
                }),
            None => responding.await,
        };
        let (mut response, error) = match outcome {
            Ok(response) => (response, None),
            Err(error) => {
                let logged = (error.code, error.detail.clone());
                (error.into_response(), Some(logged))
            }
        };
        if let Origin::Allowed(origin) = &origin {
            Cors::decorate(origin, &mut response);
        }

        let mut line = Map::new();
        let status = response.status().as_u16();
        let level = match status {
            500.. => "error",
            400.. => "warn",
            _ => "info",
        };
        line.insert("level".into(), level.into());
        line.insert(
            "requestId".into(),
            context
                .map(|c| c.request_id.clone())
                .unwrap_or_default()
                .into(),
        );
        line.insert("route".into(), route.map(Route::name).into());
        line.insert("method".into(), request.method().as_str().into());
        line.insert("status".into(), status.into());
        if let Some((code, detail)) = error {
            line.insert("error".into(), code.as_str().into());
            if let Some(detail) = detail {
                line.insert("detail".into(), detail.into());
            }
        }
        line.insert("totalMs".into(), millis(started.elapsed()).into());
        line.insert("upstreamMs".into(), upstream_time.map(millis).into());
        line.insert("coldStart".into(), cold_start.into());
        self.log.line(line);
        response
    }

    async fn respond(
        &self,
        route: Option<Route>,
        request: &Request,
        origin: &Origin,
        deadline: Option<Instant>,
        upstream_time: &mut Option<Duration>,
    ) -> Result<Response<Body>, ApiError> {
        let route = route.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such route"))?;
        if *origin == Origin::Refused {
            return Err(ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this origin may not call this endpoint",
            ));
        }
        match *request.method() {
            Method::GET | Method::POST => {}
            Method::OPTIONS => return Ok(self.preflight(request, origin)),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    "use GET, POST or OPTIONS",
                ));
            }
        }
        // The identity comes from the verified session only; the body, query string and other
        // headers are never read.
        let session = self
            .sessions
            .verify(request.headers(), &self.secrets)
            .await?;
        let exchange = self.exchange(route, &session)?;
        let body = self
            .call_upstream(&exchange, deadline, upstream_time)
            .await?;
        Ok(response::json(StatusCode::OK, &body))
    }

    fn preflight(&self, request: &Request, origin: &Origin) -> Response<Body> {
        let mut response = response::empty(StatusCode::NO_CONTENT);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        let is_preflight = request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (Some(cors), Origin::Allowed(_), true) = (&self.cors, origin, is_preflight) {
            cors.preflight(request.headers(), &mut response);
        }
        response
    }

    /// What each route sends, apart from the credentials.
    fn exchange(&self, route: Route, session: &Session) -> Result<Exchange, ApiError> {
        match route {
            Route::WidgetAuth => {
                if !self.upstream.has_community() {
                    return Err(not_configured("RAI_COMMUNITY_ID is not set"));
                }
                Ok(Exchange::SignIn(session.email(&self.email_claim)?))
            }
            Route::EmbedToken => Ok(Exchange::EmbedToken(
                session.identifiers(&self.identifiers)?,
            )),
        }
    }

    /// Calls the upstream with the route's credentials. When they are refused (401/403) the
    /// secret may have been rotated: read it again once and, if the route's credentials changed,
    /// retry once with the new ones.
    async fn call_upstream(
        &self,
        exchange: &Exchange,
        deadline: Option<Instant>,
        upstream_time: &mut Option<Duration>,
    ) -> Result<Value, ApiError> {
        let credentials = self.secrets.get().await?;
        let started = Instant::now();
        let mut result = self
            .send(exchange, &credentials, deadline)
            .await
            .ok_or_else(|| not_configured("the route's credentials are missing from the secret"))?;
        if let Err(UpstreamError::Refused(_)) = &result
            && let Some(fresh) = self.secrets.reload(&credentials).await
            && !exchange.same_credentials(&fresh, &credentials)
        {
            result = match self.send(exchange, &fresh, deadline).await {
                Some(retried) => retried,
                None => {
                    *upstream_time = Some(started.elapsed());
                    return Err(not_configured(
                        "the secret, read again, lacks the route's credentials",
                    ));
                }
            };
        }
        *upstream_time = Some(started.elapsed());
        result.map_err(ApiError::from)
    }

    /// `None` when the credentials lack what the route needs.
    async fn send(
        &self,
        exchange: &Exchange,
        credentials: &Credentials,
        deadline: Option<Instant>,
    ) -> Option<Result<Value, UpstreamError>> {
        Some(match exchange {
            Exchange::SignIn(email) => {
                let api_key = credentials.api_key.as_deref()?;
                self.upstream.widget_signin(api_key, email, deadline).await
            }
            Exchange::EmbedToken(identifiers) => {
                let access_id = credentials.access_id.as_deref()?;
                let access_key = credentials.access_key.as_deref()?;
                self.upstream
                    .embed_token(access_id, access_key, identifiers, deadline)
                    .await
            }
        })
    }
}

enum Exchange {
    /// Legacy sign-in, with the user's email.
    SignIn(HeaderValue),
    /// Access Key Embed, with the `userIdentifiers`.
    EmbedToken(Map<String, Value>),
}

impl Exchange {
    fn same_credentials(&self, a: &Credentials, b: &Credentials) -> bool {
        match self {
            Self::SignIn(_) => a.api_key == b.api_key,
            Self::EmbedToken(_) => a.access_id == b.access_id && a.access_key == b.access_key,
        }
    }
}

fn not_configured(detail: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotConfigured,
        "this route is not configured on the server",
    )
    .with_detail(detail)
}

/// Below this, a deadline is not milliseconds since the epoch (year 2001): local runners send 0
/// or a fixed budget (`cargo lambda watch` sends 600000).
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// The invocation deadline (milliseconds since the epoch) as an `Instant`, less the margin.
/// `None` when the runtime gave no real deadline.
fn deadline(epoch_ms: u64) -> Option<Instant> {
    if epoch_ms < PLAUSIBLE_EPOCH_MS {
        return None;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let remaining = Duration::from_millis(epoch_ms.saturating_sub(now_ms));
    Some(Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN))
}

fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_on_the_end_of_the_path() {
        for (path, route) in [
            ("/widget-auth", Some(Route::WidgetAuth)),
            ("/Prod/widget-auth", Some(Route::WidgetAuth)),
            ("/api/v1/embed-token/", Some(Route::EmbedToken)),
            ("/embed-token", Some(Route::EmbedToken)),
            ("/", None),
            ("", None),
            ("/my-widget-auth", None),
            ("/widget-auth/extra", None),
        ] {
            assert_eq!(Route::of(path), route, "{path}");
        }
    }

    #[test]
    fn deadline_keeps_a_margin() {
        assert!(deadline(0).is_none());
        assert!(
            deadline(600_000).is_none(),
            "cargo lambda watch's fixed value"
        );
        let in_a_second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            + 1000;
        let left = deadline(in_a_second)
            .unwrap()
            .saturating_duration_since(Instant::now());
        assert!(
            left <= Duration::from_millis(750) && left >= Duration::from_millis(500),
            "{left:?}"
        );
        let past = deadline(in_a_second - 5000).unwrap();
        assert!(past <= Instant::now());
    }
}
