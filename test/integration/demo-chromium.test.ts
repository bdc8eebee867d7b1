/**
 * The demo chat of `npm start` end to end in headless Chromium, at desktop (1280×800) and phone (390×844) widths,
 * each page in its own browser context (its own localStorage: its own person):
 * - two pages chat: names (remembered in localStorage, changed in the page) and timestamps, own messages distinct,
 *   markup shown as text, a long unbroken line wrapped (no element wider than its box, no sideways page scroll),
 *   the favicon served (no 404), no console error;
 * - rooms are pub/sub topics: a room does not see another's messages, a late joiner gets the room's history, the
 *   online count of each room is right after a page leaves;
 * - the server stops: the page says offline, shows no stale count, queues what is typed with a mark, reconnects by
 *   itself when the server is back and sends it; the other page gets it once;
 * - `sockeye demo --redis URL` (the CLI, a child process, on a real redis-server): two nodes, a page on each, chat
 *   in one room with the online count summed over the nodes; a room's first page on a node gets the history the
 *   other node saw.
 * Screenshots go to test-artifacts/demo/ (ignored by git).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { startDemo } from '../../src/cli/demo.js';
import { hasChromium, launchBrowser } from '../helpers/browser.js';
import { BIN } from '../helpers/echo-process.js';
import { REDIS_SERVER, startRedis } from '../helpers/redis.js';

const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test-artifacts/demo');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const WAIT = { timeout: 15_000 };
const skip = hasChromium ? false : 'chromium missing';

interface Chat {
  page: Page;
  /** Console errors, page errors, failed requests and HTTP errors, as they happen. */
  errors: string[];
}

/**
 * Opens the chat at `url` in a fresh browser context of `viewport` size, as `name` (stored in localStorage before the
 * page loads, as a returning visitor has it), and waits until it is connected.
 */
async function openChat(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
  name: string | null,
): Promise<Chat> {
  const context = await browser.newContext({ viewport });
  if (name !== null) await context.addInitScript((n) => localStorage.setItem('sockeye-demo-name', n), name);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  page.on('response', (r) => {
    if (r.status() >= 400) errors.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(url);
  await connected(page);
  return { page, errors };
}

function connected(page: Page): Promise<void> {
  return page.locator('#status[data-state=open]').waitFor(WAIT);
}

async function send(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** Waits until the page shows a confirmed (not pending) message with exactly `text`. */
function shown(page: Page, text: string) {
  const bubble = page.locator('#log .msg:not(.pending) .bubble', { hasText: text });
  return bubble.first().waitFor(WAIT);
}

async function bubbles(page: Page): Promise<string[]> {
  return page.locator('#log .msg .bubble').allTextContents();
}

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, name) });
}

async function count(page: Page, n: number): Promise<void> {
  await page.locator('#count', { hasText: new RegExp(`^${n}$`) }).waitFor(WAIT);
}

test('demo: two pages chat at desktop and phone widths (names, times, own side, markup as text, wrapping)', {
  skip,
}, async (t) => {
  const server = await startDemo({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close({ deadline: 500 }));
  const browser = await launchBrowser(t);
  const before = Date.now();
  const alice = await openChat(browser, `${server.url}/`, DESKTOP, 'Alice');
  const bob = await openChat(browser, `${server.url}/`, PHONE, 'Bob');
  await count(alice.page, 2);
  await count(bob.page, 2);
  assert.equal(await alice.page.inputValue('#name'), 'Alice', 'the name from localStorage');

  const markup = '<b>bold?</b> <img src=x onerror="document.title=1">';
  await send(alice.page, markup);
  await shown(bob.page, 'bold?');
  const onBob = bob.page.locator('#log .msg', { hasText: 'bold?' });
  assert.equal(await onBob.locator('.bubble').textContent(), markup, 'markup shown as text');
  assert.equal(await bob.page.locator('#log b, #log img').count(), 0, 'no element made from the text');
  assert.equal(await onBob.locator('.from').textContent(), 'Alice');
  assert.equal(await onBob.getAttribute('class'), 'msg', "someone else's message");
  const onAlice = alice.page.locator('#log .msg', { hasText: 'bold?' });
  await alice.page.locator('#log .msg.mine:not(.pending)', { hasText: 'bold?' }).waitFor(WAIT);
  assert.equal(await onAlice.locator('.from').textContent(), 'Alice (you)');
  const stamp = Date.parse((await onBob.locator('time').getAttribute('datetime')) ?? '');
  assert.ok(stamp >= before - 1000 && stamp <= Date.now() + 1000, `timestamp ${stamp} is the send time`);

  // A long unbroken line and a name change, from the phone.
  const long = `see:${'x'.repeat(1500)}`;
  await bob.page.fill('#name', 'Robert');
  await bob.page.press('#name', 'Enter');
  await alice.page.locator('#log .sys', { hasText: 'Bob is now Robert' }).waitFor(WAIT);
  await send(bob.page, long);
  await shown(alice.page, 'see:xxx');
  await shown(bob.page, 'see:xxx');
  assert.equal(await alice.page.locator('#log .msg', { hasText: 'see:xxx' }).locator('.from').textContent(), 'Robert');
  for (const { page } of [alice, bob]) {
    const fits = await page.evaluate(() => {
      const bad: string[] = [];
      for (const e of document.querySelectorAll<HTMLElement>('#log, #log *'))
        if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).display !== 'inline')
          bad.push(`${e.className}: ${e.scrollWidth} > ${e.clientWidth}`);
      if (document.documentElement.scrollWidth > window.innerWidth)
        bad.push(`page: ${document.documentElement.scrollWidth} > ${window.innerWidth}`);
      return bad;
    });
    assert.deepEqual(fits, [], 'nothing wider than its box');
  }
  assert.equal(await bob.page.getAttribute('link[rel=icon]', 'href'), '/favicon.svg');
  const icon = await fetch(`${server.url}/favicon.ico`);
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
  await screenshot(alice.page, 'desktop.png');
  await screenshot(bob.page, 'phone.png');
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
});

test('demo: rooms are topics; a late joiner gets the history; the count of each room is right after leaving', {
  skip,
}, async (t) => {
  const server = await startDemo({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close({ deadline: 500 }));
  const browser = await launchBrowser(t);
  const alice = await openChat(browser, `${server.url}/`, DESKTOP, 'Alice');
  const carol = await openChat(browser, `${server.url}/#random`, PHONE, 'Carol');
  assert.equal(await carol.page.textContent('#room-title'), '#random');
  await count(alice.page, 1);
  await count(carol.page, 1);
  for (const line of ['lobby one', 'lobby two', 'lobby three']) await send(alice.page, line);
  await shown(alice.page, 'lobby three');
  // Carol's own message is the sentinel: a lobby message sent to her would have come before its echo.
  await send(carol.page, 'random one');
  await shown(carol.page, 'random one');
  assert.deepEqual(await bubbles(carol.page), ['random one'], 'no message of another room');

  const dave = await openChat(browser, `${server.url}/#lobby`, DESKTOP, 'Dave');
  await shown(dave.page, 'lobby three');
  assert.deepEqual(await bubbles(dave.page), ['lobby one', 'lobby two', 'lobby three'], 'the history, in order');
  await count(alice.page, 2);
  // Dave moves to #random with the room list: the lobby is down to 1, #random up to 2, and he gets its history.
  await dave.page.click('#room-list a[href="#random"]');
  await count(carol.page, 2);
  await count(alice.page, 1);
  await shown(dave.page, 'random one');
  assert.deepEqual(await bubbles(dave.page), ['random one']);
  await count(dave.page, 2);
  // A room typed in: a new, empty room.
  await dave.page.fill('#room-input', 'Team-7');
  await dave.page.press('#room-input', 'Enter');
  await dave.page.locator('#room-title', { hasText: '#team-7' }).waitFor(WAIT);
  await connected(dave.page);
  await dave.page.locator('#log .empty').waitFor(WAIT);
  await count(dave.page, 1);
  await count(carol.page, 1);
  await dave.page.context().close();
  assert.equal(server.subscriberCount('chat:lobby'), 1);
  for (const c of [alice, carol, dave]) assert.deepEqual(c.errors, []);
});

test('demo: the server restarts; the page says so, queues what is typed, reconnects and sends it', {
  skip,
}, async (t) => {
  let server = await startDemo({ port: 0, host: '127.0.0.1' });
  t.after(() => server.close({ deadline: 500 }));
  const port = Number(new URL(server.url).port);
  const browser = await launchBrowser(t);
  const alice = await openChat(browser, `${server.url}/`, PHONE, 'Alice');
  const bob = await openChat(browser, `${server.url}/`, DESKTOP, 'Bob');
  await count(alice.page, 2);

  await server.close({ deadline: 500 });
  await alice.page.locator('#status[data-state=offline]').waitFor(WAIT);
  assert.match((await alice.page.textContent('#status')) ?? '', /offline · retry in \d+ s/);
  assert.equal(await alice.page.textContent('#count'), '–', 'no stale online count');
  await send(alice.page, 'typed while offline');
  const pending = alice.page.locator('#log .msg.pending', { hasText: 'typed while offline' });
  await pending.waitFor(WAIT);
  assert.equal(await pending.locator('.mark').textContent(), 'not sent yet: waiting for the connection');
  assert.equal(await alice.page.isVisible('#offline-note'), true);
  await screenshot(alice.page, 'offline-phone.png');

  server = await startDemo({ port, host: '127.0.0.1' });
  await connected(alice.page);
  await connected(bob.page);
  await shown(bob.page, 'typed while offline');
  await shown(alice.page, 'typed while offline');
  assert.equal(await alice.page.locator('#log .pending').count(), 0, 'the mark is gone once the server has it');
  await send(bob.page, 'after the restart');
  await shown(alice.page, 'after the restart');
  assert.deepEqual(await bubbles(bob.page), ['typed while offline', 'after the restart'], 'sent once');
  await count(alice.page, 2);
  // While the server is down, Chromium logs each refused reconnect ("WebSocket connection to ... failed"): that is
  // the browser reporting the outage, not an error of the page. Anything else fails the test.
  const unexpected = (c: Chat) => c.errors.filter((e) => !/^console: WebSocket connection to '.*' failed/.test(e));
  assert.deepEqual(unexpected(alice), []);
  assert.deepEqual(unexpected(bob), []);
});

/** Runs `sockeye demo --redis URL --port 0`; resolves with the two nodes' URLs. Killed after the test. */
function startDemoNodes(t: TestContext, redisUrl: string): Promise<string[]> {
  const child = spawn(process.execPath, [BIN, 'demo', '--port', '0', '--redis', redisUrl], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sockeye demo --redis did not start')), 10_000);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const urls = [...out.matchAll(/sockeye demo node \d on (http:\/\/\S+)/g)].map((m) => m[1] as string);
      if (urls.length === 2) {
        clearTimeout(timer);
        resolve(urls);
      }
    });
  });
}

test('sockeye demo --redis: two nodes share rooms; pages on different nodes chat and see one count', {
  skip: !hasChromium ? 'chromium missing' : !existsSync(REDIS_SERVER) ? 'redis-server missing' : false,
}, async (t) => {
  const redis = await startRedis(t);
  const [one, two] = await startDemoNodes(t, redis.url);
  assert.ok(one !== undefined && two !== undefined && one !== two);
  const browser = await launchBrowser(t);
  const alice = await openChat(browser, `${one}/#ops`, DESKTOP, 'Alice');
  await send(alice.page, 'before node two had anyone');
  await shown(alice.page, 'before node two had anyone');
  // Node 2 never heard #ops (no interest, no traffic): Bob, its first page there, gets node 1's history.
  const bob = await openChat(browser, `${two}/#ops`, PHONE, 'Bob');
  await shown(bob.page, 'before node two had anyone');
  assert.equal(await alice.page.textContent('#node'), 'served by node 1');
  assert.equal(await bob.page.textContent('#node'), 'served by node 2');
  // The count is the sum over the nodes (each node tells the other its own through Redis).
  await count(alice.page, 2);
  await count(bob.page, 2);
  await send(alice.page, 'from node one');
  await shown(bob.page, 'from node one');
  await send(bob.page, 'from node two');
  await shown(alice.page, 'from node two');
  const all = ['before node two had anyone', 'from node one', 'from node two'];
  assert.deepEqual(await bubbles(alice.page), all);
  assert.deepEqual(await bubbles(bob.page), all);
  // A late joiner on node 2 gets node 2's history, which has node 1's messages too.
  const carol = await openChat(browser, `${two}/#ops`, DESKTOP, 'Carol');
  await shown(carol.page, 'from node two');
  assert.deepEqual(await bubbles(carol.page), all);
  await count(alice.page, 3);
  await carol.page.context().close();
  await count(alice.page, 2);
  await screenshot(bob.page, 'redis-node2-phone.png');
  for (const c of [alice, bob, carol]) assert.deepEqual(c.errors, []);
});
