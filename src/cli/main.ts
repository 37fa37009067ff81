// The stockhold command line; each command lives in its own file under commands/.
import { Command } from 'commander';
import { registerKeys } from './commands/keys.ts';
import { registerMigrate } from './commands/migrate.ts';
import { registerServe } from './commands/serve.ts';
import { registerSimulate } from './commands/simulate.ts';
import { registerVerify } from './commands/verify.ts';

export function buildProgram(): Command {
  const program = new Command()
    .name('stockhold')
    .description('Inventory reservations that never oversell.')
    .showHelpAfterError();
  registerServe(program);
  registerMigrate(program);
  registerVerify(program);
  registerSimulate(program);
  registerKeys(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
