// stockhold serve: the HTTP server and the sweeper, until SIGTERM or SIGINT.
import type { Command } from 'commander';
import { configFrom, run, withDatabaseOptions } from '../common.ts';

export function registerServe(program: Command): void {
  withDatabaseOptions(program.command('serve').description('run the HTTP server and the expiry sweeper'))
    .option('--port <port>', 'port to listen on (PORT)')
    .option('--host <host>', 'address to bind (HOST)')
    .action((options) =>
      run(async () => {
        // Loaded here, not at start-up: every other command would pay for the whole server.
        const { createLogger } = await import('../../logger.ts');
        const { startServer } = await import('../../server.ts');
        const config = await configFrom(options);
        const logger = createLogger(config.LOG_LEVEL);
        const server = await startServer(config, { logger });
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'shutting down');
          const deadline = setTimeout(() => {
            logger.error('shutdown took too long; exiting');
            process.exit(1);
          }, config.SHUTDOWN_TIMEOUT_MS);
          deadline.unref();
          server
            .drain(config.SHUTDOWN_DRAIN_MS)
            .then(() => server.close())
            .then(
              () => process.exit(0),
              (error: unknown) => {
                logger.error({ err: error }, 'shutdown failed');
                process.exit(1);
              },
            );
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
        return undefined;
      }),
    );
}
