//! Userinfo answers, cached per credential and shared by concurrent requests.
//!
//! - The key is the SHA-256 of the forwarded header line; the credential itself is never kept.
//! - An answer is reused for `SESSION_USERINFO_TTL_SECONDS` (0: never), then asked for again: no
//!   stale answers, since a signed-out session must stop working within the TTL.
//! - Only sessions are cached; refusals (401/403, no user) and failures never are.
//! - One call per credential at a time: it runs as its own task, so a waiter whose invocation
//!   deadline fires gives up waiting without cancelling the call the others are waiting for, and
//!   the answer still lands in the cache.
//! - At most [`MAX_ENTRIES`] answers of at most [`MAX_ENTRY_BYTES`] each: expired answers go first,
//!   then the ones closest to expiry (with one TTL for all, the oldest).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use serde_json::{Map, Value};
use tokio::sync::watch;

use crate::error::{ApiError, ErrorCode};
use crate::lock::lock;
use crate::log::{Background, Logger};

use super::userinfo::{Forward, Userinfo, UserinfoError};

/// With the size cap below, the cache holds at most about 8 MiB of claims: small beside a
/// 128 MB function, and far more sessions than one execution environment sees within a TTL.
pub const MAX_ENTRIES: usize = 4096;
/// A kept answer (email, `email_verified`, identifiers) is well under this; a larger one is used
/// for its request but not kept, so no caller can fill memory with huge claims.
pub const MAX_ENTRY_BYTES: usize = 2048;

type Key = [u8; 32];
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
            if let Some(claims) = state.fresh(&key, Instant::now()) {
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
                Ok(claims) if !ttl.is_zero() && fits(claims) => {
                    let now = Instant::now();
                    lock(&state).insert(key, claims.clone(), now + ttl, now);
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
    let hash = digest::digest(&digest::SHA256, &forward.identity());
    let mut key = [0u8; 32];
    key.copy_from_slice(hash.as_ref());
    key
}

fn fits(claims: &Map<String, Value>) -> bool {
    serde_json::to_vec(claims).is_ok_and(|bytes| bytes.len() <= MAX_ENTRY_BYTES)
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

struct Entry {
    claims: Claims,
    expires: Instant,
}

#[derive(Default)]
struct State {
    entries: HashMap<Key, Entry>,
    /// Keys in the order they expire (one TTL for all: the order they were stored). An item
    /// whose entry was since replaced or removed is skipped when it comes up.
    expiry: VecDeque<(Key, Instant)>,
    /// Calls under way, each with the channel its answer arrives on.
    flights: HashMap<Key, watch::Receiver<Option<Outcome>>>,
}

impl State {
    fn fresh(&mut self, key: &Key, now: Instant) -> Option<Claims> {
        match self.entries.get(key) {
            Some(entry) if entry.expires > now => Some(entry.claims.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, key: Key, claims: Claims, expires: Instant, now: Instant) {
        self.purge_expired(now);
        while self.entries.len() >= MAX_ENTRIES && self.evict_oldest() {}
        self.entries.insert(key, Entry { claims, expires });
        self.expiry.push_back((key, expires));
    }

    fn purge_expired(&mut self, now: Instant) {
        while let Some(&(key, expires)) = self.expiry.front() {
            if expires > now {
                break;
            }
            self.expiry.pop_front();
            self.remove_if_current(key, expires);
        }
    }

    /// Removes the entry closest to expiry; `false` when there is none.
    fn evict_oldest(&mut self) -> bool {
        while let Some((key, expires)) = self.expiry.pop_front() {
            if self.remove_if_current(key, expires) {
                return true;
            }
        }
        false
    }

    /// Removes `key` if its entry is the one stored with `expires` (not a later answer).
    fn remove_if_current(&mut self, key: Key, expires: Instant) -> bool {
        let current = self.entries.get(&key).is_some_and(|e| e.expires == expires);
        if current {
            self.entries.remove(&key);
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(n: usize) -> Claims {
        let mut m = Map::new();
        m.insert("sub".into(), Value::from(n));
        Arc::new(m)
    }

    fn key(n: usize) -> Key {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(n as u64).to_le_bytes());
        k
    }

    #[test]
    fn answers_expire_after_the_ttl() {
        let mut state = State::default();
        let now = Instant::now();
        state.insert(key(1), claims(1), now + Duration::from_secs(60), now);
        assert!(
            state
                .fresh(&key(1), now + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            state
                .fresh(&key(1), now + Duration::from_secs(60))
                .is_none()
        );
        assert!(
            state.entries.is_empty(),
            "an expired answer is dropped when found"
        );
    }

    #[test]
    fn a_full_cache_drops_expired_answers_first_then_the_oldest() {
        let mut state = State::default();
        let start = Instant::now();
        let ttl = Duration::from_secs(60);
        for n in 0..MAX_ENTRIES {
            let at = start + Duration::from_millis(n as u64);
            state.insert(key(n), claims(n), at + ttl, at);
        }
        assert_eq!(state.entries.len(), MAX_ENTRIES);

        // Full, nothing expired: the oldest answer makes room.
        let at = start + Duration::from_secs(1);
        state.insert(key(MAX_ENTRIES), claims(MAX_ENTRIES), at + ttl, at);
        assert_eq!(state.entries.len(), MAX_ENTRIES);
        assert!(state.fresh(&key(0), at).is_none(), "the oldest went");
        assert!(state.fresh(&key(1), at).is_some(), "only the oldest went");
        assert!(state.fresh(&key(MAX_ENTRIES), at).is_some());

        // Later, the first half has expired: it all goes at once, and nothing else does.
        let later = start + ttl + Duration::from_millis(MAX_ENTRIES as u64 / 2);
        state.insert(key(9_999_999), claims(0), later + ttl, later);
        assert!(
            state.entries.len() <= MAX_ENTRIES / 2 + 2,
            "{}",
            state.entries.len()
        );
        assert!(state.fresh(&key(MAX_ENTRIES - 1), later).is_some());
        assert!(state.expiry.len() <= state.entries.len() + 1);
    }

    #[test]
    fn a_stored_again_answer_is_not_evicted_by_its_old_place_in_line() {
        let mut state = State::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        state.insert(key(1), claims(1), now + ttl, now);
        // Expired and asked for again: stored with a new expiry.
        let later = now + ttl + Duration::from_secs(1);
        assert!(state.fresh(&key(1), later).is_none());
        state.insert(key(1), claims(2), later + ttl, later);
        assert_eq!(state.expiry.len(), 1, "the old place in line is gone");
        assert_eq!(
            state.fresh(&key(1), later).map(|c| c["sub"].clone()),
            Some(Value::from(2))
        );
    }

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
