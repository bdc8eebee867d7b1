/**
 * Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core, with the flags this machine needs
 * (no sandbox as root, no background networking: the network is closed).
 */

import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Whether the browser is installed (npm test installs it; see scripts/ensure-system-deps.sh). */
export const hasChromium = existsSync(CHROMIUM_PATH);

/** Launches Chromium and closes it when the test ends. */
export async function launchBrowser(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(() => browser.close());
  return browser;
}
