//! A JWKS fetched at init, cached, and refetched under a cooldown shared by every request.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;

use crate::error::{ApiError, ErrorCode};
use crate::lock::lock;
use crate::log::Logger;
use crate::outbound::get_json;

use super::jwk::{ASYMMETRIC, Key, KeySetDocument, find};
use super::{discovery, invalid, wrong_alg};

/// A token with an unknown `kid` refetches the key set at most this often, however many such
/// tokens arrive, so random kids cannot turn this function against the identity provider.
pub(super) const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// With no keys at all (the provider was down at init), retry sooner.
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);
/// Keys are refreshed after this long, so a key the provider withdrew stops working.
pub(super) const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
const MAX_KEY_SET_BYTES: usize = 256 * 1024;

/// Where the key set is published.
pub enum KeySetUrl {
    /// `SESSION_JWKS_URL`.
    Fixed(Url),
    /// The `jwks_uri` of `SESSION_ISSUER`'s discovery document.
    Discovered { issuer: String },
}

struct KeyState {
    keys: Arc<Vec<Key>>,
    fetched: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct KeySet {
    url: KeySetUrl,
    http: reqwest::Client,
    timeout: Duration,
    state: Mutex<KeyState>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
    log: Logger,
}

impl KeySet {
    pub fn new(url: KeySetUrl, http: reqwest::Client, timeout: Duration, log: Logger) -> Self {
        Self {
            url,
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

    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<DecodingKey, ApiError> {
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
        let state = lock(&self.state);
        let fresh = state.fetched.is_some_and(|at| at.elapsed() < KEYS_MAX_AGE);
        (state.keys.clone(), fresh)
    }

    fn may_fetch(&self) -> bool {
        let state = lock(&self.state);
        let wait = if state.keys.is_empty() {
            RETRY_WITHOUT_KEYS
        } else {
            REFETCH_COOLDOWN
        };
        state.last_attempt.is_none_or(|at| at.elapsed() >= wait)
    }

    /// Callers hold `fetching`.
    async fn fetch(&self) {
        lock(&self.state).last_attempt = Some(Instant::now());
        match tokio::time::timeout(self.timeout, self.download()).await {
            Ok(Ok(keys)) if !keys.is_empty() => {
                let mut state = lock(&self.state);
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
        let url = match &self.url {
            KeySetUrl::Fixed(url) => url.clone(),
            KeySetUrl::Discovered { issuer } => discovery::jwks_uri(&self.http, issuer).await?,
        };
        let document: KeySetDocument = get_json(&self.http, url, MAX_KEY_SET_BYTES)
            .await
            .map_err(|e| format!("key set: {e}"))?;
        Ok(document.usable_keys())
    }

    #[cfg(test)]
    fn pretend_fetched(&self, ago: Duration) {
        let earlier = Instant::now().checked_sub(ago);
        let mut state = lock(&self.state);
        state.last_attempt = earlier;
        state.fetched = earlier;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::jwk::tests::rsa_jwk;
    use serde_json::{Value, json};
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers};

    async fn serve(server: &MockServer, keys: Value) {
        server.reset().await;
        Mock::given(matchers::path("/jwks.json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(keys))
            .mount(server)
            .await;
    }

    /// A key set whose last fetch was `ago` in the past, serving `keys` from a real server.
    async fn key_set_fetched(keys: Value, ago: Duration) -> (KeySet, MockServer) {
        let server = MockServer::start().await;
        serve(&server, keys).await;
        let url = Url::parse(&format!("{}/jwks.json", server.uri())).unwrap();
        let set = KeySet::new(
            KeySetUrl::Fixed(url),
            reqwest::Client::new(),
            Duration::from_secs(5),
            Logger::to(std::io::sink()),
        );
        set.load().await;
        set.pretend_fetched(ago);
        (set, server)
    }

    #[tokio::test]
    async fn after_the_cooldown_one_shared_refetch_finds_a_new_key() {
        let (set, server) = key_set_fetched(
            json!({ "keys": [rsa_jwk("old")] }),
            REFETCH_COOLDOWN + Duration::from_secs(1),
        )
        .await;
        // The provider rotates in a new key.
        serve(&server, json!({ "keys": [rsa_jwk("old"), rsa_jwk("new")] })).await;

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
            json!({ "keys": [rsa_jwk("withdrawn")] }),
            KEYS_MAX_AGE + Duration::from_secs(1),
        )
        .await;
        serve(&server, json!({ "keys": [rsa_jwk("current")] })).await;
        let found = set.key_for(Some("withdrawn"), Algorithm::RS256).await;
        assert_eq!(found.err().map(|e| e.code), Some(ErrorCode::InvalidSession));
        assert!(set.key_for(Some("current"), Algorithm::RS256).await.is_ok());
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}
