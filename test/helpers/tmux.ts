/**
 * A terminal program driven as a person types: tmux runs it in a detached session on a private tmux server
 * (its own socket, killed after the test), `keys()` types (send-keys), `waitFor()` polls the screen
 * (capture-pane) until a pattern shows, bounded in time. The pane stays after the program ends, so its exit
 * status can be read.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const TMUX_PATH = '/usr/bin/tmux';
/** Whether tmux is installed (npm test installs it; see scripts/ensure-system-deps.sh). */
export const hasTmux = existsSync(TMUX_PATH);

let sessions = 0;

/** One program in a tmux pane. */
export class TmuxSession {
  readonly #socket: string;
  constructor(socket: string) {
    this.#socket = socket;
  }

  #tmux(args: string[]): Promise<{ stdout: string }> {
    return run(TMUX_PATH, ['-L', this.#socket, ...args], { timeout: 10_000 });
  }

  /** Types `keys` (tmux key names such as `Enter` and `C-c` are keys; `literal` sends the text as it is). */
  async keys(text: string, options: { literal?: boolean } = {}): Promise<void> {
    await this.#tmux(['send-keys', '-t', 'main', ...(options.literal ? ['-l'] : []), text]);
  }

  /** Types a line of text and Enter. */
  async line(text: string): Promise<void> {
    await this.keys(text, { literal: true });
    await this.keys('Enter');
  }

  /** What the pane shows now, with the scrollback, lines joined where the pane wrapped them. */
  async screen(): Promise<string> {
    return (await this.#tmux(['capture-pane', '-p', '-J', '-S', '-1000', '-t', 'main'])).stdout;
  }

  /** Polls the screen until `pattern` shows; resolves with the screen. Fails after `timeoutMs`, showing it. */
  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const screen = await this.screen();
      if (pattern.test(screen)) return screen;
      if (Date.now() > until) throw new Error(`${pattern} did not show within ${timeoutMs} ms; the screen:\n${screen}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Resizes the window (the program gets SIGWINCH). */
  async resize(width: number, height: number): Promise<void> {
    await this.#tmux(['resize-window', '-t', 'main', '-x', String(width), '-y', String(height)]);
  }

  /**
   * The exit status once the program has ended (polled, bounded), as the shell that ran it printed it (`$?`: the
   * exit code, or 128 + the signal that ended it); null if it is still running then. Not tmux's
   * `#{pane_dead_status}`: tmux 3.3 leaves it empty when the program closed the terminal before it was reaped.
   */
  async exitStatus(timeoutMs = 30_000): Promise<number | null> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const m = /\[exited (\d+)\]/.exec(await this.screen());
      if (m !== null) return Number(m[1]);
      if (Date.now() > until) return null;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * Starts `command` (argv) in a detached tmux session of `width` x `height` on a private server; the server is
 * killed after the test.
 */
export async function startTmux(
  t: TestContext,
  command: string[],
  { width = 200, height = 50 } = {},
): Promise<TmuxSession> {
  const socket = `sockeye-test-${process.pid}-${++sessions}`;
  const session = new TmuxSession(socket);
  t.after(() => run(TMUX_PATH, ['-L', socket, 'kill-server']).catch(() => {}));
  // The session starts with a shell; remain-on-exit is set, then the program replaces the shell (respawn-pane):
  // a program that exits at once still leaves its pane and exit status.
  // After the program, the shell prints its exit status for exitStatus() to read.
  const shell = `${command.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ')}; echo "[exited $?]"`;
  const size = ['-x', String(width), '-y', String(height)];
  await run(
    TMUX_PATH,
    [
      '-L',
      socket,
      '-f',
      '/dev/null',
      'new-session',
      '-d',
      '-s',
      'main',
      ...size,
      ';',
      'set-option',
      '-g',
      'remain-on-exit',
      'on',
      ';',
      'respawn-pane',
      '-k',
      '-t',
      'main',
      shell,
    ],
    { timeout: 10_000 },
  );
  return session;
}
