// The local stack's upload page (ui.html): init, then a single presigned PUT
// or an S3 multipart upload signed request by request with POST /upload/sign
// (parts in parallel, each retried with backoff, resumable after a network
// error or a reload), then the job's status. Plain JS, no dependencies.
//
// Hooks the browser tests use (keep them): inputs #tenant #user #account
// #threshold #part-size #parallel #auto-resume #file; one li.upload per file
// in #uploads with data-name, data-state, data-job-id, data-upload-id and
// .progress[role=progressbar][aria-valuenow] .state .error .cancel .resume;
// #resumable li (uploads to resume, from localStorage); #jobs tr[data-job-id]
// .status; #log.
'use strict';

const $ = (id) => document.getElementById(id);
const MiB = 1024 * 1024;
const MIN_PART = 5 * MiB; // S3: every part but the last
const MAX_PARTS = 1000; // one ListParts answer lists them all (resume needs one signed GET)
const RETRIES = 3; // per request, after the first attempt
const FILES_AT_ONCE = 2;
const RESUME_STORE = 'local-stack-upload:resume:v1';
// Headers a page may not set itself (the browser sets Content-Length from the body).
const FORBIDDEN = new Set(['content-length', 'host']);

// ---------------------------------------------------------------- helpers

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

function log(msg, cls) {
  const line = document.createElement('div');
  line.textContent = `${new Date().toISOString().slice(11, 23)}  ${msg}`;
  if (cls) line.className = cls;
  $('log').appendChild(line);
}

class Cancelled extends Error {
  constructor() { super('cancelled'); this.name = 'Cancelled'; }
}

/** A failed API or S3 request: HTTP status (0: no answer), code, detail. */
class RequestError extends Error {
  constructor(status, code, detail, what) {
    super(`${what}: ${status ? `${status}${code ? ` ${code}` : ''}` : 'network error'}${detail ? ` — ${detail}` : ''}`);
    Object.assign(this, { status, code, detail, what });
  }
}

/** Worth another attempt: no answer, throttled, a server error, an expired URL (re-signed). */
function transient(e) {
  if (!(e instanceof RequestError)) return false;
  const { status, code, detail } = e;
  return status === 0 || status === 408 || status === 429 || status >= 500
    || code === 'RequestTimeout' || (status === 403 && /expired/i.test(detail || ''));
}

function xmlDoc(text) {
  return text ? new DOMParser().parseFromString(text, 'application/xml') : null;
}
function xmlText(node, tag) {
  return node?.getElementsByTagName(tag)[0]?.textContent ?? null;
}
function escapeXml(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** S3's error document as a RequestError, or null when `xhr` succeeded. */
function s3Failure(xhr, what) {
  const doc = xmlDoc(xhr.responseText);
  const ok = xhr.status >= 200 && xhr.status < 300;
  // CompleteMultipartUpload may answer 200 and then an <Error> (retry it).
  if (ok && doc?.documentElement?.nodeName !== 'Error') return null;
  const code = xmlText(doc, 'Code') || '';
  const detail = xmlText(doc, 'Message') || (xhr.responseText || xhr.statusText || '').slice(0, 300);
  return new RequestError(ok ? 500 : xhr.status, code, detail, what);
}

// ------------------------------------------------------- identity, options

function identity() {
  return { tenant: $('tenant').value.trim(), user: $('user').value.trim(), account: $('account').value.trim() };
}

function options() {
  const num = (id, fallback) => {
    const el = $(id);
    const v = Number(el.value);
    return el.value !== '' && el.checkValidity() && Number.isFinite(v) ? v : fallback;
  };
  return {
    threshold: num('threshold', 8) * MiB,
    partSize: Math.max(MIN_PART, Math.round(num('part-size', 8) * MiB)),
    parallel: Math.min(16, Math.max(1, Math.floor(num('parallel', 4)))),
    autoResume: $('auto-resume').checked,
  };
}

/** A call to the API; its problem+json `detail` on failure. */
async function api(who, method, path, body, extraHeaders = {}) {
  const headers = { 'X-Tenant-ID': who.tenant, 'X-User-ID': who.user, ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new RequestError(0, 'network', String(e.message || e), `${method} ${path}`);
  }
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    throw new RequestError(res.status, json?.code || '', json?.detail || json?.title || text.slice(0, 300), `${method} ${path}`);
  }
  return json;
}

// ------------------------------------------------------------ resume store

/** Multipart uploads in progress, by tenant and file, across reloads. */
const store = {
  key: (tenant, f) => [tenant, f.name, f.size, f.lastModified].join('|'),
  all() {
    try { return JSON.parse(localStorage.getItem(RESUME_STORE)) || {}; } catch { return {}; }
  },
  save(all) { localStorage.setItem(RESUME_STORE, JSON.stringify(all)); renderResumable(); },
  get(tenant, f) { return this.all()[this.key(tenant, f)] || null; },
  put(tenant, f, rec) { const all = this.all(); all[this.key(tenant, f)] = rec; this.save(all); },
  drop(key) { const all = this.all(); if (key in all) { delete all[key]; this.save(all); } },
};

// -------------------------------------------------- cancellable requests

/** What a set of requests shares: in-flight XHRs, backoff timers, cancel. */
class Task {
  constructor() { this.xhrs = new Set(); this.wakers = new Set(); this.cancelled = false; }
  checkCancelled() { if (this.cancelled) throw new Cancelled(); }
  sleep(ms) {
    return new Promise((resolve) => {
      const wake = () => { clearTimeout(t); this.wakers.delete(wake); resolve(); };
      const t = setTimeout(wake, ms);
      this.wakers.add(wake);
    }).then(() => this.checkCancelled());
  }
  cancel() {
    this.cancelled = true;
    for (const x of [...this.xhrs]) x.abort();
    for (const w of [...this.wakers]) w();
  }
}

/** One S3 request with XMLHttpRequest (fetch has no upload progress). */
function send(task, what, { method, url, headers = {}, body = null, contentType, onProgress }) {
  task.checkCancelled();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    let typed = false;
    for (const [k, v] of Object.entries(headers || {})) {
      if (FORBIDDEN.has(k.toLowerCase())) continue;
      typed ||= k.toLowerCase() === 'content-type';
      xhr.setRequestHeader(k, v);
    }
    if (contentType && !typed) xhr.setRequestHeader('Content-Type', contentType);
    if (onProgress) xhr.upload.onprogress = (e) => onProgress(e.loaded);
    const settle = (err) => {
      task.xhrs.delete(xhr);
      if (err) { onProgress?.(0); reject(err); } else resolve(xhr);
    };
    xhr.onload = () => settle(s3Failure(xhr, what));
    xhr.onerror = () => settle(new RequestError(0, 'NetworkError', '', what));
    xhr.onabort = () => settle(new Cancelled());
    task.xhrs.add(xhr);
    xhr.send(body);
  });
}

/** `fn(attempt)`, again after a transient failure, with exponential backoff. */
async function retry(task, what, fn) {
  for (let attempt = 0; ; attempt++) {
    task.checkCancelled();
    try {
      return await fn(attempt);
    } catch (e) {
      if (e instanceof Cancelled || task.cancelled) throw new Cancelled();
      if (!transient(e) || attempt >= RETRIES) throw e;
      const ms = Math.round(400 * 2 ** attempt * (0.75 + Math.random() / 2));
      log(`${e.message}; retry ${attempt + 1}/${RETRIES} in ${ms} ms`, 'warn');
      await task.sleep(ms);
    }
  }
}

/** Signs `req` for the job (POST /upload/sign) and sends it; re-signed on each retry. */
function signed(task, who, jobId, what, req, opts = {}) {
  return retry(task, what, async () => {
    const s = await api(who, 'POST', '/upload/sign', { job_id: jobId, ...req });
    return send(task, what, { ...opts, method: s.method || req.method, url: s.url, headers: s.headers });
  });
}

// ------------------------------------------------------------------ upload

const uploads = [];
const newKey = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

/** One file on the page: its row, its job, its multipart state. */
class Upload extends Task {
  constructor(file) {
    super();
    this.file = file;
    this.who = identity();
    this.storeKey = store.key(this.who.tenant, file);
    this.idempotencyKey = newKey();
    this.job = null;
    this.uploadId = null;
    this.partSize = 0;
    this.parts = new Map(); // part number -> {etag, size}: uploaded
    this.sending = new Map(); // part number -> bytes sent so far
    this.running = false;
    this.state = 'waiting';
    this.row = $('upload-row').content.firstElementChild.cloneNode(true);
    this.row.dataset.name = file.name;
    this.el = (cls) => this.row.querySelector(`.${cls}`);
    this.el('name').textContent = file.name;
    this.el('progress').setAttribute('aria-label', `Upload of ${file.name}`);
    this.el('cancel').setAttribute('aria-label', `Cancel the upload of ${file.name}`);
    this.el('resume').setAttribute('aria-label', `Resume the upload of ${file.name}`);
    this.el('cancel').addEventListener('click', () => cancelUpload(this));
    this.el('resume').addEventListener('click', () => start(this, 'resume'));
    this.setMode(fmtBytes(file.size));
    this.render();
  }
  setState(s, note) {
    this.state = s;
    this.row.dataset.state = s;
    this.el('state').textContent = note ? `${s} — ${note}` : s;
    const done = ['processing', 'succeeded', 'failed', 'cancelled', 'error'].includes(s) || s === 'queued' && this.uploaded;
    this.el('cancel').hidden = done || s === 'cancelling';
    this.el('resume').hidden = !['interrupted', 'error'].includes(s) || !this.job;
    if (!['interrupted', 'error', 'failed'].includes(s)) this.el('error').textContent = '';
  }
  setMode(text) { this.el('meta').textContent = text; }
  showError(msg) { this.el('error').textContent = msg; }
  setJob(job) {
    this.job = job;
    this.row.dataset.jobId = job.job_id;
  }
  setUploadId(id) {
    this.uploadId = id;
    if (id) this.row.dataset.uploadId = id; else delete this.row.dataset.uploadId;
  }
  get partCount() { return Math.max(1, Math.ceil(this.file.size / this.partSize)); }
  partRange(n) { return [(n - 1) * this.partSize, Math.min(n * this.partSize, this.file.size)]; }
  progress(n, sent) { this.sending.set(n, sent); this.render(); }
  partDone(n, etag, size) { this.sending.delete(n); this.parts.set(n, { etag, size }); this.render(); }
  render() {
    const total = this.file.size;
    let sent = 0;
    for (const p of this.parts.values()) sent += p.size;
    for (const b of this.sending.values()) sent += b;
    sent = Math.min(sent, total);
    const pct = total ? Math.floor((sent * 100) / total) : (this.uploaded ? 100 : 0);
    const text = `${fmtBytes(sent)} of ${fmtBytes(total)} (${pct}%)`;
    const bar = this.el('progress');
    bar.setAttribute('aria-valuenow', String(pct));
    bar.setAttribute('aria-valuetext', text);
    this.el('bar').style.width = `${pct}%`;
    this.el('bytes').textContent = text;
  }
}

function addFiles(files) {
  for (const file of files) {
    const key = store.key(identity().tenant, file);
    const same = uploads.find((u) => u.storeKey === key && (u.running || ['waiting', 'interrupted'].includes(u.state)));
    if (same && !same.running && same.state === 'interrupted') {
      same.file = file;
      log(`${file.name}: picked again, resuming its upload`);
      start(same, 'resume');
      continue;
    }
    if (same) { log(`${file.name}: already being uploaded`); continue; }
    const up = new Upload(file);
    uploads.push(up);
    $('uploads').prepend(up.row);
    $('no-uploads').hidden = true;
    pending.push(up);
  }
  pump();
}

const pending = [];
let active = 0;
function pump() {
  while (active < FILES_AT_ONCE && pending.length) {
    const up = pending.shift();
    if (up.cancelled) continue;
    active++;
    start(up, 'new').finally(() => { active--; pump(); });
  }
}

/**
 * Runs (or resumes) an upload until it is uploaded, interrupted or
 * cancelled; then polls the job, which no longer holds the file's slot.
 */
async function start(up, how) {
  if (up.running) return;
  up.running = true;
  try {
    if (how === 'resume') await resume(up);
    else await fresh(up);
    up.uploaded = true;
    store.drop(up.storeKey);
    poll(up).catch((e) => log(`${up.file.name}: ${e.message}`, 'err'));
  } catch (e) {
    if (e instanceof Cancelled || up.cancelled) {
      await finishCancel(up);
    } else {
      log(`${up.file.name}: ${e.message}`, 'err');
      const resumable = up.uploadId || up.job;
      up.setState(resumable ? 'interrupted' : 'error');
      up.showError(e.message + (resumable ? ' — Resume continues from the parts already uploaded.' : ''));
    }
  } finally {
    up.running = false;
    refreshJobs();
  }
}

/** A new upload, or the continuation of one this file began before (stored). */
async function fresh(up) {
  const o = options();
  const rec = o.autoResume ? store.get(up.who.tenant, up.file) : null;
  if (rec && await resumeStored(up, rec)) return;
  up.setState('initialising');
  const { file } = up;
  const text = /^(text\/|application\/json)/.test(file.type);
  log(`POST /upload/init (${file.name}, ${file.type || 'no type'}, ${file.size} bytes)`);
  up.setJob(await retry(up, 'init', () => api(up.who, 'POST', '/upload/init', {
    filename: file.name,
    mime_type: file.type || 'audio/wav',
    file_size: file.size,
    account_id: up.who.account,
    job_type: text ? 'text_processing' : 'audio_transcription',
    overwrite_protection: true,
  }, { 'Idempotency-Key': up.idempotencyKey })));
  log(`  job ${up.job.job_id} queued; key ${up.job.file_key}`);
  if (file.size > o.threshold && file.size > 0) {
    up.partSize = Math.max(o.partSize, Math.ceil(file.size / MAX_PARTS));
    await multipart(up, o.parallel);
  } else {
    await singlePut(up, { url: up.job.upload_url, headers: up.job.upload_headers });
  }
}

/** Picks up a stored multipart upload; false when it is gone (start over). */
async function resumeStored(up, rec) {
  up.setJob({ job_id: rec.job_id, file_key: rec.file_key });
  up.setUploadId(rec.upload_id);
  up.partSize = rec.part_size;
  return continueMultipart(up);
}

/**
 * ListParts, then the missing parts and Complete; false when the upload
 * cannot go on (S3 lost it, or its job left `queued` or is not ours).
 */
async function continueMultipart(up) {
  up.setState('resuming');
  try {
    await listParts(up);
  } catch (e) {
    if (e instanceof Cancelled || transient(e)) throw e;
    log(`${up.file.name}: the earlier upload cannot continue (${e.message}); starting over`, 'warn');
    store.drop(up.storeKey);
    up.job = null;
    up.idempotencyKey = newKey(); // a new job, not a replay of the old one
    up.setUploadId(null);
    up.parts.clear();
    return false;
  }
  await multipart(up, options().parallel);
  return true;
}

/** The Resume button (or the network back): what S3 has, then the rest. */
async function resume(up) {
  if (up.uploadId) {
    if (!await continueMultipart(up)) await fresh(up);
  } else if (up.job) {
    await singlePut(up, null);
  } else {
    await fresh(up);
  }
}

/** ListParts: the parts S3 holds for this upload replace what the page believed. */
async function listParts(up) {
  const xhr = await signed(up, up.who, up.job.job_id, 'ListParts', { method: 'GET', upload_id: up.uploadId });
  const doc = xmlDoc(xhr.responseText);
  up.parts.clear();
  for (const p of doc.getElementsByTagName('Part')) {
    const n = Number(xmlText(p, 'PartNumber'));
    const size = Number(xmlText(p, 'Size'));
    const [a, b] = n >= 1 && n <= up.partCount ? up.partRange(n) : [0, -1];
    if (size === b - a) up.partDone(n, xmlText(p, 'ETag'), size); // else: sent again
  }
  up.sending.clear();
  up.render();
  log(`${up.file.name}: resuming upload ${up.uploadId.slice(0, 12)}…: ${up.parts.size} of ${up.partCount} parts already in S3`);
}

async function multipart(up, parallel) {
  const count = up.partCount;
  up.setMode(`${fmtBytes(up.file.size)} · multipart, ${count} part${count > 1 ? 's' : ''} of ${fmtBytes(up.partSize)}`);
  if (!up.uploadId) {
    up.setState('starting');
    const xhr = await signed(up, up.who, up.job.job_id, 'CreateMultipartUpload', { method: 'POST' });
    const id = xmlText(xmlDoc(xhr.responseText), 'UploadId');
    if (!id) throw new RequestError(xhr.status, 'NoUploadId', 'no UploadId in the answer', 'CreateMultipartUpload');
    up.setUploadId(id);
    store.put(up.who.tenant, up.file, {
      job_id: up.job.job_id, file_key: up.job.file_key, upload_id: id, part_size: up.partSize,
      name: up.file.name, size: up.file.size, saved_at: new Date().toISOString(),
    });
  }
  up.setState('uploading', up.parts.size ? `${up.parts.size} of ${count} parts were already uploaded` : undefined);
  const missing = [];
  for (let n = 1; n <= count; n++) if (!up.parts.has(n)) missing.push(n);
  await inParallel(missing, parallel, (n) => uploadPart(up, n));
  up.setState('completing');
  await complete(up);
}

/** `fn` over `items`, `n` at a time; after a failure no new item starts. */
async function inParallel(items, n, fn) {
  let next = 0;
  let failure = null;
  const worker = async () => {
    while (next < items.length && !failure) {
      const item = items[next++];
      try { await fn(item); } catch (e) { failure ||= e; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failure) throw failure;
}

async function uploadPart(up, n) {
  const [a, b] = up.partRange(n);
  const xhr = await signed(up, up.who, up.job.job_id, `part ${n}`,
    { method: 'PUT', upload_id: up.uploadId, part_number: n },
    { body: up.file.slice(a, b), onProgress: (sent) => up.progress(n, sent) });
  const etag = xhr.getResponseHeader('ETag');
  if (!etag) {
    throw new RequestError(xhr.status, 'NoETag', 'no readable ETag header (the bucket CORS rule must expose ETag)', `part ${n}`);
  }
  up.partDone(n, etag, b - a);
}

async function complete(up) {
  const parts = [...up.parts.entries()].sort((x, y) => x[0] - y[0]);
  const body = `<CompleteMultipartUpload>${parts.map(([n, p]) =>
    `<Part><PartNumber>${n}</PartNumber><ETag>${escapeXml(p.etag)}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
  const req = { method: 'POST', upload_id: up.uploadId };
  await retry(up, 'CompleteMultipartUpload', async (attempt) => {
    const s = await api(up.who, 'POST', '/upload/sign', { job_id: up.job.job_id, ...req });
    try {
      return await send(up, 'CompleteMultipartUpload', { method: s.method, url: s.url, headers: s.headers, body, contentType: 'application/xml' });
    } catch (e) {
      // An earlier attempt completed it and its answer was lost.
      if (attempt > 0 && e instanceof RequestError && e.code === 'NoSuchUpload') return null;
      throw e;
    }
  });
  log(`${up.file.name}: multipart upload complete (${parts.length} parts)`);
}

/** The whole file in one PUT: init's URL first, a fresh one (sign PUT) for each retry. */
async function singlePut(up, first) {
  up.setMode(`${fmtBytes(up.file.size)} · single PUT`);
  up.setState('uploading');
  await retry(up, 'PUT', async (attempt) => {
    const s = attempt === 0 && first ? first : await api(up.who, 'POST', '/upload/sign', { job_id: up.job.job_id, method: 'PUT' });
    try {
      return await send(up, 'PUT', { method: 'PUT', url: s.url, headers: s.headers, body: up.file, onProgress: (b) => up.progress(1, b) });
    } catch (e) {
      // If-None-Match: * refused it: an earlier attempt stored the object.
      if ((attempt > 0 || !first) && e instanceof RequestError && e.status === 412) return null;
      throw e;
    }
  });
  up.partDone(1, null, up.file.size);
}

/** Polls the job until it leaves `queued` (and `processing`, for a worker). */
async function poll(up) {
  up.setState('queued', 'uploaded; waiting for the S3 event');
  const deadline = Date.now() + 10 * 60 * 1000;
  let shown = '';
  while (Date.now() < deadline) {
    let st = null;
    try {
      st = await api(up.who, 'GET', `/upload/status/${encodeURIComponent(up.job.job_id)}`);
    } catch (e) {
      if (!transient(e)) { up.showError(`Cannot read the job's status: ${e.message}`); return; }
    }
    if (st && st.status !== 'queued' && st.status !== shown) {
      shown = st.status;
      up.setState(st.status);
      if (st.error_code) up.showError(`${st.error_code}: ${st.error_message}`);
      log(`${up.file.name}: job ${st.status}`);
      refreshJobs();
    }
    if (st && (st.status === 'succeeded' || st.status === 'failed')) return;
    await up.sleep(st?.status === 'processing' ? 2000 : 500);
  }
}

async function cancelUpload(up) {
  if (up.cancelled) return;
  up.setState('cancelling');
  up.cancel();
  const i = pending.indexOf(up);
  if (i >= 0) pending.splice(i, 1);
  if (!up.running) await finishCancel(up);
}

/** After cancel: abort the multipart upload in S3 (DELETE), forget it. */
async function finishCancel(up) {
  store.drop(up.storeKey);
  if (up.uploadId) {
    try {
      await abortMultipart(up.who, up.job.job_id, up.uploadId);
      log(`${up.file.name}: multipart upload ${up.uploadId.slice(0, 12)}… aborted`);
    } catch (e) {
      up.showError(`Could not abort the multipart upload: ${e.message}`);
    }
  }
  up.setState('cancelled');
}

async function abortMultipart(who, jobId, uploadId) {
  const task = new Task();
  try {
    await signed(task, who, jobId, 'AbortMultipartUpload', { method: 'DELETE', upload_id: uploadId });
  } catch (e) {
    if (!(e instanceof RequestError && (e.code === 'NoSuchUpload' || e.status === 409 || e.status === 404))) throw e;
  }
}

// ------------------------------------------- uploads begun on earlier visits

function renderResumable() {
  const list = $('resumable');
  if (!list) return;
  const tenant = identity().tenant;
  list.replaceChildren();
  for (const [key, rec] of Object.entries(store.all())) {
    // Uploads with a row on this page have their own Resume and Cancel buttons.
    if (!key.startsWith(`${tenant}|`) || uploads.some((u) => u.storeKey === key && !u.cancelled)) continue;
    const li = document.createElement('li');
    li.dataset.name = rec.name;
    li.append(`${rec.name} (${fmtBytes(rec.size)}), started ${new Date(rec.saved_at).toLocaleString()}: pick it again to resume. `);
    const discard = document.createElement('button');
    discard.type = 'button';
    discard.textContent = 'Discard';
    discard.setAttribute('aria-label', `Discard the interrupted upload of ${rec.name}`);
    discard.addEventListener('click', async () => {
      discard.disabled = true;
      try { await abortMultipart(identity(), rec.job_id, rec.upload_id); } catch (e) { log(`discard ${rec.name}: ${e.message}`, 'err'); }
      store.drop(key);
    });
    li.append(discard);
    list.append(li);
  }
  $('resumable-section').hidden = !list.children.length;
}

// -------------------------------------------------------------- jobs table

let jobsBusy = false;
async function refreshJobs() {
  if (jobsBusy) return;
  jobsBusy = true;
  try {
    const page = await api(identity(), 'GET', '/upload/jobs?limit=20');
    renderJobs(page.jobs || []);
    $('jobs-error').textContent = '';
    $('jobs-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $('jobs-error').textContent = `Cannot list jobs: ${e.message}`;
  } finally {
    jobsBusy = false;
  }
}

function renderJobs(jobs) {
  const cell = (text, cls) => {
    const td = document.createElement('td');
    td.textContent = text ?? '';
    if (cls) td.className = cls;
    return td;
  };
  const rows = jobs.map((j) => {
    const tr = document.createElement('tr');
    tr.dataset.jobId = j.job_id;
    const status = document.createElement('span');
    status.className = `status-badge status status-${j.status}`;
    status.textContent = j.status;
    const st = cell('');
    st.append(status);
    const id = document.createElement('code');
    id.textContent = j.job_id.slice(0, 8);
    id.title = j.job_id;
    const idCell = cell('');
    idCell.append(id);
    tr.append(
      cell(j.file_name), cell(j.file_size == null ? '' : fmtBytes(j.file_size), 'num'), st,
      cell(new Date(j.created_at).toLocaleString()), idCell,
      cell(j.error_code ? `${j.error_code}: ${j.error_message || ''}` : ''),
    );
    return tr;
  });
  $('jobs').tBodies[0].replaceChildren(...rows);
}

// ------------------------------------------------------------------ wiring

const drop = $('drop');
for (const t of ['dragenter', 'dragover']) {
  drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add('over'); });
}
for (const t of ['dragleave', 'drop']) {
  drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove('over'); });
}
drop.addEventListener('drop', (e) => addFiles(e.dataTransfer.files));
// A file dropped beside the zone must not replace the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());
$('file').addEventListener('change', (e) => {
  addFiles(e.target.files);
  e.target.value = ''; // the same file can be picked again (to resume it)
});
$('tenant').addEventListener('change', () => { refreshJobs(); renderResumable(); });
$('user').addEventListener('change', refreshJobs);
// The network is back: interrupted uploads continue by themselves.
window.addEventListener('online', () => {
  for (const up of uploads) if (up.state === 'interrupted' && !up.running) start(up, 'resume');
});
setInterval(() => { if (!document.hidden) refreshJobs(); }, 2000);
refreshJobs();
renderResumable();
