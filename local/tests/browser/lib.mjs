// What the browser drivers (page.mjs, uppy.mjs) share: headless Chromium,
// the configuration the Rust test passes, the API seen from Node, S3 request
// bookkeeping, and the one line of JSON each driver ends with.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** The driver's configuration: one JSON argument from the Rust test. */
export function config() {
  const cfg = JSON.parse(process.argv[2]);
  // A hard bound of our own, under the Rust test's, so a hang still reports.
  setTimeout(() => {
    console.error(`driver timed out after ${cfg.timeout_ms} ms`);
    process.exit(3);
  }, cfg.timeout_ms).unref();
  mkdirSync(cfg.artifacts, { recursive: true });
  return cfg;
}

export async function launch(cfg) {
  return chromium.launch({
    executablePath: cfg.chromium,
    headless: true,
    timeout: 30000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-dev-shm-usage',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** A page whose failures (console errors, page errors) are collected in `notes`. */
export async function newPage(context, notes) {
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  page.on('pageerror', (e) => notes.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') notes.push(`console: ${m.text()}`); });
  return page;
}

export async function screenshot(page, cfg, name) {
  const path = join(cfg.artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The API from Node, as the test's dev identity. */
export async function api(cfg, method, path, body) {
  const headers = { 'X-Tenant-ID': cfg.tenant, 'X-User-ID': cfg.user };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(cfg.api + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * ListParts of a job's multipart upload through POST /upload/sign, from Node:
 * `{sign: status, s3: status, code, parts: [numbers]}`.
 */
export async function listParts(cfg, jobId, uploadId) {
  const sign = await api(cfg, 'POST', '/upload/sign', { job_id: jobId, method: 'GET', upload_id: uploadId });
  if (sign.status !== 200) return { sign: sign.status, detail: sign.body?.detail };
  const res = await fetch(sign.body.url, { headers: sign.body.headers });
  const xml = await res.text();
  const parts = [...xml.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
  return { sign: 200, s3: res.status, code: /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? null, parts };
}

/** An S3 UploadPart request? Then its part number. */
export function partNumber(request) {
  if (request.method() !== 'PUT') return null;
  const n = new URL(request.url()).searchParams.get('partNumber');
  return n ? Number(n) : null;
}

/** Counts the S3 requests a page sends, by kind (`part 3`, `create`, `list`, ...). */
export function countS3(page, s3) {
  const counts = {};
  const bump = (k) => { counts[k] = (counts[k] || 0) + 1; };
  page.on('request', (r) => {
    if (!r.url().startsWith(s3)) return;
    const q = new URL(r.url()).searchParams;
    const m = r.method();
    if (m === 'OPTIONS') return;
    if (partNumber(r)) bump(`part ${partNumber(r)}`);
    else if (m === 'POST' && q.has('uploads')) bump('create');
    else if (m === 'POST' && q.has('uploadId')) bump('complete');
    else if (m === 'GET' && q.has('uploadId')) bump('list');
    else if (m === 'DELETE') bump('abort');
    else if (m === 'PUT') bump('put');
    else bump(`${m} other`);
  });
  return counts;
}

/** The part numbers counted in `counts`, each as often as it was sent. */
export function partsSent(counts) {
  return Object.entries(counts).filter(([k]) => k.startsWith('part ')).flatMap(([k, n]) => Array(n).fill(Number(k.slice(5))))
    .sort((a, b) => a - b);
}

/** After a failure: each open page's text (with the page's request log) and a screenshot. */
async function dumpPages(browser) {
  const cfg = JSON.parse(process.argv[2]);
  const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
  for (const [i, page] of pages.entries()) {
    const path = join(cfg.artifacts, `failed-${cfg.scenario}-${i}.png`);
    await page.screenshot({ path, fullPage: true, timeout: 5000 });
    const text = await page.evaluate(() => {
      document.querySelectorAll('details').forEach((d) => { d.open = true; });
      return document.body.innerText;
    });
    console.error(`--- page ${i} (${page.url()}), screenshot ${path}:\n${text}`);
  }
}

/** Runs `main`, prints `RESULT {json}` and exits 0; on an exception prints it and exits 1. */
export async function run(main) {
  let browser;
  try {
    const result = await main((b) => { browser = b; });
    console.log(`RESULT ${JSON.stringify(result)}`);
    await browser?.close();
    process.exit(0);
  } catch (e) {
    console.error(`driver failed: ${e.stack || e}`);
    await dumpPages(browser).catch((d) => console.error(`(no page dump: ${d})`));
    await browser?.close().catch(() => {});
    process.exit(1);
  }
}
