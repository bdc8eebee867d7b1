/**
 * The demo of `npm start` end to end: two headless Chromium pages open the chat page, their browser
 * WebSockets talk to our server, and what one page sends appears on the other.
 */

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDemo } from '../../src/cli/demo.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';

test('chat demo: a message typed in one page appears in the other', {
  skip: hasChromium ? false : 'chromium missing',
}, async (t) => {
  const server = await startDemo(0, '127.0.0.1');
  t.after(() => server.close({ deadline: 500 }));
  const browser = await launchBrowser(t);
  const alice = await browser.newPage();
  const bob = await browser.newPage();
  await alice.goto(`${server.url}/`);
  await alice.locator('#status', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
  await bob.goto(`${server.url}/`);
  await bob.locator('#status', { hasText: 'connected' }).waitFor({ timeout: 10_000 });
  await alice.locator('#count', { hasText: '2' }).waitFor({ timeout: 10_000 });
  const aliceName = await alice.locator('#me').textContent();
  assert.match(aliceName ?? '', /^guest-\d+$/);

  await alice.fill('#text', 'hello from alice');
  await alice.click('button');
  const line = bob.locator('#log div', { hasText: 'hello from alice' });
  await line.waitFor({ timeout: 10_000 });
  assert.equal(await line.textContent(), `${aliceName}: hello from alice`);

  await bob.close();
  await alice.locator('#log div.sys', { hasText: 'left' }).waitFor({ timeout: 10_000 });
  assert.equal(await alice.locator('#count').textContent(), '1');
});
