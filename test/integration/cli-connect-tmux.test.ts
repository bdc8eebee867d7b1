/**
 * `sockeye connect` in a terminal, typed into as a person does (tmux send-keys, screen read with capture-pane):
 * lines echo back; a `/ping` over 125 bytes prints one error line and the session goes on; a text pong shows
 * as text; `/pingfoo` is an unknown command, not a ping; a text ping from the server shows as text; Ctrl-C sends
 * a close frame with 1000 (the server sees 1000, not 1006) and the program exits 0. A close from the server ends
 * the session with a terminal as input too; Ctrl-C before the server answers the handshake exits 130. The servers
 * run in the test, on the public API (a raw socket for the silent one), and tell what they got.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { ServerWebSocket } from '../../src/index.js';
import { BIN } from '../helpers/echo-process.js';
import { startServer } from '../helpers/net.js';
import { hasTmux, startTmux } from '../helpers/tmux.js';

test('sockeye connect under tmux: ping limit, text pongs, /pingfoo, Ctrl-C closes with 1000', {
  skip: hasTmux ? false : 'tmux missing (scripts/ensure-system-deps.sh installs it)',
}, async (t) => {
  const pings: string[] = [];
  let peer: ServerWebSocket | null = null;
  let resolveClose: (v: { code: number; wasClean: boolean }) => void = () => {};
  const closed = new Promise<{ code: number; wasClean: boolean }>((r) => {
    resolveClose = r;
  });
  const server = await startServer(t, {
    request: (_req, res) => res.send('ws only'),
    websocket: {
      open(ws) {
        peer = ws;
      },
      message(ws, message, isBinary) {
        ws.send(message, isBinary);
      },
      ping(_ws, data) {
        pings.push(data.toString());
      },
      close(_ws, code, _reason, wasClean) {
        resolveClose({ code, wasClean });
      },
    },
  });
  const url = `ws://127.0.0.1:${server.port}/chat`;
  const term = await startTmux(t, [process.execPath, BIN, 'connect', url]);
  await term.waitFor(/connected to ws:\/\/127\.0\.0\.1:\d+\/chat/);

  await term.line('hello there');
  await term.waitFor(/^< \S+ hello there$/m);

  await term.line(`/ping ${'x'.repeat(130)}`);
  await term.waitFor(/^error: a ping carries at most 125 bytes \(RFC 6455 §5\.5\), this one has 130; not sent$/m);

  await term.line('/pingfoo');
  await term.waitFor(/^error: unknown command \/pingfoo /m);

  // Still connected after both: a ping goes out and its pong shows as the text it carries.
  await term.line('/ping are you there');
  const screen = await term.waitFor(/^< \S+ pong are you there$/m);
  assert.deepEqual(pings, ['are you there'], 'only the valid ping reached the server');
  assert.doesNotMatch(screen, /RangeError|at .*\.js:\d+/, 'no stack trace');

  // A ping from the server whose payload is text shows as text.
  (peer as ServerWebSocket | null)?.ping('from server');
  await term.waitFor(/^< \S+ ping from server$/m);

  await term.keys('C-c');
  assert.deepEqual(await closed, { code: 1000, wasClean: true });
  await term.waitFor(/^\* \S+ closed: code 1000$/m);
  assert.equal(await term.exitStatus(), 0);
});

const skip = hasTmux ? false : 'tmux missing (scripts/ensure-system-deps.sh installs it)';

test('sockeye connect under tmux: the server closes with 1001; the program exits 0', { skip }, async (t) => {
  const server = await startServer(t, {
    request: (_req, res) => res.send('ws only'),
    websocket: {
      message(ws, message) {
        if (message === 'bye') ws.close(1001, 'going');
      },
    },
  });
  const term = await startTmux(t, [process.execPath, BIN, 'connect', `ws://127.0.0.1:${server.port}/`]);
  await term.waitFor(/connected to/);
  await term.line('bye');
  await term.waitFor(/^\* \S+ closed: code 1001 "going"$/m);
  assert.equal(await term.exitStatus(), 0);
});

test('sockeye connect under tmux: Ctrl-C before the handshake is answered exits 130', { skip }, async (t) => {
  let accepted: () => void = () => {};
  const connected = new Promise<void>((r) => {
    accepted = r;
  });
  // A server that accepts and never answers: the client stays CONNECTING.
  const silent = net.createServer((s) => {
    s.on('error', () => {});
    accepted();
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  t.after(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const term = await startTmux(t, [process.execPath, BIN, 'connect', `ws://127.0.0.1:${port}/`]);
  await connected;
  await term.keys('C-c');
  // The terminal echoes ^C on the same line, before the program's sentence.
  await term.waitFor(new RegExp(`interrupted before the connection to 127\\.0\\.0\\.1:${port} opened$`, 'm'));
  assert.equal(await term.exitStatus(), 130);
});
