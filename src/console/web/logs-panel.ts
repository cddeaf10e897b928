// A logs panel: an EventSource on /console/api/logs (a service's or one task's
// lines), each line an element of class log-line prefixed like docker
// ("web.1.k3j4h5g6f7d8@node-1    | "). A node that cannot be reached sends a
// warning, shown in the panel while the other nodes' lines keep coming.
import { h } from './dom.js';
import { logPrefix, PrefixPadder } from './logline.js';
import type { LogLine } from './types.js';

/** Lines kept in the page: the oldest go beyond this (a chatty service must not grow the page without bound). */
const MAX_LINES = 5000;

export class LogsPanel {
  readonly element: HTMLElement;
  private readonly lines: HTMLElement;
  private readonly state: HTMLElement;
  private readonly toggle: HTMLButtonElement;
  private source: EventSource | null = null;
  private readonly padder = new PrefixPadder();
  private pending: HTMLElement[] = [];
  private frame = 0;
  private ended = false;

  constructor(
    private readonly url: string,
    title: string,
  ) {
    this.lines = h('div', { class: 'logs', 'data-testid': 'logs', role: 'log', 'aria-live': 'off', 'aria-label': title, tabindex: 0 });
    this.state = h('span', { class: 'logs-state', 'data-testid': 'logs-state' });
    this.toggle = h('button', { type: 'button', 'data-testid': 'logs-toggle', onclick: () => (this.source ? this.stop('paused') : this.start()) }, 'Pause');
    this.element = h(
      'section',
      { class: 'logs-panel', 'aria-labelledby': 'logs-title' },
      h('div', { class: 'logs-head' }, h('h2', { id: 'logs-title' }, title), this.state, this.toggle),
      this.lines,
    );
  }

  start(): void {
    if (this.source || this.ended) return;
    // A resumed stream starts again from the tail: mark the seam so repeated lines read as such.
    if (this.lines.childElementCount > 0) this.note('log-note', 'resumed: the last lines again, then new ones');
    const source = new EventSource(this.url);
    this.source = source;
    this.setState('connecting');
    this.toggle.textContent = 'Pause';
    source.addEventListener('open', () => this.setState('streaming'));
    source.addEventListener('line', (ev) => this.onLine(ev as MessageEvent<string>));
    source.addEventListener('warning', (ev) => {
      const data = parse<{ message?: string }>((ev as MessageEvent<string>).data);
      this.note('log-warning', `warning: ${data?.message ?? 'a node did not answer'}`);
    });
    source.addEventListener('end', () => {
      this.ended = true;
      this.stop('ended: the service is gone');
      this.toggle.hidden = true;
    });
    // EventSource would reconnect by itself and replay the tail, repeating lines: stop instead and let the
    // operator resume.
    source.addEventListener('error', () => {
      if (this.source === source) this.stop('interrupted: press Resume to stream again');
    });
  }

  stop(why: string): void {
    this.source?.close();
    this.source = null;
    this.flush();
    this.setState(why);
    this.toggle.textContent = 'Resume';
  }

  private setState(text: string): void {
    this.state.textContent = text;
  }

  private onLine(ev: MessageEvent<string>): void {
    const line = parse<LogLine>(ev.data);
    if (!line) return;
    const el = h(
      'div',
      { class: line.stream === 'stderr' ? 'log-line stderr' : 'log-line' },
      h('span', { class: 'log-prefix' }, this.padder.format(logPrefix(line))),
      h('span', { class: 'log-text' }, line.text),
    );
    this.queue(el);
  }

  private note(cls: string, text: string): void {
    this.queue(h('div', { class: cls }, text));
  }

  /** Lines arrive in bursts (the tail, a chatty task): append them once per frame. */
  private queue(el: HTMLElement): void {
    this.pending.push(el);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  private flush(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.pending.length === 0) return;
    const box = this.lines;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    const frag = document.createDocumentFragment();
    frag.append(...this.pending);
    this.pending = [];
    box.appendChild(frag);
    while (box.childElementCount > MAX_LINES) box.firstElementChild?.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }
}

function parse<T>(data: string): T | null {
  try {
    return JSON.parse(data) as T;
  } catch {
    return null;
  }
}
