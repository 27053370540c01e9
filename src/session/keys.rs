//! Which keys verify session JWTs. The contract's order lives here and nowhere else:
//! `SESSION_JWKS_URL`; else HS256 with the secret's `sessionSecret` when it has one; else OIDC
//! discovery from `SESSION_ISSUER`.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};

use crate::config::{ConfigError, SessionConfig};
use crate::error::{ApiError, ErrorCode};
use crate::outbound::Outbound;
use crate::secret::SecretStore;

use super::expiring::{Digest, digest_of};
use super::key_set::{KeySet, KeySetUrl};
use super::wrong_alg;

/// The key source in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    KeySetUrl,
    SessionSecret,
    Discovery,
}

impl KeySource {
    /// The one statement of the order. `has_session_secret` is known once the secret is read
    /// (or at once, for local credentials).
    pub fn choose(config: &SessionConfig, has_session_secret: bool) -> Result<Self, ConfigError> {
        if config.jwks_url.is_some() {
            Ok(Self::KeySetUrl)
        } else if has_session_secret {
            Ok(Self::SessionSecret)
        } else if config.discovery_issuer().is_some() {
            Ok(Self::Discovery)
        } else {
            Err(ConfigError::new(
                "SESSION_JWKS_URL",
                "no session keys: set SESSION_JWKS_URL, SESSION_ISSUER as an https URL (OIDC discovery) or a sessionSecret in the secret",
            ))
        }
    }
}

/// A key that may verify a token, with the digest of its material: a remembered check is reused
/// only while the same material is in force ([`super::verified`]).
#[derive(Clone)]
pub struct VerifyingKey {
    pub key: Arc<DecodingKey>,
    pub id: Digest,
}

pub struct Keys {
    config: SessionConfig,
    /// The key set of `SESSION_JWKS_URL` or of discovery, whichever the configuration allows.
    key_set: Option<Arc<KeySet>>,
}

impl Keys {
    pub fn new(config: &SessionConfig, outbound: &Outbound) -> Self {
        let url = match (&config.jwks_url, config.discovery_issuer(), &config.issuer) {
            (Some(url), _, _) => Some(KeySetUrl::Fixed(url.clone())),
            (None, Some(_), Some(issuer)) => Some(KeySetUrl::Discovered {
                issuer: issuer.clone(),
            }),
            _ => None,
        };
        Self {
            config: config.clone(),
            key_set: url.map(|url| Arc::new(KeySet::new(url, outbound.clone()))),
        }
    }

    /// At init: reads the secret and the key set together, for at most `budget`. Which key set
    /// applies without a JWKS URL is known once the secret is read. What is not done by then
    /// goes on in the background, and a request that needs it meanwhile waits for it or gets
    /// the per-request answer (503 secret_unavailable, 502 when no keys could be had).
    pub async fn warm_up(
        &self,
        secrets: &Arc<SecretStore>,
        budget: Duration,
    ) -> Result<(), ConfigError> {
        let until = tokio::time::Instant::now() + budget;
        let secret = tokio::spawn({
            let secrets = Arc::clone(secrets);
            async move { secrets.get().await }
        });
        if self.config.jwks_url.is_some() {
            let keys = self.spawn_load();
            let _ = tokio::time::timeout_at(until, async {
                let _ = secret.await;
                if let Some(keys) = keys {
                    let _ = keys.await;
                }
            })
            .await;
            return Ok(());
        }
        let Ok(Ok(Ok(credentials))) = tokio::time::timeout_at(until, secret).await else {
            return Ok(());
        };
        if KeySource::choose(&self.config, credentials.session_secret.is_some())?
            == KeySource::Discovery
            && let Some(keys) = self.spawn_load()
        {
            let _ = tokio::time::timeout_at(until, keys).await;
        }
        Ok(())
    }

    fn spawn_load(&self) -> Option<tokio::task::JoinHandle<()>> {
        let set = Arc::clone(self.key_set.as_ref()?);
        Some(tokio::spawn(async move { set.load().await }))
    }

    /// The key for a token's `kid` and `alg`, from the source in force.
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        secrets: &Arc<SecretStore>,
    ) -> Result<VerifyingKey, ApiError> {
        let source = if self.config.jwks_url.is_some() {
            KeySource::KeySetUrl
        } else {
            let credentials = secrets.get().await?;
            let secret = credentials.session_secret.as_deref();
            match (KeySource::choose(&self.config, secret.is_some()), secret) {
                (Ok(KeySource::SessionSecret), Some(secret)) => {
                    if alg != Algorithm::HS256 {
                        return Err(wrong_alg(alg));
                    }
                    return Ok(VerifyingKey {
                        key: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
                        id: digest_of(secret.as_bytes()),
                    });
                }
                (Ok(source), _) => source,
                (Err(e), _) => {
                    return Err(ApiError::new(
                        ErrorCode::NotConfigured,
                        "session verification is not configured",
                    )
                    .with_detail(e.to_string()));
                }
            }
        };
        match (&self.key_set, source) {
            (Some(set), KeySource::KeySetUrl | KeySource::Discovery) => set.key_for(kid, alg).await,
            _ => Err(ApiError::new(
                ErrorCode::NotConfigured,
                "session verification is not configured",
            )
            .with_detail("no key set for the key source")),
        }
    }
}
