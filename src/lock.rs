//! The one way this crate takes a std mutex.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, recovering it when a panicking holder poisoned it: every value guarded here is
/// a cache that stays consistent between statements, so the data is still good, and refusing
/// every later request over one panic would turn a bug into an outage.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
