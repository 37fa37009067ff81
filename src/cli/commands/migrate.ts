// stockhold migrate: create or upgrade the schema, then exit. Only with --create does it make a new
// database: a mistyped URL must not quietly get an empty one.
import type { Command } from 'commander';
import { type DatabaseOptions, openDatabase, run, withDatabaseOptions } from '../common.ts';

export function registerMigrate(program: Command): void {
  withDatabaseOptions(program.command('migrate').description('create or upgrade the database schema'))
    .option(
      '--create',
      'create the database first if it does not exist (a SQLite file, or a PostgreSQL database)',
    )
    .action((options: DatabaseOptions & { create?: boolean }) =>
      run(async () => {
        const store = await openDatabase(options, { create: options.create === true });
        process.stdout.write(`stockhold: the ${store.dialect} database is migrated\n`);
        await store.close();
        return 0;
      }),
    );
}
