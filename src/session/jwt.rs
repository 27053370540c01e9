//! Session JWTs: parsing, the algorithm check, signature and claim validation.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::config::{ConfigError, SessionConfig};
use crate::error::ApiError;
use crate::outbound::Outbound;
use crate::secret::SecretStore;

use super::claims::Kept;
use super::expiring::digest_of;
use super::jwk::ASYMMETRIC;
use super::keys::Keys;
use super::verified::{Verified, VerifiedTokens};
use super::{invalid, wrong_alg};

pub struct JwtVerifier {
    /// One validation per accepted algorithm, built once: the claims rules are the same for
    /// every token, only the algorithm differs.
    validations: Vec<(Algorithm, Validation)>,
    leeway_seconds: u64,
    keys: Keys,
    keep: Kept,
    verified: VerifiedTokens,
}

impl JwtVerifier {
    pub fn new(config: &SessionConfig, outbound: &Outbound) -> Self {
        let mut required = vec!["exp"];
        if config.issuer.is_some() {
            required.push("iss");
        }
        if !config.audience.is_empty() {
            required.push("aud");
        }
        let validation_for = |alg: Algorithm| {
            let mut validation = Validation::new(alg);
            validation.leeway = config.leeway_seconds;
            validation.validate_exp = true;
            validation.validate_nbf = true;
            if let Some(issuer) = &config.issuer {
                validation.set_issuer(&[issuer]);
            }
            if config.audience.is_empty() {
                validation.validate_aud = false;
            } else {
                validation.set_audience(&config.audience);
            }
            validation.set_required_spec_claims(&required);
            (alg, validation)
        };
        Self {
            validations: std::iter::once(Algorithm::HS256)
                .chain(ASYMMETRIC.iter().copied())
                .map(validation_for)
                .collect(),
            leeway_seconds: config.leeway_seconds,
            keys: Keys::new(config, outbound),
            keep: Kept::new(config),
            verified: VerifiedTokens::default(),
        }
    }

    pub async fn warm_up(
        &self,
        secrets: &Arc<SecretStore>,
        budget: Duration,
    ) -> Result<(), ConfigError> {
        self.keys.warm_up(secrets, budget).await
    }

    /// Checks the token's signature and claims; returns the claims a session is judged by.
    pub async fn verify(
        &self,
        token: &str,
        secrets: &Arc<SecretStore>,
    ) -> Result<Map<String, Value>, ApiError> {
        let digest = digest_of(token.as_bytes());
        if let Some(seen) = self.verified.get(&digest) {
            // These bytes passed every check before. Checking again would look up the same key
            // (or fail the same way) and, with the same key, come out the same.
            let key = self
                .keys
                .key_for(seen.kid.as_deref(), seen.alg, secrets)
                .await?;
            if key.id == seen.key_id {
                return Ok(seen.claims.clone());
            }
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            invalid("the session token is malformed").with_detail(kind_name(e.kind()))
        })?;
        // The library keeps the last of two members of one name; the signer may have meant the
        // first. Refuse rather than guess (RFC 7515 5.2 lets a verifier refuse).
        if !header_members_are_unique(token) {
            return Err(invalid("the session token is malformed")
                .with_detail("a header member named twice"));
        }
        // RFC 7515 4.1.11: a critical extension this verifier does not know means refuse.
        if header.crit.is_some() {
            return Err(invalid("the session token is not accepted").with_detail("crit header"));
        }
        let alg = header.alg;
        let validation = self
            .validations
            .iter()
            .find_map(|(a, v)| (*a == alg).then_some(v))
            .ok_or_else(|| wrong_alg(alg))?;
        let key = self
            .keys
            .key_for(header.kid.as_deref(), alg, secrets)
            .await?;
        let Claims(claims) = jsonwebtoken::decode::<Claims>(token, &key.key, validation)
            .map_err(|e| rejected(e.kind()))?
            .claims;
        // The library accepts an array for `iss` and compares its members; an issuer is one
        // string (RFC 7519 4.1.1).
        if claims.get("iss").is_some_and(|iss| !iss.is_string()) {
            return Err(
                invalid("the session token is malformed").with_detail("iss is not a string")
            );
        }
        let now = jsonwebtoken::get_current_timestamp();
        self.check_iat(&claims, now)?;
        let kept = self.keep.from(&claims);
        // `exp` is required and was checked as a number; one that is not a whole number of
        // seconds is simply not remembered.
        if let Some(exp) = claims.get("exp").and_then(Value::as_u64) {
            let verified = Verified {
                kid: header.kid,
                alg,
                key_id: key.id,
                claims: kept.clone(),
            };
            self.verified
                .remember(digest, verified, exp, self.leeway_seconds, now);
        }
        Ok(kept)
    }

    fn check_iat(&self, claims: &Map<String, Value>, now: u64) -> Result<(), ApiError> {
        let Some(iat) = claims.get("iat") else {
            return Ok(());
        };
        let Some(iat) = iat.as_f64() else {
            return Err(
                invalid("the session token is malformed").with_detail("iat is not a number")
            );
        };
        #[allow(clippy::cast_precision_loss)] // seconds since 1970 fit an f64 exactly
        let latest = (now + self.leeway_seconds) as f64;
        if iat > latest {
            return Err(
                invalid("the session token is not valid yet").with_detail("iat in the future")
            );
        }
        Ok(())
    }
}

/// A claims object with no member named twice.
struct Claims(Map<String, Value>);

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Unique;
        impl<'de> Visitor<'de> for Unique {
            type Value = Claims;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with unique members")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
                let mut claims = Map::new();
                while let Some((name, value)) = map.next_entry::<String, Value>()? {
                    if claims.contains_key(&name) {
                        return Err(serde::de::Error::custom("a member named twice"));
                    }
                    claims.insert(name, value);
                }
                Ok(Claims(claims))
            }
        }
        deserializer.deserialize_map(Unique)
    }
}

/// Whether the protected header names each member once. Only called on a header the library
/// could read, so the segment is base64url JSON.
fn header_members_are_unique(token: &str) -> bool {
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen: Vec<String> = Vec::new();
            while let Some((name, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                if seen.contains(&name) {
                    return Ok(false);
                }
                seen.push(name);
            }
            Ok(true)
        }
    }
    let segment = token.split('.').next().unwrap_or_default();
    let Ok(json) = URL_SAFE_NO_PAD.decode(segment) else {
        return false;
    };
    let mut deserializer = serde_json::Deserializer::from_slice(&json);
    deserializer.deserialize_map(Names).unwrap_or(false)
}

fn rejected(kind: &jsonwebtoken::errors::ErrorKind) -> ApiError {
    use jsonwebtoken::errors::ErrorKind as K;
    let message = match kind {
        K::ExpiredSignature => "the session token has expired",
        K::ImmatureSignature => "the session token is not valid yet",
        K::InvalidIssuer => "the session token has the wrong issuer",
        K::InvalidAudience => "the session token has the wrong audience",
        K::MissingRequiredClaim(_) => "the session token lacks a required claim",
        K::InvalidSignature => "the session token's signature is not valid",
        K::InvalidAlgorithm | K::InvalidAlgorithmName => "the session token is not accepted",
        _ => "the session token is malformed",
    };
    invalid(message).with_detail(kind_name(kind))
}

/// A fixed name for the log: the library's own texts can quote parts of the token.
fn kind_name(kind: &jsonwebtoken::errors::ErrorKind) -> String {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => "expired".into(),
        K::ImmatureSignature => "nbf in the future".into(),
        K::InvalidIssuer => "wrong iss".into(),
        K::InvalidAudience => "wrong aud".into(),
        K::InvalidSubject => "wrong sub".into(),
        K::MissingRequiredClaim(claim) => format!("missing claim {claim}"),
        K::InvalidClaimFormat(claim) => format!("malformed claim {claim}"),
        K::InvalidSignature => "bad signature".into(),
        K::InvalidAlgorithm | K::InvalidAlgorithmName | K::MissingAlgorithm => {
            "algorithm not accepted".into()
        }
        K::InvalidToken => "not a JWS compact token".into(),
        K::Base64(_) => "bad base64".into(),
        K::Json(_) => "bad JSON".into(),
        K::Utf8(_) => "bad UTF-8".into(),
        _ => "unverifiable".into(),
    }
}
