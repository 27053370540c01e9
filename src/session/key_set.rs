//! A JWKS fetched at init, cached, and refetched under a cooldown shared by every request.
//!
//! Keys older than [`KEYS_MAX_AGE`] still verify at once while one background fetch refreshes
//! them, so no caller waits on the identity provider for a key it has; while the provider cannot
//! be reached they stay in use up to [`KEYS_STALE_LIMIT`] after the last good fetch, then no
//! longer (a revoked key must not live forever). Only a token whose key is not cached (an unknown
//! `kid`, or no keys at all) waits for a fetch.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use reqwest::Url;

use crate::error::{ApiError, ErrorCode};
use crate::lock::lock;
use crate::log::Background;
use crate::outbound::{Outbound, get_json};
use crate::refresh::Refresh;

use super::jwk::{ASYMMETRIC, Key, KeySetDocument, find};
use super::keys::VerifyingKey;
use super::{discovery, invalid, wrong_alg};

/// A token with an unknown `kid` refetches the key set at most this often, however many such
/// tokens arrive, so random kids cannot turn this function against the identity provider.
pub(super) const REFETCH_COOLDOWN: Duration = Duration::from_secs(30);
/// With no keys at all (the provider was down at init), retry sooner.
const RETRY_WITHOUT_KEYS: Duration = Duration::from_secs(5);
/// Keys are refreshed after this long, so a key the provider withdrew stops working.
pub(super) const KEYS_MAX_AGE: Duration = Duration::from_secs(3600);
/// How long keys stay in use after the last good fetch while the provider cannot be reached: a
/// day of provider outage is served; a key revoked during it lives at most that long.
pub const KEYS_STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);
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
    outbound: Outbound,
    state: Mutex<KeyState>,
    /// Held while fetching, so concurrent requests wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
    /// Set while a background fetch refreshes old keys, so there is one at a time.
    refresh: Refresh,
}

/// How the cached keys may be used now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Age {
    Fresh,
    /// Past [`KEYS_MAX_AGE`]: used while a background fetch refreshes them.
    Stale,
    /// Never fetched, or past [`KEYS_STALE_LIMIT`]: not used.
    Expired,
}

impl KeySet {
    pub fn new(url: KeySetUrl, outbound: Outbound) -> Self {
        Self {
            url,
            outbound,
            state: Mutex::new(KeyState {
                keys: Arc::new(Vec::new()),
                fetched: None,
                last_attempt: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
            refresh: Refresh::default(),
        }
    }

    /// Fetches the keys now (at init). A failure is logged and retried on demand.
    pub async fn load(&self) {
        let _fetching = self.fetching.lock().await;
        self.fetch().await;
    }

    pub async fn key_for(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<VerifyingKey, ApiError> {
        if !ASYMMETRIC.contains(&alg) {
            return Err(wrong_alg(alg));
        }
        let (keys, age) = self.snapshot();
        if age != Age::Expired
            && let Some(found) = find(&keys, kid, alg)
        {
            if age == Age::Stale {
                self.refresh_in_background();
            }
            return found;
        }
        {
            let _fetching = self.fetching.lock().await;
            if self.may_fetch() {
                self.fetch().await;
            }
        }
        let (keys, age) = self.snapshot();
        if age == Age::Expired {
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

    fn snapshot(&self) -> (Arc<Vec<Key>>, Age) {
        let state = lock(&self.state);
        let age = match state.fetched.map(|at| at.elapsed()) {
            Some(age) if age < KEYS_MAX_AGE => Age::Fresh,
            Some(age) if age < KEYS_STALE_LIMIT => Age::Stale,
            _ => Age::Expired,
        };
        (state.keys.clone(), age)
    }

    fn refresh_in_background(self: &Arc<Self>) {
        let set = Arc::clone(self);
        self.refresh.start(async move {
            let _fetching = set.fetching.lock().await;
            if set.snapshot().1 != Age::Fresh && set.may_fetch() {
                set.fetch().await;
            }
        });
    }

    fn may_fetch(&self) -> bool {
        let state = lock(&self.state);
        let wait = if state.fetched.is_none() {
            RETRY_WITHOUT_KEYS
        } else {
            REFETCH_COOLDOWN
        };
        state.last_attempt.is_none_or(|at| at.elapsed() >= wait)
    }

    /// Callers hold `fetching`. An attempt counts once it ends: one cut short (an init that ran
    /// out of time) does not hold back the next.
    async fn fetch(&self) {
        // Boxed: a rare refetch should not size every request's future.
        let result = tokio::time::timeout(self.outbound.timeout, Box::pin(self.download())).await;
        let mut state = lock(&self.state);
        state.last_attempt = Some(Instant::now());
        let why = match result {
            Ok(Ok(keys)) if !keys.is_empty() => {
                state.keys = Arc::new(keys);
                state.fetched = Some(Instant::now());
                return;
            }
            Ok(Ok(_)) => "the key set has no usable key".to_owned(),
            Ok(Err(why)) => why,
            Err(_) => "timed out".to_owned(),
        };
        drop(state);
        self.outbound
            .log
            .failure(Background::SessionKeysFetch, &why);
    }

    async fn download(&self) -> Result<Vec<Key>, String> {
        let url = match &self.url {
            KeySetUrl::Fixed(url) => url.clone(),
            KeySetUrl::Discovered { issuer } => {
                discovery::jwks_uri(&self.outbound.http, issuer).await?
            }
        };
        let document: KeySetDocument = get_json(&self.outbound.http, url, MAX_KEY_SET_BYTES)
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
    use crate::log::Logger;
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
            Outbound {
                http: reqwest::Client::new(),
                timeout: Duration::from_secs(5),
                log: Logger::to(std::io::sink()),
            },
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

        let set = Arc::new(set);
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

    /// Waits (briefly) until the server has seen `n` requests.
    async fn requests_reach(server: &MockServer, n: usize) {
        for _ in 0..200 {
            if server.received_requests().await.unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server never saw {n} requests");
    }

    #[tokio::test]
    async fn old_keys_answer_at_once_while_one_background_fetch_refreshes_them() {
        let (set, server) = key_set_fetched(
            json!({ "keys": [rsa_jwk("withdrawn")] }),
            KEYS_MAX_AGE + Duration::from_secs(1),
        )
        .await;
        // The provider has withdrawn the key, and answers slowly.
        server.reset().await;
        Mock::given(matchers::path("/jwks.json"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({ "keys": [rsa_jwk("current")] }))
                    .set_delay(Duration::from_millis(300)),
            )
            .mount(&server)
            .await;
        let set = Arc::new(set);
        let started = Instant::now();
        for _ in 0..5 {
            assert!(
                set.key_for(Some("withdrawn"), Algorithm::RS256)
                    .await
                    .is_ok()
            );
        }
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "answered from the cache, not after the fetch: {:?}",
            started.elapsed()
        );
        requests_reach(&server, 1).await;
        // Once the refresh lands, the withdrawn key stops working.
        let mut refused = false;
        for _ in 0..100 {
            if set
                .key_for(Some("withdrawn"), Algorithm::RS256)
                .await
                .is_err()
            {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            refused,
            "the withdrawn key still verifies after the refresh"
        );
        assert!(set.key_for(Some("current"), Algorithm::RS256).await.is_ok());
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "one fetch"
        );
    }

    #[tokio::test]
    async fn keys_stay_in_use_while_the_provider_is_down_but_not_past_the_stale_limit() {
        let set = |ago| async move {
            let (set, server) = key_set_fetched(json!({ "keys": [rsa_jwk("k")] }), ago).await;
            server.reset().await;
            Mock::given(matchers::path("/jwks.json"))
                .respond_with(ResponseTemplate::new(503))
                .mount(&server)
                .await;
            (Arc::new(set), server)
        };
        let (within, server) = set(KEYS_STALE_LIMIT - Duration::from_secs(60)).await;
        assert!(within.key_for(Some("k"), Algorithm::RS256).await.is_ok());
        requests_reach(&server, 1).await;
        assert!(within.key_for(Some("k"), Algorithm::RS256).await.is_ok());

        let (past, _server) = set(KEYS_STALE_LIMIT + Duration::from_secs(60)).await;
        let refused = past.key_for(Some("k"), Algorithm::RS256).await;
        assert_eq!(
            refused.err().map(|e| e.code),
            Some(ErrorCode::UpstreamError)
        );
    }
}
