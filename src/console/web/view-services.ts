// #/services: docker service ls's columns plus the rolling update's progress.
import { badge, h, stateKind, table } from './dom.js';
import { formatPorts, replicas, updateSummary } from './format.js';
import { href } from './route.js';
import { sortServices } from './sort.js';
import type { ServiceView } from './types.js';
import { message, pageHeading, swap, type Ctx, type View } from './view.js';

export function servicesView(ctx: Ctx): View {
  const body = h('div');
  return {
    title: () => 'Services',
    mount(root) {
      root.append(
        pageHeading('Services'),
        h('p', null, h('a', { href: href('services', 'new'), class: 'button-link' }, 'Create a service')),
        body,
      );
    },
    update() {
      const { model } = ctx;
      if (!model.loaded) return swap(body, message('Loading services…'));
      const rows = document.createDocumentFragment();
      for (const s of sortServices(model.services.values())) rows.appendChild(serviceRow(s));
      swap(
        body,
        model.services.size === 0
          ? message('No services yet.')
          : table('Services', ['Name', 'Mode', 'Replicas', 'Image', 'Ports', 'Update status'], rows, { testid: 'services', hideCaption: true }),
      );
    },
  };
}

function serviceRow(s: ServiceView): HTMLElement {
  const short = s.running < s.desired;
  return h(
    'tr',
    { 'data-testid': `service-row-${s.name}` },
    h('th', { scope: 'row' }, h('a', { href: href('services', s.id) }, s.name)),
    h('td', null, s.mode),
    h('td', { 'data-testid': 'replicas', class: short ? 'num short' : 'num' }, replicas(s)),
    h('td', { 'data-testid': 'image', class: 'wrap' }, s.image),
    h('td', { class: 'wrap' }, formatPorts(s.ports)),
    h('td', { 'data-testid': 'update-status' }, updateCell(s)),
  );
}

/** The update's state with, while it runs, a progress bar of updated/total. */
export function updateCell(s: ServiceView): Node[] {
  const u = s.updateStatus;
  if (!u) return [];
  const out: Node[] = [badge(updateSummary(u), stateKind(u.state))];
  if (u.total > 0 && !u.state.endsWith('completed')) {
    out.push(h('progress', { max: u.total, value: u.updated, 'aria-label': `${s.name} update progress: ${u.updated} of ${u.total}` }));
  }
  return out;
}
