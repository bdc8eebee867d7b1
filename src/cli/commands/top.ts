/** `sockeye top URL`: a live terminal view of a server's metrics endpoint (the view is in ../top.ts). */

import { type Command, UsageError } from '../command.js';

/** Seconds between updates: 1, not top(1)'s 3, so that a counter's delta reads directly as "per second". */
const DEFAULT_INTERVAL_S = 1;
/** Below 0.1 s the view flickers, and each update costs the server a stats() call (tens of ms or more on a host
 * with many sockets: /proc/net/tcp is read whole). */
const MIN_INTERVAL_S = 0.1;
/** An hour: past that, a scraper is the better tool. */
const MAX_INTERVAL_S = 3600;

/** The URL argument: http:// or https:// (the metrics endpoint is plain HTTP GET). */
function readUrl(value: string): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`'${value}' is not a URL; try http://127.0.0.1:3000/metrics`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`the URL must start with http:// or https:// (a metrics endpoint), got '${value}'`);
  }
  return u;
}

function readInterval(value: unknown): number {
  if (value === undefined) return DEFAULT_INTERVAL_S;
  const s = String(value);
  const n = /^[0-9]+(\.[0-9]+)?$/.test(s) ? Number(s) : Number.NaN;
  if (!(n >= MIN_INTERVAL_S && n <= MAX_INTERVAL_S)) {
    throw new UsageError(
      `--interval must be a number of seconds from ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S}, got '${s}'`,
    );
  }
  return n;
}

function readCount(value: unknown): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  const s = String(value);
  const n = /^[0-9]{1,9}$/.test(s) ? Number(s) : 0;
  if (n < 1) throw new UsageError(`--count must be a whole number of updates from 1, got '${s}'`);
  return n;
}

export const topCommand: Command = {
  name: 'top',
  summary: "Live view of a server's metrics: connections, rates, close causes, listen queue",
  description: `Live view of one server, like top: reads its metrics endpoint (serve({ metrics: '/metrics' }),
Prometheus text; or a JSON server.stats(), as demo and pubsub serve at /stats) every interval,
or follows its inspector's feed (the page URL with its token, as --inspector prints it), and
shows connections by state, bytes, messages and requests per second, close causes, the listen
queue against its limit and the kernel's namespace-wide counters. On a terminal it is full
screen (q or Ctrl-C quits); otherwise it prints one key=value line per update.

Exit codes: 0 done, 2 usage error, 3 the URL could not be reached (refused, unknown host,
no answer in time), 4 it answered but is not a sockeye metrics endpoint or inspector feed`,
  args: [{ name: 'url', required: true, help: 'a metrics URL, e.g. sockeye top http://127.0.0.1:3000/metrics' }],
  options: {
    interval: {
      type: 'string',
      short: 'd',
      value: '<s>',
      help: `Seconds between updates (default ${DEFAULT_INTERVAL_S}; ${MIN_INTERVAL_S} to ${MAX_INTERVAL_S})`,
    },
    count: {
      type: 'string',
      short: 'n',
      value: '<n>',
      help: 'Stop after this many updates (default: until q or Ctrl-C)',
    },
  },
  async run({ values, positionals }) {
    const url = readUrl(positionals[0] as string);
    const intervalS = readInterval(values.interval);
    const count = readCount(values.count);
    const { runTop, TopError } = await import('../top.js');
    try {
      return await runTop(url, Math.round(intervalS * 1000), count, process);
    } catch (err) {
      // The first fetch failed: one sentence, and the exit code that says how (3 or 4).
      if (err instanceof TopError) throw new UsageError(err.message, err.exitCode);
      throw err;
    }
  },
};
