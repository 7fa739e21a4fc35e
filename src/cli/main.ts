#!/usr/bin/env node
// The `libtls` command: connect, serve, demo. Errors are one line on stderr and a non-zero exit.
import { runConnect } from './connect.js';
import { runDemo } from './demo.js';
import { runServe } from './serve.js';
import { CliError, describeError, usage } from './util.js';

const help = `usage: libtls <command> [options]

commands:
  connect HOST:PORT   TLS client: handshake, print the connection, then pipe stdin/stdout
  serve               TLS echo or HTTPS server (throwaway certificate unless --cert/--key)
  demo                server and client on loopback: what they negotiate, and how fast

Run 'libtls <command> --help' for its options.`;

const commands: Record<string, (argv: string[]) => Promise<number>> = {
  connect: runConnect,
  serve: runServe,
  demo: runDemo,
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // no command is a usage error: the help goes to stderr, stdout stays clean
    process.stderr.write(`${help}\n`);
    return 2;
  }
  if (name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  const run = commands[name];
  if (run === undefined) throw usage(`unknown command '${name}'`);
  try {
    return await run(rest);
  } catch (err) {
    // node:util parseArgs reports unknown or malformed flags with these codes
    const code = (err as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      const message = (err as Error).message;
      const unknown = /Unknown option '([^']+)'/.exec(message);
      const missing = /^Option '(-[^' ]+)[^']*' argument missing/.exec(message);
      const ambiguous = /^Option '(-[^' ]+)[^']*' argument is ambiguous/.exec(message);
      if (unknown) throw usage(`unknown option '${unknown[1]}'`);
      if (missing) throw usage(`option '${missing[1]}' needs a value`);
      if (ambiguous) {
        const o = ambiguous[1] as string;
        throw usage(`option '${o}' needs a value (write ${o}=-VALUE for one that starts with '-')`);
      }
      const first = message.split(/\.\s/)[0] as string;
      throw usage(first.charAt(0).toLowerCase() + first.slice(1));
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`libtls: ${describeError(err)}\n`);
    process.exitCode = err instanceof CliError ? err.exitCode : 1;
  },
);
