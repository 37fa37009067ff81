// stockhold keys: create (the key is printed once), list (no secrets) and revoke API keys.
import { type Command, Option } from 'commander';
import { API_SCOPES, isApiScope } from '../../core/api-keys.ts';
import type { ApiKeyRepository } from '../../store/api-key-repository.ts';
import { CliError, type DatabaseOptions, openDatabase, run, withDatabaseOptions } from '../common.ts';

/** Keys go only into an existing database: one made here by a typo would be one the server never reads. */
async function withRepository<T>(
  options: DatabaseOptions,
  work: (repository: ApiKeyRepository) => Promise<T>,
): Promise<T> {
  const store = await openDatabase(options);
  try {
    return await work(store.api_keys);
  } finally {
    await store.close();
  }
}

const iso = (ms: number | null) => (ms === null ? '-' : new Date(ms).toISOString());

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('manage API keys (create, list, revoke)');

  withDatabaseOptions(keys.command('create').description('create an API key and print it once'))
    .addOption(new Option('--scope <scope>', 'what the key may do').choices(API_SCOPES).makeOptionMandatory())
    .requiredOption('--name <name>', 'who or what uses the key, e.g. storefront or ops')
    .action((options: DatabaseOptions & { scope: string; name: string }) =>
      run(async () => {
        const scope = options.scope;
        // commander refused any other value already (choices above).
        if (!isApiScope(scope)) throw new Error(`unexpected scope ${scope}`);
        const { record, key } = await withRepository(options, (repository) =>
          repository.create({ scope, name: options.name, now_ms: Date.now() }).catch((error: Error) => {
            throw new CliError(`cannot create the key: ${error.message}`);
          }),
        );
        process.stdout.write(
          `${key}\n` +
            `created ${record.scope} key ${record.id} (${record.prefix}…) named ${record.name}.\n` +
            'This is the only time the key is shown: store it in your secret manager now.\n',
        );
        return 0;
      }),
    );

  withDatabaseOptions(
    keys
      .command('list')
      .description(
        'list API keys (prefixes only, never secrets), with when each was last used (to the minute)',
      ),
  ).action((options: DatabaseOptions) =>
    run(async () => {
      const records = await withRepository(options, (repository) => repository.list());
      process.stdout.write('id\tscope\tprefix\tname\tcreated_at\trevoked_at\tlast_used_at\n');
      for (const record of records) {
        process.stdout.write(
          `${record.id}\t${record.scope}\t${record.prefix}\t${record.name}\t${iso(record.created_at_ms)}\t${iso(record.revoked_at_ms)}\t${iso(record.last_used_at_ms)}\n`,
        );
      }
      return 0;
    }),
  );

  withDatabaseOptions(
    keys
      .command('revoke')
      .description('revoke an API key by id or prefix; every server refuses it within API_KEY_CACHE_TTL_MS')
      .argument('<id-or-prefix>'),
  ).action((id_or_prefix: string, options: DatabaseOptions) =>
    run(async () => {
      const record = await withRepository(options, (repository) =>
        repository.revoke(id_or_prefix, Date.now()).catch((error: Error) => {
          throw new CliError(error.message);
        }),
      );
      process.stdout.write(
        `revoked ${record.scope} key ${record.id} (${record.prefix}…) named ${record.name}\n`,
      );
      return 0;
    }),
  );
}
