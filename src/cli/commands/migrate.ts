// stockhold migrate: create or upgrade the schema, then exit.
import type { Command } from 'commander';
import { openMigratedStore } from '../../server.ts';
import { configFrom, run, withDatabaseOptions } from '../common.ts';

export function registerMigrate(program: Command): void {
  withDatabaseOptions(program.command('migrate').description('create or upgrade the database schema')).action(
    (options) =>
      run(async () => {
        const store = await openMigratedStore(configFrom(options));
        process.stdout.write(`stockhold: the ${store.dialect} database is migrated\n`);
        await store.close();
        return 0;
      }),
  );
}
