//! The S3 operations. Multipart uploads are this server's own
//! ([`super::uploads`], [`super::complete`], [`super::listing`]); the rest
//! is forwarded to s3s-fs, with a notification after each PUT and
//! completion.

use s3s::dto::*;
use s3s::{S3, S3Request, S3Response, S3Result};
use serde_json::Value;

use super::complete;
use super::listing;
use super::objects::{self, hex};
use super::uploads::Uploads;
use super::{NO_LIST_ACCESS_KEY, Notifying, access_key, hide_missing, map_quirks};

/// S3's path-style `Location` of an object: the key URI-encoded (RFC 3986
/// unreserved characters kept, `/` encoded), as S3 writes it.
pub fn location(host: &str, bucket: &str, key: &str) -> String {
    let key: String = key
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("http://{host}/{bucket}/{key}")
}

/// The object attributes s3s-fs records (its `ObjectAttributes`) for an
/// object created by this upload.
fn object_attributes(i: &CreateMultipartUploadInput) -> Value {
    let mut attrs = serde_json::Map::new();
    let fields = [
        ("content_type", &i.content_type),
        ("content_encoding", &i.content_encoding),
        ("content_disposition", &i.content_disposition),
        ("content_language", &i.content_language),
        ("cache_control", &i.cache_control),
        ("website_redirect_location", &i.website_redirect_location),
    ];
    for (name, value) in fields {
        if let Some(v) = value {
            attrs.insert(name.to_owned(), Value::String(v.clone()));
        }
    }
    if let Some(m) = &i.metadata {
        attrs.insert("user_metadata".to_owned(), serde_json::json!(m));
    }
    Value::Object(attrs)
}

fn no_such_bucket() -> s3s::S3Error {
    s3s::s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

#[async_trait::async_trait]
impl S3 for Notifying {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let res = map_quirks(self.inner.put_object(req).await)?;
        let etag = res.output.e_tag.as_ref().map(|e| e.value());
        self.emit(&bucket, &key, self.object_size(&bucket, &key), etag, "Put");
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
        let input = &req.input;
        if !self.root.join(&input.bucket).is_dir() {
            return Err(no_such_bucket());
        }
        objects::object_path(&self.root, &input.bucket, &input.key)?;
        let upload = self
            .uploads
            .create(&input.bucket, &input.key, object_attributes(input))?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(upload.bucket),
            key: Some(upload.key),
            upload_id: Some(upload.id),
            ..Default::default()
        }))
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let i = req.input;
        if !(1..=10_000).contains(&i.part_number) {
            return Err(s3s::s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and 10000, inclusive"
            ));
        }
        let upload = self.uploads.load(&i.upload_id, &i.bucket, &i.key)?;
        let body = i.body.unwrap_or_else(|| s3s::Body::empty().into());
        let written = self
            .uploads
            .write_part(&upload, i.part_number, body, i.content_md5.as_deref())
            .await;
        let md5 = map_quirks(written)?;
        Ok(S3Response::new(UploadPartOutput {
            e_tag: Some(ETag::Strong(hex(&md5))),
            ..Default::default()
        }))
    }
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        listing::list_parts(&self.uploads, req.input).map(S3Response::new)
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        listing::list_uploads(&self.uploads, req.input).map(S3Response::new)
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost")
            .to_owned();
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        let done = complete::complete(&self.uploads, req.input).await?;
        let etag = Some(done.etag.as_str());
        self.emit(&bucket, &key, done.size, etag, "CompleteMultipartUpload");
        Ok(S3Response::new(CompleteMultipartUploadOutput {
            location: Some(location(&host, &bucket, &key)),
            bucket: Some(bucket),
            key: Some(key),
            e_tag: Some(ETag::Strong(done.etag)),
            ..Default::default()
        }))
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let i = &req.input;
        let upload = self.uploads.load(&i.upload_id, &i.bucket, &i.key)?;
        Uploads::discard(&self.uploads.claim(&upload.id)?);
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }
}
