// What every page of the console is: mounted once when its route is entered
// (static parts: forms, the logs panel), updated whenever the model changes
// (the parts that show live data, rebuilt in one pass), unmounted on leave.
import { badge, h, stateKind, time } from './dom.js';
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

const TASK_COLUMNS: [string, string][] = [
  ['ID', 'col-id'],
  ['Name', 'col-name'],
  ['Image', 'col-image'],
  ['Node', 'col-node'],
  ['Desired state', 'col-desired'],
  ['Current state', 'col-state'],
  ['Error / message', 'col-note'],
];

interface TaskRow {
  task: TaskView;
  nodeName: string;
  stateText: string;
  tr: HTMLTableRowElement;
}

/**
 * A table of tasks, as docker service ps prints them, kept across live updates: a row is rebuilt only when its
 * task object, its node's name or its "x ago" text changed, and when the order is unchanged the rebuilt rows are
 * replaced in place. A patch touching a few of 1,000 tasks so costs a few rows, not the whole table (whose
 * layout, fixed by its column widths, does not depend on the rows' content).
 */
export class TaskTable {
  readonly element: HTMLElement;
  private readonly tbody = h('tbody');
  private readonly empty: HTMLElement;
  private readonly wrap: HTMLElement;
  private rows = new Map<string, TaskRow>();
  private order: string[] = [];
  private readonly more: HTMLElement;
  private readonly moreText = h('span');
  private showAll = false;
  private last: { tasks: TaskView[]; nodes: Map<string, NodeView>; now: number } | null = null;

  /** `limit`: at most this many rows until the operator asks for all (a long history need not cost every update). */
  constructor(caption: string, testid: string, emptyText: string, private readonly limit = Infinity) {
    this.empty = message(emptyText);
    const button = h('button', { type: 'button', class: 'quiet-light', 'data-testid': `${testid}-show-all` }, 'Show all');
    button.addEventListener('click', () => {
      this.showAll = true;
      if (this.last) this.update(this.last.tasks, this.last.nodes, this.last.now);
    });
    this.more = h('p', { class: 'table-more', hidden: true }, this.moreText, ' ', button);
    this.wrap = h(
      'div',
      { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
      h(
        'table',
        { class: 'tasks-table', 'data-testid': testid },
        h('caption', { class: 'visually-hidden' }, caption),
        h('colgroup', null, TASK_COLUMNS.map(([, cls]) => h('col', { class: cls }))),
        h('thead', null, h('tr', null, TASK_COLUMNS.map(([t]) => h('th', { scope: 'col' }, t)))),
        this.tbody,
      ),
    );
    this.element = h('div', null, this.empty, this.more);
  }

  update(all: TaskView[], nodes: Map<string, NodeView>, now: number): void {
    this.last = { tasks: all, nodes, now };
    const cut = !this.showAll && all.length > this.limit;
    const tasks = cut ? all.slice(0, this.limit) : all;
    this.more.hidden = !cut;
    if (cut) this.moreText.textContent = `Showing ${this.limit} of ${all.length}.`;
    const next = new Map<string, TaskRow>();
    const changed: TaskRow[] = [];
    for (const t of tasks) {
      const nodeName = nodes.get(t.nodeId)?.hostname ?? '';
      const stateText = stateAgo(t.state, t.stateSince, now);
      const old = this.rows.get(t.id);
      if (old && old.task === t && old.nodeName === nodeName && old.stateText === stateText) {
        next.set(t.id, old);
        continue;
      }
      const row = { task: t, nodeName, stateText, tr: taskRow(t, nodeName, stateText) };
      next.set(t.id, row);
      if (old) changed.push(row);
    }
    const sameOrder = tasks.length === this.order.length && tasks.every((t, i) => this.order[i] === t.id);
    if (sameOrder) {
      // Only replaced rows move: swap each in place of its predecessor (same id, same position).
      for (const row of changed) this.rows.get(row.task.id)?.tr.replaceWith(row.tr);
    } else {
      const frag = document.createDocumentFragment();
      for (const t of tasks) frag.appendChild((next.get(t.id) as TaskRow).tr);
      this.tbody.replaceChildren(frag);
    }
    this.rows = next;
    this.order = tasks.map((t) => t.id);
    const showTable = tasks.length > 0;
    if (this.element.firstChild !== (showTable ? this.wrap : this.empty)) this.element.replaceChildren(showTable ? this.wrap : this.empty, this.more);
  }
}

function taskRow(t: TaskView, nodeName: string, stateText: string): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-testid': `task-row-${t.id}` },
    h('td', null, h('a', { href: href('tasks', t.id), class: 'mono' }, shortId(t.id))),
    h('td', { class: 'wrap' }, t.name),
    h('td', { class: 'wrap' }, t.image),
    h('td', { class: 'wrap' }, nodeName ? h('a', { href: href('nodes', t.nodeId) }, nodeName) : t.nodeId ? shortId(t.nodeId) : ''),
    h('td', null, badge(t.desiredState, stateKind(t.desiredState))),
    h('td', { 'data-testid': 'task-state' }, time(t.stateSince, stateText)),
    h('td', { class: 'wrap' }, taskNote(t)),
  );
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
