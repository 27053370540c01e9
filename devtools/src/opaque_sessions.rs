//! Opaque server-side sessions, as a Rails, Django or Express site keeps them: the cookie carries
//! only a random id, the user behind it lives in the site's memory, and the site's own `/me`
//! endpoint says who an id names. The function can learn the user only by asking that endpoint
//! (`SESSION_USERINFO_URL`), which is what the demo's opaque-cookie mode shows.
//!
//! The store also records, for every `/me` request, the names of the cookies and headers it
//! carried (never their values), so that a check can prove the function forwarded the session
//! cookie and nothing else from its caller's request.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use hyper::StatusCode;
use hyper::header::{self, HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::json;

use crate::net::{self, Body};
use crate::session;

/// The site's `/me` endpoint: served by the site itself, not proxied to the function (in
/// CloudFront terms, the function's behaviors are `/api/widget-auth` and `/api/embed-token`).
pub const ME_PATH: &str = "/api/me";
/// What the site's `/me` requests carried, as JSON (cookie and header names only).
pub const CALLS_PATH: &str = "/__me-calls";
/// Bytes of randomness in a session id: 256 bits, as the frameworks' own session ids have.
pub const ID_BYTES: usize = 32;
/// A demo site holds few sessions; the bound keeps a scripted loop from growing it forever.
const MAX_SESSIONS: usize = 10_000;
/// Only the latest calls are kept, for the same reason.
const MAX_CALLS: usize = 1_000;

/// What one `/me` request carried and got.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeCall {
    /// The names of the cookies it carried, in order; never their values.
    pub cookie_names: Vec<String>,
    /// The names of its headers, lower case, in order.
    pub header_names: Vec<String>,
    pub status: u16,
}

#[derive(Default)]
pub struct OpaqueSessions {
    /// Session id to the signed-in user's email.
    users: Mutex<HashMap<String, String>>,
    calls: Mutex<VecDeque<MeCall>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl OpaqueSessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Signs `email` in: a new random session id that names that user from now on.
    pub fn sign_in(&self, email: &str) -> Result<String, String> {
        let id = session::random_hex(ID_BYTES)
            .map_err(|e| format!("no random session id (/dev/urandom: {e})"))?;
        let mut users = lock(&self.users);
        if users.len() >= MAX_SESSIONS {
            return Err(format!(
                "the demo site holds at most {MAX_SESSIONS} sessions"
            ));
        }
        users.insert(id.clone(), email.to_owned());
        Ok(id)
    }

    /// The email of the user that `id` names, if the site issued it.
    pub fn user(&self, id: &str) -> Option<String> {
        lock(&self.users).get(id).cloned()
    }

    /// Every session id issued so far, so that a test can look for them where none may be.
    pub fn ids(&self) -> Vec<String> {
        lock(&self.users).keys().cloned().collect()
    }

    /// Every `/me` request so far (the latest `MAX_CALLS`), oldest first.
    pub fn calls(&self) -> Vec<MeCall> {
        lock(&self.calls).iter().cloned().collect()
    }

    /// `GET /me`: the user that the session cookie `cookie_name` names, as such an endpoint
    /// answers (`sub`, `email`, `email_verified`), or 401 without a session the site knows.
    pub fn me(&self, headers: &HeaderMap, cookie_name: &str) -> hyper::Response<Body> {
        let cookies = cookies(headers);
        let user = cookies
            .iter()
            .find(|(name, _)| name == cookie_name)
            .and_then(|(_, value)| self.user(value));
        let mut response = match user {
            Some(email) => net::json(
                StatusCode::OK,
                &json!({
                    "sub": session::demo_sub(&email),
                    "email": email,
                    "email_verified": true,
                }),
            ),
            None => net::json(StatusCode::UNAUTHORIZED, &json!({"error": "not_signed_in"})),
        };
        // Who is signed in is per caller: no cache may keep it.
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.record(MeCall {
            cookie_names: cookies.into_iter().map(|(name, _)| name).collect(),
            header_names: headers.keys().map(|k| k.as_str().to_owned()).collect(),
            status: response.status().as_u16(),
        });
        response
    }

    fn record(&self, call: MeCall) {
        let mut calls = lock(&self.calls);
        if calls.len() >= MAX_CALLS {
            calls.pop_front();
        }
        calls.push_back(call);
    }
}

/// Every `name=value` pair of every Cookie header, in order. A pair without `=` is a cookie with
/// an empty name, as browsers read it (RFC 6265bis 5.4), so it never matches a session name.
fn cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => (name.trim().to_owned(), value.trim().to_owned()),
            None => (String::new(), pair.to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use serde_json::Value;

    fn with_cookies(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    async fn body(r: hyper::Response<Body>) -> Value {
        serde_json::from_slice(&r.into_body().collect().await.unwrap().to_bytes()).unwrap()
    }

    #[test]
    fn ids_are_random_and_name_their_user() {
        let store = OpaqueSessions::new();
        let ada = store.sign_in("ada@example.com").unwrap();
        let bob = store.sign_in("bob@example.com").unwrap();
        assert_eq!(ada.len(), 2 * ID_BYTES);
        assert!(ada.bytes().all(|b| b.is_ascii_hexdigit()), "{ada}");
        assert_ne!(ada, bob);
        assert_eq!(store.user(&ada).as_deref(), Some("ada@example.com"));
        assert_eq!(store.user(&bob).as_deref(), Some("bob@example.com"));
        assert_eq!(store.user("0123"), None);
    }

    #[tokio::test]
    async fn me_answers_the_cookies_user_and_records_names_only() {
        let store = OpaqueSessions::new();
        let id = store.sign_in("ada@example.com").unwrap();
        let r = store.me(
            &with_cookies(&["theme=dark", &format!("other=1; sid={id}")]),
            "sid",
        );
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(
            body(r).await,
            json!({"sub": session::demo_sub("ada@example.com"), "email": "ada@example.com", "email_verified": true})
        );
        // The same id under another cookie name is not this site's session.
        let r = store.me(&with_cookies(&[&format!("other={id}")]), "sid");
        assert_eq!(r.status(), 401);
        assert_eq!(body(r).await, json!({"error": "not_signed_in"}));
        assert_eq!(store.me(&HeaderMap::new(), "sid").status(), 401);
        assert_eq!(
            store
                .me(&with_cookies(&["sid=not-issued-here"]), "sid")
                .status(),
            401
        );
        let calls = store.calls();
        assert_eq!(calls.len(), 4);
        assert_eq!(calls[0].cookie_names, ["theme", "other", "sid"]);
        assert_eq!(calls[0].header_names, ["cookie"]);
        assert_eq!(calls[0].status, 200);
        assert_eq!(calls[2].cookie_names, Vec::<String>::new());
        let recorded = serde_json::to_string(&calls).unwrap();
        assert!(!recorded.contains(&id), "a session id was recorded");
    }

    #[test]
    fn keeps_only_the_latest_calls() {
        let store = OpaqueSessions::new();
        for _ in 0..MAX_CALLS + 5 {
            store.me(&HeaderMap::new(), "sid");
        }
        assert_eq!(store.calls().len(), MAX_CALLS);
    }
}
