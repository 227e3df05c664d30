//! The S3-compatible server: s3s (SigV4, presigned URLs verified) over s3s-fs
//! (objects on disk), wrapped so every completed PUT or multipart upload emits
//! the notification S3 would send, behind a CORS layer for browser PUTs.
//! Conditional PUTs (`If-None-Match: *`) are honoured as S3 does (412 when
//! the key exists), and a second user stands for a role without
//! `s3:ListBucket` (missing keys are 403 to it, as in AWS).
//!
//! Multipart uploads are this server's own, as strict as S3 (s3s-fs has no
//! ListParts or ListMultipartUploads and checks little): parts under
//! `<data>/multipart` (`uploads`), completion (`complete`) writing the
//! object where s3s-fs serves it with S3's multipart ETag (`objects`),
//! listings (`listing`); the operations are in `ops`.

mod complete;
mod listing;
mod objects;
mod ops;
mod uploads;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use s3s::{S3ErrorCode, S3Request, S3Result};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedSender;

pub const ACCESS_KEY: &str = "local-access-key";
pub const SECRET_KEY: &str = "local-secret-key";
/// A second user, standing for an IAM role WITHOUT `s3:ListBucket` on the
/// bucket: as in AWS, a HEAD or GET of a missing key answers it 403
/// AccessDenied instead of 404, since telling "absent" apart would reveal
/// what the role may not list.
pub const NO_LIST_ACCESS_KEY: &str = "local-no-list-access-key";
pub const NO_LIST_SECRET_KEY: &str = "local-no-list-secret-key";

/// S3's encoding of keys in notifications: form-urlencoded (space is `+`),
/// with `/` kept.
pub fn encode_event_key(key: &str) -> String {
    url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/")
}

/// Builds the notification S3 sends for one created object.
pub fn notification(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    sequencer: &str,
    event: &str,
) -> Value {
    json!({"Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "eventName": format!("ObjectCreated:{event}"),
        "userIdentity": {"principalId": "local"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": sequencer, "x-amz-id-2": "local"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "local-stack",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": "local"}, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_event_key(key), "size": size, "eTag": etag.trim_matches('"'), "sequencer": sequencer}
        }
    }]})
}

/// Forwards the operations the service uses to s3s-fs, runs multipart
/// uploads itself, and emits a notification after each successful PUT /
/// multipart completion.
pub struct Notifying {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    uploads: uploads::Uploads,
    events: UnboundedSender<Value>,
    sequencer: AtomicU64,
}

impl Notifying {
    fn object_size(&self, bucket: &str, key: &str) -> u64 {
        // s3s-fs stores an object at <root>/<bucket>/<key>.
        std::fs::metadata(self.root.join(bucket).join(key))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    fn emit(&self, bucket: &str, key: &str, size: u64, etag: Option<&str>, event: &str) {
        let seq = format!("{:016X}", self.sequencer.fetch_add(1, Ordering::SeqCst) + 1);
        let _ = self.events.send(notification(
            bucket,
            key,
            size,
            etag.unwrap_or(""),
            &seq,
            event,
        ));
    }
}

/// A missing key is 403 to a caller without list permission, as in AWS.
fn hide_missing<T>(r: S3Result<T>, access_key: Option<&str>) -> S3Result<T> {
    r.map_err(|e| {
        if *e.code() == S3ErrorCode::NoSuchKey && access_key == Some(NO_LIST_ACCESS_KEY) {
            s3s::s3_error!(AccessDenied, "Access Denied")
        } else {
            e
        }
    })
}

fn access_key<T>(req: &S3Request<T>) -> Option<String> {
    req.credentials.as_ref().map(|c| c.access_key.clone())
}

/// s3s-fs answers a malformed x-amz-content-sha256 with 500; real S3 says 400.
fn map_quirks<T>(r: S3Result<T>) -> S3Result<T> {
    r.map_err(|mut e| {
        if e.status_code() == Some(StatusCode::INTERNAL_SERVER_ERROR)
            && e.message().is_some_and(|m| m.contains("sha256"))
        {
            e.set_status_code(StatusCode::BAD_REQUEST);
        }
        e
    })
}

type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn cors(mut res: Response<Body>, origin: Option<&HeaderValue>) -> Response<Body> {
    let h = res.headers_mut();
    h.insert(
        "access-control-allow-origin",
        origin.cloned().unwrap_or(HeaderValue::from_static("*")),
    );
    h.insert(
        "access-control-expose-headers",
        HeaderValue::from_static("ETag"),
    );
    h.insert("vary", HeaderValue::from_static("Origin"));
    res
}

/// Serves the S3 API on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    data_dir: PathBuf,
    bucket: String,
    events: UnboundedSender<Value>,
) -> std::io::Result<()> {
    let objects = data_dir.join("objects");
    std::fs::create_dir_all(objects.join(&bucket))?;
    let inner =
        s3s_fs::FileSystem::new(&objects).map_err(|e| std::io::Error::other(format!("{e:?}")))?;
    let root = objects.canonicalize()?;
    let notifying = Notifying {
        inner,
        uploads: uploads::Uploads::open(&data_dir, root.clone())?,
        root,
        events,
        sequencer: AtomicU64::new(chrono::Utc::now().timestamp_micros() as u64),
    };
    let mut b = s3s::service::S3ServiceBuilder::new(notifying);
    let mut auth = s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY);
    auth.register(NO_LIST_ACCESS_KEY.to_owned(), NO_LIST_SECRET_KEY.into());
    b.set_auth(auth);
    let service = Arc::new(b.build());
    loop {
        let (stream, _) = listener.accept().await?;
        let service = service.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let service = service.clone();
                async move { Ok::<_, Infallible>(handle(&service, req).await) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn handle(service: &s3s::service::S3Service, req: Request<Incoming>) -> Response<Body> {
    let origin = req.headers().get("origin").cloned();
    if req.method() == Method::OPTIONS
        && req.headers().contains_key("access-control-request-method")
    {
        // CORS preflight for browser PUTs (the bucket's CORS rule in AWS).
        let allow_headers = req
            .headers()
            .get("access-control-request-headers")
            .cloned()
            .unwrap_or(HeaderValue::from_static("content-type"));
        let mut res = Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        h.insert(
            "access-control-allow-methods",
            HeaderValue::from_static("GET, PUT, HEAD, POST, DELETE"),
        );
        h.insert("access-control-allow-headers", allow_headers);
        h.insert("access-control-max-age", HeaderValue::from_static("3000"));
        return cors(res, origin.as_ref());
    }
    match hyper::service::Service::call(service, req).await {
        Ok(res) => {
            let res = res.map(|b| {
                b.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e })
                    .boxed()
            });
            cors(res, origin.as_ref())
        }
        Err(e) => {
            tracing::error!(error = ?e, "s3 service error");
            let mut res = Response::new(
                Full::new(Bytes::from("internal error"))
                    .map_err(|e| match e {})
                    .boxed(),
            );
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res
        }
    }
}

pub fn local_addr(l: &TcpListener) -> SocketAddr {
    l.local_addr().expect("bound listener has an address")
}
