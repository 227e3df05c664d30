//! What every request shares, built once at init.

use std::sync::Arc;

use aws_credential_types::provider::SharedCredentialsProvider;
use upload_core::metrics::Metrics;
use upload_core::objects::ObjectHead;
use upload_core::{Config, Db};

use crate::auth::Authenticator;
use crate::presign::Presigner;

/// Everything a request needs, built once at init.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub presigner: Presigner,
    pub objects: Arc<dyn ObjectHead>,
    pub auth: Authenticator,
    /// Off unless set with [`AppState::with_metrics`].
    pub metrics: Metrics,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// `db` need not be connected yet. `client` signs the upload URLs (for
    /// `config.upload_bucket`, valid `config.upload_url_ttl`); `credentials`,
    /// when given, are read for their expiry, since a URL signed with
    /// temporary credentials dies with them. `objects` answers the HEAD of
    /// `/upload/complete`. Metrics are off.
    pub fn new(
        config: Config,
        db: Db,
        client: aws_sdk_s3::Client,
        credentials: Option<SharedCredentialsProvider>,
        objects: Arc<dyn ObjectHead>,
    ) -> Self {
        let presigner = Presigner::new(
            client,
            config.upload_bucket.clone(),
            config.upload_url_ttl,
            credentials,
        );
        let auth = Authenticator::new(config.jwt.as_ref(), config.allow_legacy_header_auth);
        Self {
            config,
            db,
            presigner,
            objects,
            auth,
            metrics: Metrics::off(),
        }
    }

    /// Writes the request metrics to `metrics` (the Lambda: stdout).
    #[must_use]
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }
}
