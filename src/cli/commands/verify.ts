// stockhold verify: recompute every SKU from the ledger, holds and orders, walk every SKU's ledger as a
// chain and every order's movements; print what differs and exit 1 on any difference.
import type { Command } from 'commander';
import { openDatabase, run, withDatabaseOptions } from '../common.ts';

export function registerVerify(program: Command): void {
  withDatabaseOptions(
    program
      .command('verify')
      .description('recompute every SKU from the ledger, holds and orders; exit 1 on any difference'),
  )
    .option('--json', 'print the report as JSON')
    .action((options) =>
      run(async () => {
        const store = await openDatabase(options);
        try {
          const report = await store.verify();
          if (options.json) {
            process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
          } else {
            process.stdout.write(
              `checked ${report.skus_checked} skus, ${report.orders_checked} orders, ` +
                `${report.ledger_entries_checked} ledger entries (each SKU's ledger walked as a chain, ` +
                `each order's movements matched to its state)\n`,
            );
            for (const problem of report.problems) process.stdout.write(`  problem: ${problem}\n`);
            if (report.problems_total > report.problems.length) {
              process.stdout.write(`  ... and ${report.problems_total - report.problems.length} more\n`);
            }
            process.stdout.write(
              report.ok ? 'OK: every invariant holds\n' : `FAILED: ${report.problems_total} problems\n`,
            );
          }
          return report.ok ? 0 : 1;
        } finally {
          await store.close();
        }
      }),
    );
}
