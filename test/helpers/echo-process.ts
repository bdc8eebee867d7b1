/**
 * `sockeye echo` as users run it (bin/sockeye.js in a child process, killed when the test ends), and child
 * processes for the Python probe corpora, bounded in time.
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

/** A running `sockeye echo` and its port. */
export interface EchoProcess {
  child: ChildProcess;
  port: number;
}

/** Starts `sockeye echo --port 0` (plus `extra` arguments); resolves once it listens. Killed after the test. */
export function startEchoProcess(t: TestContext, extra: string[] = []): Promise<EchoProcess> {
  const child = spawn(process.execPath, [BIN, 'echo', '--port', '0', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('sockeye echo did not start')), 10_000);
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

/** Runs `python3 file args...` in `cwd`; resolves with its exit code and output (killed after `timeoutMs`). */
export function runPython(
  cwd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 240_000,
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
