//! Session tokens as an identity provider or a site would mint them.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

pub const RSA_PEM: &[u8] = include_bytes!("../keys/rsa.pem");
pub const RSA_OTHER_PEM: &[u8] = include_bytes!("../keys/rsa-other.pem");
pub const EC_PEM: &[u8] = include_bytes!("../keys/ec-p256.pem");
pub const ED_PEM: &[u8] = include_bytes!("../keys/ed25519.pem");

pub const SESSION_SECRET: &str = "test-session-secret-that-is-long-enough";
pub const EMAIL: &str = "jane.doe@example.com";

pub fn rsa() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_PEM).expect("test RSA key")
}

pub fn rsa_other() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_OTHER_PEM).expect("second test RSA key")
}

pub fn ec() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_PEM).expect("test EC key")
}

pub fn ed() -> EncodingKey {
    EncodingKey::from_ed_pem(ED_PEM).expect("test Ed25519 key")
}

pub fn hs() -> EncodingKey {
    EncodingKey::from_secret(SESSION_SECRET.as_bytes())
}

pub fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    i64::try_from(secs).expect("a plausible clock")
}

/// Claims of a healthy session for `EMAIL`.
pub fn claims() -> Value {
    json!({
        "sub": "user-1",
        "email": EMAIL,
        "email_verified": true,
        "iat": now(),
        "exp": now() + 300,
    })
}

/// `claims()` with some fields replaced (a `null` removes the field).
pub fn claims_with(changes: Value) -> Value {
    changed(&claims(), changes)
}

/// `base` with some fields replaced (a `null` removes the field).
pub fn changed(base: &Value, changes: Value) -> Value {
    let mut c = base.clone();
    for (k, v) in changes.as_object().expect("an object of changes") {
        match c.as_object_mut() {
            Some(fields) if v.is_null() => {
                fields.remove(k);
            }
            _ => c[k] = v.clone(),
        }
    }
    c
}

pub fn mint(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("mint a token")
}

pub fn mint_hs(claims: &Value) -> String {
    mint(Algorithm::HS256, &hs(), None, claims)
}

pub fn mint_rs(claims: &Value) -> String {
    mint(Algorithm::RS256, &rsa(), Some("rsa-1"), claims)
}

/// The public JWK of a private test key.
pub fn jwk(kid: &str, alg: Algorithm, key: &EncodingKey) -> Value {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("public JWK");
    jwk.common.key_id = Some(kid.to_owned());
    serde_json::to_value(jwk).expect("serialize JWK")
}

pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signed over the exact JSON texts given (with members named twice, say), which no
/// JSON library would write.
pub fn mint_raw(alg: Algorithm, key: &EncodingKey, header: &str, payload: &str) -> String {
    let message = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}
