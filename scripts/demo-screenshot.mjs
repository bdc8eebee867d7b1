// Makes docs/img/demo.png, the README's picture of the demo: three people chatting in #lobby, seen at desktop width
// and on a phone, side by side. Run after a build: `npm run build && node scripts/demo-screenshot.mjs`.
// Needs Debian's chromium (as the tests do); everything runs on 127.0.0.1.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { startDemo } = await import(path.join(root, 'dist/src/cli/demo.js'));
const server = await startDemo({ port: 0, host: '127.0.0.1' });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});

async function person(name, viewport) {
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  await context.addInitScript((n) => localStorage.setItem('sockeye-demo-name', n), name);
  const page = await context.newPage();
  await page.goto(`${server.url}/`);
  await page.locator('#status[data-state=open]').waitFor();
  return page;
}

async function say(page, text) {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.locator('#log .msg:not(.pending) .bubble', { hasText: text }).first().waitFor();
}

try {
  const ada = await person('Ada', { width: 980, height: 640 });
  const grace = await person('Grace', { width: 980, height: 640 });
  const linus = await person('Linus', { width: 390, height: 640 });
  await say(grace, 'Morning! Is the new build on staging yet?');
  await say(ada, 'Deploying now, two minutes');
  await say(ada, 'It shows <b>tags</b> as text, by the way');
  await say(linus, 'Nice. Rooms work too: I am in #random as well');
  await say(grace, 'Staging is up, p99 looks good: 0.8 ms');
  await say(ada, 'Ship it!');
  const shots = [await ada.screenshot(), await linus.screenshot()];
  // Side by side on a neutral background.
  const page = await browser.newPage({ viewport: { width: 1480, height: 700 } });
  const img = (b) => `<img src="data:image/png;base64,${b.toString('base64')}">`;
  await page.setContent(
    `<body style="margin:0;background:#d9d4cf;display:flex;gap:30px;align-items:center;justify-content:center;height:700px">
     <div style="box-shadow:0 8px 30px rgba(0,0,0,.25);line-height:0">${img(shots[0])}</div>
     <div style="box-shadow:0 8px 30px rgba(0,0,0,.25);border-radius:18px;overflow:hidden;line-height:0">${img(shots[1])}</div></body>`,
  );
  mkdirSync(path.join(root, 'docs/img'), { recursive: true });
  await page.screenshot({ path: path.join(root, 'docs/img/demo.png') });
  console.log('wrote docs/img/demo.png');
} finally {
  await browser.close();
  await server.close({ deadline: 200 });
}
