//! Configuration: read from the environment and checked once, at init.
//!
//! Every variable the function reads is listed in [`VARIABLES`]; the SAM template test holds the
//! template to that list. An empty value counts as unset, so a template can pass `""` for an
//! optional parameter.

use std::time::Duration;

use http::HeaderName;
use reqwest::Url;

use crate::log::MetricContext;
use crate::outbound::check_transport;
use crate::secret::Credentials;
use crate::session::KeySource;

mod values;

pub use values::url;
use values::{
    bounded, comma_list, community_id, cookie_name, flag, identifiers, json_pointer,
    metrics_namespace, origin, session_header,
};

/// The variables this function reads, in the order the README's table lists them.
pub const VARIABLES: &[&str] = &[
    "RAI_SECRET_ID",
    "RAI_SECRET_TTL_SECONDS",
    "RAI_COMMUNITY_ID",
    "RAI_WIDGET_API_URL",
    "RAI_API_V2_URL",
    "RAI_UPSTREAM_TIMEOUT_MS",
    "SESSION_HEADER",
    "SESSION_COOKIE",
    "SESSION_JWKS_URL",
    "SESSION_ISSUER",
    "SESSION_AUDIENCE",
    "SESSION_LEEWAY_SECONDS",
    "SESSION_EMAIL_CLAIM",
    "SESSION_USERINFO_URL",
    "SESSION_USERINFO_POINTER",
    "SESSION_USERINFO_TTL_SECONDS",
    "SESSION_FROM_AUTHORIZER",
    "USER_IDENTIFIERS",
    "CORS_ALLOWED_ORIGINS",
    "METRICS_NAMESPACE",
    // Set by Lambda itself.
    "AWS_LAMBDA_FUNCTION_NAME",
    // Local development only, read when RAI_SECRET_ID is unset.
    "RAI_API_KEY",
    "RAI_ACCESS_ID",
    "RAI_ACCESS_KEY",
    "SESSION_SECRET",
];

/// The variables Lambda sets for every function; a template does not.
pub const SET_BY_LAMBDA: &[&str] = &["AWS_LAMBDA_FUNCTION_NAME"];

/// The variables that hold credentials, only read when `RAI_SECRET_ID` is unset. A deployment
/// keeps them in Secrets Manager instead.
pub const LOCAL_ONLY_VARIABLES: &[&str] = &[
    "RAI_API_KEY",
    "RAI_ACCESS_ID",
    "RAI_ACCESS_KEY",
    "SESSION_SECRET",
];

const DEFAULT_WIDGET_API_URL: &str = "https://prod-widgets.returning.ai";
const DEFAULT_API_V2_URL: &str = "https://api-v2.returning.ai";

/// A variable with a value the function cannot run with. Its `Display` is the one init log line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, problem: impl Into<String>) -> Self {
        Self {
            variable,
            problem: problem.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub secret: SecretConfig,
    pub session: SessionConfig,
    pub upstream: UpstreamConfig,
    /// Exact origins allowed to call with credentials; empty means no CORS headers at all.
    pub cors_origins: Vec<String>,
    pub metrics: MetricContext,
}

#[derive(Debug, Clone)]
pub enum SecretConfig {
    SecretsManager {
        secret_id: String,
        ttl: Duration,
    },
    /// Local development: the credentials come straight from the environment.
    Environment(Credentials),
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Lower-case header name. `authorization` expects `Bearer <jwt>`; any other carries the bare JWT.
    pub header: HeaderName,
    pub cookie: Option<String>,
    pub jwks_url: Option<Url>,
    pub issuer: Option<String>,
    pub audience: Vec<String>,
    pub leeway_seconds: u64,
    pub email_claim: String,
    /// `(data-key, claim)` pairs sent to the access-key API as `userIdentifiers`.
    pub identifiers: Vec<(String, String)>,
    /// Where sessions come from; the JWT fields above apply only to [`SessionSource::Jwt`].
    pub source: SessionSource,
}

/// The one session source, chosen in the contract's order: authorizer, userinfo, JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionSource {
    /// `SESSION_FROM_AUTHORIZER=true`: the claims an API Gateway authorizer verified.
    Authorizer,
    /// `SESSION_USERINFO_URL`: the site's own endpoint vouches for the credential.
    Userinfo(UserinfoConfig),
    /// Session JWTs, with the key source of [`KeySource`].
    Jwt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserinfoConfig {
    pub url: Url,
    /// A JSON pointer (RFC 6901) to the claims object inside the answer, e.g. `/user`.
    pub pointer: Option<String>,
    /// How long an answer is reused for the same credential; zero turns the cache off.
    pub ttl: Duration,
}

impl SessionConfig {
    /// The issuer, when it can serve OIDC discovery: an https URL (http on loopback).
    pub fn discovery_issuer(&self) -> Option<Url> {
        let url = Url::parse(self.issuer.as_deref()?).ok()?;
        check_transport(&url).ok()?;
        Some(url)
    }
}

#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    pub community_id: Option<String>,
    pub widget_api_url: Url,
    pub api_v2_url: Url,
    pub timeout: Duration,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup`, so tests can pass a map instead of mutating the
    /// process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| -> Option<String> {
            debug_assert!(VARIABLES.contains(&name), "{name} missing from VARIABLES");
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let secret = match get("RAI_SECRET_ID") {
            Some(secret_id) => SecretConfig::SecretsManager {
                secret_id,
                ttl: Duration::from_secs(bounded(&get, "RAI_SECRET_TTL_SECONDS", 300, 1..=86_400)?),
            },
            None => {
                let credentials = Credentials {
                    api_key: get("RAI_API_KEY"),
                    access_id: get("RAI_ACCESS_ID"),
                    access_key: get("RAI_ACCESS_KEY"),
                    session_secret: get("SESSION_SECRET"),
                };
                credentials
                    .check()
                    .map_err(|bad| ConfigError::new(bad.variable, bad.problem))?;
                SecretConfig::Environment(credentials)
            }
        };

        let session = SessionConfig {
            header: session_header(get("SESSION_HEADER"))?,
            cookie: get("SESSION_COOKIE").map(cookie_name).transpose()?,
            jwks_url: get("SESSION_JWKS_URL")
                .map(|v| url("SESSION_JWKS_URL", &v))
                .transpose()?,
            // Compared with `iss` as written; a URL only when discovery needs one.
            issuer: get("SESSION_ISSUER"),
            audience: get("SESSION_AUDIENCE")
                .map(|v| comma_list(&v))
                .unwrap_or_default(),
            leeway_seconds: bounded(&get, "SESSION_LEEWAY_SECONDS", 60, 0..=3600)?,
            email_claim: get("SESSION_EMAIL_CLAIM").unwrap_or_else(|| "email".to_owned()),
            identifiers: identifiers(
                get("USER_IDENTIFIERS")
                    .as_deref()
                    .unwrap_or("data-email=email"),
            )?,
            source: SessionSource::Jwt,
        };
        // Read before any of them is judged, so that every variable is asked for in every
        // configuration (the template test counts on it) and a conflict can name both sides.
        let from_authorizer = flag(get("SESSION_FROM_AUTHORIZER"), "SESSION_FROM_AUTHORIZER")?;
        let userinfo_url = get("SESSION_USERINFO_URL");
        let userinfo_pointer = get("SESSION_USERINFO_POINTER")
            .map(json_pointer)
            .transpose()?;
        let userinfo_ttl = bounded(&get, "SESSION_USERINFO_TTL_SECONDS", 60, 0..=300)?;
        let session = SessionConfig {
            source: session_source(
                from_authorizer,
                userinfo_url.as_deref(),
                userinfo_pointer,
                Duration::from_secs(userinfo_ttl),
                session.jwks_url.is_some(),
            )?,
            ..session
        };

        let timeout_ms = bounded(&get, "RAI_UPSTREAM_TIMEOUT_MS", 5000, 1..=900_000)?;
        let upstream = UpstreamConfig {
            community_id: get("RAI_COMMUNITY_ID").map(community_id).transpose()?,
            widget_api_url: url(
                "RAI_WIDGET_API_URL",
                &get("RAI_WIDGET_API_URL").unwrap_or_else(|| DEFAULT_WIDGET_API_URL.into()),
            )?,
            api_v2_url: url(
                "RAI_API_V2_URL",
                &get("RAI_API_V2_URL").unwrap_or_else(|| DEFAULT_API_V2_URL.into()),
            )?,
            timeout: Duration::from_millis(timeout_ms),
        };

        let cors_origins = get("CORS_ALLOWED_ORIGINS")
            .map(|v| comma_list(&v).into_iter().map(origin).collect())
            .transpose()?
            .unwrap_or_default();

        // In local mode the environment already says whether there is a session secret; a
        // Secrets Manager secret is checked once it has been read (at init). Only JWT sessions
        // need keys.
        if let (SecretConfig::Environment(credentials), SessionSource::Jwt) =
            (&secret, &session.source)
        {
            KeySource::choose(&session, credentials.session_secret.is_some())?;
        }

        let defaults = MetricContext::default();
        let metrics = MetricContext {
            namespace: get("METRICS_NAMESPACE")
                .map(metrics_namespace)
                .transpose()?
                .unwrap_or(defaults.namespace),
            // Any name Lambda accepts is a valid dimension value.
            function_name: get("AWS_LAMBDA_FUNCTION_NAME").unwrap_or(defaults.function_name),
        };

        Ok(Self {
            secret,
            session,
            upstream,
            cors_origins,
            metrics,
        })
    }
}

/// The contract's order: the authorizer, then userinfo, then JWT. Two sources configured at once
/// is a start-up error naming both variables, rather than one silently winning: whoever set the
/// other expected it to be in force.
fn session_source(
    from_authorizer: bool,
    userinfo_url: Option<&str>,
    pointer: Option<String>,
    ttl: Duration,
    has_jwks_url: bool,
) -> Result<SessionSource, ConfigError> {
    const BOTH: &str = "choose one session source";
    if from_authorizer {
        if userinfo_url.is_some() {
            return Err(ConfigError::new(
                "SESSION_FROM_AUTHORIZER",
                format!("set together with SESSION_USERINFO_URL: {BOTH}"),
            ));
        }
        if has_jwks_url {
            return Err(ConfigError::new(
                "SESSION_FROM_AUTHORIZER",
                format!("set together with SESSION_JWKS_URL: {BOTH}"),
            ));
        }
        return Ok(SessionSource::Authorizer);
    }
    let Some(value) = userinfo_url else {
        return Ok(SessionSource::Jwt);
    };
    if has_jwks_url {
        return Err(ConfigError::new(
            "SESSION_USERINFO_URL",
            format!("set together with SESSION_JWKS_URL: {BOTH}"),
        ));
    }
    Ok(SessionSource::Userinfo(UserinfoConfig {
        url: url("SESSION_USERINFO_URL", value)?,
        pointer,
        ttl,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    const BASE: (&str, &str) = ("SESSION_SECRET", "local-session-secret-of-32-bytes-or-more");

    #[test]
    fn defaults_follow_the_contract() {
        let c = parse(&[BASE]).unwrap();
        assert_eq!(c.session.header.as_str(), "authorization");
        assert_eq!(c.session.cookie, None);
        assert_eq!(c.session.leeway_seconds, 60);
        assert_eq!(c.session.email_claim, "email");
        assert_eq!(
            c.session.identifiers,
            vec![("data-email".to_owned(), "email".to_owned())]
        );
        assert_eq!(
            c.upstream.widget_api_url.as_str(),
            "https://prod-widgets.returning.ai/"
        );
        assert_eq!(
            c.upstream.api_v2_url.as_str(),
            "https://api-v2.returning.ai/"
        );
        assert_eq!(c.upstream.timeout, Duration::from_millis(5000));
        assert!(c.cors_origins.is_empty());
        assert_eq!(c.metrics.namespace, "RaiWidgetAuth");
        assert!(matches!(c.secret, SecretConfig::Environment(ref e) if e.session_secret.is_some()));
    }

    #[test]
    fn secret_id_selects_secrets_manager_and_ignores_local_credentials() {
        let c = parse(&[
            ("RAI_SECRET_ID", "rai/widget"),
            ("RAI_API_KEY", "ignored"),
            ("SESSION_ISSUER", "https://id.example.com"),
        ])
        .unwrap();
        match c.secret {
            SecretConfig::SecretsManager { secret_id, ttl } => {
                assert_eq!(secret_id, "rai/widget");
                assert_eq!(ttl, Duration::from_secs(300));
            }
            other => panic!("expected Secrets Manager, got {other:?}"),
        }
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = parse(&[
            BASE,
            ("SESSION_COOKIE", ""),
            ("RAI_UPSTREAM_TIMEOUT_MS", " "),
        ])
        .unwrap();
        assert_eq!(c.session.cookie, None);
        assert_eq!(c.upstream.timeout, Duration::from_millis(5000));
    }

    #[test]
    fn wrong_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[BASE, ("CORS_ALLOWED_ORIGINS", "*")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                &[BASE, ("CORS_ALLOWED_ORIGINS", "https://a.example/path")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                &[BASE, ("CORS_ALLOWED_ORIGINS", "https://A.example")],
                "CORS_ALLOWED_ORIGINS",
            ),
            (
                &[BASE, ("USER_IDENTIFIERS", "email=email")],
                "USER_IDENTIFIERS",
            ),
            (
                &[BASE, ("USER_IDENTIFIERS", "data-email")],
                "USER_IDENTIFIERS",
            ),
            (
                &[BASE, ("USER_IDENTIFIERS", "data-=sub")],
                "USER_IDENTIFIERS",
            ),
            (
                &[
                    BASE,
                    (
                        "USER_IDENTIFIERS",
                        "data-id=sub,data-email=email,data-id=oid",
                    ),
                ],
                "USER_IDENTIFIERS",
            ),
            (
                &[BASE, ("RAI_UPSTREAM_TIMEOUT_MS", "5s")],
                "RAI_UPSTREAM_TIMEOUT_MS",
            ),
            (
                &[BASE, ("RAI_UPSTREAM_TIMEOUT_MS", "0")],
                "RAI_UPSTREAM_TIMEOUT_MS",
            ),
            (
                &[BASE, ("SESSION_LEEWAY_SECONDS", "-1")],
                "SESSION_LEEWAY_SECONDS",
            ),
            (
                &[BASE, ("SESSION_LEEWAY_SECONDS", "3601")],
                "SESSION_LEEWAY_SECONDS",
            ),
            (
                &[BASE, ("SESSION_LEEWAY_SECONDS", "18446744073709551615")],
                "SESSION_LEEWAY_SECONDS",
            ),
            (
                &[("RAI_SECRET_ID", "x"), ("RAI_SECRET_TTL_SECONDS", "0")],
                "RAI_SECRET_TTL_SECONDS",
            ),
            (
                &[
                    ("RAI_SECRET_ID", "x"),
                    ("RAI_SECRET_TTL_SECONDS", "18446744073709551615"),
                ],
                "RAI_SECRET_TTL_SECONDS",
            ),
            (&[("SESSION_SECRET", "too-short")], "SESSION_SECRET"),
            (&[BASE, ("RAI_API_KEY", "key\u{e9}")], "RAI_API_KEY"),
            (&[("SESSION_ISSUER", "acme-auth")], "SESSION_JWKS_URL"),
            (
                &[("RAI_SECRET_ID", "x"), ("RAI_SECRET_TTL_SECONDS", "abc")],
                "RAI_SECRET_TTL_SECONDS",
            ),
            (
                &[BASE, ("RAI_WIDGET_API_URL", "not a url")],
                "RAI_WIDGET_API_URL",
            ),
            (
                &[BASE, ("RAI_API_V2_URL", "http://api.example.com")],
                "RAI_API_V2_URL",
            ),
            (
                &[BASE, ("SESSION_JWKS_URL", "ftp://keys.example.com")],
                "SESSION_JWKS_URL",
            ),
            (&[BASE, ("SESSION_HEADER", "bad header")], "SESSION_HEADER"),
            (&[BASE, ("SESSION_COOKIE", "a;b")], "SESSION_COOKIE"),
            (
                &[BASE, ("METRICS_NAMESPACE", "bad{name}")],
                "METRICS_NAMESPACE",
            ),
            (
                &[BASE, ("RAI_COMMUNITY_ID", "../admin")],
                "RAI_COMMUNITY_ID",
            ),
            (&[], "SESSION_JWKS_URL"),
        ];
        for (vars, variable) in cases {
            let err = parse(vars).expect_err(&format!("{vars:?} should be refused"));
            assert_eq!(err.variable, *variable, "{vars:?}: {err}");
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn an_issuer_that_is_no_url_is_only_compared() {
        let c = parse(&[BASE, ("SESSION_ISSUER", "acme-auth")]).unwrap();
        assert_eq!(c.session.issuer.as_deref(), Some("acme-auth"));
        assert!(c.session.discovery_issuer().is_none());
        let c = parse(&[("SESSION_ISSUER", "https://id.example.com")]).unwrap();
        assert!(c.session.discovery_issuer().is_some());
    }

    #[test]
    fn lists_are_parsed() {
        let c = parse(&[
            BASE,
            (
                "CORS_ALLOWED_ORIGINS",
                "https://a.example, http://localhost:3000",
            ),
            ("USER_IDENTIFIERS", "data-email=email, data-user-id=sub"),
            ("SESSION_AUDIENCE", "widgets,portal"),
            ("SESSION_HEADER", "X-Session"),
            ("RAI_WIDGET_API_URL", "http://127.0.0.1:9999"),
        ])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            vec!["https://a.example", "http://localhost:3000"]
        );
        assert_eq!(
            c.session.identifiers[1],
            ("data-user-id".into(), "sub".into())
        );
        assert_eq!(c.session.audience, vec!["widgets", "portal"]);
        assert_eq!(c.session.header.as_str(), "x-session");
    }

    #[test]
    fn the_session_source_follows_the_contracts_order() {
        let c = parse(&[BASE]).unwrap();
        assert_eq!(c.session.source, SessionSource::Jwt);

        let c = parse(&[("SESSION_FROM_AUTHORIZER", "true")]).unwrap();
        assert_eq!(
            c.session.source,
            SessionSource::Authorizer,
            "no JWT keys needed"
        );
        let c = parse(&[BASE, ("SESSION_FROM_AUTHORIZER", "FALSE")]).unwrap();
        assert_eq!(c.session.source, SessionSource::Jwt);

        let c = parse(&[("SESSION_USERINFO_URL", "https://www.example.com/api/me")]).unwrap();
        assert_eq!(
            c.session.source,
            SessionSource::Userinfo(UserinfoConfig {
                url: Url::parse("https://www.example.com/api/me").unwrap(),
                pointer: None,
                ttl: Duration::from_secs(60),
            }),
            "no JWT keys needed, default TTL 60 s"
        );
        let c = parse(&[
            ("SESSION_USERINFO_URL", "http://127.0.0.1:3000/me"),
            ("SESSION_USERINFO_POINTER", "/data/user~1profile"),
            ("SESSION_USERINFO_TTL_SECONDS", "0"),
        ])
        .unwrap();
        match c.session.source {
            SessionSource::Userinfo(u) => {
                assert_eq!(u.url.as_str(), "http://127.0.0.1:3000/me");
                assert_eq!(u.pointer.as_deref(), Some("/data/user~1profile"));
                assert_eq!(u.ttl, Duration::ZERO);
            }
            other => panic!("expected userinfo, got {other:?}"),
        }
        let c = parse(&[
            ("SESSION_USERINFO_URL", "https://id.example.com/userinfo"),
            ("SESSION_USERINFO_TTL_SECONDS", "300"),
        ])
        .unwrap();
        assert!(
            matches!(c.session.source, SessionSource::Userinfo(u) if u.ttl == Duration::from_secs(300))
        );
    }

    #[test]
    fn two_session_sources_stop_the_function_naming_both() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Case] = &[
            (
                &[
                    ("SESSION_FROM_AUTHORIZER", "true"),
                    ("SESSION_USERINFO_URL", "https://www.example.com/me"),
                ],
                "SESSION_FROM_AUTHORIZER",
                "SESSION_USERINFO_URL",
            ),
            (
                &[
                    ("SESSION_FROM_AUTHORIZER", "True"),
                    ("SESSION_JWKS_URL", "https://id.example.com/jwks.json"),
                ],
                "SESSION_FROM_AUTHORIZER",
                "SESSION_JWKS_URL",
            ),
            (
                &[
                    ("SESSION_USERINFO_URL", "https://www.example.com/me"),
                    ("SESSION_JWKS_URL", "https://id.example.com/jwks.json"),
                ],
                "SESSION_USERINFO_URL",
                "SESSION_JWKS_URL",
            ),
        ];
        for (vars, variable, other) in cases {
            let err = parse(vars).expect_err(&format!("{vars:?} should be refused"));
            assert_eq!(err.variable, *variable, "{err}");
            let line = err.to_string();
            assert!(line.contains(variable) && line.contains(other), "{line}");
        }
    }

    #[test]
    fn wrong_session_source_values_name_their_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[BASE, ("SESSION_FROM_AUTHORIZER", "yes")],
                "SESSION_FROM_AUTHORIZER",
            ),
            (
                &[BASE, ("SESSION_FROM_AUTHORIZER", "1")],
                "SESSION_FROM_AUTHORIZER",
            ),
            (
                &[("SESSION_USERINFO_URL", "http://www.example.com/me")],
                "SESSION_USERINFO_URL",
            ),
            (&[("SESSION_USERINFO_URL", "/me")], "SESSION_USERINFO_URL"),
            (
                &[("SESSION_USERINFO_URL", "ftp://www.example.com/me")],
                "SESSION_USERINFO_URL",
            ),
            (
                &[BASE, ("SESSION_USERINFO_TTL_SECONDS", "301")],
                "SESSION_USERINFO_TTL_SECONDS",
            ),
            (
                &[BASE, ("SESSION_USERINFO_TTL_SECONDS", "-1")],
                "SESSION_USERINFO_TTL_SECONDS",
            ),
            (
                &[BASE, ("SESSION_USERINFO_TTL_SECONDS", "1m")],
                "SESSION_USERINFO_TTL_SECONDS",
            ),
            (
                &[BASE, ("SESSION_USERINFO_POINTER", "user")],
                "SESSION_USERINFO_POINTER",
            ),
            (
                &[BASE, ("SESSION_USERINFO_POINTER", "/a~2b")],
                "SESSION_USERINFO_POINTER",
            ),
            (
                &[BASE, ("SESSION_USERINFO_POINTER", "/a~")],
                "SESSION_USERINFO_POINTER",
            ),
            (
                &[BASE, ("METRICS_NAMESPACE", "AWS/Lambda")],
                "METRICS_NAMESPACE",
            ),
            (
                &[BASE, ("METRICS_NAMESPACE", "Rai\u{e9}")],
                "METRICS_NAMESPACE",
            ),
            (&[BASE, ("METRICS_NAMESPACE", "a\tb")], "METRICS_NAMESPACE"),
            (
                &[BASE, ("METRICS_NAMESPACE", &"n".repeat(256))],
                "METRICS_NAMESPACE",
            ),
        ];
        for (vars, variable) in cases {
            let err = parse(vars).expect_err(&format!("{vars:?} should be refused"));
            assert_eq!(err.variable, *variable, "{vars:?}: {err}");
        }
    }

    #[test]
    fn the_metrics_namespace_has_a_default_and_takes_cloudwatchs_characters() {
        assert_eq!(parse(&[BASE]).unwrap().metrics.namespace, "RaiWidgetAuth");
        let ns = "Acme/Widgets-prod_1.0 #a:b";
        assert_eq!(
            parse(&[BASE, ("METRICS_NAMESPACE", ns)])
                .unwrap()
                .metrics
                .namespace,
            ns
        );
        let longest = "n".repeat(255);
        assert_eq!(
            parse(&[BASE, ("METRICS_NAMESPACE", &longest)])
                .unwrap()
                .metrics
                .namespace,
            longest
        );
    }
}
