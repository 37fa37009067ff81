// Small DOM helpers: elements built with textContent only (API data is never parsed as HTML).
export function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  class_name?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (class_name) node.className = class_name;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the page has no #${id}`);
  return node as T;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
export const formatCount = (value: number): string => integer.format(value);

/** "12 s", "3 min 04 s", or "-5 s" once the deadline passed. */
export function formatCountdown(remaining_ms: number): string {
  const sign = remaining_ms < 0 ? '-' : '';
  const seconds = Math.floor(Math.abs(remaining_ms) / 1000);
  if (seconds < 60) return `${sign}${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${sign}${minutes} min ${String(seconds % 60).padStart(2, '0')} s`;
  return `${sign}${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

export const shortId = (id: string): string => (id.length > 13 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);
