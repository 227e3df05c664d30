//! The local S3 server's multipart uploads against real clients: aws-sdk-s3,
//! and plain HTTP with presigned URLs as a browser sends them.
#![allow(clippy::too_many_lines)] // scenarios, read top to bottom

mod common;

use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::list_multipart_uploads::ListMultipartUploadsOutput as Uploads;
use aws_sdk_s3::operation::list_parts::ListPartsOutput as Parts;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use common::{functions_config, s3_client};
use local_stack::s3server::{self, ACCESS_KEY, SECRET_KEY};
use md5::{Digest as _, Md5};
use reqwest::Response;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc::UnboundedReceiver;

const BUCKET: &str = "mp-bucket";
const MIB: usize = 1024 * 1024;
/// The page's origin in the requests a browser sends.
const ORIGIN: &str = "http://app.example";

/// What a failed call answered: HTTP status and S3 error code.
type Failed = (u16, String);
type Res<T> = Result<T, Failed>;

fn failed(status: u16, code: &str) -> Failed {
    (status, code.to_owned())
}

fn check<T, E: ProvideErrorMetadata>(r: Result<T, SdkError<E, HttpResponse>>) -> Res<T> {
    let status = |e: &SdkError<E, HttpResponse>| e.raw_response().map(|r| r.status().as_u16());
    r.map_err(|e| (status(&e).unwrap_or(0), e.code().unwrap_or("?").to_owned()))
}

/// `n` bytes that differ with `seed`.
fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + (i >> 12)) as u8 ^ seed).collect()
}

/// A part's ETag as S3 sends it: the quoted hex MD5 of its bytes.
fn quoted_md5(b: &[u8]) -> String {
    format!("\"{}\"", hex::encode(Md5::digest(b)))
}

/// S3's multipart ETag, computed here from the bodies (unquoted).
fn multipart_etag(parts: &[&[u8]]) -> String {
    let md5s: Vec<u8> = parts.iter().flat_map(Md5::digest).collect();
    format!("{}-{}", hex::encode(Md5::digest(&md5s)), parts.len())
}

/// The first `<tag>` of an XML answer.
fn xml<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    Some(body.split_once(&open)?.1.split_once(&close)?.0)
}

/// `s` percent-encoded as SigV4 wants it (for these tests' keys and ids).
fn enc(s: &str) -> String {
    let e: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
    e.replace('+', "%20")
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64]; // the keys here are shorter than a block
    k[..key.len()].copy_from_slice(key);
    let pad = |x: u8| k.map(|b| b ^ x);
    let inner = Sha256::digest([&pad(0x36)[..], msg].concat());
    Sha256::digest([&pad(0x5c)[..], &inner].concat()).to_vec()
}

/// A URL presigned for `method` on `key` with the (sorted) `query`, as the
/// API hands a browser (the SDK cannot presign Complete or Abort).
fn presign(base: &str, method: &str, key: &str, query: &str) -> String {
    let now = chrono::Utc::now();
    let day = now.format("%Y%m%d").to_string();
    let time = now.format("%Y%m%dT%H%M%SZ").to_string();
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let credential = enc(&format!("{ACCESS_KEY}/{scope}"));
    let q = format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={credential}");
    let q = format!("{q}&X-Amz-Date={time}&X-Amz-Expires=600");
    let q = format!("{q}&X-Amz-SignedHeaders=host&{query}");
    let path = format!("/{BUCKET}/{}", enc(key).replace("%2F", "/"));
    let host = base.trim_start_matches("http://");
    let canonical = format!("{method}\n{path}\n{q}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD");
    let hash = hex::encode(Sha256::digest(canonical.as_bytes()));
    let to_sign = format!("AWS4-HMAC-SHA256\n{time}\n{scope}\n{hash}");
    let mut signing = format!("AWS4{SECRET_KEY}").into_bytes();
    for part in [&*day, "us-east-1", "s3", "aws4_request"] {
        signing = hmac(&signing, part.as_bytes());
    }
    let signature = hex::encode(hmac(&signing, to_sign.as_bytes()));
    format!("{base}{path}?{q}&X-Amz-Signature={signature}")
}

/// Sends a request to a presigned URL as a browser does (with an Origin).
async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let req = common::client().request(method, url);
    let mut req = req.header("origin", ORIGIN);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

/// The server in-process, with its notification channel.
struct Server {
    url: String,
    s3: aws_sdk_s3::Client,
    events: UnboundedReceiver<Value>,
}

impl Server {
    async fn start() -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let dir = common::temp_dir("s3-multipart");
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(s3server::serve(listener, dir, BUCKET.to_owned(), tx));
        let cfg = functions_config("postgres://unused@127.0.0.1:9/x", &url, BUCKET, "10");
        let s3 = s3_client(&cfg, ACCESS_KEY, SECRET_KEY);
        Server { url, s3, events }
    }

    /// CreateMultipartUpload of `key` (audio/wav).
    async fn upload(&self, key: &str) -> Mp {
        let req = self.s3.create_multipart_upload().bucket(BUCKET);
        let req = req.key(key).content_type("audio/wav");
        let id = req.send().await.unwrap().upload_id.unwrap();
        let (s3, key) = (self.s3.clone(), key.to_owned());
        Mp { s3, key, id }
    }

    async fn get(&self, key: &str) -> (String, Vec<u8>) {
        let get = self.s3.get_object().bucket(BUCKET).key(key);
        let out = get.send().await.unwrap();
        let etag = out.e_tag.unwrap();
        (etag, out.body.collect().await.unwrap().to_vec())
    }

    /// ListMultipartUploads: `prefix`, a page of `max` after the markers.
    async fn uploads(&self, prefix: &str, max: Option<i32>, markers: Markers) -> Uploads {
        let req = self.s3.list_multipart_uploads().bucket(BUCKET);
        let req = req.prefix(prefix).set_max_uploads(max);
        let req = req.set_key_marker(markers.0);
        req.set_upload_id_marker(markers.1).send().await.unwrap()
    }

    async fn ids(&self, prefix: &str) -> Vec<String> {
        let out = self.uploads(prefix, None, (None, None)).await;
        upload_ids(&out).into_iter().map(str::to_owned).collect()
    }

    async fn event(&mut self) -> Value {
        let next = tokio::time::timeout(Duration::from_secs(5), self.events.recv());
        next.await.expect("a notification").unwrap()
    }
}

type Markers = (Option<String>, Option<String>);

/// One multipart upload.
struct Mp {
    s3: aws_sdk_s3::Client,
    key: String,
    id: String,
}

impl Mp {
    async fn part(&self, n: i32, body: &[u8]) -> Res<String> {
        let req = self.s3.upload_part().bucket(BUCKET).key(&self.key);
        let req = req.upload_id(&self.id).part_number(n);
        let out = check(req.body(body.to_vec().into()).send().await);
        out.map(|o| o.e_tag.unwrap())
    }

    /// CompleteMultipartUpload of `parts` (number, ETag): the object's ETag.
    async fn complete(&self, parts: &[(i32, &str)], inm: Option<&str>) -> Res<String> {
        let part = |&(n, e): &(i32, &str)| CompletedPart::builder().part_number(n).e_tag(e);
        let parts = parts.iter().map(|p| part(p).build()).collect();
        let list = CompletedMultipartUpload::builder().set_parts(Some(parts));
        let req = self.s3.complete_multipart_upload().bucket(BUCKET);
        let req = req.key(&self.key).upload_id(&self.id);
        let req = req.multipart_upload(list.build());
        let req = req.set_if_none_match(inm.map(str::to_owned));
        check(req.send().await).map(|o| o.e_tag.unwrap())
    }

    async fn parts(&self, max: Option<i32>, marker: Option<i32>) -> Res<Parts> {
        let req = self.s3.list_parts().bucket(BUCKET).key(&self.key);
        let req = req.upload_id(&self.id).set_max_parts(max);
        let marker = marker.map(|m| m.to_string());
        check(req.set_part_number_marker(marker).send().await)
    }
}

/// A ListParts page: its part numbers, whether more remain.
fn page(p: &Parts) -> (Vec<i32>, bool) {
    let numbers = p.parts().iter().map(|p| p.part_number().unwrap());
    (numbers.collect(), p.is_truncated().unwrap())
}

fn upload_ids(out: &Uploads) -> Vec<&str> {
    let ids = out.uploads().iter().map(|u| u.upload_id().unwrap());
    ids.collect()
}

#[tokio::test]
async fn three_parts_by_presigned_urls_complete_as_s3_answers_it() {
    let mut s = Server::start().await;
    let key = "tenant/a b/take 1.wav";
    let up = s.upload(key).await;
    let bodies = [data(5 * MIB, 1), data(5 * MIB, 2), data(MIB + 3, 3)];
    for (n, b) in (1..).zip(&bodies[..2]) {
        assert_eq!(up.part(n, b).await.unwrap(), quoted_md5(b));
    }
    // Part 3 as a browser sends it: a presigned PUT; the ETag it answers
    // is readable by the page (CORS).
    let query = format!("partNumber=3&uploadId={}", up.id);
    let url = presign(&s.url, "PUT", key, &query);
    let res = send("PUT", &url, &[], bodies[2].clone()).await;
    assert_eq!(res.status(), 200);
    let h = res.headers();
    assert_eq!(h["etag"].to_str().unwrap(), quoted_md5(&bodies[2]));
    assert_eq!(h["access-control-allow-origin"], ORIGIN);
    assert_eq!(h["access-control-expose-headers"], "ETag");

    // The completion as a browser sends it: a presigned POST, the XML body
    // (and `If-None-Match: *`, as the API signs it).
    let mut xml_body = String::from("<CompleteMultipartUpload>");
    for (n, b) in (1..).zip(&bodies) {
        let etag = quoted_md5(b);
        xml_body += &format!("<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>");
    }
    xml_body += "</CompleteMultipartUpload>";
    let url = presign(&s.url, "POST", key, &format!("uploadId={}", up.id));
    let res = send("POST", &url, &[("if-none-match", "*")], xml_body.into()).await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let expected = multipart_etag(&[&bodies[0], &bodies[1], &bodies[2]]);
    let (quoted, size) = (format!("\"{expected}\""), 11 * MIB + 3);
    assert!(expected.ends_with("-3"));
    let host = s.url.trim_start_matches("http://");
    let location = format!("http://{host}/{BUCKET}/tenant%2Fa%20b%2Ftake%201.wav");
    assert_eq!(xml(&body, "Location"), Some(&*location), "{body}");
    assert_eq!(xml(&body, "Bucket"), Some(BUCKET), "{body}");
    assert_eq!(xml(&body, "Key"), Some(key), "{body}");
    let etag = xml(&body, "ETag").unwrap().replace("&quot;", "\"");
    assert_eq!(etag, quoted, "{body}");
    let ev = s.event().await;
    let rec = &ev["Records"][0];
    assert_eq!(rec["eventName"], "ObjectCreated:CompleteMultipartUpload");
    let object = &rec["s3"]["object"];
    assert_eq!(object["key"], "tenant/a+b/take+1.wav");
    assert_eq!(object["size"], size);
    assert_eq!(object["eTag"], expected);
    // HEAD and GET: the multipart ETag, the total size, the bytes, the type.
    let head = s.s3.head_object().bucket(BUCKET).key(key);
    let head = head.send().await.unwrap();
    assert_eq!(head.e_tag(), Some(&*quoted));
    assert_eq!(head.content_length(), Some(size as i64));
    assert_eq!(head.content_type(), Some("audio/wav"));
    let (get_etag, bytes) = s.get(key).await;
    assert_eq!(get_etag, quoted);
    assert!(bytes == bodies.concat(), "GET: the bytes");
    let gone = failed(404, "NoSuchUpload"); // the upload
    assert_eq!(up.complete(&[(1, "\"0\"")], None).await, Err(gone.clone()));
    assert_eq!(up.parts(None, None).await.unwrap_err(), gone);
}

#[tokio::test]
async fn list_parts_pages_and_a_part_uploaded_again_replaces_the_first() {
    let s = Server::start().await;
    let up = s.upload("tenant/parts.wav").await;
    for n in 1..=5 {
        up.part(n, &data(100 + n as usize, n as u8)).await.unwrap();
    }
    let replaced = data(77, 200);
    assert_eq!(up.part(2, &replaced).await.unwrap(), quoted_md5(&replaced));
    let first = up.parts(Some(2), None).await.unwrap();
    assert_eq!(page(&first), (vec![1, 2], true));
    assert_eq!(first.next_part_number_marker(), Some("2"));
    let second = &first.parts()[1];
    assert_eq!(second.e_tag(), Some(&*quoted_md5(&replaced)));
    assert_eq!(second.size(), Some(77));
    let modified = second.last_modified().unwrap().secs();
    assert!((chrono::Utc::now().timestamp() - modified).abs() < 60);
    let next = up.parts(Some(2), Some(2)).await.unwrap();
    assert_eq!(page(&next), (vec![3, 4], true));
    let last = up.parts(Some(2), Some(4)).await.unwrap();
    assert_eq!(page(&last), (vec![5], false));
    assert_eq!(last.parts()[0].size(), Some(105));
    let all = up.parts(None, None).await.unwrap(); // S3's page: 1,000
    assert_eq!(page(&all), (vec![1, 2, 3, 4, 5], false));
    // Part numbers are 1..=10000; an unknown upload is NoSuchUpload.
    let invalid = Err(failed(400, "InvalidArgument"));
    assert_eq!(up.part(0, b"x").await, invalid);
    assert_eq!(up.part(10_001, b"x").await, invalid);
    let gone = Err(failed(404, "NoSuchUpload"));
    let id = "0123456789abcdef0123456789abcdef".to_owned();
    let unknown = Mp { id, ..up };
    assert_eq!(unknown.part(1, b"x").await, gone);
}

#[tokio::test]
async fn uploads_are_listed_by_prefix_with_markers_until_aborted() {
    let s = Server::start().await;
    let before = chrono::Utc::now().timestamp();
    let mut ids = Vec::new();
    for key in ["k/a", "k/a", "k/ab", "k/b", "u/a"] {
        ids.push(s.upload(key).await.id);
    }
    // What the reaper asks: the uploads of a key (the prefix also matches
    // longer keys), by key, then by initiation, with the initiation time.
    let out = s.uploads("k/a", None, (None, None)).await;
    assert_eq!(upload_ids(&out), &ids[..3]);
    assert_eq!(out.uploads()[2].key(), Some("k/ab"));
    for u in out.uploads() {
        let t = u.initiated().unwrap().secs();
        assert!((before - 1..=chrono::Utc::now().timestamp() + 1).contains(&t));
    }
    assert_eq!(s.ids("k/").await, &ids[..4]);
    assert_eq!(s.ids("v/").await, [""; 0]);
    // One a page, following the next markers as the reaper does.
    let (mut markers, mut paged) = ((None, None), Vec::new());
    loop {
        let page = s.uploads("k/", Some(1), markers).await;
        assert!(page.uploads().len() <= 1);
        paged.extend(upload_ids(&page).into_iter().map(str::to_owned));
        if page.is_truncated() != Some(true) {
            break;
        }
        markers = (page.next_key_marker, page.next_upload_id_marker);
    }
    assert_eq!(paged, &ids[..4]);
    // Abort (S3 answers 204, which a browser's presigned DELETE sees):
    // the upload and its parts are gone.
    let up = s.upload("z/aborted").await;
    let e1 = up.part(1, b"abc").await.unwrap();
    let url = presign(&s.url, "DELETE", &up.key, &format!("uploadId={}", up.id));
    assert_eq!(send("DELETE", &url, &[], vec![]).await.status(), 204);
    assert_eq!(s.ids("z/").await, [""; 0]);
    let gone = failed(404, "NoSuchUpload");
    assert_eq!(up.part(2, b"def").await, Err(gone.clone()));
    assert_eq!(up.parts(None, None).await.unwrap_err(), gone);
    assert_eq!(up.complete(&[(1, &e1)], None).await, Err(gone));
}

#[tokio::test]
async fn completion_is_as_strict_as_s3_and_a_refused_one_leaves_the_upload() {
    let mut s = Server::start().await;
    let up = s.upload("tenant/strict.wav").await;
    let (big, small) = (data(5 * MIB, 7), data(1000, 8));
    let e1 = up.part(1, &big).await.unwrap();
    let e2 = up.part(2, &small).await.unwrap();
    let e3 = up.part(3, &small).await.unwrap();
    let wrong = quoted_md5(b"something else");
    let refusals = [
        (vec![(1, &*wrong), (3, &e3)], "InvalidPart"),
        (vec![(1, &e1), (4, &e3)], "InvalidPart"),
        (vec![(1, &e1), (2, &e2), (3, &e3)], "EntityTooSmall"),
        (vec![(3, &e3), (1, &e1)], "InvalidPartOrder"),
        (vec![(1, &e1), (1, &e1)], "InvalidPartOrder"),
        (vec![], "MalformedXML"),
    ];
    for (parts, code) in refusals {
        let refused = up.complete(&parts, None).await;
        assert_eq!(refused, Err(failed(400, code)), "{parts:?}");
    }
    // Nothing was written and the upload is intact.
    let head = s.s3.head_object().bucket(BUCKET).key(&up.key);
    assert_eq!(check(head.send().await).unwrap_err().0, 404);
    let parts = up.parts(None, None).await.unwrap();
    assert_eq!(page(&parts), (vec![1, 2, 3], false));
    assert!(s.events.try_recv().is_err(), "no notification");
    // A retry with the right ETags (unquoted, upper case: S3 accepts them)
    // completes; part 2, uploaded but not listed, is not in the object.
    let e3_loose = e3.trim_matches('"').to_uppercase();
    let retry = [(1, &*e1), (3, &e3_loose)];
    let etag = up.complete(&retry, None).await.unwrap();
    assert_eq!(etag, format!("\"{}\"", multipart_etag(&[&big, &small])));
    let object = [&*big, &small].concat();
    assert_eq!(s.get(&up.key).await, (etag.clone(), object.clone()));
    let ev = s.event().await;
    assert_eq!(ev["Records"][0]["s3"]["object"]["size"], object.len());
    // If-None-Match: * with the key taken: 412, nothing written, no
    // notification, and the upload remains for the reaper to abort.
    let again = s.upload(&up.key).await;
    let e = again.part(1, b"tiny").await.unwrap(); // a last part: any size
    let refused = again.complete(&[(1, &e)], Some("*")).await;
    assert_eq!(refused, Err(failed(412, "PreconditionFailed")));
    assert_eq!(s.get(&up.key).await, (etag, object));
    assert!(s.events.try_recv().is_err(), "no notification");
    assert_eq!(s.ids(&up.key).await, [&*again.id]);
}
