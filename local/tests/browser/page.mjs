// Drives the local stack's upload page (local/src/ui.html, ui.js) in headless
// Chromium. One scenario per run; ends with `RESULT {json}` for the Rust test
// (../browser/page.rs), which checks the stored objects and the jobs.
//
// usage: node page.mjs '{"scenario": "upload"|"resume"|"cancel", "api": ..., "s3": ...,
//   "chromium": ..., "artifacts": ..., "tenant": ..., "user": ..., "timeout_ms": ..., "files": {...}}'
import { basename } from 'node:path';
import { api, config, countS3, launch, listParts, newPage, partNumber, partsSent, run, screenshot } from './lib.mjs';

const cfg = config();
const RESUME_STORE = 'local-stack-upload:resume:v1';
const DONE = ['processing', 'succeeded', 'failed', 'error', 'interrupted', 'cancelled'];

/** Waits until the row of file `name` is in one of `states`; returns the state. */
async function waitState(page, name, states, timeout = 60000) {
  const handle = await page.waitForFunction(([n, s]) => {
    const row = [...document.querySelectorAll('li.upload')].find((li) => li.dataset.name === n);
    return row && s.includes(row.dataset.state) ? row.dataset.state : false;
  }, [name, states], { timeout, polling: 100 });
  return handle.jsonValue();
}

/** What the row of file `name` shows. */
function rowInfo(page, name) {
  return page.evaluate((n) => {
    const row = [...document.querySelectorAll('li.upload')].find((li) => li.dataset.name === n);
    const q = (c) => row.querySelector(`.${c}`);
    return {
      state: row.dataset.state, job_id: row.dataset.jobId ?? null, upload_id: row.dataset.uploadId ?? null,
      valuenow: q('progress').getAttribute('aria-valuenow'), valuetext: q('progress').getAttribute('aria-valuetext'),
      meta: q('meta').textContent, text: q('state').textContent, error: q('error').textContent,
    };
  }, name);
}

/** Records every aria-valuenow each progress bar takes (a MutationObserver's old values). */
async function recordProgress(page) {
  await page.evaluate(() => {
    window.progressSeen = {};
    new MutationObserver((records) => {
      for (const r of records) {
        const name = r.target.closest('li.upload')?.dataset.name;
        if (name) (window.progressSeen[name] ||= []).push(r.oldValue);
      }
    }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'], attributeOldValue: true });
  });
}
function progressOf(page, name) {
  return page.evaluate((n) => {
    const row = [...document.querySelectorAll('li.upload')].find((li) => li.dataset.name === n);
    return [...(window.progressSeen[n] || []), row.querySelector('.progress').getAttribute('aria-valuenow')].map(Number);
  }, name);
}

async function openPage(context, notes, partSizeMiB) {
  const page = await newPage(context, notes);
  await page.goto(`${cfg.api}/`);
  if (partSizeMiB) await page.fill('#part-size', String(partSizeMiB));
  return page;
}

/**
 * Holds (never answers) every UploadPart request whose number is above
 * `keep`: the upload stalls there, as on a dead connection.
 */
async function stallPartsAbove(page, keep) {
  const held = [];
  let firstHeld;
  const oneHeld = new Promise((resolve) => { firstHeld = resolve; });
  await page.route(`${cfg.s3}/**`, (route) => {
    const n = partNumber(route.request());
    if (n && n > keep) {
      held.push(route);
      firstHeld();
      return undefined;
    }
    return route.continue();
  });
  const release = async (how) => {
    await page.unroute(`${cfg.s3}/**`);
    for (const r of held.splice(0)) await r.abort(how).catch(() => {});
  };
  return { held, oneHeld, release };
}

function partsAnswered(page, numbers) {
  return Promise.all(numbers.map((n) => page.waitForResponse(
    (r) => partNumber(r.request()) === n && r.status() === 200, { timeout: 30000 })));
}

// A 3 MB file by one PUT and a 24 MiB file in 5 MiB parts, picked together
// with an image the API refuses (415: the row shows the problem's detail).
async function upload(context, notes) {
  const page = await openPage(context, notes, 5);
  await recordProgress(page);
  const counts = countS3(page, cfg.s3);
  const [small, big, refused] = [cfg.files.small, cfg.files.big, cfg.files.refused].map((f) => basename(f));
  await page.setInputFiles('#file', [cfg.files.small, cfg.files.big, cfg.files.refused]);
  await Promise.all([small, big, refused].map((f) => waitState(page, f, DONE)));
  const rows = { small: await rowInfo(page, small), big: await rowInfo(page, big), refused: await rowInfo(page, refused) };
  const ids = [rows.small.job_id, rows.big.job_id];
  // The jobs table shows both, live.
  await page.waitForFunction((js) => js.every((id) => ['processing', 'succeeded'].includes(
    document.querySelector(`#jobs tr[data-job-id="${id}"] .status`)?.textContent)), ids, { timeout: 15000 });
  const shot = await screenshot(page, cfg, 'page-upload');
  return { rows, progress: await progressOf(page, big), counts, screenshots: [shot] };
}

// Interrupted by a reload after parts 1 and 2, then the same file picked again.
async function resumeAfterReload(context, notes) {
  const name = basename(cfg.files.big);
  const page = await openPage(context, notes, 5);
  const stall = await stallPartsAbove(page, 2);
  const answered = partsAnswered(page, [1, 2]);
  await page.setInputFiles('#file', cfg.files.big);
  await answered;
  await stall.oneHeld;
  const before = await rowInfo(page, name);
  const listedBefore = await listParts(cfg, before.job_id, before.upload_id);
  const stored = await page.evaluate((k) => JSON.parse(localStorage.getItem(k) || '{}'), RESUME_STORE);
  const shots = [await screenshot(page, cfg, 'page-resume-1-stalled')];
  await page.reload();
  await stall.release('connectionaborted');
  const counts = countS3(page, cfg.s3);
  const offered = await page.locator('#resumable li').allTextContents();
  shots.push(await screenshot(page, cfg, 'page-resume-2-reloaded'));
  await page.setInputFiles('#file', cfg.files.big);
  await waitState(page, name, DONE);
  const after = await rowInfo(page, name);
  shots.push(await screenshot(page, cfg, 'page-resume-3-done'));
  const left = await page.evaluate((k) => localStorage.getItem(k), RESUME_STORE);
  return { before, listedBefore, stored: Object.values(stored), offered, after, counts, sentAfter: partsSent(counts), storeAfter: left, screenshots: shots };
}

// The network goes away after parts 1 and 2; when it is back the page goes on by itself.
async function resumeAfterNetworkError(context, notes) {
  const name = basename(cfg.files.other);
  const page = await openPage(context, notes, 5);
  const stall = await stallPartsAbove(page, 2);
  const answered = partsAnswered(page, [1, 2]);
  await page.setInputFiles('#file', cfg.files.other);
  await answered;
  await stall.oneHeld;
  await context.setOffline(true);
  await stall.release('internetdisconnected');
  await waitState(page, name, ['interrupted'], 30000);
  const before = await rowInfo(page, name);
  const listedBefore = await listParts(cfg, before.job_id, before.upload_id);
  const shots = [await screenshot(page, cfg, 'page-offline-1-interrupted')];
  const counts = countS3(page, cfg.s3);
  await context.setOffline(false); // the 'online' event resumes it
  await waitState(page, name, DONE);
  const after = await rowInfo(page, name);
  shots.push(await screenshot(page, cfg, 'page-offline-2-done'));
  return { before, listedBefore, after, counts, sentAfter: partsSent(counts), screenshots: shots };
}

async function resume(context, notes) {
  return { reload: await resumeAfterReload(context, notes), offline: await resumeAfterNetworkError(context, notes) };
}

// Cancel while every part hangs: the XHRs end and the multipart upload is aborted.
async function cancel(context, notes) {
  const name = basename(cfg.files.big);
  const page = await openPage(context, notes, null);
  const stall = await stallPartsAbove(page, 0);
  const counts = countS3(page, cfg.s3);
  await page.setInputFiles('#file', cfg.files.big);
  await stall.oneHeld;
  await page.waitForFunction((n) => [...document.querySelectorAll('li.upload')]
    .some((li) => li.dataset.name === n && li.dataset.uploadId), name);
  const before = await rowInfo(page, name);
  const shots = [await screenshot(page, cfg, 'page-cancel-1-uploading')];
  await page.locator('li.upload', { hasText: name }).getByRole('button', { name: 'Cancel' }).click();
  await waitState(page, name, ['cancelled', 'error', 'interrupted'], 15000);
  await stall.release('connectionaborted');
  const after = await rowInfo(page, name);
  shots.push(await screenshot(page, cfg, 'page-cancel-2-cancelled'));
  const listed = await listParts(cfg, before.job_id, before.upload_id);
  const status = await api(cfg, 'GET', `/upload/status/${before.job_id}`);
  const stored = await page.evaluate((k) => localStorage.getItem(k), RESUME_STORE);
  return { before, after, listed, job_status: status.body?.status, counts, stored, screenshots: shots };
}

const scenarios = { upload, resume, cancel };

run(async (keep) => {
  const browser = await launch(cfg);
  keep(browser);
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const notes = [];
  const result = await scenarios[cfg.scenario](context, notes);
  return { ...result, notes };
});
