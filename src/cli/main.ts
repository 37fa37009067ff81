// The stockhold command line; each command lives in its own file under commands/.
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerDrops } from './commands/drops.ts';
import { registerKeys } from './commands/keys.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerOrders } from './commands/orders.ts';
import { registerServe } from './commands/serve.ts';
import { registerSimulate } from './commands/simulate.ts';
import { registerSkus } from './commands/skus.ts';
import { registerVerify } from './commands/verify.ts';
import { registerWebhooks } from './commands/webhooks.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

export function buildProgram(): Command {
  const program = new Command()
    .name('stockhold')
    .description('Inventory reservations that never oversell.')
    .version(version, '-V, --version', 'print the version')
    .showHelpAfterError('(add --help for usage)')
    // Usage errors exit 2, like bad configuration; 1 stays "the command ran and the answer is no".
    .exitOverride((error) => process.exit(error.exitCode === 1 ? 2 : error.exitCode));
  registerServe(program);
  registerMigrate(program);
  registerVerify(program);
  registerSimulate(program);
  registerKeys(program);
  registerSkus(program);
  registerOrders(program);
  registerDrops(program);
  registerWebhooks(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
