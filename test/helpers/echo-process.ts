/**
 * `sockeye echo` as users run it (bin/sockeye.js in a child process, killed when the test ends), and child
 * processes for the Python probe corpora, bounded in time. `useBridgeForEchoProcess()` makes `echoArgv()` start
 * the same echo behind node:http through `websocketHandler()` instead (test/fixtures/ws/bridge-echo.ts), so that
 * a test file written against `sockeye echo` runs unchanged through the bridge.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The CLI entry point. */
export const BIN = path.join(ROOT, 'bin/sockeye.js');
/** The source tree's test folder (Python files are not copied to dist by tsc). */
export const TEST_SRC = path.join(ROOT, 'test');

/** The bridge echo script: `sockeye echo`'s WebSocket handlers on a node:http server (compiled next to this file). */
export const BRIDGE_ECHO = fileURLToPath(new URL('../fixtures/ws/bridge-echo.js', import.meta.url));

let echoViaBridge = false;

/** From now on `echoArgv()` starts the bridge echo (test/fixtures/ws/bridge-echo.ts) instead of `sockeye echo`. */
export function useBridgeForEchoProcess(): void {
  echoViaBridge = true;
}

/** What `echoArgv()` starts: `'sockeye echo'`, or `'the node:http bridge echo'` after `useBridgeForEchoProcess()`. */
export function echoProcessName(): string {
  return echoViaBridge ? 'the node:http bridge echo' : 'sockeye echo';
}

/**
 * The node arguments of an echo server on a free port of 127.0.0.1 that prints `listening on http://host:port`:
 * `sockeye echo --port 0 ...extra`, or the bridge echo with the same options (it knows `--deflate`).
 */
export function echoArgv(extra: string[] = []): string[] {
  return echoViaBridge ? [BRIDGE_ECHO, '--port', '0', ...extra] : [BIN, 'echo', '--port', '0', ...extra];
}

/** A running `sockeye echo` and its port. */
export interface EchoProcess {
  child: ChildProcess;
  port: number;
}

/** Starts `sockeye echo --port 0` (plus `extra` arguments); resolves once it listens. Killed after the test. */
export function startEchoProcess(t: TestContext, extra: string[] = []): Promise<EchoProcess> {
  return startSockeyeProcess(t, 'echo', extra);
}

/**
 * Starts `sockeye COMMAND --port 0` (plus `extra` arguments) as users run it; resolves with its port once it prints
 * `listening on http://host:port`. Killed after the test.
 */
export function startSockeyeProcess(t: TestContext, command: string, extra: string[] = []): Promise<EchoProcess> {
  const child = spawn(process.execPath, [BIN, command, '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sockeye ${command} did not start`)), 10_000);
    let out = '';
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /listening on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
  });
}

/**
 * Debian's Python, where the test command installs python3-websockets (a `python3` earlier in PATH may lack it).
 */
export const PYTHON = '/usr/bin/python3';

/** What a Python child printed: stdout, stderr, and both in arrival order. */
export interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

/** Runs `PYTHON args...` in `cwd`; resolves when it ends (killed after `timeoutMs`; a spawn error is in `out`). */
export function runPython(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 240_000,
): Promise<PythonRun> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const run: PythonRun = { code: null, stdout: '', stderr: '', out: '' };
    child.stdout.on('data', (d) => {
      run.stdout += d;
      run.out += d;
    });
    child.stderr.on('data', (d) => {
      run.stderr += d;
      run.out += d;
    });
    child.on('error', (e) => {
      run.out += `\n${e.message}`;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      run.code = code;
      resolve(run);
    });
  });
}
