// What the dashboard and the waiting page do alike with an error and a form: one sentence for an
// error, and a form that says it is working, then what came of it, in its <output>.
import { ApiError } from './api.ts';
import { byId } from './dom.ts';

/** An error as one line: the API's code and message, or the thrown error's message. */
export function describe(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return (error as Error)?.message ?? String(error);
}

/**
 * Submits the form `id` through `submit`, its button disabled meanwhile; its <output> shows
 * `pending`, then the message `submit` resolves to, or `refusal` of what it threw.
 */
export function handleForm(
  id: string,
  submit: (data: FormData) => Promise<string>,
  options: { pending?: string; refusal?: (error: unknown) => string } = {},
): void {
  const form = byId<HTMLFormElement>(id);
  const output = form.querySelector('output');
  if (!output) throw new Error(`the form #${id} has no <output>`);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]') as HTMLButtonElement;
    button.disabled = true;
    output.className = 'form-message';
    output.textContent = options.pending ?? '…';
    submit(new FormData(form))
      .then(
        (message) => {
          output.className = 'form-message ok';
          output.textContent = message;
        },
        (error: unknown) => {
          output.className = 'form-message error';
          output.textContent = (options.refusal ?? describe)(error);
          if (error instanceof ApiError) output.dataset.code = error.code;
        },
      )
      .finally(() => {
        button.disabled = false;
      });
  });
}
