// Checks a command against the limits of DESIGN.md. The HTTP schemas refuse bad input first; this
// is the same rule at the domain's door, so no caller (CLI, simulator, tests) can slip past it.
import { StockholdError } from './errors.ts';
import { LIMITS } from './limits.ts';
import type {
  AdjustCommand,
  CheckoutCommand,
  Command,
  CreateDropCommand,
  CreateSkuCommand,
  ExtendCommand,
  UpdateSkuCommand,
} from './types.ts';

const sku_id = new RegExp(LIMITS.sku_id_pattern);

function isIntegerIn(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}

/** In `u` mode a well-formed pair is one code point, so this matches lone surrogates only. */
const lone_surrogate = /[\uD800-\uDFFF]/u;

function isText(value: unknown, min: number, max: number): boolean {
  return typeof value === 'string' && value.length >= min && value.length <= max;
}

/** Returns why the command is invalid, or null when it is within every limit. */
export function invalidReason(command: Command): string | null {
  // PostgreSQL cannot keep NUL or an unpaired surrogate in text (SQLite would turn the surrogate
  // into U+FFFD), and both stores must accept the same commands.
  for (const [field, value] of Object.entries(command)) {
    if (typeof value !== 'string') continue;
    if (value.includes('\u0000')) return `${field} may not contain NUL`;
    if (lone_surrogate.test(value)) return `${field} may not contain an unpaired UTF-16 surrogate`;
  }
  switch (command.kind) {
    case 'create_drop':
      return invalidCreateDrop(command);
    case 'create_sku':
      return invalidCreateSku(command);
    case 'adjust':
      return invalidAdjust(command);
    case 'checkout':
      return invalidCheckout(command);
    case 'pay':
      if (!isText(command.payment_id, 1, LIMITS.payment_id_length_max)) return 'payment_id is required';
      return command.lines == null ? null : invalidLines(command.lines);
    case 'cancel':
      return null;
    case 'extend':
      return invalidExtend(command);
    case 'change_order':
      return invalidLines(command.lines);
    case 'return':
      if (typeof command.restock !== 'boolean') return 'restock must be true or false';
      return invalidLines(command.lines) ?? invalidReasonText(command.reason);
    case 'update_sku':
      return invalidUpdate(command);
    case 'count':
      if (!sku_id.test(command.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
      if (!isIntegerIn(command.unsold, 0, LIMITS.count_unsold_max)) return 'unsold is out of range';
      if (command.reason !== null && !isText(command.reason, 0, LIMITS.reason_length_max))
        return 'reason is too long';
      return invalidExpectedVersion(command.expected_version);
    case 'delete_sku':
      return sku_id.test(command.sku) ? null : 'sku must be 1..64 of [A-Za-z0-9._-]';
  }
}

function invalidCreateSku(command: CreateSkuCommand): string | null {
  if (!sku_id.test(command.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
  // A URL resolver removes these path segments: /v1/skus/.. could never read the SKU.
  if (command.sku === '.' || command.sku === '..') return 'sku may not be . or ..';
  if (!isText(command.name, 0, LIMITS.name_length_max)) return 'name is too long';
  if (!isIntegerIn(command.available, 0, LIMITS.initial_available_max)) return 'available is out of range';
  if (
    command.max_per_customer !== null &&
    !isIntegerIn(command.max_per_customer, 1, LIMITS.max_per_customer_max)
  ) {
    return 'max_per_customer is out of range';
  }
  return null;
}

function invalidCreateDrop(command: CreateDropCommand): string | null {
  if (!sku_id.test(command.drop_id)) return 'id must be 1..64 of [A-Za-z0-9._-]';
  if (command.drop_id === '.' || command.drop_id === '..') return 'id may not be . or ..';
  if (command.skus.length < 1 || command.skus.length > LIMITS.drop_skus_max)
    return `a drop has 1..${LIMITS.drop_skus_max} skus`;
  if (!command.skus.every((sku) => sku_id.test(sku))) return 'sku must be 1..64 of [A-Za-z0-9._-]';
  if (new Set(command.skus).size !== command.skus.length) return 'skus must not repeat';
  if (!isIntegerIn(command.starts_at_ms, 0, Number.MAX_SAFE_INTEGER)) return 'starts_at is out of range';
  if (command.ends_at_ms !== null && !(command.ends_at_ms > command.starts_at_ms))
    return 'ends_at must be after starts_at';
  if (
    !isIntegerIn(
      command.admission_per_second,
      LIMITS.admission_per_second_min,
      LIMITS.admission_per_second_max,
    )
  )
    return `admission_per_second must be an integer in ${LIMITS.admission_per_second_min}..${LIMITS.admission_per_second_max}`;
  if (!isIntegerIn(command.admission_seconds, LIMITS.admission_seconds_min, LIMITS.admission_seconds_max))
    return `admission_seconds must be an integer in ${LIMITS.admission_seconds_min}..${LIMITS.admission_seconds_max}`;
  if (
    command.max_per_customer !== null &&
    !isIntegerIn(command.max_per_customer, 1, LIMITS.max_per_customer_max)
  )
    return 'max_per_customer is out of range';
  return null;
}

function invalidAdjust(command: AdjustCommand): string | null {
  if (!sku_id.test(command.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
  if (
    !isIntegerIn(command.delta, -LIMITS.adjustment_delta_max, LIMITS.adjustment_delta_max) ||
    command.delta === 0
  ) {
    return 'delta must be a non-zero integer within the adjustment limit';
  }
  if (
    command.expected_available !== null &&
    !isIntegerIn(command.expected_available, 0, Number.MAX_SAFE_INTEGER)
  ) {
    return `expected_available must be an integer in 0..${Number.MAX_SAFE_INTEGER}`;
  }
  if (command.reason !== null && !isText(command.reason, 0, LIMITS.reason_length_max))
    return 'reason is too long';
  return null;
}

function invalidCheckout(command: CheckoutCommand): string | null {
  if (!isText(command.customer_id, 1, LIMITS.customer_id_length_max)) return 'customer_id is required';
  if (command.api_key_id != null && !isText(command.api_key_id, 1, 64)) return 'api_key_id is too long';
  if (!isIntegerIn(command.hold_seconds, LIMITS.hold_seconds_min, LIMITS.hold_seconds_max)) {
    return 'hold_seconds is out of range';
  }
  if (
    command.admission_token != null &&
    !isText(command.admission_token, 1, LIMITS.admission_token_length_max)
  )
    return 'admission_token is too long';
  if (command.lines.length < 1 || command.lines.length > LIMITS.lines_per_order_max) {
    return `an order has 1..${LIMITS.lines_per_order_max} lines`;
  }
  for (const line of command.lines) {
    if (!sku_id.test(line.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
    if (!isIntegerIn(line.quantity, LIMITS.quantity_min, LIMITS.quantity_max))
      return 'quantity is out of range';
  }
  return null;
}

function invalidExtend(command: ExtendCommand): string | null {
  if (!isIntegerIn(command.seconds, LIMITS.extension_seconds_min, LIMITS.extension_seconds_max)) {
    return `seconds must be an integer in ${LIMITS.extension_seconds_min}..${LIMITS.extension_seconds_max}`;
  }
  if (!isIntegerIn(command.extensions_max, 0, Number.MAX_SAFE_INTEGER))
    return 'extensions_max is out of range';
  if (!isIntegerIn(command.hold_seconds_total_max, 1, Number.MAX_SAFE_INTEGER))
    return 'hold_seconds_total_max is out of range';
  return invalidReasonText(command.reason);
}

/** Why an order's (or a capture's or a return's) lines are invalid, or null. */
function invalidLines(lines: readonly { sku: string; quantity: number }[]): string | null {
  if (lines.length < 1 || lines.length > LIMITS.lines_per_order_max) {
    return `lines must be 1..${LIMITS.lines_per_order_max} (to remove every line, cancel the order)`;
  }
  for (const line of lines) {
    if (!sku_id.test(line.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
    if (!isIntegerIn(line.quantity, LIMITS.quantity_min, LIMITS.quantity_max))
      return 'quantity is out of range';
  }
  return null;
}

function invalidExpectedVersion(expected_version: number | null): string | null {
  if (expected_version !== null && !isIntegerIn(expected_version, 0, Number.MAX_SAFE_INTEGER)) {
    return `expected_version must be an integer in 0..${Number.MAX_SAFE_INTEGER}`;
  }
  return null;
}

function invalidReasonText(reason: string | null): string | null {
  return reason !== null && !isText(reason, 0, LIMITS.reason_length_max) ? 'reason is too long' : null;
}

function invalidUpdate(command: UpdateSkuCommand): string | null {
  if (!sku_id.test(command.sku)) return 'sku must be 1..64 of [A-Za-z0-9._-]';
  const { name, max_per_customer, low_stock_threshold, archived } = command;
  if (name === undefined && max_per_customer === undefined && low_stock_threshold === undefined) {
    if (archived === undefined) return 'name, max_per_customer, low_stock_threshold or archived is required';
  }
  if (name !== undefined && !isText(name, 0, LIMITS.name_length_max)) return 'name is too long';
  if (
    max_per_customer !== undefined &&
    max_per_customer !== null &&
    !isIntegerIn(max_per_customer, 1, LIMITS.max_per_customer_max)
  ) {
    return 'max_per_customer is out of range';
  }
  if (
    low_stock_threshold !== undefined &&
    low_stock_threshold !== null &&
    !isIntegerIn(low_stock_threshold, 0, LIMITS.low_stock_threshold_max)
  ) {
    return 'low_stock_threshold is out of range';
  }
  if (archived !== undefined && typeof archived !== 'boolean') return 'archived must be true or false';
  return invalidExpectedVersion(command.expected_version);
}

export function validateCommand(command: Command): StockholdError | null {
  const reason = invalidReason(command);
  return reason === null ? null : new StockholdError('invalid_request', reason);
}
