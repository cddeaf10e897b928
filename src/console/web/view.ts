// What every page of the console is: mounted once when its route is entered
// (static parts: forms, the logs panel), updated whenever the model changes
// (the parts that show live data, rebuilt in one pass), unmounted on leave.
import { badge, h, stateKind, table, time } from './dom.js';
import { shortId, stateAgo, taskNote } from './format.js';
import type { Model } from './model.js';
import { href } from './route.js';
import type { NodeView, TaskView } from './types.js';

export interface Ctx {
  model: Model;
  /** The clock the "x ago" texts read (one value per render, so a page is consistent). */
  now(): number;
  navigate(hash: string): void;
}

export interface View {
  /** The document title's first part ("Service web"). */
  title(): string;
  mount(root: HTMLElement): void;
  update(): void;
  unmount?(): void;
}

/** The page heading: focus moves to it on navigation (tabindex -1), so a screen reader starts at the new page. */
export function pageHeading(text: string): HTMLHeadingElement {
  return h('h1', { tabindex: -1, class: 'page-title' }, text);
}

export function message(text: string): HTMLElement {
  return h('p', { class: 'message' }, text);
}

/** A definition list of label/value pairs; empty values show as an em dash. */
export function facts(pairs: [string, Node | string | number][]): HTMLElement {
  return h(
    'dl',
    { class: 'facts' },
    pairs.map(([k, v]) => [h('dt', null, k), h('dd', null, v === '' ? '—' : v)]),
  );
}

/** Rows of tasks, as docker service ps prints them. `nodes` names each task's node. */
export function taskTable(caption: string, tasks: TaskView[], nodes: Map<string, NodeView>, now: number, testid: string): HTMLElement {
  const frag = document.createDocumentFragment();
  for (const t of tasks) {
    const node = nodes.get(t.nodeId);
    frag.appendChild(
      h(
        'tr',
        { 'data-testid': `task-row-${t.id}` },
        h('td', null, h('a', { href: href('tasks', t.id), class: 'mono' }, shortId(t.id))),
        h('td', null, t.name),
        h('td', { class: 'wrap' }, t.image),
        h('td', null, node ? h('a', { href: href('nodes', node.id) }, node.hostname) : t.nodeId ? shortId(t.nodeId) : ''),
        h('td', null, badge(t.desiredState, stateKind(t.desiredState))),
        h('td', { 'data-testid': 'task-state' }, time(t.stateSince, stateAgo(t.state, t.stateSince, now))),
        h('td', { class: 'wrap' }, taskNote(t)),
      ),
    );
  }
  return table(caption, ['ID', 'Name', 'Image', 'Node', 'Desired state', 'Current state', 'Error / message'], frag, { testid });
}

/**
 * Replaces a section's content, keeping keyboard focus: a live update rebuilds rows, and a focused link in
 * them would otherwise drop focus to the page.
 */
export function swap(container: HTMLElement, content: Node): void {
  const active = document.activeElement;
  const key = active && container.contains(active) ? focusKey(active) : null;
  container.replaceChildren(content);
  if (key) {
    const again = container.querySelector<HTMLElement>(key);
    again?.focus();
  }
}

function focusKey(el: Element): string | null {
  const testid = el.getAttribute('data-testid');
  if (testid) return `[data-testid="${CSS.escape(testid)}"]`;
  const link = el.getAttribute('href');
  if (link) return `a[href="${CSS.escape(link)}"]`;
  if (el.classList.contains('table-wrap')) {
    const label = el.getAttribute('aria-label');
    if (label) return `.table-wrap[aria-label="${CSS.escape(label)}"]`;
  }
  return null;
}
