/** `sockeye connect URL`: the interactive WebSocket client (the session is in ../connect.ts). */

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { type Command, UsageError } from '../command.js';

/** RFC 9110 §5.6.2: token = 1*tchar. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5: a field value is visible ASCII, obs-text, spaces and tabs; no CR, LF or NUL. */
const FIELD_VALUE_BAD = /[^\t\x20-\x7e\x80-\xff]/;

/** The URL argument: ws://, wss://, http:// or https://, without a fragment (WHATWG WebSocket URL steps). */
function readUrl(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`'${value}' is not a URL; try ws://127.0.0.1:9001/`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(u.protocol)) {
    throw new UsageError(`the URL must start with ws://, wss://, http:// or https://, got '${value}'`);
  }
  if (u.href.includes('#')) throw new UsageError(`a WebSocket URL has no #fragment, got '${value}'`);
  return value;
}

/** `-H "Name: value"` values as pairs, each name a token and each value of field-value characters. */
function readHeaders(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const h of list) {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new UsageError(`-H must be "Name: value", got '${h}'`);
    const name = h.slice(0, colon).trim();
    const value = h.slice(colon + 1).trim();
    if (!TOKEN.test(name)) {
      throw new UsageError(`-H '${h}': the header name '${name}' is not a token (RFC 9110 §5.6.2)`);
    }
    const bad = FIELD_VALUE_BAD.exec(value);
    if (bad !== null) {
      const c = bad[0];
      const cp = `U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}`;
      throw new UsageError(
        `-H '${name}': the value has '${c}' (${cp}) at position ${bad.index + 1}, which a header value cannot hold (RFC 9110 §5.5)`,
      );
    }
    out.push([name, value]);
  }
  return out;
}

/** `-p` values: tokens, each once (RFC 6455 §4.1 item 10). */
function readProtocols(list: string[]): string[] {
  for (let i = 0; i < list.length; i++) {
    const p = list[i] as string;
    if (!TOKEN.test(p)) throw new UsageError(`-p must be a subprotocol name (a token, RFC 6455 §4.1), got '${p}'`);
    if (list.indexOf(p) !== i) throw new UsageError(`-p ${p} is given twice`);
  }
  return list;
}

export const connectCommand: Command = {
  name: 'connect',
  summary: 'Interactive WebSocket client: lines typed are sent as text',
  description: `Interactive WebSocket client. Lines typed are sent as text; messages received are printed
with direction (> sent, < received) and time. Commands: /ping [data] (at most 125 bytes),
/close [code] [reason], /help; a line starting with // sends the rest after one slash.
Ctrl-C closes with 1000 (a second Ctrl-C exits at once); end of input closes with 1000 too.

Exit codes: 0 clean close (1000/1001/1005), 1 other close code, 2 usage error,
3 could not connect (refused, TLS, handshake), 4 dropped (no clean close),
130 Ctrl-C before the connection opened`,
  args: [{ name: 'url', required: true, help: 'a URL, e.g. sockeye connect ws://127.0.0.1:9001/' }],
  options: {
    protocol: { type: 'string', short: 'p', multiple: true, value: '<p>', help: 'Subprotocol to offer' },
    header: { type: 'string', short: 'H', multiple: true, value: '<h>', help: 'Extra request header "Name: value"' },
    deflate: { type: 'boolean', help: 'Offer permessage-deflate (RFC 7692)' },
    ca: {
      type: 'string',
      value: '<file>',
      help: 'wss://: trust the certificate(s) in this PEM file (a self-signed server, a private CA)',
    },
    insecure: {
      type: 'boolean',
      short: 'k',
      help: "wss://: do not check the server's certificate (anyone on the path can read and change the traffic)",
    },
  },
  async run({ values, positionals }) {
    const url = readUrl(positionals[0] as string);
    const headers = readHeaders((values.header as string[] | undefined) ?? []);
    const protocols = readProtocols((values.protocol as string[] | undefined) ?? []);
    const tls: ConnectionOptions = {};
    if (values.ca !== undefined) {
      try {
        tls.ca = readFileSync(String(values.ca));
      } catch (err) {
        throw new UsageError(`--ca: cannot read '${values.ca}' (${(err as NodeJS.ErrnoException).code ?? err})`);
      }
    }
    if (values.insecure === true) tls.rejectUnauthorized = false;
    const { connect } = await import('../connect.js');
    // Ctrl-C: close with 1000 and wait for the server's close frame; a second one exits at once (130: SIGINT).
    const interrupt = new AbortController();
    const onSignal = () => {
      if (interrupt.signal.aborted) process.exit(130);
      interrupt.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      return await connect({
        url,
        protocols,
        headers,
        deflate: values.deflate === true,
        tls,
        input: process.stdin,
        output: process.stdout,
        errors: process.stderr,
        interrupt: interrupt.signal,
      });
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
