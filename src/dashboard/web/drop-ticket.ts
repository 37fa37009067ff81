// The waiting page's ticket panel: what a ticket's status means for the person waiting, in words,
// with the place in line, and once admitted the token and the time left to use it.
import { serverNowMs } from './api.ts';
import { byId, element, formatCount, formatCountdown } from './dom.ts';
import { type DropView, formatLocalTime, type TicketView } from './drop-views.ts';

const COPIED_NOTE_MS = 3000;

interface Words {
  headline: string;
  message: string;
  /** The page's title, for a waiting tab in the background. */
  title: string;
}

function wordsFor(ticket: TicketView, drop: DropView | null): Words {
  const name = drop?.id ?? ticket.drop_id;
  switch (ticket.status) {
    case 'waiting':
      if (ticket.position === null) {
        const at = drop ? formatLocalTime(drop.starts_at) : 'the start';
        return {
          headline: 'You are in line',
          message: `You are in line; places are drawn at random at ${at}. Joining earlier gives no better place.`,
          title: `In line · ${name}`,
        };
      }
      return {
        headline: `You are number ${formatCount(ticket.position)} in line`,
        message:
          drop?.status === 'over' || ticket.drop_status === 'over'
            ? 'The drop is over: it ended before your turn.'
            : 'Keep this page open: your admission shows here when your turn comes.',
        title: `#${formatCount(ticket.position)} in line · ${name}`,
      };
    case 'admitted':
      return {
        headline: 'It is your turn',
        message: 'Check out with this admission token before the time runs out.',
        title: `Your turn! · ${name}`,
      };
    case 'used':
      return {
        headline: 'Your admission was used',
        message: ticket.order_id
          ? `Order ${ticket.order_id} holds your items.`
          : 'A checkout holds your items.',
        title: `Admission used · ${name}`,
      };
    case 'expired':
      return {
        headline: 'Your admission expired',
        message: 'It was not used in time, and the line has moved on.',
        title: `Admission expired · ${name}`,
      };
    case 'sold_out':
      return {
        headline: 'Sold out',
        message: 'The drop sold out before your turn. Sorry: there is nothing left to wait for.',
        title: `Sold out · ${name}`,
      };
  }
}

export class TicketPanel {
  private readonly panel = byId('ticket-panel');
  private readonly headline = byId('ticket-headline');
  private readonly message = byId('ticket-message');
  private readonly facts = byId('ticket-facts');
  private readonly admission = byId('admission');
  private readonly token = byId<HTMLInputElement>('admission-token');
  private readonly countdown = byId('admission-countdown');
  private readonly trouble = byId('ticket-trouble');
  private readonly copy_message = byId('copy-message');
  private expires_ms: number | null = null;
  private copied_timer: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    byId('copy-token').addEventListener('click', () => void this.copyToken());
    // The countdown moves between two polls; a quarter second keeps its seconds on time.
    setInterval(() => this.tick(), 250);
  }

  show(ticket: TicketView, drop: DropView | null): void {
    const words = wordsFor(ticket, drop);
    const first_sight = this.panel.hidden || this.panel.dataset.status !== ticket.status;
    this.panel.hidden = false;
    this.panel.dataset.status = ticket.status;
    this.panel.dataset.phase =
      ticket.status === 'waiting' && ticket.position === null ? 'pre_start' : ticket.status;
    if (this.headline.textContent !== words.headline) this.headline.textContent = words.headline;
    if (this.message.textContent !== words.message) this.message.textContent = words.message;
    document.title = words.title;
    byId('ticket-id').textContent = ticket.id;
    byId('ticket-customer').textContent = ticket.customer_id;
    byId('ticket-keeps').hidden = !['waiting', 'admitted'].includes(ticket.status);
    this.showFacts(ticket);
    this.showAdmission(ticket);
    // A new status is news: the headline takes the focus, so a screen reader reads it out.
    if (first_sight && ticket.status !== 'waiting') this.headline.focus();
  }

  hide(): void {
    this.panel.hidden = true;
    this.expires_ms = null;
  }

  /** A poll failed: the last state stays, with a note that it may be stale. */
  showTrouble(text: string | null): void {
    // Shown even before the first answer: a reload while the server is away says why nothing shows.
    if (text !== null) this.panel.hidden = false;
    this.trouble.hidden = text === null;
    this.trouble.textContent = text ?? '';
  }

  private showFacts(ticket: TicketView): void {
    if (ticket.status !== 'waiting' || ticket.position === null) {
      this.facts.hidden = true;
      return;
    }
    const wait = ticket.estimated_wait_seconds ?? 0;
    const pairs: [string, string, string][] = [
      ['position', 'place in line', formatCount(ticket.position)],
      ['ahead', 'people ahead of you', formatCount(ticket.ahead ?? 0)],
      ['wait', 'estimated wait', `about ${formatCountdown(wait * 1000)}`],
    ];
    this.facts.replaceChildren(
      ...pairs.flatMap(([key, term, value]) => [
        element('dt', undefined, term),
        element('dd', `fact-${key}`, value),
      ]),
    );
    this.facts.hidden = false;
  }

  private showAdmission(ticket: TicketView): void {
    const admitted = ticket.status === 'admitted' && ticket.admission_token !== null;
    this.admission.hidden = !admitted;
    if (!admitted) {
      this.expires_ms = null;
      this.token.value = '';
      return;
    }
    if (this.token.value !== ticket.admission_token) this.token.value = ticket.admission_token ?? '';
    this.expires_ms = ticket.admission_expires_at ? Date.parse(ticket.admission_expires_at) : null;
    this.tick();
  }

  private tick(): void {
    if (this.expires_ms === null) return;
    const remaining_ms = this.expires_ms - serverNowMs();
    const text = remaining_ms > 0 ? formatCountdown(remaining_ms) : '0 s (time is up)';
    if (this.countdown.textContent !== text) this.countdown.textContent = text;
  }

  private async copyToken(): Promise<void> {
    this.token.select();
    try {
      await navigator.clipboard.writeText(this.token.value);
      this.copy_message.textContent = 'Copied.';
    } catch {
      // No clipboard access (an insecure origin, a refused permission): the token is selected instead.
      this.copy_message.textContent = 'Selected: copy it with Ctrl+C or ⌘C.';
    }
    if (this.copied_timer !== null) clearTimeout(this.copied_timer);
    this.copied_timer = setTimeout(() => {
      this.copy_message.textContent = '';
    }, COPIED_NOTE_MS);
  }
}
