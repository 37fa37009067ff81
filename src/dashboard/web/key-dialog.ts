// The API key dialog of both pages (the dashboard and a drop's waiting page): api.ts opens it on a
// 401, the "API key" button on demand; the key is kept in localStorage.
import { setKeyPrompt, storedKey, storeKey } from './api.ts';
import { byId } from './dom.ts';

/** Wires #key-dialog, #key-form, #key-reason and #key-button, which the page must have. */
export function installKeyDialog(): void {
  const key_dialog = byId<HTMLDialogElement>('key-dialog');
  const key_form = byId<HTMLFormElement>('key-form');
  const key_waiters: (() => void)[] = [];
  key_dialog.addEventListener('close', () => {
    const input = key_form.elements.namedItem('key') as HTMLInputElement;
    if (key_dialog.returnValue === 'clear') storeKey(null);
    else if (input.value.trim() !== '') storeKey(input.value.trim());
    input.value = '';
    for (const wake of key_waiters.splice(0)) wake();
  });
  const open = (reason: string): Promise<void> => {
    byId('key-reason').textContent = reason;
    if (!key_dialog.open) key_dialog.showModal();
    return new Promise((resolve) => key_waiters.push(resolve));
  };
  setKeyPrompt(open);
  byId('key-button').addEventListener('click', () => {
    void open(
      storedKey() ? 'A key is stored in this browser; enter another or forget it.' : 'No key stored.',
    );
  });
}
