/**
 * The `sockeye` command, built on the public API only.
 *
 *   sockeye <command> [args] [options]     sockeye help [command]     sockeye <command> --help
 *   sockeye --version
 *
 * Adding a command: write `src/cli/commands/NAME.ts` exporting a `Command` (command.ts: its name, a one-line
 * summary, a description, its positional arguments, its options with their help, and `run`), then add it to
 * COMMANDS below: one import and one entry. Parsing, `--help`, `sockeye help NAME`, the command list and the
 * precise usage errors ("unknown option --bogus for 'NAME'", "--port does not apply to 'NAME'") come from the
 * table. `run` checks its own values and throws `UsageError` (exit 2, or the code it carries) with one sentence
 * for a mistake; it resolves with an exit code, or KEEP_RUNNING for a server that runs until a signal.
 *
 * Exit codes: 0 done, 1 could not do its work (a port in use), 2 usage error; `connect` adds its own (3, 4).
 */

import { readFileSync } from 'node:fs';
import {
  type Command,
  EXIT_USAGE,
  flagOwners,
  formatHelp,
  KEEP_RUNNING,
  parseCommandArgs,
  UsageError,
} from './command.js';
import { connectCommand } from './commands/connect.js';
import { demoCommand } from './commands/demo.js';
import { echoCommand } from './commands/echo.js';
import { pubsubCommand } from './commands/pubsub.js';

/** Every subcommand, in the order `sockeye --help` lists them. */
const COMMANDS: readonly Command[] = [echoCommand, pubsubCommand, demoCommand, connectCommand];

/** The package's version, read at run time from package.json (three folders up from dist/src/cli/main.js). */
export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  const list = COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`).join('\n');
  return `Usage: sockeye <command> [options]

Commands:
${list}
  ${'bench'.padEnd(width)}Load generator for HTTP and WebSocket echo servers (sockeye bench --help)
  ${'help'.padEnd(width)}Show the help of a command: sockeye help <command>

Options:
  -h, --help     Show this help
  -V, --version  Print the version

Run 'sockeye <command> --help' for a command's arguments and options.
Exit codes: 0 done, 1 could not start (a port in use), 2 usage error; connect adds its own.
`;
}

function find(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}

/** The closest command name to a mistyped one (at most two edits away), for "did you mean". */
function closest(name: string): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const c of COMMANDS) {
    const a = name;
    const b = c.name;
    const row = Array.from({ length: b.length + 1 }, (_, j) => j);
    for (let i = 1; i <= a.length; i++) {
      let prev = row[0] as number;
      row[0] = i;
      for (let j = 1; j <= b.length; j++) {
        const cur = row[j] as number;
        row[j] = Math.min(cur + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = cur;
      }
    }
    const d = row[b.length] as number;
    if (d < bestD) {
      bestD = d;
      best = b;
    }
  }
  return best;
}

function unknownCommand(name: string): UsageError {
  const guess = closest(name);
  return new UsageError(`unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ''} (see sockeye --help)`);
}

/** Where help and usage errors go: the process's stdout and stderr, or a test's. */
export interface MainOutput {
  out: { write(s: string): unknown };
  err: { write(s: string): unknown };
}

/** Runs `sockeye argv...`; resolves with the exit code, or KEEP_RUNNING for a server. */
export async function main(
  argv: string[],
  io: MainOutput = { out: process.stdout, err: process.stderr },
): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err.write(`${err.message}\n`);
    return err.exitCode;
  }
}

async function dispatch(argv: string[], io: MainOutput): Promise<number> {
  // `sockeye bench` parses its own flags and prints its own help (bench.ts: the load generator).
  if (argv[0] === 'bench') return (await import('./bench.js')).bench(argv.slice(1));
  if (argv[0] === 'help' && argv[1] === 'bench') return (await import('./bench.js')).bench(['--help']);
  // The command is the first argument that is neither an option nor an option's value; options before it belong
  // to it too (`sockeye --port 0 echo`).
  const takesValue = new Set<string>();
  for (const c of COMMANDS) {
    for (const [n, o] of Object.entries(c.options)) {
      if (o.type === 'string') {
        takesValue.add(`--${n}`);
        if (o.short) takesValue.add(`-${o.short}`);
      }
    }
  }
  let at = -1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-')) {
      at = i;
      break;
    }
    if (takesValue.has(a)) i++;
  }
  const before = at === -1 ? argv : argv.slice(0, at);
  const wantsHelp = before.includes('--help') || before.includes('-h');
  if (at === -1) {
    if (before.includes('--version') || before.includes('-V')) {
      io.out.write(`${version()}\n`);
      return 0;
    }
    const unknown = before.find((a) => a !== '--help' && a !== '-h');
    if (unknown !== undefined) {
      const owners = flagOwners(COMMANDS).get(unknown.split('=')[0] as string);
      if (owners !== undefined) {
        throw new UsageError(`no command given; ${unknown} is an option of ${owners.join(', ')} (see sockeye --help)`);
      }
      throw new UsageError(`unknown option ${unknown} (see sockeye --help)`);
    }
    if (wantsHelp) {
      io.out.write(usage());
      return 0;
    }
    // No command at all: the usage, as an error.
    io.err.write(usage());
    return EXIT_USAGE;
  }
  const name = argv[at] as string;
  if (name === 'help') {
    // `sockeye help [command]`
    const topic = argv[at + 1];
    if (topic === undefined || topic === 'help') {
      io.out.write(usage());
      return 0;
    }
    const command = find(topic);
    if (command === undefined) throw unknownCommand(topic);
    io.out.write(formatHelp(command));
    return 0;
  }
  const command = find(name);
  if (command === undefined) throw unknownCommand(name);
  if (wantsHelp) {
    // `sockeye --help echo`
    io.out.write(formatHelp(command));
    return 0;
  }
  const args = parseCommandArgs(command, [...before, ...argv.slice(at + 1)], flagOwners(COMMANDS));
  if (args.values.help === true) {
    io.out.write(formatHelp(command));
    return 0;
  }
  return command.run(args);
}

export { KEEP_RUNNING };
