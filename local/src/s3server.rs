//! The S3-compatible server: s3s (SigV4, presigned URLs verified) over s3s-fs
//! (objects on disk), wrapped so every completed PUT or multipart upload emits
//! the notification S3 would send, behind a CORS layer for browser PUTs.
//! Conditional PUTs (`If-None-Match: *`) are honoured as S3 does (412 when
//! the key exists), and a second user stands for a role without
//! `s3:ListBucket` (missing keys are 403 to it, as in AWS).

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
use s3s::dto::*;
use s3s::{S3, S3ErrorCode, S3Request, S3Response, S3Result};
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

/// Forwards the operations the service uses to s3s-fs and emits a
/// notification after each successful PUT / multipart completion.
pub struct Notifying {
    inner: s3s_fs::FileSystem,
    root: PathBuf,
    events: UnboundedSender<Value>,
    sequencer: AtomicU64,
}

impl Notifying {
    fn emit(&self, bucket: &str, key: &str, etag: Option<&str>, event: &str) {
        // s3s-fs stores an object at <root>/<bucket>/<key>.
        let size = std::fs::metadata(self.root.join(bucket).join(key))
            .map(|m| m.len())
            .unwrap_or(0);
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

#[async_trait::async_trait]
impl S3 for Notifying {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let res = map_quirks(self.inner.put_object(req).await)?;
        self.emit(
            &bucket,
            &key,
            res.output.e_tag.as_ref().map(|e| e.value()),
            "Put",
        );
        Ok(res)
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let res = map_quirks(self.inner.complete_multipart_upload(req).await)?;
        let etag = res.output.e_tag.as_ref().map(|e| e.value());
        self.emit(&bucket, &key, etag, "CompleteMultipartUpload");
        Ok(res)
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let who = access_key(&req);
        let if_match = req.input.if_match.clone();
        let res = hide_missing(self.inner.get_object(req).await, who.as_deref())?;
        // s3s-fs ignores If-Match on GET; S3 answers 412 when the object's
        // ETag is another (the worker's read pinned to its hand-off).
        if let Some(ETagCondition::ETag(expected)) = &if_match {
            let matches = res
                .output
                .e_tag
                .as_ref()
                .is_some_and(|e| e.strong_cmp(expected));
            if !matches {
                return Err(s3s::s3_error!(
                    PreconditionFailed,
                    "At least one of the pre-conditions you specified did not hold"
                ));
            }
        }
        Ok(res)
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let who = access_key(&req);
        hide_missing(self.inner.head_object(req).await, who.as_deref())
    }
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        self.inner.delete_object(req).await
    }
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        self.inner.list_buckets(req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        if access_key(&req).as_deref() == Some(NO_LIST_ACCESS_KEY) {
            return Err(s3s::s3_error!(AccessDenied, "Access Denied"));
        }
        self.inner.list_objects_v2(req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        self.inner.create_multipart_upload(req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        map_quirks(self.inner.upload_part(req).await)
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        self.inner.abort_multipart_upload(req).await
    }
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
