// The two live regions of the shell: the alert region (role="alert") for a
// failed action's one-line error, the status region (role="status") for a
// done one. Both stay in the page from the start so assistive technology
// announces what is written into them.

function region(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}: index.html and the app are out of step, rebuild with npm run build`);
  return el;
}

/** Shows one line in the alert region (and clears the status line, which it supersedes). */
export function showError(message: string): void {
  region('status').textContent = '';
  region('alert').textContent = message;
}

/** Shows one line in the status region and clears any old error. */
export function showStatus(message: string): void {
  region('alert').textContent = '';
  region('status').textContent = message;
}

export function clearNotices(): void {
  region('alert').textContent = '';
  region('status').textContent = '';
}

/** The error line of anything thrown. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
