// stockhold verify: recompute every SKU from the ledger, holds and orders; exit 1 on any difference.
import type { Command } from 'commander';
import { openMigratedStore } from '../../server.ts';
import { configFrom, run, withDatabaseOptions } from '../common.ts';

export function registerVerify(program: Command): void {
  withDatabaseOptions(
    program
      .command('verify')
      .description('recompute every SKU from the ledger, holds and orders; exit 1 on any difference'),
  )
    .option('--json', 'print the report as JSON')
    .action((options) =>
      run(async () => {
        const store = await openMigratedStore(configFrom(options));
        try {
          const report = await store.audit();
          if (options.json) {
            process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          } else {
            process.stdout.write(
              `checked ${report.skus_checked} skus, ${report.orders_checked} orders, ` +
                `${report.ledger_entries_checked} ledger entries\n`,
            );
            for (const problem of report.problems) process.stdout.write(`  problem: ${problem}\n`);
            process.stdout.write(
              report.problems.length === 0
                ? 'OK: every invariant holds\n'
                : `FAILED: ${report.problems.length} problems\n`,
            );
          }
          return report.problems.length === 0 ? 0 : 1;
        } finally {
          await store.close();
        }
      }),
    );
}
