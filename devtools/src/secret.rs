//! Puts a secret into Secrets Manager (moto, for the demo) through the same SDK the function
//! uses, configured by the standard environment (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, region,
//! credentials), so the value never appears on a command line.

use aws_sdk_secretsmanager::Client;

pub async fn client() -> Client {
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Client::new(&sdk)
}

/// Creates the secret `name` with `value`, or gives an existing one that value. Returns its ARN.
pub async fn put(client: &Client, name: &str, value: &str) -> Result<String, String> {
    let created = client
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(out) => Ok(out.arn().unwrap_or(name).to_owned()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            let out = client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "put-secret-value {name}: {}",
                        aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                    )
                })?;
            Ok(out.arn().unwrap_or(name).to_owned())
        }
        Err(e) => Err(format!(
            "create-secret {name}: {}",
            aws_sdk_secretsmanager::error::DisplayErrorContext(e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn creates_then_replaces_a_secret_in_moto() {
        assert!(
            std::env::var_os("AWS_ENDPOINT_URL_SECRETS_MANAGER").is_some(),
            "AWS_ENDPOINT_URL_SECRETS_MANAGER is not set: run the tests with scripts/test.sh, which starts moto"
        );
        let client = client().await;
        let name = format!(
            "rai-devtools-test/{}-{:?}",
            std::process::id(),
            std::time::Instant::now()
        );
        let arn = put(&client, &name, r#"{"apiKey":"one"}"#).await.unwrap();
        assert!(arn.contains("rai-devtools-test"), "{arn}");
        put(&client, &name, r#"{"apiKey":"two"}"#).await.unwrap();
        let read = client
            .get_secret_value()
            .secret_id(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(read.secret_string(), Some(r#"{"apiKey":"two"}"#));
    }
}
