//! The bounded store behind both session caches (userinfo answers, verified JWTs): values keyed
//! by a SHA-256, each with its own expiry.
//!
//! - A key is a digest, so no credential or token is ever held as a key.
//! - An expired value is never returned, and is dropped when found.
//! - At most [`MAX_ENTRIES`] values. Storing one first drops the expired values at the front of
//!   the line (the oldest stored), then, when still full, the oldest stored value.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use aws_lc_rs::digest;

/// With values of at most a few KiB (each cache caps its own), a few MiB in all: small beside a
/// 128 MB function, and more sessions than one execution environment sees in a TTL.
pub const MAX_ENTRIES: usize = 4096;

pub type Digest = [u8; 32];

/// The SHA-256 of `bytes`.
pub fn digest_of(bytes: &[u8]) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

pub struct Expiring<V> {
    entries: HashMap<Digest, (V, Instant)>,
    /// Keys in the order they were stored. An item whose entry was since replaced or removed is
    /// skipped when it comes up.
    line: VecDeque<(Digest, Instant)>,
}

impl<V> Default for Expiring<V> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            line: VecDeque::new(),
        }
    }
}

impl<V: Clone> Expiring<V> {
    /// The value under `key` if it has not expired by `now`.
    pub fn fresh(&mut self, key: &Digest, now: Instant) -> Option<V> {
        match self.entries.get(key) {
            Some((value, expires)) if *expires > now => Some(value.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn insert(&mut self, key: Digest, value: V, expires: Instant, now: Instant) {
        self.drop_expired_front(now);
        // A value stored again (two concurrent requests with one new token) takes its own place;
        // only a new key needs room. The old place in line is skipped when it comes up.
        if self.entries.remove(&key).is_none() {
            while self.entries.len() >= MAX_ENTRIES && self.drop_oldest() {}
        }
        self.entries.insert(key, (value, expires));
        self.line.push_back((key, expires));
    }

    fn drop_expired_front(&mut self, now: Instant) {
        while let Some(&(key, expires)) = self.line.front() {
            if expires > now {
                break;
            }
            self.line.pop_front();
            self.remove_if_current(key, expires);
        }
    }

    /// Removes the oldest stored entry; `false` when there is none.
    fn drop_oldest(&mut self) -> bool {
        while let Some((key, expires)) = self.line.pop_front() {
            if self.remove_if_current(key, expires) {
                return true;
            }
        }
        false
    }

    /// Removes `key` if its entry is the one stored with `expires` (not a later one).
    fn remove_if_current(&mut self, key: Digest, expires: Instant) -> bool {
        let current = self.entries.get(&key).is_some_and(|(_, e)| *e == expires);
        if current {
            self.entries.remove(&key);
        }
        current
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(n: usize) -> Digest {
        digest_of(&n.to_le_bytes())
    }

    #[test]
    fn values_expire() {
        let mut map = Expiring::default();
        let now = Instant::now();
        map.insert(key(1), 1, now + Duration::from_secs(60), now);
        assert_eq!(map.fresh(&key(1), now + Duration::from_secs(59)), Some(1));
        assert_eq!(map.fresh(&key(1), now + Duration::from_secs(60)), None);
        assert_eq!(
            map.entries.len(),
            0,
            "an expired value is dropped when found"
        );
    }

    #[test]
    fn a_full_map_drops_expired_values_first_then_the_oldest() {
        let mut map = Expiring::default();
        let start = Instant::now();
        let ttl = Duration::from_secs(60);
        for n in 0..MAX_ENTRIES {
            let at = start + Duration::from_millis(n as u64);
            map.insert(key(n), n, at + ttl, at);
        }
        assert_eq!(map.entries.len(), MAX_ENTRIES);

        // Full, nothing expired: the oldest value makes room.
        let at = start + Duration::from_secs(1);
        map.insert(key(MAX_ENTRIES), MAX_ENTRIES, at + ttl, at);
        assert_eq!(map.entries.len(), MAX_ENTRIES);
        assert_eq!(map.fresh(&key(0), at), None, "the oldest went");
        assert_eq!(map.fresh(&key(1), at), Some(1), "only the oldest went");
        assert_eq!(map.fresh(&key(MAX_ENTRIES), at), Some(MAX_ENTRIES));

        // Later, the first half has expired: it all goes at once, and nothing else does.
        let later = start + ttl + Duration::from_millis(MAX_ENTRIES as u64 / 2);
        map.insert(key(9_999_999), 0, later + ttl, later);
        assert!(
            map.entries.len() <= MAX_ENTRIES / 2 + 2,
            "{}",
            map.entries.len()
        );
        assert_eq!(
            map.fresh(&key(MAX_ENTRIES - 1), later),
            Some(MAX_ENTRIES - 1)
        );
        assert!(map.line.len() <= map.entries.len() + 1);
    }

    #[test]
    fn a_value_stored_again_is_not_dropped_by_its_old_place_in_line() {
        let mut map = Expiring::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        map.insert(key(1), 1, now + ttl, now);
        let later = now + ttl + Duration::from_secs(1);
        assert_eq!(map.fresh(&key(1), later), None);
        map.insert(key(1), 2, later + ttl, later);
        assert_eq!(map.line.len(), 1, "the old place in line is gone");
        assert_eq!(map.fresh(&key(1), later), Some(2));
    }

    #[test]
    fn storing_a_key_again_in_a_full_map_drops_nothing_else() {
        let mut map = Expiring::default();
        let now = Instant::now();
        let ttl = Duration::from_secs(60);
        for n in 0..MAX_ENTRIES {
            map.insert(key(n), n, now + ttl, now);
        }
        map.insert(key(5), 55, now + ttl, now);
        assert_eq!(map.entries.len(), MAX_ENTRIES);
        assert_eq!(map.fresh(&key(0), now), Some(0), "the oldest stays");
        assert_eq!(map.fresh(&key(5), now), Some(55));
        // The stale place of key 5 is skipped: the next new key drops key 0, not key 5.
        map.insert(key(MAX_ENTRIES), 0, now + ttl, now);
        assert_eq!(map.fresh(&key(0), now), None);
        assert_eq!(map.fresh(&key(5), now), Some(55));
    }

    #[test]
    fn values_with_their_own_expiry_each_last_their_own_time() {
        // Verified tokens expire at their own `exp`, not in the order they were stored.
        let mut map = Expiring::default();
        let now = Instant::now();
        map.insert(key(1), 1, now + Duration::from_secs(3600), now);
        map.insert(key(2), 2, now + Duration::from_secs(10), now);
        let at = now + Duration::from_secs(11);
        map.insert(key(3), 3, at + Duration::from_secs(10), at);
        assert_eq!(map.fresh(&key(1), at), Some(1));
        assert_eq!(map.fresh(&key(2), at), None);
        assert_eq!(map.fresh(&key(3), at), Some(3));
    }
}
