/**
 * What every `sockeye` subcommand is made of: its options and help (`Command`), the parsing of its arguments with
 * a precise sentence for each mistake (`UsageError`, exit code 2), the checks shared by servers (`--port`,
 * `--host`), and the sentences for the errors a server meets when it starts (`EADDRINUSE`...).
 */

import { parseArgs } from 'node:util';

/** One option of a command: how `node:util` parseArgs reads it, and one line of help. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in the help (`<n>`, `<url>`). */
  value?: string;
  /** The help text; may hold line breaks. */
  help: string;
}

/** A positional argument of a command. */
export interface ArgumentSpec {
  name: string;
  required: boolean;
  help: string;
}

/** What a command's `run` gets: option values (as typed; checked by the command) and positional arguments. */
export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
}

/** `run` resolves with the exit code, or with KEEP_RUNNING: a server that runs until a signal ends it. */
export const KEEP_RUNNING = -1;

/** Exit code of a usage error: a mistake in the command line (`UsageError`). */
export const EXIT_USAGE = 2;
/** Exit code of a command that could not do its work (a server that could not listen). */
export const EXIT_FAILED = 1;

/** One subcommand: `sockeye NAME [args] [options]`. */
export interface Command {
  name: string;
  /** One line for the command list of `sockeye --help`. */
  summary: string;
  /** The help's paragraph under the usage line (may hold line breaks). */
  description: string;
  args: ArgumentSpec[];
  /** Options other than `-h, --help`, which every command has. */
  options: Record<string, OptionSpec>;
  run(args: ParsedArgs): Promise<number>;
}

/**
 * A mistake in the command line: one plain sentence naming the flag or argument (the program prints it alone and
 * exits with code 2). A runtime failure that the user can fix from the command line (a port in use) is one too,
 * with exit code `exitCode`.
 */
export class UsageError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = EXIT_USAGE) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** Each flag (`--port`, `-p`) of `commands` and the names of the commands that have it. */
export function flagOwners(commands: readonly Command[]): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const c of commands) {
    for (const [name, o] of Object.entries(c.options)) {
      for (const f of o.short ? [`--${name}`, `-${o.short}`] : [`--${name}`]) {
        const list = owners.get(f) ?? [];
        list.push(c.name);
        owners.set(f, list);
      }
    }
  }
  return owners;
}

/** `-h, --help`: every command has it. */
const HELP_OPTION: OptionSpec = { type: 'boolean', short: 'h', help: 'Show this help' };

/** The options of `command`, `--help` included. */
export function optionsOf(command: Command): Record<string, OptionSpec> {
  return { ...command.options, help: HELP_OPTION };
}

/**
 * Parses `argv` (what follows the command's name) against `command`'s options. `others` maps each flag of every
 * command (`--port`, `-p`) to the names of the commands that have it, for "does not apply" instead of "unknown".
 * Throws UsageError.
 */
export function parseCommandArgs(command: Command, argv: string[], others: Map<string, string[]>): ParsedArgs {
  const spec = optionsOf(command);
  const see = `(see sockeye ${command.name} --help)`;
  // Not strict: the mistakes are told here, each in the command's words. Also, in strict mode parseArgs refuses
  // a value that starts with '-' ("--port -1"), which is a value to check, not a missing one.
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options: spec,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const typed = token.rawName;
    const option = spec[token.name];
    if (option === undefined) {
      const users = others.get(typed);
      if (users !== undefined) {
        throw new UsageError(
          `${typed} does not apply to '${command.name}': it is an option of ${users.join(', ')} ${see}`,
        );
      }
      throw new UsageError(`unknown option ${typed} for '${command.name}' ${see}`);
    }
    if (option.type === 'string' && token.value === undefined) {
      throw new UsageError(`${typed} needs a value ${see}`);
    }
    if (option.type === 'boolean' && token.inlineValue) {
      throw new UsageError(`${typed} takes no value, got '${token.rawName}=${token.value ?? ''}' ${see}`);
    }
  }
  const required = command.args.filter((a) => a.required).length;
  if (positionals.length > command.args.length) {
    throw new UsageError(`unexpected argument '${positionals[command.args.length]}' for '${command.name}' ${see}`);
  }
  if (positionals.length < required && values.help !== true) {
    const missing = command.args[positionals.length] as ArgumentSpec;
    throw new UsageError(`sockeye ${command.name} needs ${missing.help} ${see}`);
  }
  return { values: values as ParsedArgs['values'], positionals };
}

/** The help of one command: usage line, description, arguments and options, each option once. */
export function formatHelp(command: Command): string {
  const args = command.args.map((a) => (a.required ? ` <${a.name}>` : ` [${a.name}]`)).join('');
  const lines = [`Usage: sockeye ${command.name}${args} [options]`, '', command.description, '', 'Options:'];
  const rows: [string, string][] = [];
  for (const [name, o] of Object.entries(optionsOf(command))) {
    const left = `${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`;
    rows.push([left, o.help + (o.multiple ? ' (repeatable)' : '')]);
  }
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [left, help] of rows) {
    const [first, ...rest] = help.split('\n');
    lines.push(`  ${left.padEnd(width)}${first}`);
    for (const r of rest) lines.push(`  ${' '.repeat(width)}${r}`);
  }
  return `${lines.join('\n')}\n`;
}

// ── checks shared by the servers ────────────────────────────────────────────────────────────────────────────

/** `--port <n>`, with the command's default port in its help. */
export function portOption(defaultPort: number): OptionSpec {
  return { type: 'string', value: '<n>', help: `Port to listen on (default ${defaultPort}; 0: any free port)` };
}

/** `--host <addr>`. */
export const HOST_OPTION: OptionSpec = {
  type: 'string',
  value: '<addr>',
  help: 'Address to bind (default 127.0.0.1; 0.0.0.0 or :: for every interface)',
};

/** The `--port` value: a whole number from 0 to 65535 (a TCP port, RFC 9293 §3.1: 16 bits; 0: any free one). */
export function readPort(value: unknown, defaultPort: number): number {
  if (value === undefined) return defaultPort;
  const s = String(value);
  const n = /^[0-9]{1,5}$/.test(s) ? Number(s) : Number.NaN;
  if (!(n >= 0 && n <= 65535)) throw new UsageError(`--port must be a number from 0 to 65535, got '${s}'`);
  return n;
}

/** The `--host` value (127.0.0.1 by default: a server someone starts to try is not open to the network). */
export function readHost(value: unknown): string {
  if (value === undefined) return '127.0.0.1';
  const s = String(value);
  if (s.trim() === '' || /\s/.test(s)) throw new UsageError(`--host must be an address or a host name, got '${s}'`);
  return s;
}

/**
 * The sentence for an error met while a server starts listening on `host`:`port`, or null when it is not one a
 * user can fix from the command line.
 */
export function listenErrorSentence(err: unknown, host: string, port: number): string | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is in use; try --port 0`;
    case 'EACCES':
      return `port ${port} needs privileges this user does not have; try a port above 1023, or --port 0`;
    case 'EADDRNOTAVAIL':
      return `--host ${host} is not an address of this machine; try 127.0.0.1`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `--host ${host} does not resolve to an address; try 127.0.0.1`;
    default:
      return null;
  }
}

/** Closes `server` gracefully on SIGINT or SIGTERM (open WebSockets get 1001), then exits with code 0. */
export function shutdownOnSignal(server: { close(o?: { deadline?: number }): Promise<unknown> }): void {
  const stop = () => {
    server.close({ deadline: 5000 }).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

/** Starts a server with `start`; a listen error a user can fix becomes a UsageError with exit code 1. */
export async function listenOrExplain<S>(start: () => Promise<S>, host: string, port: number): Promise<S> {
  try {
    return await start();
  } catch (err) {
    const sentence = listenErrorSentence(err, host, port);
    if (sentence !== null) throw new UsageError(sentence, EXIT_FAILED);
    throw err;
  }
}
