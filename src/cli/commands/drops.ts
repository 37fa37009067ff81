// stockhold drops: create, list and show fair drops, take a ticket in a drop's queue and follow it
// until it is admitted (its admission_token is what `orders create --admission-token` sends), through
// a running server. The rules are in docs/drops.md.
import { Argument, type Command, InvalidArgumentError } from 'commander';
import type { DropView, TicketView } from '../../core/drops.ts';
import { LIMITS } from '../../core/limits.ts';
import { type ApiOptions, callApi, printFields, skuId, table, withApiOptions } from '../api.ts';
import { CliError, integerIn, run } from '../common.ts';

/** `ticket --watch` asks this often, as a waiting page would. */
const WATCH_INTERVAL_MS = 2000;
/** How long `--watch` waits by default: a long queue at a low rate takes a while, but not forever. */
const WATCH_SECONDS_DEFAULT = 3600;
const WATCH_SECONDS_MAX = 7 * 86_400;
/** A ticket in one of these states will not change any more. */
const FINAL_TICKET_STATUSES = new Set(['used', 'expired', 'sold_out']);
const RELATIVE_UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A time as the API takes it: an ISO 8601 date-time with its zone (`2026-12-12T00:00:00Z`,
 * `...+07:00`), or one relative to now (`+30s`, `+5m`, `+2h`, `+1d`).
 */
export function timeArgument(value: string): string {
  const relative = /^\+(\d{1,9})([smhd])$/.exec(value.trim());
  if (relative) {
    const [, amount, unit] = relative;
    return new Date(Date.now() + Number(amount) * (RELATIVE_UNIT_MS[unit ?? 's'] ?? 1000)).toISOString();
  }
  const zoned = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(value.trim());
  const parsed = Date.parse(value);
  if (!zoned || Number.isNaN(parsed))
    throw new InvalidArgumentError(
      `a time is ISO 8601 with its zone (e.g. 2026-12-12T00:00:00Z or 2026-12-12T07:00:00+07:00) or relative to now (e.g. +30s, +5m, +2h) (got ${JSON.stringify(value)})`,
    );
  return new Date(parsed).toISOString();
}

/** `--skus a,b`: 1..50 distinct SKU ids, each by the API's rule. */
function skuList(value: string): string[] {
  const skus = value.split(',').map((sku) => sku.trim());
  if (skus.length > LIMITS.drop_skus_max)
    throw new InvalidArgumentError(`a drop has at most ${LIMITS.drop_skus_max} SKUs (got ${skus.length})`);
  const seen = new Set<string>();
  for (const sku of skus) {
    if (sku === '')
      throw new InvalidArgumentError(`a list of SKU ids, comma-separated, e.g. console,controller`);
    skuId(sku);
    if (seen.has(sku)) throw new InvalidArgumentError(`${sku} is listed twice`);
    seen.add(sku);
  }
  return skus;
}

/** A drop id by the API's rule (the same as a SKU id's), refused before any request. */
function dropId(value: string): string {
  if (!new RegExp(LIMITS.sku_id_pattern).test(value) || value === '.' || value === '..')
    throw new InvalidArgumentError(
      `a drop id is 1..${LIMITS.sku_id_length_max} of A-Z a-z 0-9 . _ -, not . or .. (got ${JSON.stringify(value)})`,
    );
  return value;
}

const dropArgument = () => new Argument('<id>', 'the drop id').argParser(dropId);
const dropPath = (id: string, rest = '') => `/v1/drops/${encodeURIComponent(id)}${rest}`;
const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

function printDrop(drop: DropView, options: ApiOptions): void {
  const wait = drop.time_to_admission_ms;
  printFields(
    [
      ['id', drop.id],
      ['status', drop.status],
      ['skus', drop.skus.join(', ')],
      ['starts_at', drop.starts_at],
      ['ends_at', drop.ends_at],
      ['admission_per_second', drop.admission_per_second],
      ['admission_seconds', drop.admission_seconds],
      ['max_per_customer', drop.max_per_customer],
      ['tickets', drop.counts.tickets],
      ['waiting', drop.counts.waiting],
      ['admitted', drop.counts.admitted],
      ['used', drop.counts.used],
      ['expired', drop.counts.expired],
      ['sold_out', drop.counts.sold_out],
      ['admitted_through', drop.admitted_through],
      ['admitted_last_10s', `${drop.admitted_last_10s} (${(drop.admitted_last_10s / 10).toFixed(1)}/s)`],
      ['time_to_admission', wait.p50 === null ? null : `p50 ${seconds(wait.p50)}, p99 ${seconds(wait.p99)}`],
      ['created_at', drop.created_at],
      ['sold_out_at', drop.sold_out_at],
    ],
    options,
  );
}

function printTicket(ticket: TicketView, options: ApiOptions): void {
  printFields(
    [
      ['id', ticket.id],
      ['drop_id', ticket.drop_id],
      ['customer_id', ticket.customer_id],
      ['status', ticket.status],
      ['position', ticket.position],
      ['ahead', ticket.ahead],
      [
        'estimated_wait',
        ticket.estimated_wait_seconds === null ? null : `${ticket.estimated_wait_seconds} s`,
      ],
      ['joined_at', ticket.joined_at],
      ['admitted_at', ticket.admitted_at],
      ['admission_token', ticket.admission_token],
      ['admission_expires_at', ticket.admission_expires_at],
      ['order_id', ticket.order_id],
    ],
    options,
  );
}

export function registerDrops(program: Command): void {
  const drops = program
    .command('drops')
    .description(
      'fair drops: put SKUs behind a queue from a start time, take tickets and follow them to admission (through a running server)',
    );
  registerCreate(drops);
  registerList(drops);
  registerShow(drops);
  registerJoin(drops);
  registerTicket(drops);
}

interface CreateOptions extends ApiOptions {
  skus: string[];
  startsAt: string;
  endsAt?: string;
  rate?: number;
  admissionSeconds?: number;
  maxPerCustomer?: number;
}

function registerCreate(drops: Command): void {
  withApiOptions(
    drops
      .command('create')
      .description('create a drop: from --starts-at a checkout of its SKUs needs an admission')
      .addArgument(dropArgument())
      .requiredOption('--skus <a,b,...>', 'the SKUs behind the queue, comma-separated', skuList)
      .requiredOption(
        '--starts-at <time>',
        'when admission starts: ISO 8601 with a zone, or from now (+30s, +5m, +2h)',
        timeArgument,
      )
      .option('--ends-at <time>', 'when the drop is over (default: never), as --starts-at', timeArgument)
      .option(
        '--rate <n>',
        `admissions per second, all processes together (default ${LIMITS.admission_per_second_default})`,
        integerIn(LIMITS.admission_per_second_min, LIMITS.admission_per_second_max),
      )
      .option(
        '--admission-seconds <n>',
        `how long an admission lasts unused (default ${LIMITS.admission_seconds_default})`,
        integerIn(LIMITS.admission_seconds_min, LIMITS.admission_seconds_max),
      )
      .option(
        '--max-per-customer <n>',
        "units of the drop's SKUs one customer may buy (default: no limit)",
        integerIn(1, LIMITS.max_per_customer_max),
      ),
    { mutating: true },
  ).action((id: string, options: CreateOptions) =>
    run(async () => {
      if (options.endsAt !== undefined && Date.parse(options.endsAt) <= Date.parse(options.startsAt))
        throw new CliError(
          `--ends-at (${options.endsAt}) must be after --starts-at (${options.startsAt}): give a later --ends-at or none`,
        );
      const drop = await callApi<DropView>(options, 'POST', '/v1/drops', {
        id,
        skus: options.skus,
        starts_at: options.startsAt,
        ends_at: options.endsAt,
        admission_per_second: options.rate,
        admission_seconds: options.admissionSeconds,
        max_per_customer: options.maxPerCustomer,
      });
      printDrop(drop, options);
      return 0;
    }),
  );
}

function registerList(drops: Command): void {
  withApiOptions(drops.command('list').description('list drops, newest first (at most 100)')).action(
    (options: ApiOptions) =>
      run(async () => {
        const { items } = await callApi<{ items: DropView[] }>(options, 'GET', '/v1/drops');
        if (options.json) return 0;
        const rows = items.map((drop) => [
          drop.id,
          drop.status,
          drop.starts_at,
          drop.counts.tickets,
          drop.counts.waiting,
          drop.counts.admitted,
          drop.counts.used,
          drop.skus.join(','),
        ]);
        process.stdout.write(
          table(['ID', 'STATUS', 'STARTS_AT', 'TICKETS', 'WAITING', 'ADMITTED', 'USED', 'SKUS'], rows),
        );
        return 0;
      }),
  );
}

function registerShow(drops: Command): void {
  withApiOptions(
    drops
      .command('show')
      .alias('get')
      .description('show a drop: its status, ticket counts, admitted/s and time to admission')
      .addArgument(dropArgument()),
  ).action((id: string, options: ApiOptions) =>
    run(async () => {
      printDrop(await callApi<DropView>(options, 'GET', dropPath(id)), options);
      return 0;
    }),
  );
}

function registerJoin(drops: Command): void {
  withApiOptions(
    drops
      .command('join')
      .description("take a customer's ticket in a drop's queue (asking again gives the same ticket)")
      .addArgument(dropArgument())
      .requiredOption('--customer <id>', 'the customer the ticket is for'),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { customer: string }) =>
    run(async () => {
      if (options.customer === '' || options.customer.length > LIMITS.customer_id_length_max)
        throw new CliError(`--customer is 1..${LIMITS.customer_id_length_max} characters`);
      const ticket = await callApi<TicketView>(options, 'POST', dropPath(id, '/tickets'), {
        customer_id: options.customer,
      });
      printTicket(ticket, options);
      if (!options.json)
        process.stderr.write(`follow it: stockhold drops ticket ${ticket.drop_id} ${ticket.id} --watch\n`);
      return 0;
    }),
  );
}

interface TicketOptions extends ApiOptions {
  watch?: boolean;
  watchSeconds: number;
}

function registerTicket(drops: Command): void {
  withApiOptions(
    drops
      .command('ticket')
      .description('show a ticket: status, position, how many wait ahead, the estimated wait, the token')
      .addArgument(dropArgument())
      .addArgument(new Argument('<ticket>', 'the ticket id, as `drops join` printed it'))
      .option(
        '--watch',
        `ask every ${WATCH_INTERVAL_MS / 1000} s until the ticket is admitted or final, then show it (progress on stderr)`,
      )
      .option(
        '--watch-seconds <n>',
        'with --watch: give up after this long (exit 1)',
        integerIn(1, WATCH_SECONDS_MAX),
        WATCH_SECONDS_DEFAULT,
      ),
  ).action((drop_id: string, ticket_id: string, options: TicketOptions) =>
    run(async () => {
      const path = dropPath(drop_id, `/tickets/${encodeURIComponent(ticket_id)}`);
      if (!options.watch) {
        printTicket(await callApi<TicketView>(options, 'GET', path), options);
        return 0;
      }
      return watchTicket(path, options);
    }),
  );
}

/** Where a ticket stands, for the progress lines of --watch. */
function progressText(ticket: TicketView): string {
  if (ticket.status !== 'waiting') return ticket.status;
  if (ticket.position === null) return 'waiting, no position until the drop starts';
  return `waiting, position ${ticket.position}, ${ticket.ahead} ahead, about ${ticket.estimated_wait_seconds} s`;
}

/**
 * Polls the ticket until it is admitted or final, printing a line on stderr whenever it changes,
 * then shows the last answer (with --json, that answer alone). Exit 0 when admitted or used, 1 when
 * it expired, the drop sold out, or --watch-seconds passed first.
 */
async function watchTicket(path: string, options: TicketOptions): Promise<number> {
  const quiet = { ...options, json: false };
  const deadline_ms = Date.now() + options.watchSeconds * 1000;
  let last = '';
  for (;;) {
    const ticket = await callApi<TicketView>(quiet, 'GET', path);
    const progress = progressText(ticket);
    if (progress !== last) process.stderr.write(`${new Date().toISOString().slice(11, 19)}  ${progress}\n`);
    last = progress;
    const settled = ticket.status === 'admitted' || FINAL_TICKET_STATUSES.has(ticket.status);
    if (settled || Date.now() + WATCH_INTERVAL_MS > deadline_ms) {
      if (options.json) process.stdout.write(`${JSON.stringify(ticket)}\n`);
      else printTicket(ticket, options);
      if (!settled)
        throw new CliError(
          `still ${ticket.status} after ${options.watchSeconds} s: run it again, or give a longer --watch-seconds`,
          1,
        );
      if (ticket.status === 'admitted' && !options.json)
        process.stderr.write(
          `check out before ${ticket.admission_expires_at}: stockhold orders create --customer ${ticket.customer_id} --line ... --admission-token ${ticket.admission_token}\n`,
        );
      return ticket.status === 'admitted' || ticket.status === 'used' ? 0 : 1;
    }
    await new Promise((resolve) => setTimeout(resolve, WATCH_INTERVAL_MS));
  }
}
