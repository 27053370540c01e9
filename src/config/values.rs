//! The rules of each kind of value a variable can hold: numbers in a range, URLs, names,
//! lists. Each returns the `ConfigError` that names the variable.

use http::HeaderName;
use reqwest::Url;

use super::ConfigError;
use crate::outbound::check_transport;

/// A whole number within `range`, or `default` when unset.
pub(super) fn bounded(
    get: &impl Fn(&'static str) -> Option<String>,
    name: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    let Some(value) = get(name) else {
        return Ok(default);
    };
    let problem = || {
        format!(
            "must be a whole number from {} to {} (no unit, no sign)",
            range.start(),
            range.end()
        )
    };
    let number: u64 = value
        .parse()
        .map_err(|_| ConfigError::new(name, problem()))?;
    if range.contains(&number) {
        Ok(number)
    } else {
        Err(ConfigError::new(name, problem()))
    }
}

/// `true` or `false`, in any case; anything else is refused rather than guessed at.
pub(super) fn flag(value: Option<String>, name: &'static str) -> Result<bool, ConfigError> {
    match value {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ConfigError::new(name, "must be true or false")),
    }
}

/// An RFC 6901 JSON pointer: empty (unset here) or `/`-separated tokens where `~` is only ever
/// `~0` or `~1`.
pub(super) fn json_pointer(value: String) -> Result<String, ConfigError> {
    const NAME: &str = "SESSION_USERINFO_POINTER";
    if !value.starts_with('/') {
        return Err(ConfigError::new(
            NAME,
            "not a JSON pointer: it starts with '/', e.g. /user",
        ));
    }
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(ConfigError::new(
                NAME,
                "not a JSON pointer: '~' must be followed by 0 or 1",
            ));
        }
    }
    Ok(value)
}

/// CloudWatch's rules for a namespace: 1 to 255 of letters, digits and `.-_/#:` or space, not
/// starting with the `AWS/` that AWS services keep for themselves.
pub(super) fn metrics_namespace(value: String) -> Result<String, ConfigError> {
    const NAME: &str = "METRICS_NAMESPACE";
    let fits = |b: u8| b.is_ascii_alphanumeric() || b".-_/#: ".contains(&b);
    if value.len() > 255 || !value.bytes().all(fits) {
        return Err(ConfigError::new(
            NAME,
            "must be 1 to 255 letters, digits, spaces or . - _ / # :",
        ));
    }
    if value.starts_with("AWS/") {
        return Err(ConfigError::new(
            NAME,
            "may not start with AWS/ (reserved for AWS services)",
        ));
    }
    Ok(value)
}

pub(super) fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A URL the function sends credentials or sessions to: https, or http on loopback.
pub fn url(name: &'static str, value: &str) -> Result<Url, ConfigError> {
    let parsed =
        Url::parse(value).map_err(|e| ConfigError::new(name, format!("not a URL ({e})")))?;
    check_transport(&parsed).map_err(|problem| ConfigError::new(name, problem))?;
    Ok(parsed)
}

pub(super) fn session_header(value: Option<String>) -> Result<HeaderName, ConfigError> {
    let value = value.unwrap_or_else(|| "authorization".to_owned());
    HeaderName::from_bytes(value.to_ascii_lowercase().as_bytes())
        .map_err(|_| ConfigError::new("SESSION_HEADER", "not a valid HTTP header name"))
}

pub(super) fn cookie_name(value: String) -> Result<String, ConfigError> {
    // RFC 6265 cookie-name is an RFC 7230 token.
    let is_token = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if is_token {
        Ok(value)
    } else {
        Err(ConfigError::new(
            "SESSION_COOKIE",
            "not a valid cookie name (letters, digits and !#$%&'*+-.^_`|~ only)",
        ))
    }
}

pub(super) fn community_id(value: String) -> Result<String, ConfigError> {
    // It becomes a path segment of the sign-in URL.
    if value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(value)
    } else {
        Err(ConfigError::new(
            "RAI_COMMUNITY_ID",
            "may hold only letters, digits, '-' and '_'",
        ))
    }
}

pub(super) fn identifiers(value: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let pairs = comma_list(value)
        .into_iter()
        .map(|pair| {
            let (key, claim) = pair.split_once('=').ok_or_else(|| {
                ConfigError::new(
                    "USER_IDENTIFIERS",
                    format!("'{pair}' is not a data-key=claim pair"),
                )
            })?;
            let (key, claim) = (key.trim(), claim.trim());
            if !key.starts_with("data-") || key.len() == "data-".len() {
                return Err(ConfigError::new(
                    "USER_IDENTIFIERS",
                    format!("key '{key}' must start with 'data-'"),
                ));
            }
            if claim.is_empty() {
                return Err(ConfigError::new(
                    "USER_IDENTIFIERS",
                    format!("key '{key}' names no claim"),
                ));
            }
            Ok((key.to_owned(), claim.to_owned()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if pairs.is_empty() {
        return Err(ConfigError::new("USER_IDENTIFIERS", "names no identifier"));
    }
    if let Some((key, _)) = pairs
        .iter()
        .enumerate()
        .find_map(|(i, (key, _))| pairs[..i].iter().find(|(k, _)| k == key))
    {
        return Err(ConfigError::new(
            "USER_IDENTIFIERS",
            format!("key '{key}' appears more than once"),
        ));
    }
    Ok(pairs)
}

pub(super) fn origin(value: String) -> Result<String, ConfigError> {
    const NAME: &str = "CORS_ALLOWED_ORIGINS";
    if value == "*" {
        return Err(ConfigError::new(
            NAME,
            "'*' is refused: the widget sends credentials, so list each origin",
        ));
    }
    let parsed = Url::parse(&value).map_err(|_| {
        ConfigError::new(
            NAME,
            format!("'{value}' is not an origin like https://example.com"),
        )
    })?;
    let serialized = parsed.origin().ascii_serialization();
    // Browsers send the serialized origin, so anything else (a path, an upper-case host, a
    // default port) would never match.
    if serialized != value {
        return Err(ConfigError::new(
            NAME,
            format!("'{value}' is not a serialized origin (expected '{serialized}')"),
        ));
    }
    Ok(value)
}
