//! Who is calling: the session JWT, where to find it, and the keys that verify it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::http::{HeaderMap, HeaderName, HeaderValue, header};
use reqwest::Url;
use serde_json::{Map, Value};

use crate::config::{SessionConfig, check_url_transport};
use crate::error::{ApiError, ErrorCode};
use crate::log::Logger;
use crate::secret::SecretStore;
use crate::upstream::read_capped;

/// Real session tokens are well under this; a larger one is refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// A token with an unknown `kid` refetches the key set at most this often, however many such
/// tokens arrive, so random kids cannot turn this function against the identity provider.
const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// With no keys at all (the provider was down at init), retry sooner.
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);
/// Keys are refreshed after this long, so a key the provider withdrew stops working.
const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// The asymmetric algorithms the contract accepts from a key set.
const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The verified claims of a session token.
#[derive(Debug)]
pub struct Session {
    claims: Map<String, Value>,
}

impl Session {
    /// The user's email as the sign-in API wants it, in a header.
    pub fn email(&self, claim: &str) -> Result<HeaderValue, ApiError> {
        let email = self
            .claims
            .get(claim)
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty() && e.len() <= 320 && e.contains('@'))
            .ok_or_else(|| {
                invalid("the session has no email")
                    .with_detail(format!("claim '{claim}' missing or not an email"))
            })?;
        HeaderValue::from_str(email).map_err(|_| {
            invalid("the session's email cannot be used")
                .with_detail(format!("claim '{claim}' is not a valid header value"))
        })
    }

    /// The `userIdentifiers` object for the access-key API: each `data-*` key with its claim.
    pub fn identifiers(&self, pairs: &[(String, String)]) -> Result<Map<String, Value>, ApiError> {
        pairs
            .iter()
            .map(|(key, claim)| {
                let value = match self.claims.get(claim) {
                    Some(Value::String(s)) if !s.is_empty() => s.clone(),
                    // Some providers issue numeric subject ids.
                    Some(Value::Number(n)) => n.to_string(),
                    _ => {
                        return Err(invalid("the session lacks a user identifier").with_detail(
                            format!("claim '{claim}' for '{key}' missing or not a string"),
                        ));
                    }
                };
                Ok((key.clone(), Value::String(value)))
            })
            .collect()
    }
}

fn invalid(message: &'static str) -> ApiError {
    ApiError::new(ErrorCode::InvalidSession, message)
}

pub struct Sessions {
    header: HeaderName,
    cookie: Option<String>,
    /// Claims checks shared by every key source; the algorithm is set per token.
    validation: Validation,
    leeway_seconds: u64,
    keys: Keys,
}

/// Where verification keys come from. The algorithms follow from this, never from the token.
pub enum Keys {
    /// `SESSION_JWKS_URL`.
    KeySet(KeySet),
    /// HS256 with the secret's `sessionSecret` while it has one; otherwise the issuer's keys
    /// through OIDC discovery, when `SESSION_ISSUER` is set.
    SecretOrDiscovery(Option<KeySet>),
}

impl Sessions {
    pub fn new(
        config: &SessionConfig,
        http: reqwest::Client,
        timeout: Duration,
        log: Logger,
    ) -> Self {
        let keys = match (&config.jwks_url, config.discovery_issuer(), &config.issuer) {
            (Some(url), _, _) => {
                Keys::KeySet(KeySet::new(KeySource::Url(url.clone()), http, timeout, log))
            }
            (None, Some(_), Some(issuer)) => Keys::SecretOrDiscovery(Some(KeySet::new(
                KeySource::Discovery {
                    issuer: issuer.clone(),
                },
                http,
                timeout,
                log,
            ))),
            _ => Keys::SecretOrDiscovery(None),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        if config.audience.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&config.audience);
            required.push("aud");
        }
        validation.set_required_spec_claims(&required);
        Self {
            header: config.header.clone(),
            cookie: config.cookie.clone(),
            validation,
            leeway_seconds: config.leeway_seconds,
            keys,
        }
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Finds the token, checks its signature and claims. `secrets` supplies the HS256 key when
    /// the session secret is the key source.
    pub async fn verify(
        &self,
        headers: &HeaderMap,
        secrets: &SecretStore,
    ) -> Result<Session, ApiError> {
        let token = self.token(headers)?;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the session token is too large")
                .with_detail(format!("{} bytes", token.len())));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            invalid("the session token is malformed").with_detail(kind_name(e.kind()))
        })?;
        // RFC 7515 4.1.11: a critical extension this verifier does not know means refuse.
        if header.crit.is_some() {
            return Err(invalid("the session token is not accepted").with_detail("crit header"));
        }
        let alg = header.alg;
        let key = match &self.keys {
            Keys::KeySet(set) => set.key_for(header.kid.as_deref(), alg).await?,
            Keys::SecretOrDiscovery(discovery) => {
                let credentials = secrets.get().await?;
                match (&credentials.session_secret, discovery) {
                    (Some(secret), _) => {
                        if alg != Algorithm::HS256 {
                            return Err(wrong_alg(alg));
                        }
                        DecodingKey::from_secret(secret.as_bytes())
                    }
                    (None, Some(set)) => set.key_for(header.kid.as_deref(), alg).await?,
                    (None, None) => {
                        return Err(ApiError::new(
                            ErrorCode::NotConfigured,
                            "session verification is not configured",
                        )
                        .with_detail(
                            "no SESSION_JWKS_URL, no SESSION_ISSUER and no sessionSecret",
                        ));
                    }
                }
            }
        };
        let mut validation = self.validation.clone();
        validation.algorithms = vec![alg];
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| rejected(e.kind()))?
            .claims;
        self.check_iat(&claims)?;
        if matches!(claims.get("email_verified"), Some(Value::Bool(false)))
            || matches!(claims.get("email_verified"), Some(Value::String(s)) if s == "false")
        {
            return Err(ApiError::new(
                ErrorCode::EmailNotVerified,
                "the session's email address is not verified",
            ));
        }
        Ok(Session { claims })
    }

    fn check_iat(&self, claims: &Map<String, Value>) -> Result<(), ApiError> {
        let Some(iat) = claims.get("iat") else {
            return Ok(());
        };
        let Some(iat) = iat.as_f64() else {
            return Err(
                invalid("the session token is malformed").with_detail("iat is not a number")
            );
        };
        let now = jsonwebtoken::get_current_timestamp() as f64;
        if iat > now + self.leeway_seconds as f64 {
            return Err(
                invalid("the session token is not valid yet").with_detail("iat in the future")
            );
        }
        Ok(())
    }

    /// The header named by `SESSION_HEADER` first, then the `SESSION_COOKIE` cookie.
    fn token<'h>(&self, headers: &'h HeaderMap) -> Result<&'h str, ApiError> {
        let mut values = headers.get_all(&self.header).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(
                    invalid("more than one session header").with_detail("duplicate session header")
                );
            }
            if self.header != header::AUTHORIZATION {
                let text = value.to_str().map_err(|_| {
                    invalid("the session token is malformed")
                        .with_detail("session header is not ASCII")
                })?;
                // An empty header (a client sending `token ?? ""`) is no session.
                if !text.trim().is_empty() {
                    return Ok(text.trim());
                }
            } else if let Some(token) = value.to_str().ok().and_then(bearer) {
                return Ok(token);
            }
            // Another scheme (Basic, ...) or nothing usable: the cookie may still hold a session.
        }
        match &self.cookie {
            Some(name) => cookie(headers, name),
            None => Err(missing()),
        }
    }
}

fn missing() -> ApiError {
    ApiError::new(ErrorCode::MissingSession, "no session token was sent")
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The value of cookie `name` across every `Cookie` header. The same name twice with different
/// values is refused: picking one could sign the user in as whoever planted the other (cookie
/// tossing from a sibling subdomain).
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, ApiError> {
    let mut found: Option<&'h str> = None;
    for header_value in headers.get_all(header::COOKIE) {
        for pair in header_value.as_bytes().split(|&b| b == b';') {
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if pair[..eq].trim_ascii() != name.as_bytes() {
                continue;
            }
            let raw = pair[eq + 1..].trim_ascii();
            let raw = raw
                .strip_prefix(b"\"")
                .and_then(|r| r.strip_suffix(b"\""))
                .unwrap_or(raw);
            let value = std::str::from_utf8(raw).map_err(|_| {
                invalid("the session token is malformed").with_detail("session cookie is not UTF-8")
            })?;
            match found {
                Some(earlier) if earlier != value => {
                    return Err(invalid("more than one session cookie")
                        .with_detail("session cookie sent twice with different values"));
                }
                _ => found = Some(value),
            }
        }
    }
    found.filter(|v| !v.is_empty()).ok_or_else(missing)
}

fn wrong_alg(alg: Algorithm) -> ApiError {
    invalid("the session token is not accepted")
        .with_detail(format!("algorithm {alg:?} not accepted"))
}

fn rejected(kind: &jsonwebtoken::errors::ErrorKind) -> ApiError {
    use jsonwebtoken::errors::ErrorKind as K;
    let message = match kind {
        K::ExpiredSignature => "the session token has expired",
        K::ImmatureSignature => "the session token is not valid yet",
        K::InvalidIssuer => "the session token has the wrong issuer",
        K::InvalidAudience => "the session token has the wrong audience",
        K::MissingRequiredClaim(_) => "the session token lacks a required claim",
        K::InvalidSignature => "the session token's signature is not valid",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "the session token is not accepted",
        _ => "the session token is malformed",
    };
    invalid(message).with_detail(kind_name(kind))
}

/// A fixed name for the log: the library's own texts can quote parts of the token.
fn kind_name(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "expired".into(),
        K::ImmatureSignature => "nbf in the future".into(),
        K::InvalidIssuer => "wrong iss".into(),
        K::InvalidAudience => "wrong aud".into(),
        K::InvalidSubject => "wrong sub".into(),
        K::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        K::InvalidClaimFormat(claim) => format!("malformed claim {claim}"),
        K::InvalidSignature => "bad signature".into(),
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            "algorithm not accepted".into()
        }
        K::InvalidToken => "not a JWS compact token".into(),
        K::Base64(_) => "bad base64".into(),
        K::Json(_) => "bad JSON".into(),
        K::Utf8(_) => "bad UTF-8".into(),
        _ => "unverifiable".into(),
    }
}

/// A verification key and the algorithms it may verify.
struct Key {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

pub enum KeySource {
    Url(Url),
    Discovery { issuer: String },
}

struct KeyState {
    keys: Arc<Vec<Key>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

/// A JWKS fetched once, cached, and refetched under a cooldown shared by all requests.
pub struct KeySet {
    source: KeySource,
    http: reqwest::Client,
    timeout: Duration,
    state: Mutex<KeyState>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
    log: Logger,
}

impl KeySet {
    pub fn new(source: KeySource, http: reqwest::Client, timeout: Duration, log: Logger) -> Self {
        Self {
            source,
            http,
            timeout,
            state: Mutex::new(KeyState {
                keys: Arc::new(Vec::new()),
                fetched: None,
                last_attempt: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            log,
        }
    }

    /// Fetches the keys now (at init). A failure is logged and retried on demand.
    pub async fn load(&self) {
        let _fetching = self.fetching.lock().await;
        self.fetch().await;
    }

    async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, ApiError> {
        if !ASYMMETRIC.contains(&alg) {
            return Err(wrong_alg(alg));
        }
        let (keys, fresh) = self.snapshot();
        if fresh && let Some(found) = find(&keys, kid, alg) {
            return found;
        }
        {
            let _fetching = self.fetching.lock().await;
            if self.may_fetch() {
                self.fetch().await;
            }
        }
        let (keys, _) = self.snapshot();
        if keys.is_empty() {
            return Err(ApiError::new(
                ErrorCode::UpstreamError,
                "the session keys could not be fetched",
            )
            .with_detail("no keys loaded from the identity provider"));
        }
        find(&keys, kid, alg).unwrap_or_else(|| {
            Err(invalid("the session token's key is unknown")
                .with_detail("no key matches the token's kid and alg"))
        })
    }

    fn snapshot(&self) -> (Arc<Vec<Key>>, bool) {
        let state = self.lock_state();
        let fresh = state.fetched.is_some_and(|at| at.elapsed() < KEYS_MAX_AGE);
        (state.keys.clone(), fresh)
    }

    fn may_fetch(&self) -> bool {
        let state = self.lock_state();
        let wait = if state.keys.is_empty() {
            RETRY_WITHOUT_KEYS
        } else {
            REFETCH_COOLDOWN
        };
        state.last_attempt.is_none_or(|at| at.elapsed() >= wait)
    }

    /// Callers hold `fetching`.
    async fn fetch(&self) {
        self.lock_state().last_attempt = Some(Instant::now());
        match tokio::time::timeout(self.timeout, self.download()).await {
            Ok(Ok(keys)) if !keys.is_empty() => {
                let mut state = self.lock_state();
                state.keys = Arc::new(keys);
                state.fetched = Some(Instant::now());
            }
            Ok(Ok(_)) => {
                self.log
                    .event("warn", "jwks_fetch_failed", "the key set has no usable key")
            }
            Ok(Err(why)) => self.log.event("warn", "jwks_fetch_failed", &why),
            Err(_) => self.log.event("warn", "jwks_fetch_failed", "timed out"),
        }
    }

    async fn download(&self) -> Result<Vec<Key>, String> {
        let jwks_url = match &self.source {
            KeySource::Url(url) => url.clone(),
            KeySource::Discovery { issuer } => self.discover(issuer).await?,
        };
        let document = self.get_json(jwks_url).await?;
        let keys = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or("the key set has no 'keys' array")?;
        // One key the library cannot read must not take the others down with it.
        Ok(keys
            .iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
            .filter_map(|jwk| key_from_jwk(&jwk))
            .collect())
    }

    async fn discover(&self, issuer: &str) -> Result<Url, String> {
        let url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ))
        .map_err(|e| format!("discovery URL: {e}"))?;
        let document = self.get_json(url).await?;
        // OpenID Connect Discovery 4.3: the document must name the issuer it was fetched for.
        if document.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err("the discovery document names another issuer".into());
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or("the discovery document has no jwks_uri")?;
        let jwks_uri = Url::parse(jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
        check_url_transport(&jwks_uri).map_err(|e| format!("jwks_uri {e}"))?;
        Ok(jwks_uri)
    }

    async fn get_json(&self, url: Url) -> Result<Value, String> {
        let response = self
            .http
            .get(url)
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| crate::upstream::transport(e).to_string())?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status().as_u16()));
        }
        let bytes = read_capped(response, MAX_KEY_SET_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        serde_json::from_slice(&bytes).map_err(|_| "not JSON".to_owned())
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, KeyState> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// The key for `kid` that may verify `alg`; `None` when the set has no such key (a refetch may
/// help). A token without a `kid` is accepted only when exactly one key could verify it.
fn find(keys: &[Key], kid: Option<&str>, alg: Algorithm) -> Option<Result<DecodingKey, ApiError>> {
    let named = || {
        keys.iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
    };
    let mut fitting = named().filter(|k| k.algorithms.contains(&alg));
    match (fitting.next(), fitting.next()) {
        (Some(_), Some(_)) if kid.is_none() => {
            Some(Err(invalid("the session token's key is unknown")
                .with_detail("no kid and several keys could verify it")))
        }
        (Some(key), _) => Some(Ok(key.key.clone())),
        // The kid is known but not for this algorithm: refused without a refetch.
        (None, _) if kid.is_some() && named().next().is_some() => Some(Err(wrong_alg(alg))),
        (None, _) => None,
    }
}

/// Turns a JWK into a key with the algorithms it may verify: the JWK's own `alg` when it names
/// one, otherwise those its type and curve allow. Encryption keys and symmetric keys are skipped:
/// a shared secret in a public key set would let anyone mint sessions.
fn key_from_jwk(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => {
            let named = key_algorithm(named)?;
            if !by_type.contains(&named) {
                return None;
            }
            vec![named]
        }
    };
    Some(Key {
        kid: jwk.common.key_id.clone(),
        algorithms,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}

fn key_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        h
    }

    #[test]
    fn cookies_are_found_across_headers_and_quotes() {
        let h = headers(&[("cookie", b"a=1; sid=\"tok\""), ("cookie", b"b=2")]);
        assert_eq!(cookie(&h, "sid").unwrap(), "tok");
        let h = headers(&[("cookie", b"sid=tok; sid=tok")]);
        assert_eq!(cookie(&h, "sid").unwrap(), "tok");
    }

    #[test]
    fn odd_cookies_are_refused_not_panicked_on() {
        let two = headers(&[("cookie", b"sid=one; sid=two")]);
        assert_eq!(
            cookie(&two, "sid").unwrap_err().code,
            ErrorCode::InvalidSession
        );
        let binary = headers(&[("cookie", b"sid=\xff\xfe")]);
        assert_eq!(
            cookie(&binary, "sid").unwrap_err().code,
            ErrorCode::InvalidSession
        );
        for missing in [&b"sid"[..], b"sid=", b";;;=;", b"xsid=1", b""] {
            let h = headers(&[("cookie", missing)]);
            assert_eq!(
                cookie(&h, "sid").unwrap_err().code,
                ErrorCode::MissingSession
            );
        }
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearer"), None);
    }

    /// A key set whose last fetch was `ago` in the past, serving `keys` from a real server.
    async fn key_set_fetched(keys: Value, ago: Duration) -> (KeySet, wiremock::MockServer) {
        use wiremock::{Mock, ResponseTemplate, matchers};
        let server = wiremock::MockServer::start().await;
        Mock::given(matchers::path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(keys))
            .mount(&server)
            .await;
        let url = Url::parse(&format!("{}/jwks.json", server.uri())).unwrap();
        let set = KeySet::new(
            KeySource::Url(url),
            reqwest::Client::new(),
            Duration::from_secs(5),
            Logger::to(crate::log::MemorySink::default()),
        );
        set.load().await;
        let earlier = Instant::now().checked_sub(ago);
        let mut state = set.lock_state();
        state.last_attempt = earlier;
        state.fetched = earlier;
        drop(state);
        (set, server)
    }

    fn rsa_jwk(kid: &str) -> Value {
        // A syntactically valid RSA public key (the test never verifies with it).
        serde_json::json!({ "kty": "RSA", "kid": kid, "alg": "RS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAh3gh9-Fvpgj3PfajgKdSsFJnJh9JS8pXY9TvG8PVnQpCtyZC7SrTAEzkWCT_Bn4lVwZVIJqhCxfURFiNz8l8JBhlz6Sk3o6ND6kUDZNaZdTX3a3J0WdA6MrtpGzCsT1K8jXFZmRGrU-RKRFG8pPjQrhW3RYqRd4mkZyLJfR7N9zTXlhf_NnFMvCNnLLx39KRHJhhFRSHmctvjbXS5L7AB0VtkXeRfWQ", "e": "AQAB" })
    }

    #[tokio::test]
    async fn after_the_cooldown_one_shared_refetch_finds_a_new_key() {
        let (set, server) = key_set_fetched(
            serde_json::json!({ "keys": [rsa_jwk("old")] }),
            REFETCH_COOLDOWN + Duration::from_secs(1),
        )
        .await;
        // The provider rotates in a new key.
        server.reset().await;
        wiremock::Mock::given(wiremock::matchers::path("/jwks.json"))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({ "keys": [rsa_jwk("old"), rsa_jwk("new")] })),
            )
            .mount(&server)
            .await;

        let lookups = (0..10).map(|_| set.key_for(Some("new"), Algorithm::RS256));
        for found in futures::future::join_all(lookups).await {
            assert!(found.is_ok(), "the rotated-in key is found");
        }
        let fetches = server.received_requests().await.unwrap().len();
        assert_eq!(fetches, 1, "ten concurrent lookups share one refetch");

        // Within the cooldown, another unknown kid does not fetch again.
        let unknown = set.key_for(Some("never"), Algorithm::RS256).await;
        assert_eq!(
            unknown.err().map(|e| e.code),
            Some(ErrorCode::InvalidSession)
        );
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn keys_older_than_the_max_age_are_refreshed_and_withdrawn_keys_stop_working() {
        let (set, server) = key_set_fetched(
            serde_json::json!({ "keys": [rsa_jwk("withdrawn")] }),
            KEYS_MAX_AGE + Duration::from_secs(1),
        )
        .await;
        server.reset().await;
        wiremock::Mock::given(wiremock::matchers::path("/jwks.json"))
            .respond_with(
                wiremock::ResponseTemplate::new(200)
                    .set_body_json(serde_json::json!({ "keys": [rsa_jwk("current")] })),
            )
            .mount(&server)
            .await;
        let found = set.key_for(Some("withdrawn"), Algorithm::RS256).await;
        assert_eq!(found.err().map(|e| e.code), Some(ErrorCode::InvalidSession));
        assert!(set.key_for(Some("current"), Algorithm::RS256).await.is_ok());
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}
