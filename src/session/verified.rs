//! Session JWTs that passed every check, remembered by the SHA-256 of the token, so that the same
//! token is not checked again: an RSA or EC signature check is most of a warm request's CPU, and
//! a signed-in user sends the same session token with every page that shows a widget.
//!
//! A remembered check is reused only where checking again would come out the same:
//! - the token is byte for byte the one checked (its digest), so its header, signature and
//!   claims are too, and the rules they were held to are fixed at init;
//! - the key in force for its `kid` and `alg` is still the one that verified it, with the same
//!   material (a key set refresh that drops or changes that key, or a new `sessionSecret`, ends
//!   the reuse);
//! - until its `exp` plus the leeway, when the check would start to fail (measured on the
//!   monotonic clock from the check); `nbf` and `iat` only grow truer with time.
//!
//! Only successes are remembered, and only the claims a session is judged by ([`Kept`]), at most
//! [`super::claims::MAX_KEPT_BYTES`] of them, in at most [`super::expiring::MAX_ENTRIES`]
//! entries. The token itself is never kept.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use crate::lock::lock;

use super::claims::Kept;
use super::expiring::{Digest, Expiring};

/// One token's successful check.
#[derive(Debug)]
pub struct Verified {
    pub kid: Option<String>,
    pub alg: Algorithm,
    /// The digest of the material of the key that verified it.
    pub key_id: Digest,
    pub claims: Map<String, Value>,
}

#[derive(Default)]
pub struct VerifiedTokens {
    map: Mutex<Expiring<Arc<Verified>>>,
}

impl VerifiedTokens {
    /// The remembered check of the token with this digest, if it has not expired.
    pub fn get(&self, token: &Digest) -> Option<Arc<Verified>> {
        lock(&self.map).fresh(token, Instant::now())
    }

    /// Remembers a successful check until `exp` + `leeway` (seconds since 1970), as of `now`
    /// (likewise). Nothing is kept for a token past that already, or whose kept claims are large.
    pub fn remember(&self, token: Digest, verified: Verified, exp: u64, leeway: u64, now: u64) {
        let Some(left) = exp
            .saturating_add(leeway)
            .checked_sub(now)
            .filter(|s| *s > 0)
        else {
            return;
        };
        if !Kept::small_enough(&verified.claims) {
            return;
        }
        let at = Instant::now();
        let Some(expires) = at.checked_add(Duration::from_secs(left)) else {
            return;
        };
        lock(&self.map).insert(token, Arc::new(verified), expires, at);
    }
}

#[cfg(test)]
mod tests {
    use super::super::claims::MAX_KEPT_BYTES;
    use super::super::expiring::digest_of;
    use super::*;

    fn verified(email: &str) -> Verified {
        let mut claims = Map::new();
        claims.insert("email".into(), Value::from(email));
        Verified {
            kid: Some("k1".into()),
            alg: Algorithm::RS256,
            key_id: digest_of(b"key"),
            claims,
        }
    }

    #[test]
    fn a_check_is_remembered_until_exp_plus_leeway() {
        let tokens = VerifiedTokens::default();
        let (a, b, c) = (digest_of(b"a"), digest_of(b"b"), digest_of(b"c"));
        tokens.remember(a, verified("a@x.example"), 1_000, 60, 1_000);
        // exp + leeway is now: the check would fail a moment from now, so nothing is kept.
        tokens.remember(b, verified("b@x.example"), 940, 60, 1_000);
        // An expiry beyond what the clock can count: nothing is kept, nothing overflows.
        tokens.remember(c, verified("c@x.example"), u64::MAX, u64::MAX, 0);
        let got = tokens.get(&a).expect("remembered");
        assert_eq!(got.claims["email"], "a@x.example");
        assert!(tokens.get(&b).is_none());
        assert!(tokens.get(&digest_of(b"never")).is_none());
        assert!(tokens.get(&c).is_none());
    }

    #[test]
    fn large_claims_are_not_remembered() {
        let tokens = VerifiedTokens::default();
        let t = digest_of(b"t");
        tokens.remember(t, verified(&"x".repeat(MAX_KEPT_BYTES)), 2_000, 0, 1_000);
        assert!(tokens.get(&t).is_none());
    }
}
