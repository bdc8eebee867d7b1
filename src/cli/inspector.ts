/**
 * `--inspector` for the CLI's servers: a fresh random token per run, and the line that prints the page's full
 * URL on stdout. The format is for people and scripts alike; scripts read it with `/^inspector: (\S+)$/m`:
 *
 *     inspector: http://127.0.0.1:9001/_sockeye?token=Xk3…
 */

import { randomBytes } from 'node:crypto';
import type { InspectorOptions, Server } from '../index.js';

/** The inspector's path on the CLI's servers (the library default). */
export const INSPECTOR_PATH = '/_sockeye';

/** A token for one run: 24 random bytes, base64url (32 characters, URL-safe as a query parameter). */
export function newInspectorToken(): string {
  return randomBytes(24).toString('base64url');
}

/** `serve()`'s `inspector` option for `--inspector [--inspector-payloads]`, or undefined without the flag. */
export function inspectorOption(on: boolean | undefined, payloads: boolean | undefined): InspectorOptions | undefined {
  if (on !== true && payloads !== true) return undefined;
  return { path: INSPECTOR_PATH, token: newInspectorToken(), payloads: payloads === true };
}

/** The line printed on stdout: `inspector: <url>?token=<token>`. */
export function inspectorLine(server: Server, options: InspectorOptions): string {
  return `inspector: ${server.url}${options.path ?? INSPECTOR_PATH}?token=${encodeURIComponent(options.token)}\n`;
}
