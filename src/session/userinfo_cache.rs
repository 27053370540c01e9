//! Userinfo answers, cached per credential and shared by concurrent requests.
//!
//! - The key is the SHA-256 of the forwarded header line; the credential itself is never kept.
//! - An answer is reused for `SESSION_USERINFO_TTL_SECONDS` (0: never), then asked for again: no
//!   stale answers, since a signed-out session must stop working within the TTL.
//! - Only sessions are cached; refusals (401/403, no user) and failures never are.
//! - One call per credential at a time: it runs as its own task, so a waiter whose invocation
//!   deadline fires gives up waiting without cancelling the call the others are waiting for, and
//!   the answer still lands in the cache.
//! - At most [`super::expiring::MAX_ENTRIES`] answers of at most
//!   [`super::claims::MAX_KEPT_BYTES`] each: expired answers go first, then the ones closest to
//!   expiry (with one TTL for all, the oldest).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::error::{ApiError, ErrorCode};
use crate::lock::lock;
use crate::log::{Background, Logger};

use super::claims::Kept;
use super::expiring::{Digest as Key, Expiring, digest_of};
use super::userinfo::{Forward, Userinfo, UserinfoError};

type Claims = Arc<Map<String, Value>>;
type Outcome = Result<Claims, UserinfoError>;

pub struct UserinfoCache {
    userinfo: Arc<Userinfo>,
    ttl: Duration,
    state: Arc<Mutex<State>>,
    log: Logger,
}

impl UserinfoCache {
    pub fn new(userinfo: Userinfo, ttl: Duration, log: Logger) -> Self {
        Self {
            userinfo: Arc::new(userinfo),
            ttl,
            state: Arc::new(Mutex::new(State::default())),
            log,
        }
    }

    /// The claims for this credential: cached, from the call already under way, or from a new one.
    pub async fn claims(&self, forward: Forward) -> Result<Map<String, Value>, ApiError> {
        let key = key_of(&forward);
        let mut answer = {
            let mut state = lock(&self.state);
            if let Some(claims) = state.answers.fresh(&key, Instant::now()) {
                return Ok((*claims).clone());
            }
            match state.flights.get(&key) {
                Some(flight) => flight.clone(),
                None => {
                    let (tx, rx) = watch::channel(None);
                    state.flights.insert(key, rx.clone());
                    self.start(key, forward, tx);
                    rx
                }
            }
        };
        let outcome = answer
            .wait_for(Option::is_some)
            .await
            .map(|done| done.clone())
            .ok()
            .flatten();
        match outcome {
            Some(Ok(claims)) => Ok((*claims).clone()),
            Some(Err(why)) => Err(why.to_api_error()),
            // The call's task ended without an answer (it panicked): its guard already let the
            // next request start a new one.
            None => Err(ApiError::new(
                ErrorCode::UpstreamError,
                "the session could not be checked",
            )
            .with_detail("userinfo call ended without an answer")),
        }
    }

    /// Runs one userinfo call as its own task and hands its outcome to every waiter.
    fn start(&self, key: Key, forward: Forward, tx: watch::Sender<Option<Outcome>>) {
        let userinfo = self.userinfo.clone();
        let state = self.state.clone();
        let log = self.log.clone();
        let ttl = self.ttl;
        tokio::spawn(async move {
            // Whatever happens to this task, the flight is over when it ends.
            let _flight = FlightGuard {
                state: state.clone(),
                key,
            };
            let outcome = userinfo.fetch(&forward).await.map(Arc::new);
            match &outcome {
                Err(why) if why.is_fetch_failure() => {
                    // The detail is a status or a reason: never the credential, URL or body.
                    log.failure(
                        Background::UserinfoFetch,
                        &why.to_api_error().detail.unwrap_or_default(),
                    );
                }
                Ok(claims) if !ttl.is_zero() && Kept::small_enough(claims) => {
                    let now = Instant::now();
                    lock(&state)
                        .answers
                        .insert(key, claims.clone(), now + ttl, now);
                }
                _ => {}
            }
            lock(&state).flights.remove(&key);
            // No receiver left (every waiter gave up) is fine: the answer is cached anyway.
            let _ = tx.send(Some(outcome));
        });
    }
}

/// The SHA-256 of the credential's header line.
fn key_of(forward: &Forward) -> Key {
    digest_of(&forward.identity())
}

/// Ends a flight when its task ends, by return or by panic.
struct FlightGuard {
    state: Arc<Mutex<State>>,
    key: Key,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        lock(&self.state).flights.remove(&self.key);
    }
}

#[derive(Default)]
struct State {
    answers: Expiring<Claims>,
    /// Calls under way, each with the channel its answer arrives on.
    flights: HashMap<Key, watch::Receiver<Option<Outcome>>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_a_hash_of_the_whole_header_line() {
        use crate::session::credential::Locator;
        use http::{HeaderMap, HeaderValue, header};
        let locator = Locator::new(header::AUTHORIZATION, Some("sid".into()));
        let mut a = HeaderMap::new();
        a.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer abc"),
        );
        let mut b = HeaderMap::new();
        b.insert(header::COOKIE, HeaderValue::from_static("sid=abc"));
        let ka = key_of(&Forward::new(&locator.find(&a).unwrap()).unwrap());
        let kb = key_of(&Forward::new(&locator.find(&b).unwrap()).unwrap());
        assert_ne!(
            ka, kb,
            "the same token as header and as cookie are two credentials"
        );
        assert_eq!(
            ka,
            key_of(&Forward::new(&locator.find(&a).unwrap()).unwrap())
        );
        assert!(!ka.windows(3).any(|w| w == b"abc"));
    }
}
