//! Verification keys from a JWKS, and the algorithms each may verify.
//!
//! The algorithms follow from the key (its type, curve and own `alg`), never from the token.

use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

use super::expiring::digest_of;
use super::keys::VerifyingKey;
use super::{invalid, wrong_alg};

/// The asymmetric algorithms the contract accepts from a key set.
pub const ASYMMETRIC: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// A verification key and the algorithms it may verify.
pub struct Key {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: VerifyingKey,
}

/// A JWKS document. Keys are read one by one, so one the library cannot read does not take the
/// others down with it.
#[derive(Deserialize)]
pub struct KeySetDocument {
    keys: Vec<Value>,
}

impl KeySetDocument {
    pub fn usable_keys(self) -> Vec<Key> {
        self.keys
            .into_iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
            .filter_map(|jwk| key_from_jwk(&jwk))
            .collect()
    }
}

/// The key for `kid` that may verify `alg`; `None` when the set has no such key (a refetch may
/// help). A token without a `kid` is accepted only when exactly one key could verify it.
pub fn find(
    keys: &[Key],
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<Result<VerifyingKey, ApiError>> {
    let named = || {
        keys.iter()
            .filter(move |k| kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
    };
    let mut fitting = named().filter(|k| k.algorithms.contains(&alg));
    match (fitting.next(), fitting.next()) {
        (Some(_), Some(_)) if kid.is_none() => {
            Some(Err(invalid("the session token's key is unknown")
                .with_detail("no kid and several keys could verify it")))
        }
        (Some(key), _) => Some(Ok(key.key.clone())),
        // The kid is known but not for this algorithm: refused without a refetch.
        (None, _) if kid.is_some() && named().next().is_some() => Some(Err(wrong_alg(alg))),
        (None, _) => None,
    }
}

/// Turns a JWK into a key with the algorithms it may verify: the JWK's own `alg` when it names
/// one, otherwise those its type and curve allow. Encryption keys and symmetric keys are skipped:
/// a shared secret in a public key set would let anyone mint sessions.
fn key_from_jwk(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let by_type: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => vec![
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
        ],
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        _ => return None,
    };
    let algorithms = match jwk.common.key_algorithm {
        None => by_type,
        Some(named) => {
            let named = key_algorithm(named)?;
            if !by_type.contains(&named) {
                return None;
            }
            vec![named]
        }
    };
    Some(Key {
        kid: jwk.common.key_id.clone(),
        algorithms,
        key: VerifyingKey {
            key: Arc::new(DecodingKey::from_jwk(jwk).ok()?),
            // The JWK as this function read it: any change of material changes the digest.
            id: digest_of(&serde_json::to_vec(jwk).ok()?),
        },
    })
}

fn key_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    Some(match named {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A syntactically valid RSA public key (never used to verify here).
    pub(in crate::session) fn rsa_jwk(kid: &str) -> Value {
        json!({ "kty": "RSA", "kid": kid, "alg": "RS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAh3gh9-Fvpgj3PfajgKdSsFJnJh9JS8pXY9TvG8PVnQpCtyZC7SrTAEzkWCT_Bn4lVwZVIJqhCxfURFiNz8l8JBhlz6Sk3o6ND6kUDZNaZdTX3a3J0WdA6MrtpGzCsT1K8jXFZmRGrU-RKRFG8pPjQrhW3RYqRd4mkZyLJfR7N9zTXlhf_NnFMvCNnLLx39KRHJhhFRSHmctvjbXS5L7AB0VtkXeRfWQ", "e": "AQAB" })
    }

    fn keys(set: Value) -> Vec<Key> {
        serde_json::from_value::<KeySetDocument>(set)
            .unwrap()
            .usable_keys()
    }

    #[test]
    fn symmetric_and_encryption_keys_are_never_kept() {
        // Each of these parses as a JWK; none may become a verification key, whatever
        // algorithm a token names. (The algorithm check refuses HS256 on its own too; this is
        // the second wall.)
        let kept = keys(json!({ "keys": [
            { "kty": "oct", "kid": "shared", "k": "c2VjcmV0" },
            { "kty": "oct", "kid": "shared-hs", "alg": "HS256", "k": "c2VjcmV0" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": rsa_jwk("x")["n"], "e": "AQAB" },
            { "kty": "EC", "kid": "weird", "crv": "P-521", "x": "AA", "y": "AA" },
            { "kty": "XYZ", "kid": "unknown-type" },
            "not even an object",
            rsa_jwk("rsa-1"),
        ]}));
        let kids: Vec<_> = kept.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("rsa-1")]);
        for alg in [Algorithm::HS256, Algorithm::RS256] {
            assert!(find(&kept, Some("shared"), alg).is_none(), "{alg:?}");
            assert!(find(&kept, Some("shared-hs"), alg).is_none(), "{alg:?}");
        }
    }

    #[test]
    fn a_key_is_named_by_its_material_not_its_kid() {
        let mut other = rsa_jwk("rsa-1");
        other["n"] = json!(format!("{}A", &other["n"].as_str().unwrap()[1..]));
        let id = |set: Value| {
            let kept = keys(json!({ "keys": [set] }));
            match find(&kept, Some("rsa-1"), Algorithm::RS256) {
                Some(Ok(key)) => key.id,
                _ => panic!("the key is usable"),
            }
        };
        assert_eq!(id(rsa_jwk("rsa-1")), id(rsa_jwk("rsa-1")));
        assert_ne!(id(rsa_jwk("rsa-1")), id(other));
    }

    #[test]
    fn a_key_verifies_only_its_own_alg() {
        let kept = keys(json!({ "keys": [rsa_jwk("rsa-1")] }));
        assert!(matches!(
            find(&kept, Some("rsa-1"), Algorithm::RS256),
            Some(Ok(_))
        ));
        assert!(matches!(
            find(&kept, Some("rsa-1"), Algorithm::PS256),
            Some(Err(_))
        ));
        assert!(find(&kept, Some("other"), Algorithm::RS256).is_none());
    }
}
