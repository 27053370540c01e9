//! The Lambda function URL wire format (payload 2.0): a real HTTP request becomes the event
//! Lambda would hand the function, and the function's answer becomes the HTTP response Lambda
//! would send. Pure functions, so every rule is tested without a server.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HOST, HeaderName, HeaderValue, SET_COOKIE};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::net::Body;

/// The event for one request. `body` is sent as text when it is UTF-8, else base64.
pub fn event(parts: &Parts, body: &[u8], source_ip: IpAddr, request_id: &str) -> Value {
    let raw_path = parts.uri.path();
    let raw_query = parts.uri.query().unwrap_or("");
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in parts.headers.keys() {
        let values = parts
            .headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if name == hyper::header::COOKIE {
            // Function URLs move cookies out of the headers into their own array.
            for value in values {
                cookies.extend(
                    value
                        .split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
            continue;
        }
        // Header names from hyper are already lower case.
        headers.insert(
            name.as_str().to_owned(),
            values.collect::<Vec<_>>().join(",").into(),
        );
    }
    // What Lambda's front end adds on the way in.
    let forwarded = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(before) => format!("{before}, {source_ip}"),
        None => source_ip.to_string(),
    };
    headers.insert("x-forwarded-for".into(), forwarded.into());
    headers.insert("x-forwarded-proto".into(), "http".into());

    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let domain = host.split(':').next().unwrap_or(host);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": domain.split('.').next().unwrap_or(domain),
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap_or(domain),
            "http": {
                "method": parts.method.as_str(),
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip.to_string(),
                "userAgent": parts.headers.get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or(""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": clf_time(now.as_secs()),
            "timeEpoch": u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = cookies.into();
    }
    let query = query_parameters(raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !body.is_empty() {
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = text.into(),
            Err(_) => {
                event["body"] = B64.encode(body).into();
                event["isBase64Encoded"] = true.into();
            }
        }
    }
    event
}

/// The HTTP response for the function's answer, read as a function URL reads it: an object with
/// `statusCode` is a response; any other JSON is a 200 body.
pub fn response(answer: &Value) -> Result<Response<Body>, String> {
    let Some(status) = answer.get("statusCode") else {
        let mut r = Response::new(Full::new(Bytes::from(answer.to_string())));
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return Ok(r);
    };
    let status = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("statusCode {status} is not an HTTP status"))?;
    let body = match answer.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) if answer["isBase64Encoded"] == true => B64
            .decode(text)
            .map_err(|e| format!("body is not base64: {e}"))?,
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => return Err(format!("body is not a string: {other}")),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    let headers = r.headers_mut();
    if let Some(single) = answer.get("headers").and_then(Value::as_object) {
        for (name, value) in single {
            headers.append(header_name(name)?, header_value(value)?);
        }
    }
    if let Some(multi) = answer.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in multi {
            let name = header_name(name)?;
            // Both maps may carry the same header (lambda_http fills both for some front
            // doors): the single-value map already gave it.
            if headers.contains_key(&name) {
                continue;
            }
            for value in values
                .as_array()
                .ok_or("multiValueHeaders values must be arrays")?
            {
                headers.append(name.clone(), header_value(value)?);
            }
        }
    }
    if let Some(cookies) = answer.get("cookies").and_then(Value::as_array) {
        for cookie in cookies {
            headers.append(SET_COOKIE, header_value(cookie)?);
        }
    }
    Ok(r)
}

fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("bad header name {name:?}"))
}

fn header_value(value: &Value) -> Result<HeaderValue, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(_) | Value::Bool(_) => value.to_string(),
        _ => return Err(format!("bad header value {value}")),
    };
    HeaderValue::from_str(&text).map_err(|_| format!("bad header value {text:?}"))
}

/// `queryStringParameters`: decoded, repeated keys joined with commas, as function URLs do.
fn query_parameters(raw: &str) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match out.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                out.insert(k, v.into());
            }
        }
    }
    out
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// `25/Nov/2025:16:50:12 +0000`, the `requestContext.time` format.
fn clf_time(epoch_secs: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = i64::try_from(epoch_secs / 86_400).unwrap_or(0);
    let secs = epoch_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0)];
    format!(
        "{day:02}/{month_name}/{year}:{:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::Request;

    fn parts(request: Request<()>) -> Parts {
        request.into_parts().0
    }

    #[test]
    fn builds_a_payload_2_event() {
        let p = parts(
            Request::post("/api/widget-auth?a=1&b=x%20y&a=2")
                .header("Host", "auth.example.test:8080")
                .header("Cookie", "rai_session=abc; theme=dark")
                .header("Cookie", "other=1")
                .header("X-Rai-Widget", "one")
                .header("x-rai-widget", "two")
                .header("User-Agent", "test-agent")
                .body(())
                .unwrap(),
        );
        let e = event(&p, b"{\"x\":1}", "127.0.0.1".parse().unwrap(), "req-1");
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["rawPath"], "/api/widget-auth");
        assert_eq!(e["rawQueryString"], "a=1&b=x%20y&a=2");
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(
            e["cookies"],
            json!(["rai_session=abc", "theme=dark", "other=1"])
        );
        assert!(
            e["headers"].get("cookie").is_none(),
            "cookies leave the headers"
        );
        assert_eq!(e["headers"]["x-rai-widget"], "one,two");
        assert_eq!(e["headers"]["host"], "auth.example.test:8080");
        assert_eq!(e["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["http"]["path"], "/api/widget-auth");
        assert_eq!(e["requestContext"]["http"]["sourceIp"], "127.0.0.1");
        assert_eq!(e["requestContext"]["http"]["userAgent"], "test-agent");
        assert_eq!(e["requestContext"]["requestId"], "req-1");
        assert_eq!(e["requestContext"]["domainName"], "auth.example.test");
        assert_eq!(e["body"], "{\"x\":1}");
        assert_eq!(e["isBase64Encoded"], false);
    }

    #[test]
    fn binary_bodies_travel_as_base64_and_empty_ones_not_at_all() {
        let p = parts(Request::get("/x").body(()).unwrap());
        let e = event(&p, &[0xff, 0x00, 0x80], "::1".parse().unwrap(), "r");
        assert_eq!(e["body"], "/wCA");
        assert_eq!(e["isBase64Encoded"], true);
        let e = event(&p, b"", "::1".parse().unwrap(), "r");
        assert!(e.get("body").is_none());
        assert!(e.get("cookies").is_none());
        assert!(e.get("queryStringParameters").is_none());
    }

    async fn body_of(r: Response<Body>) -> Vec<u8> {
        r.into_body().collect().await.unwrap().to_bytes().to_vec()
    }

    #[tokio::test]
    async fn turns_an_answer_into_http() {
        let r = response(&json!({
            "statusCode": 429,
            "headers": {"content-type": "application/json", "retry-after": "7"},
            "multiValueHeaders": {"retry-after": ["7"], "x-multi": ["a", "b"]},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "{\"error\":\"upstream_rate_limited\"}",
            "isBase64Encoded": false
        }))
        .unwrap();
        assert_eq!(r.status(), 429);
        let h = r.headers();
        assert_eq!(h.get_all("retry-after").iter().count(), 1);
        assert_eq!(h.get_all("x-multi").iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            h.get_all(SET_COOKIE).iter().collect::<Vec<_>>(),
            ["a=1; Path=/", "b=2"]
        );
        // Nothing of the front end's own: exactly what the function said.
        assert_eq!(h.len(), 6, "{h:?}");
        assert_eq!(body_of(r).await, b"{\"error\":\"upstream_rate_limited\"}");

        let r =
            response(&json!({"statusCode": 200, "body": "AAE=", "isBase64Encoded": true})).unwrap();
        assert_eq!(body_of(r).await, [0, 1]);
        let r = response(&json!({"statusCode": 204})).unwrap();
        assert_eq!(r.status(), 204);
        assert!(r.headers().is_empty());
    }

    #[tokio::test]
    async fn any_other_json_is_a_200_body_and_nonsense_is_refused() {
        let r = response(&json!({"token": "t"})).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(body_of(r).await, br#"{"token":"t"}"#);
        for bad in [
            json!({"statusCode": "200"}),
            json!({"statusCode": 1000}),
            json!({"statusCode": 200, "body": 5}),
            json!({"statusCode": 200, "headers": {"bad name": "x"}}),
            json!({"statusCode": 200, "headers": {"x": "a\nb"}}),
            json!({"statusCode": 200, "body": "!!", "isBase64Encoded": true}),
        ] {
            assert!(response(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_times_and_decodes_queries() {
        assert_eq!(clf_time(1_764_089_412), "25/Nov/2025:16:50:12 +0000");
        assert_eq!(clf_time(951_782_400), "29/Feb/2000:00:00:00 +0000");
        assert_eq!(percent_decode("a%2Bb+c%zz%4"), "a+b c%zz%4");
    }
}
