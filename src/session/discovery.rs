//! OpenID Connect discovery: where an issuer publishes its keys.

use reqwest::Url;
use serde::Deserialize;

use crate::outbound::{check_transport, get_json};

/// Discovery documents are a few KiB.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// The `jwks_uri` that `issuer` publishes. The text of an error is for the log.
pub async fn jwks_uri(http: &reqwest::Client, issuer: &str) -> Result<Url, String> {
    let url = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|e| format!("discovery URL: {e}"))?;
    let document: DiscoveryDocument = get_json(http, url, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|e| format!("discovery document: {e}"))?;
    // OpenID Connect Discovery 4.3: the document must name the issuer it was fetched for.
    if document.issuer.as_deref() != Some(issuer) {
        return Err("the discovery document names another issuer".into());
    }
    let jwks_uri = document
        .jwks_uri
        .ok_or("the discovery document has no jwks_uri")?;
    let jwks_uri = Url::parse(&jwks_uri).map_err(|e| format!("jwks_uri: {e}"))?;
    check_transport(&jwks_uri).map_err(|e| format!("jwks_uri {e}"))?;
    Ok(jwks_uri)
}
