/**
 * One coarse clock for the whole process: the cached `Date` header string (refreshed once a second) and a
 * tick every 250 ms that servers use to check every connection's deadlines, instead of one timer per socket
 * per event (undici lib/util/timers.js; uWS's seconds-granularity idleTimeout).
 */

const TICK_MS = 250;

type TickListener = (now: number) => void;

let now = Date.now();
let dateSecond = -1;
let dateString = '';
const listeners = new Set<TickListener>();
let interval: NodeJS.Timeout | null = null;

/** Current time in ms, as of the last tick or `date()` call (at most TICK_MS old while ticking). */
export function coarseNow(): number {
  return now;
}

/** The current IMF-fixdate for the Date header (RFC 9110 §6.6.1), recomputed at most once per second. */
export function httpDateNow(): string {
  // While the tick runs, the string is refreshed by it: no clock read per response.
  if (interval !== null && dateSecond >= 0) return dateString;
  return computeDate();
}

function computeDate(): string {
  const t = Date.now();
  const s = Math.floor(t / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateString = new Date(t).toUTCString();
  }
  return dateString;
}

function tick(): void {
  now = Date.now();
  computeDate();
  for (const fn of listeners) fn(now);
}

/** Calls `fn` every tick while registered. The interval is unref'd: it never keeps the process alive. */
export function onTick(fn: TickListener): () => void {
  listeners.add(fn);
  if (interval === null) {
    interval = setInterval(tick, TICK_MS);
    interval.unref();
  }
  return () => {
    listeners.delete(fn);
    if (listeners.size === 0 && interval !== null) {
      clearInterval(interval);
      interval = null;
    }
  };
}

/** Refreshes `coarseNow()` immediately (used when a connection starts a phase). */
export function refreshNow(): number {
  now = Date.now();
  return now;
}
