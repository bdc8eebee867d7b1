/**
 * `stats()` in the Prometheus text exposition format (version 0.0.4): `# HELP` and `# TYPE` lines, counters
 * named `*_total`, units in names (`_bytes`, `_seconds`), labels for the breakdowns (state, reason, cause,
 * opcode, code, side). Served by `serve({ metrics: "/metrics" })`.
 */

import type { ServerStats } from './stats.js';

type Sample = [labels: Record<string, string>, value: number];

class Writer {
  out = '';
  metric(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): void {
    this.out += `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
    for (const [labels, value] of samples) {
      const keys = Object.keys(labels);
      const l = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabel(labels[k] as string)}"`).join(',')}}`;
      this.out += `${name}${l} ${formatValue(value)}\n`;
    }
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number | null): string {
  if (v === null || Number.isNaN(v)) return 'NaN';
  return Number.isInteger(v) ? String(v) : v.toFixed(3);
}

function table(label: string, values: Record<string, number>, extra: Record<string, string> = {}): Sample[] {
  return Object.keys(values).map((k) => [{ ...extra, [label]: k }, values[k] as number]);
}

/** Formats server statistics as Prometheus text. */
export function formatMetrics(s: ServerStats): string {
  const w = new Writer();
  const c = s.connections;
  w.metric('sockeye_connections', 'gauge', 'Open connections by state.', [
    [{ state: 'http_idle' }, c.httpIdle],
    [{ state: 'http_active' }, c.httpActive],
    [{ state: 'ws_handshaking' }, c.wsHandshaking],
    [{ state: 'ws_open' }, c.wsOpen],
    [{ state: 'ws_closing' }, c.wsClosing],
  ]);
  w.metric('sockeye_connections_accepted_total', 'counter', 'Connections accepted from the listen queue.', [
    [{}, s.accepted],
  ]);
  w.metric('sockeye_connections_rejected_total', 'counter', 'Connections refused right after accept, by reason.', [
    [{ reason: 'max_connections' }, s.rejected.maxConnections],
    [{ reason: 'per_ip' }, s.rejected.perIp],
    [{ reason: 'shutting_down' }, s.rejected.shuttingDown],
  ]);
  w.metric('sockeye_http_requests_total', 'counter', 'HTTP requests received.', [[{}, s.http.requests]]);
  w.metric(
    'sockeye_http_protocol_errors_total',
    'counter',
    'HTTP protocol errors by code.',
    table('code', s.http.errors),
  );
  w.metric('sockeye_http_timeouts_total', 'counter', 'HTTP timeouts by kind.', table('kind', s.http.timeouts));
  w.metric(
    'sockeye_http_connection_ends_total',
    'counter',
    'Ended HTTP connections by cause.',
    table('cause', s.http.ends),
  );
  w.metric('sockeye_http_received_bytes_total', 'counter', 'Bytes read on HTTP connections.', [[{}, s.http.bytesIn]]);
  w.metric('sockeye_http_sent_bytes_total', 'counter', 'Bytes written on HTTP connections.', [[{}, s.http.bytesOut]]);
  // Absent in figures from an older worker (a cluster being upgraded): printed only when there.
  const sse = s.sse;
  if (sse !== undefined) {
    w.metric('sockeye_sse_streams', 'gauge', 'Open server-sent event streams.', [[{}, sse.open]]);
    w.metric('sockeye_sse_streams_opened_total', 'counter', 'Server-sent event streams opened.', [[{}, sse.opened]]);
    w.metric('sockeye_sse_events_total', 'counter', 'Events, comments and heartbeats written to event streams.', [
      [{}, sse.events],
    ]);
    w.metric('sockeye_sse_backpressure_total', 'counter', 'Event-stream backpressure policy actions.', [
      [{ action: 'drop' }, sse.dropped],
      [{ action: 'cut_off' }, sse.cutOff],
    ]);
  }
  const ws = s.websocket;
  w.metric('sockeye_ws_handshakes_total', 'counter', 'WebSocket handshakes by result.', [
    [{ result: 'accepted' }, ws.accepted],
    [{ result: 'rejected' }, ws.rejected],
    [{ result: 'abandoned' }, ws.abandoned],
  ]);
  w.metric('sockeye_ws_messages_total', 'counter', 'WebSocket messages by direction.', [
    [{ direction: 'in' }, ws.messagesIn],
    [{ direction: 'out' }, ws.messagesOut],
  ]);
  w.metric('sockeye_ws_payload_bytes_total', 'counter', 'WebSocket message payload bytes by direction.', [
    [{ direction: 'in' }, ws.payloadBytesIn],
    [{ direction: 'out' }, ws.payloadBytesOut],
  ]);
  w.metric('sockeye_ws_frames_total', 'counter', 'WebSocket frames by opcode and direction.', [
    ...table('opcode', ws.framesIn, { direction: 'in' }),
    ...table('opcode', ws.framesOut, { direction: 'out' }),
  ]);
  w.metric('sockeye_ws_close_codes_total', 'counter', 'Close frames by code and by the side that sent them.', [
    ...table('code', ws.closeCodesFromPeer, { side: 'peer' }),
    ...table('code', ws.closeCodesFromServer, { side: 'server' }),
  ]);
  w.metric(
    'sockeye_ws_connection_ends_total',
    'counter',
    'Ended WebSocket connections by cause.',
    table('cause', ws.ends),
  );
  w.metric('sockeye_ws_backpressure_total', 'counter', 'Backpressure limit hits by action taken.', [
    [{ action: 'close' }, ws.backpressureCloses],
    [{ action: 'drop' }, ws.backpressureDrops],
  ]);
  w.metric(
    'sockeye_ws_protocol_errors_total',
    'counter',
    'WebSocket protocol errors by code.',
    table('code', ws.protocolErrors),
  );
  w.metric('sockeye_ws_received_bytes_total', 'counter', 'Bytes read on WebSocket connections.', [[{}, ws.bytesIn]]);
  w.metric('sockeye_ws_sent_bytes_total', 'counter', 'Bytes written on WebSocket connections.', [[{}, ws.bytesOut]]);
  const l = s.listen;
  w.metric('sockeye_listen_queue_length', 'gauge', 'Connections waiting in the accept queue (Linux).', [
    [{}, l.queueDepth ?? Number.NaN],
  ]);
  w.metric('sockeye_listen_queue_limit', 'gauge', 'Accept queue limit: min(backlog, somaxconn) (Linux).', [
    [{}, l.queueLimit ?? Number.NaN],
  ]);
  w.metric('sockeye_listen_overflows_total', 'counter', 'TcpExt ListenOverflows since start (system-wide).', [
    [{}, l.listenOverflows ?? Number.NaN],
  ]);
  w.metric('sockeye_listen_drops_total', 'counter', 'TcpExt ListenDrops since start (system-wide).', [
    [{}, l.listenDrops ?? Number.NaN],
  ]);
  w.metric('sockeye_syncookies_sent_total', 'counter', 'TcpExt SyncookiesSent since start (system-wide).', [
    [{}, l.syncookiesSent ?? Number.NaN],
  ]);
  w.metric('sockeye_uptime_seconds', 'gauge', 'Seconds since the server started listening.', [[{}, s.uptimeSeconds]]);
  return w.out;
}
