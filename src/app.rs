//! The application: built once at init, then one [`App::handle`] per invocation.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, SdkConfig};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Serialize;

use crate::config::{Config, ConfigError, SecretConfig};
use crate::cors::{Cors, Origin};
use crate::error::{ApiError, ErrorCode};
use crate::event::{self, Request, WireResponse};
use crate::log::{Logger, RequestLine};
use crate::outbound::{self, Outbound};
use crate::response::{self, ALLOWED_METHODS, Response};
use crate::route::Route;
use crate::secret::{Credentials, SecretStore};
use crate::session::{Session, Sessions};
use crate::upstream::{EmbedBody, Identifiers, SignInBody, Upstream, UpstreamError};

/// Kept back from the invocation deadline to write the response after an upstream timeout.
const DEADLINE_MARGIN: Duration = Duration::from_millis(250);

/// How long init waits for the secret and the session keys. Lambda stops an init at 10 s; loading
/// the AWS configuration and building the clients take milliseconds, so this keeps init well
/// inside the limit even when Secrets Manager and the identity provider both hang.
pub const WARM_UP_BUDGET: Duration = Duration::from_secs(4);

/// Why the function could not start. Its `Display` is the one init log line.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// What the runtime says about one invocation.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub request_id: String,
    /// When the invocation must have answered, less a margin; `None` when the runtime gave no
    /// real deadline.
    pub deadline: Option<Instant>,
}

impl Invocation {
    /// `deadline_ms` is the runtime's `Lambda-Runtime-Deadline-Ms` (milliseconds since the epoch).
    pub fn new(request_id: impl Into<String>, deadline_ms: u64) -> Self {
        Self {
            request_id: request_id.into(),
            deadline: deadline(deadline_ms),
        }
    }
}

pub struct App {
    sessions: Sessions,
    secrets: Arc<SecretStore>,
    upstream: Upstream,
    cors: Option<Cors>,
    email_claim: String,
    identifiers: Vec<(String, String)>,
    cold: AtomicBool,
    log: Logger,
}

/// A 200 body of either route.
#[derive(Serialize)]
#[serde(untagged)]
enum Issued {
    SignIn(SignInBody),
    Embed(EmbedBody),
}

/// What a request came to, and how long its Returning.AI call took when it made one.
struct Outcome {
    result: Result<Response, ApiError>,
    upstream: Option<Duration>,
}

impl From<Result<Response, ApiError>> for Outcome {
    fn from(result: Result<Response, ApiError>) -> Self {
        Self {
            result,
            upstream: None,
        }
    }
}

/// Where a request stands once everything before the upstream call is done.
enum Prepared {
    /// Answered without Returning.AI (a preflight).
    Answered(Response),
    Call(Exchange, Arc<Credentials>),
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
        let log = log.with_metrics(config.metrics.clone());
        let http = outbound::client()?;
        let secrets = Arc::new(match (config.secret, aws) {
            (SecretConfig::SecretsManager { secret_id, ttl }, Some(aws)) => {
                SecretStore::from_sdk(aws, secret_id, ttl, log.clone())
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
        });
        let outbound = Outbound {
            http: http.clone(),
            timeout: config.upstream.timeout,
            log: log.clone(),
        };
        let sessions = Sessions::new(&config.session, &outbound);
        sessions.warm_up(&secrets, WARM_UP_BUDGET).await?;
        Ok(Self {
            cors: Cors::new(config.cors_origins, &config.session.header),
            upstream: Upstream::new(http, &config.upstream)?,
            email_claim: config.session.email_claim,
            identifiers: config.session.identifiers,
            sessions,
            secrets,
            cold: AtomicBool::new(true),
            log,
        })
    }

    /// One invocation: the event in, the front door's response out, one log line.
    pub async fn handle(&self, event: &str, invocation: &Invocation) -> WireResponse {
        let started = Instant::now();
        let cold_start = self.cold.swap(false, Ordering::Relaxed);
        let (request, route, origin, outcome) = match event::parse(event) {
            Ok(request) => {
                let route = Route::of(&request.path);
                let origin = self
                    .cors
                    .as_ref()
                    .map_or(Origin::NotChecked, |cors| cors.check(&request.headers));
                let outcome = self
                    .respond(route, &request, &origin, invocation.deadline)
                    .await;
                (Some(request), route, origin, outcome)
            }
            Err(error) => (None, None, Origin::NotChecked, Err(error).into()),
        };
        let (mut response, error) = match outcome.result {
            Ok(response) => (response, None),
            Err(error) => (error.to_response(), Some(error)),
        };
        if let Origin::Allowed(origin) = &origin {
            Cors::decorate(origin, &mut response);
        }
        let status = response.status().as_u16();
        self.log.request(&RequestLine {
            level: match status {
                500.. => "error",
                400.. => "warn",
                _ => "info",
            },
            request_id: &invocation.request_id,
            route: route.map(Route::name),
            method: request.as_ref().map(|r| method_name(&r.method)),
            status,
            error: error.as_ref().map(|e| e.code.as_str()),
            detail: error.as_ref().and_then(|e| e.detail.as_deref()),
            total_ms: millis(started.elapsed()),
            upstream_ms: outcome.upstream.map(millis),
            cold_start,
        });
        response.into()
    }

    async fn respond(
        &self,
        route: Option<Route>,
        request: &Request,
        origin: &Origin,
        deadline: Option<Instant>,
    ) -> Outcome {
        // Secret reads and key fetches have their own limits; this bounds their sum, so the
        // caller always gets the function's own answer and a log line, never a cut-off.
        let prepared = within(deadline, self.prepare(route, request, origin)).await;
        let (exchange, credentials) = match prepared {
            Ok(Prepared::Call(exchange, credentials)) => (exchange, credentials),
            Ok(Prepared::Answered(response)) => return Ok(response).into(),
            Err(error) => return Err(error).into(),
        };
        let started = Instant::now();
        let result = self.call_upstream(&exchange, credentials, deadline).await;
        Outcome {
            result: result.map(|issued| response::json(StatusCode::OK, &issued)),
            upstream: Some(started.elapsed()),
        }
    }

    /// Route (404), origin (403), method (405 or the preflight), session (401/403), then the
    /// route's credentials (503): an anonymous caller learns nothing about the configuration.
    async fn prepare(
        &self,
        route: Option<Route>,
        request: &Request,
        origin: &Origin,
    ) -> Result<Prepared, ApiError> {
        let route = route.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such route"))?;
        if *origin == Origin::Refused {
            return Err(ApiError::new(
                ErrorCode::OriginNotAllowed,
                "this origin may not call this endpoint",
            ));
        }
        match request.method {
            Method::GET | Method::POST => {}
            Method::OPTIONS => return Ok(Prepared::Answered(self.preflight(request, origin))),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::MethodNotAllowed,
                    "use GET, POST or OPTIONS",
                ));
            }
        }
        // The identity comes from the verified session only; the body, query string and other
        // headers are never read.
        let session = self.sessions.verify(request, &self.secrets).await?;
        let exchange = self.exchange(route, &session)?;
        let credentials = self.secrets.get().await?;
        if exchange.key(&credentials).is_none() {
            return Err(missing_key());
        }
        Ok(Prepared::Call(exchange, credentials))
    }

    fn preflight(&self, request: &Request, origin: &Origin) -> Response {
        let mut response = response::empty(StatusCode::NO_CONTENT);
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        let is_preflight = request
            .headers
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if let (Some(cors), Origin::Allowed(_), true) = (&self.cors, origin, is_preflight) {
            cors.preflight(&request.headers, &mut response);
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
    /// retry once with the new ones. Every step ends by the deadline.
    async fn call_upstream(
        &self,
        exchange: &Exchange,
        credentials: Arc<Credentials>,
        deadline: Option<Instant>,
    ) -> Result<Issued, ApiError> {
        let key = exchange.key(&credentials).ok_or_else(missing_key)?;
        let result = self.send(exchange, key, deadline).await;
        if !matches!(result, Err(UpstreamError::Refused(_))) {
            return result.map_err(ApiError::from);
        }
        let Some(fresh) = within(deadline, async {
            Ok(self.secrets.reload(&credentials).await)
        })
        .await?
        else {
            return result.map_err(ApiError::from);
        };
        match exchange.key(&fresh) {
            Some(fresh_key) if fresh_key != key => self
                .send(exchange, fresh_key, deadline)
                .await
                .map_err(ApiError::from),
            Some(_) => result.map_err(ApiError::from),
            None => Err(not_configured(
                "the secret, read again, lacks the route's credentials",
            )),
        }
    }

    async fn send(
        &self,
        exchange: &Exchange,
        key: RouteKey<'_>,
        deadline: Option<Instant>,
    ) -> Result<Issued, UpstreamError> {
        match (exchange, key) {
            (Exchange::SignIn(email), RouteKey::ApiKey(api_key)) => self
                .upstream
                .widget_signin(api_key, email, deadline)
                .await
                .map(Issued::SignIn),
            (Exchange::EmbedToken(identifiers), RouteKey::AccessKey { id, key }) => self
                .upstream
                .embed_token(id, key, identifiers, deadline)
                .await
                .map(Issued::Embed),
            // `Exchange::key` pairs each exchange with its own kind of key.
            _ => Err(UpstreamError::BadBody("credentials of the other route")),
        }
    }
}

enum Exchange {
    /// Legacy sign-in, with the user's email.
    SignIn(HeaderValue),
    /// Access Key Embed, with the `userIdentifiers`.
    EmbedToken(Identifiers),
}

/// The part of the secret a route uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RouteKey<'c> {
    ApiKey(&'c str),
    AccessKey { id: &'c str, key: &'c str },
}

impl Exchange {
    /// `None` when the secret lacks what the route needs.
    fn key<'c>(&self, credentials: &'c Credentials) -> Option<RouteKey<'c>> {
        match self {
            Self::SignIn(_) => credentials.api_key.as_deref().map(RouteKey::ApiKey),
            Self::EmbedToken(_) => Some(RouteKey::AccessKey {
                id: credentials.access_id.as_deref()?,
                key: credentials.access_key.as_deref()?,
            }),
        }
    }
}

fn missing_key() -> ApiError {
    not_configured("the route's credentials are missing from the secret")
}

fn not_configured(detail: &str) -> ApiError {
    ApiError::new(
        ErrorCode::NotConfigured,
        "this route is not configured on the server",
    )
    .with_detail(detail)
}

/// The method for the log: an extension method is the caller's text, which may be anything
/// (a token, a kilobyte), so it is logged as `other`.
fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Runs `work` until `deadline`; past it, the function's own 504.
async fn within<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let Some(deadline) = deadline else {
        return work.await;
    };
    tokio::time::timeout_at(deadline.into(), work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::new(
                ErrorCode::UpstreamTimeout,
                "the request did not finish in time",
            )
            .with_detail("the invocation deadline came first"))
        })
}

/// Below this, a deadline is not milliseconds since the epoch (year 2001): local runners send 0
/// or a fixed budget (`cargo lambda watch` sends 600000).
const PLAUSIBLE_EPOCH_MS: u64 = 1_000_000_000_000;

/// The invocation deadline (milliseconds since the epoch) as an `Instant`, less the margin.
fn deadline(epoch_ms: u64) -> Option<Instant> {
    if epoch_ms < PLAUSIBLE_EPOCH_MS {
        return None;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis);
    let remaining = Duration::from_millis(epoch_ms.saturating_sub(now_ms));
    Some(Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN))
}

/// Whole milliseconds, saturating (a `u64` of milliseconds is 584 million years).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_keeps_a_margin() {
        assert!(deadline(0).is_none());
        assert!(
            deadline(600_000).is_none(),
            "cargo lambda watch's fixed value"
        );
        let in_a_second = millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap()) + 1000;
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
