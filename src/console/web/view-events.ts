// #/events: the cluster's timeline, newest first, filtered by object type.
import { h } from './dom.js';
import { ago } from './format.js';
import { eventsNewestFirst } from './sort.js';
import type { ClusterEvent } from './types.js';
import { message, pageHeading, swap, type Ctx, type View } from './view.js';

const TYPES = ['service', 'node', 'task', 'secret', 'config', 'network'];

export function eventsView(ctx: Ctx): View {
  const list = h('div');
  const filter = h(
    'select',
    { id: 'event-type', name: 'type', 'data-testid': 'event-filter' },
    h('option', { value: '' }, 'All types'),
    TYPES.map((t) => h('option', { value: t }, t)),
  );
  const view: View = {
    title: () => 'Events',
    mount(root) {
      filter.addEventListener('change', () => view.update());
      root.append(
        pageHeading('Events'),
        h('form', { class: 'inline-form', role: 'search', onsubmit: (ev: Event) => ev.preventDefault() }, h('label', { for: 'event-type' }, 'Type'), filter),
        list,
      );
    },
    update() {
      const shown = eventsNewestFirst(ctx.model.events, filter.value);
      if (shown.length === 0) return swap(list, message(filter.value ? `No ${filter.value} events yet.` : 'No events yet.'));
      const now = ctx.now();
      const frag = document.createDocumentFragment();
      for (const e of shown) frag.appendChild(eventItem(e, now));
      swap(list, h('ol', { class: 'events', 'data-testid': 'events', 'aria-label': 'Events, newest first' }, frag));
    },
  };
  return view;
}

function eventItem(e: ClusterEvent, now: number): HTMLElement {
  const attrs = Object.keys(e.attributes ?? {})
    .sort()
    .filter((k) => k !== 'name' && e.attributes[k] !== '')
    .map((k) => `${k}=${e.attributes[k]}`)
    .join(', ');
  return h(
    'li',
    { class: 'event-item', 'data-testid': 'event-item', 'data-type': e.type },
    h('time', { datetime: e.time, title: e.time, class: 'event-time' }, ago(e.time, now)),
    h('span', { class: `event-type type-${e.type}` }, e.type),
    h('span', { class: 'event-action' }, e.action),
    h('span', { class: 'event-name' }, e.name || e.id),
    attrs ? h('span', { class: 'event-attrs' }, attrs) : null,
  );
}
