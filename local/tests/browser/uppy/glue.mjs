// Uppy v6 (@uppy/core + @uppy/aws-s3) on this API. The whole glue is
// `signRequest`: the API names each object (init's file_key), so the key
// Uppy proposes is only the file's id; the first request for a file creates
// its job (POST /upload/init), and every S3 request is then signed for that
// job by POST /upload/sign. The job's id and key live in the file's meta, so
// Uppy's own retry and resume (ListParts) find them again.
import Uppy from '@uppy/core';
import AwsS3 from '@uppy/aws-s3';

export function createUploader({ api, headers, accountId, multipartFrom = 8 * 2 ** 20 }) {
  const post = async (path, body) => {
    const res = await fetch(api + path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${path}: ${res.status} ${json.detail ?? ''}`);
    return json;
  };

  const uppy = new Uppy();
  uppy.use(AwsS3, {
    shouldUseMultipart: (file) => file.size > multipartFrom,
    generateObjectKey: (file) => file.id,
    async signRequest({ method, key, uploadId, partNumber }) {
      // A file's first request carries its id, the later ones its file_key.
      let file = uppy.getFile(key) ?? uppy.getFiles().find((f) => f.meta.fileKey === key);
      if (!file.meta.jobId) {
        const job = await post('/upload/init', {
          filename: file.name, mime_type: file.type || null, file_size: file.size, account_id: accountId,
        });
        uppy.setFileMeta(file.id, { jobId: job.job_id, fileKey: job.file_key });
        file = uppy.getFile(file.id);
      }
      const signed = await post('/upload/sign', {
        job_id: file.meta.jobId, method, upload_id: uploadId, part_number: partNumber,
      });
      // Every header is signed; the browser sets Content-Length itself.
      const sendable = Object.entries(signed.headers).filter(([k]) => !/^(content-length|host)$/i.test(k));
      return { url: signed.url, headers: Object.fromEntries(sendable), key: file.meta.fileKey };
    },
  });
  return uppy;
}
