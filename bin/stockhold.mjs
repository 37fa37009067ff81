#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so there is no build step before `npm start`.
//
// The server runs with --max-semi-space-size=64 (`npm start`, `npm run stockhold` and the
// Dockerfile's CMD pass it): V8's young generation at 64 MB a half instead of 16, so the garbage a
// request leaves behind is swept less often. Measured on one hot SKU (README, Performance):
// 16.2-16.9k checkouts/s against 13.7k on SQLite, 12.0k against 10.4k on PostgreSQL. V8 reads the
// flag only at start-up, and a shebang cannot pass it portably (`env -S` is missing from busybox,
// as on Alpine, and from coreutils before 8.30). So `serve` started without it runs itself again
// with it, as a child that gets this process's SIGTERM and SIGINT, stops if this process dies, and
// whose exit code this process exits with.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

const SERVER_FLAG = '--max-semi-space-size=64';
const FORWARDED_SIGNALS = ['SIGTERM', 'SIGINT'];

const flagged = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) =>
  arg.startsWith('--max-semi-space-size'),
);

if (process.argv[2] === 'serve' && !flagged) {
  const child = spawn(process.execPath, [SERVER_FLAG, ...process.execArgv, ...process.argv.slice(1)], {
    // The IPC channel is how the child learns that this process is gone, even killed outright.
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
  });
  for (const signal of FORWARDED_SIGNALS) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 0)));
} else {
  if (process.argv[2] === 'serve' && process.channel) {
    // Run by the parent above: its end of the channel closes when it dies, and the server stops
    // as on SIGTERM (draining first) rather than serve on with nobody to stop it.
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
