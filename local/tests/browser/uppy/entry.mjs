// The test page's app (bundled by esbuild in ../uppy.mjs): the glue, a file
// input, a list of files with their progress, and hooks for the driver.
import { createUploader } from './glue.mjs';

const q = new URLSearchParams(location.search);
const uppy = createUploader({
  api: q.get('api'),
  headers: { 'X-Tenant-ID': q.get('tenant'), 'X-User-ID': q.get('user') },
  accountId: 'uppy-browser-test',
});

const events = [];
const list = document.getElementById('files');
function render() {
  list.replaceChildren(...uppy.getFiles().map((f) => {
    const li = document.createElement('li');
    const p = document.createElement('progress');
    p.max = 100;
    p.value = f.progress.percentage ?? 0;
    p.setAttribute('aria-label', f.name);
    const state = f.error ? `error: ${f.error}` : f.progress.uploadComplete ? `uploaded (job ${f.meta.jobId})` : `${p.value}%`;
    li.append(`${f.name} (${f.size} bytes) `, p, ` ${state}`);
    return li;
  }));
}
uppy.on('state-update', render);
uppy.on('upload-success', (file, res) => events.push({
  type: 'success', name: file.name, key: res.body.key, location: res.body.location, jobId: uppy.getFile(file.id).meta.jobId,
}));
uppy.on('upload-error', (file, err) => events.push({ type: 'error', name: file.name, message: String(err?.message ?? err) }));

document.getElementById('file').addEventListener('change', (e) => {
  for (const f of e.target.files) uppy.addFile({ name: f.name, type: f.type, data: f, source: 'input' });
  e.target.value = '';
});

const summary = (r) => ({
  successful: (r?.successful ?? []).map((f) => f.name),
  failed: (r?.failed ?? []).map((f) => ({ name: f.name, error: String(f.error) })),
});
window.app = {
  events,
  upload: async () => summary(await uppy.upload()),
  retryAll: async () => summary(await uppy.retryAll()),
  files: () => uppy.getFiles().map((f) => ({
    name: f.name, jobId: f.meta.jobId, fileKey: f.meta.fileKey, percentage: f.progress.percentage, s3Multipart: f.s3Multipart ?? null,
  })),
};
