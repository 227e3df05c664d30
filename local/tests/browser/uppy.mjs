// Uppy v6 (@uppy/core + @uppy/aws-s3, locked in package-lock.json) in
// headless Chromium against the local stack, with only uppy/glue.mjs between
// them. The app (uppy/entry.mjs) is bundled with esbuild here and served, as
// a front-end dev server would serve it, by a tiny static server on
// http://localhost:<free port> (no CDN): the API and S3 are other origins
// (CORS). (A page fulfilled by a Playwright route has no address, and
// Chromium's Local Network Access then refuses its requests to 127.0.0.1.)
// Ends with `RESULT {json}` for the Rust test (../browser/uppy.rs).
//
// usage: node uppy.mjs '{"scenario": "upload"|"network-cut", "api": ..., "s3": ..., ...}'
import { createServer } from 'node:http';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { api, config, countS3, launch, newPage, partNumber, run, screenshot } from './lib.mjs';

const cfg = config();
const here = dirname(fileURLToPath(import.meta.url));

async function bundle() {
  const out = await esbuild.build({
    entryPoints: [join(here, 'uppy', 'entry.mjs')],
    bundle: true, format: 'iife', platform: 'browser', target: 'chrome120', write: false, logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

const INDEX = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Uppy v6 on the upload API</title></head>
<body><h1>Uppy v6 + @uppy/aws-s3</h1><label>Files <input id="file" type="file" multiple></label><ul id="files"></ul>
<script src="/app.js"></script></body></html>`;

/** Serves the page and the bundle; its origin. */
async function serve(js) {
  const server = createServer((req, res) => {
    const script = new URL(req.url, 'http://x').pathname === '/app.js';
    res.writeHead(200, { 'Content-Type': script ? 'text/javascript' : 'text/html; charset=utf-8' });
    res.end(script ? js : INDEX);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return `http://localhost:${server.address().port}`;
}

async function openApp(context, notes, origin) {
  const page = await newPage(context, notes);
  const q = new URLSearchParams({ api: cfg.api, tenant: cfg.tenant, user: cfg.user });
  await page.goto(`${origin}/?${q}`);
  await page.waitForFunction(() => window.app);
  return page;
}

/** Polls GET /upload/status until the job leaves `queued`. */
async function statusAfterQueued(jobId) {
  const deadline = Date.now() + 30000;
  for (;;) {
    const s = await api(cfg, 'GET', `/upload/status/${jobId}`);
    if (s.body?.status !== 'queued' || Date.now() > deadline) return s.body?.status ?? `HTTP ${s.status}`;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function jobsOf(page) {
  const files = await page.evaluate(() => window.app.files());
  for (const f of files) f.status = f.jobId ? await statusAfterQueued(f.jobId) : null;
  return files;
}

// A 3 MB file (one PUT) and a 24 MiB file (multipart), in one upload.
async function upload(context, notes, origin) {
  const page = await openApp(context, notes, origin);
  const counts = countS3(page, cfg.s3);
  await page.setInputFiles('#file', [cfg.files.small, cfg.files.big]);
  const result = await page.evaluate(() => window.app.upload());
  const files = await jobsOf(page);
  const events = await page.evaluate(() => window.app.events);
  return { result, files, events, counts, screenshots: [await screenshot(page, cfg, 'uppy-upload')] };
}

// Part 2 fails twice (Uppy's own retries absorb it); part 4 fails four times,
// more than Uppy retries, so the upload errors; once the network is back,
// retryAll resumes it (ListParts) and sends only what S3 lacks.
async function networkCut(context, notes, origin) {
  const page = await openApp(context, notes, origin);
  const failFirst = { 2: 2, 4: 4 };
  const attempts = {};
  await page.route(`${cfg.s3}/**`, (route) => {
    const n = partNumber(route.request());
    if (n) {
      attempts[n] = (attempts[n] || 0) + 1;
      if (attempts[n] <= (failFirst[n] || 0)) return route.abort('connectionreset');
    }
    return route.continue();
  });
  const counts = countS3(page, cfg.s3);
  await page.setInputFiles('#file', cfg.files.big);
  const first = await page.evaluate(() => window.app.upload());
  const stateAfterCut = await page.evaluate(() => window.app.files());
  const shots = [await screenshot(page, cfg, 'uppy-network-cut-1-failed')];
  const retried = await page.evaluate(() => window.app.retryAll());
  const files = await jobsOf(page);
  const events = await page.evaluate(() => window.app.events);
  shots.push(await screenshot(page, cfg, 'uppy-network-cut-2-done'));
  return { first, stateAfterCut, retried, files, events, counts, attempts, screenshots: shots };
}

const scenarios = { upload, 'network-cut': networkCut };

run(async (keep) => {
  const js = await bundle();
  const browser = await launch(cfg);
  keep(browser);
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  const notes = [];
  const result = await scenarios[cfg.scenario](context, notes, await serve(js));
  return { ...result, bundle_bytes: js.length, names: Object.fromEntries(Object.entries(cfg.files).map(([k, v]) => [k, basename(v)])), notes };
});
