/**
 * WHATWG mode: runs a `fetch(request: Request) => Response | Promise<Response>` handler (the shape of Hono,
 * Bun.serve, Deno.serve, Cloudflare Workers) on sockeye's own request/response objects.
 */

import type { SockeyeRequest } from './request.js';
import type { SockeyeResponse } from './response.js';

/** Connection facts passed as the second argument of a fetch handler. */
export interface FetchInfo {
  remoteAddress: string;
  remotePort: number;
}

/** A WHATWG fetch-style handler. */
export type FetchHandler = (request: Request, info: FetchInfo) => Response | Promise<Response>;

/** Builds a WHATWG Request from a sockeye request (the body streams, with backpressure). */
export function toWebRequest(req: SockeyeRequest): Request {
  const target = req.target;
  let url: string;
  if (target.charCodeAt(0) === 0x2f) url = `http://${req.headers.get('host') || 'localhost'}${target}`;
  else if (target === '*' || req.method === 'CONNECT') url = `http://${req.headers.get('host') || target}/`;
  else url = target;
  const headers = new Headers();
  const raw = req.headers.raw;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i] as string, raw[i + 1] as string);
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && (req.contentLength !== 0 || req.info.chunked);
  const init: RequestInit & { duplex?: 'half' } = { method: req.method, headers };
  if (hasBody) {
    const it = req[Symbol.asyncIterator]();
    init.body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
      },
      async cancel() {
        await it.return?.();
      },
    });
    init.duplex = 'half';
  }
  return new Request(url, init);
}

/** Writes a WHATWG Response: one write with Content-Length when the body is short, else streamed. */
export async function writeWebResponse(response: Response, res: SockeyeResponse): Promise<void> {
  res.status = response.status;
  for (const [name, value] of response.headers) {
    if (name === 'set-cookie') continue;
    res.appendHeader(name, value);
  }
  for (const cookie of response.headers.getSetCookie()) res.appendHeader('set-cookie', cookie);
  const body = response.body;
  if (body === null) {
    res.end();
    return;
  }
  const reader = body.getReader();
  const first = await reader.read();
  if (first.done) {
    res.end();
    return;
  }
  const second = await reader.read();
  if (second.done) {
    res.end(first.value);
    return;
  }
  res.write(first.value);
  let chunk: ReadableStreamReadResult<Uint8Array> = second;
  while (!chunk.done) {
    if (!res.write(chunk.value)) await res.drained();
    chunk = await reader.read();
  }
  res.end();
}

/** Runs a fetch handler for one request. */
export async function runFetch(fetch: FetchHandler, req: SockeyeRequest, res: SockeyeResponse): Promise<void> {
  const response = await fetch(toWebRequest(req), { remoteAddress: req.remoteAddress, remotePort: req.remotePort });
  await writeWebResponse(response, res);
}
