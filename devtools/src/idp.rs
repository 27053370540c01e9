//! An identity provider stand-in for the benchmark: a JSON Web Key Set with one RS256 key at
//! `/jwks`, and the session tokens that key signs.
//!
//! The key in `devtools/keys/bench-rsa.pem` is a throwaway test key (the same key as
//! `tests/api/keys/rsa.pem`, in PKCS#1 form): it signs nothing but local test sessions.

use std::net::SocketAddr;

use base64::Engine;
use hyper::StatusCode;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;

use crate::net::{self, Server};

/// The `kid` of the one key.
pub const KID: &str = "bench-rsa";
const KEY_PEM: &str = include_str!("../keys/bench-rsa.pem");

/// The test key, decoded from its PEM armour (PKCS#1 DER inside).
pub fn key() -> EncodingKey {
    let body: String = KEY_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("devtools/keys/bench-rsa.pem is base64");
    EncodingKey::from_rsa_der(&der)
}

/// The public key set, as a provider publishes it.
pub fn jwks() -> Value {
    let mut jwk = Jwk::from_encoding_key(&key(), Algorithm::RS256).expect("an RSA public key");
    jwk.common.key_id = Some(KID.to_owned());
    serde_json::to_value(JwkSet { keys: vec![jwk] }).expect("a JWKS serializes")
}

/// An RS256 session over `claims`, with this key's `kid`.
pub fn mint(claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(&header, claims, &key()).expect("RS256 signs")
}

/// Serves the key set at `/jwks` (404 elsewhere).
pub async fn start(addr: SocketAddr) -> std::io::Result<Server> {
    let body = jwks();
    net::serve(addr, move |request, _| {
        let found = request.uri().path() == "/jwks";
        let body = body.clone();
        async move {
            if found {
                net::json(StatusCode::OK, &body)
            } else {
                net::text(StatusCode::NOT_FOUND, "no such document")
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, decode};

    #[tokio::test]
    async fn serves_a_key_set_that_verifies_its_tokens() {
        let server = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let set: JwkSet = reqwest::get(format!("{}/jwks", server.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let claims = crate::session::demo_claims("ada@example.com", 600);
        let token = mint(&claims);
        let jwk = set.find(KID).unwrap();
        let decoded = decode::<Value>(
            &token,
            &DecodingKey::from_jwk(jwk).unwrap(),
            &Validation::new(Algorithm::RS256),
        )
        .unwrap();
        assert_eq!(decoded.claims, claims);
    }
}
