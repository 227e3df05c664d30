//! What the AWS SDK clients (S3, EventBridge) share: the region, the
//! credentials and the HTTPS client, built at init without `aws-config`.
//!
//! `aws-config`'s loader resolves settings from every source the SDK knows:
//! profile files, web identity (an STS client, built at load), SSO,
//! instance metadata. In Lambda the function's credentials are in its
//! environment, and the loader cost about 3 ms of each cold start (the STS
//! client's HTTPS client read and parsed every root certificate of the
//! platform) and about 350 KiB of binary (`aws-config`, `aws-sdk-sts`).
//! The clients' own defaults (retries, timeouts, sleep, time source,
//! identity cache) apply as with the loader.
//!
//! HTTPS: AWS endpoints all present certificates from Amazon Trust
//! Services, so against AWS the clients trust exactly those five roots
//! (`amazon-trust-services.pem`), parsed in microseconds. When an endpoint
//! is overridden with an `https://` URL (`S3_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_EVENTBRIDGE`: another provider, a test endpoint), in
//! the China partition, or when `AWS_TRUST_PLATFORM_ROOTS` is set, the SDK's
//! default client (the platform's roots) is used.

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_types::SdkConfig;
use aws_types::region::Region;

use crate::config::Config;

/// The Amazon Trust Services root certificates (PEM).
pub const AMAZON_TRUST_SERVICES_PEM: &str = include_str!("amazon-trust-services.pem");

/// Where the events function's hand-off goes instead of EventBridge's AWS
/// endpoint (a local or test endpoint), as the SDK's own variable names it.
pub const EVENTBRIDGE_ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_EVENTBRIDGE";

/// The SDK settings for `config`'s region, with the credentials of the
/// process environment ([`env_credentials`]).
pub fn sdk_config(config: &Config) -> SdkConfig {
    let env = |name: &str| std::env::var(name).ok();
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.aws_region.clone()));
    if let Some(credentials) = env_credentials(env) {
        b = b.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if !platform_roots_needed(config, env) {
        b = b.http_client(amazon_trust_services_client());
    }
    b.build()
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`, as
/// Lambda sets them for the function's role; `None` without a key and a
/// secret (the clients then fail each call, saying so). Lambda's do not
/// change during the process's life.
pub fn env_credentials(env: impl Fn(&str) -> Option<String>) -> Option<Credentials> {
    let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    Some(Credentials::new(
        set("AWS_ACCESS_KEY_ID")?,
        set("AWS_SECRET_ACCESS_KEY")?,
        set("AWS_SESSION_TOKEN"),
        None,
        "Environment",
    ))
}

/// Whether the SDK clients must trust the platform's roots:
/// * an endpoint that is not AWS's is reached over HTTPS (`S3_ENDPOINT_URL`,
///   [`EVENTBRIDGE_ENDPOINT_VAR`]; a plain `http://` one, like the local
///   stack's, needs no roots);
/// * the region is in AWS's China partition (`cn-*`), whose endpoints are
///   not certified by Amazon Trust Services;
/// * the operator asks for them with `AWS_TRUST_PLATFORM_ROOTS` (e.g. a
///   TLS-inspecting proxy with its own CA).
pub fn platform_roots_needed(config: &Config, env: impl Fn(&str) -> Option<String>) -> bool {
    let https = |url: &str| !url.trim().to_ascii_lowercase().starts_with("http://");
    config.s3_endpoint_url.as_deref().is_some_and(https)
        || eventbridge_endpoint(&env).as_deref().is_some_and(https)
        || config.aws_region.starts_with("cn-")
        || env("AWS_TRUST_PLATFORM_ROOTS").is_some()
}

/// [`EVENTBRIDGE_ENDPOINT_VAR`], unless unset or blank.
pub fn eventbridge_endpoint(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env(EVENTBRIDGE_ENDPOINT_VAR)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The SDK's default HTTPS client (rustls with aws-lc, the connector
/// settings and sleep of each SDK client, proxies from the environment),
/// trusting the Amazon Trust Services roots only.
pub fn amazon_trust_services_client() -> SharedHttpClient {
    let roots = TrustStore::empty()
        .with_native_roots(false)
        .with_pem_certificate(AMAZON_TRUST_SERVICES_PEM.as_bytes());
    let tls = TlsContext::builder()
        .with_trust_store(roots)
        .build()
        .expect("a TLS context from a trust store");
    Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default()
            .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
            .tls_context(tls.clone());
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use sha2::{Digest, Sha256};

    /// As AWS publishes them (https://www.amazontrust.com/repository/).
    const FINGERPRINTS: [&str; 5] = [
        "8ecde6884f3d87b1125ba31ac3fcb13d7016de7f57cc904fe1cb97c6ae98196e", // Amazon Root CA 1
        "1ba5b2aa8c65401a82960118f80bec4f62304d83cec4713a19c39c011ea46db4", // Amazon Root CA 2
        "18ce6cfe7bf14e60b2e347b8dfe868cb31d02ebb3ada271569f50343b46db3a4", // Amazon Root CA 3
        "e35d28419ed02025cfa69038cd623962458da5c695fbdea3c22b0bfb25897092", // Amazon Root CA 4
        "568d6905a2c88708a4b3025190edcfedb1974a606a13c6e5290fcb2ae63edab5", // Starfield Services Root G2
    ];

    #[test]
    fn the_embedded_roots_are_the_five_amazon_trust_services_publishes() {
        let certs: Vec<CertificateDer> =
            CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_PEM.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let prints: Vec<String> = certs
            .iter()
            .map(|c| hex::encode(Sha256::digest(c.as_ref())))
            .collect();
        assert_eq!(prints, FINGERPRINTS);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }

    #[test]
    fn platform_roots_only_for_endpoints_that_are_not_aws_or_when_asked() {
        let config_in = |region: &str| {
            let region = region.to_owned();
            Config::from_lookup(move |k| match k {
                "DATABASE_URL" => Some("postgres://app@127.0.0.1:5432/jobs".into()),
                "UPLOAD_BUCKET" => Some("eq-uploads-dev".into()),
                "AWS_REGION" => Some(region.clone()),
                _ => None,
            })
            .unwrap()
        };
        let mut config = config_in("us-east-1");
        let env = |set: &[(&'static str, &'static str)]| {
            let set = set.to_vec();
            move |name: &str| {
                set.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let eventbridge = |url: &'static str| [("AWS_ENDPOINT_URL_EVENTBRIDGE", url)];
        let needed = |c: &Config, e| platform_roots_needed(c, e);
        assert!(!needed(&config, env(&[("AWS_REGION", "eu-west-1")])));
        assert!(needed(
            &config,
            env(&eventbridge("https://events.example.net"))
        ));
        assert!(!needed(&config, env(&eventbridge("http://127.0.0.1:4010"))));
        assert!(!needed(&config, env(&eventbridge("HTTP://localhost:4010"))));
        assert!(!needed(&config, env(&eventbridge("  "))));
        assert!(needed(&config, env(&[("AWS_TRUST_PLATFORM_ROOTS", "1")])));
        assert!(needed(&config_in("cn-north-1"), env(&[])));
        config.s3_endpoint_url = Some("http://127.0.0.1:9000".into());
        assert!(!needed(&config, env(&[])));
        config.s3_endpoint_url = Some("https://s3.example.net".into());
        assert!(needed(&config, env(&[])));
        assert_eq!(
            eventbridge_endpoint(env(&eventbridge(" http://x:1 "))).as_deref(),
            Some("http://x:1")
        );
        assert_eq!(eventbridge_endpoint(env(&eventbridge(""))), None);
    }

    #[test]
    fn credentials_come_from_the_environment_or_not_at_all() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let c = env_credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "token"),
        ]))
        .unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key()),
            ("AKID", "secret")
        );
        assert_eq!(c.session_token(), Some("token"));
        let c = env_credentials(vars(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", " "),
        ]))
        .unwrap();
        assert_eq!(c.session_token(), None);
        assert!(env_credentials(vars(&[("AWS_ACCESS_KEY_ID", "AKID")])).is_none());
        assert!(
            env_credentials(vars(&[
                ("AWS_ACCESS_KEY_ID", ""),
                ("AWS_SECRET_ACCESS_KEY", "secret")
            ]))
            .is_none()
        );
    }
}
