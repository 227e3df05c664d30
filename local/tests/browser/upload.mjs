// Opens the local stack's upload page in headless Chromium, picks a file,
// clicks Upload and waits for the job to leave `queued`. Prints the page's
// log. Exit 0 when the page shows `processing`.
//
// usage: node upload.mjs API_URL FILE [CHROMIUM]
import { chromium } from 'playwright-core';

const [api, file, exe = '/usr/bin/chromium'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: exe,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let ok = false;
try {
  const page = await browser.newPage();
  const failures = [];
  page.on('requestfailed', (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('console', (m) => { if (m.type() === 'error') failures.push('console: ' + m.text()); });
  await page.goto(api + '/');
  await page.setInputFiles('#file', file);
  await page.click('#upload');
  await page.waitForFunction(
    () => !['—', 'initialising', 'uploading', 'queued'].includes(document.getElementById('status').textContent),
    null, { timeout: 30000 });
  const status = await page.textContent('#status');
  console.log('status: ' + status);
  console.log(await page.textContent('#log'));
  if (failures.length) console.log('failures:\n' + failures.join('\n'));
  ok = status === 'processing';
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
