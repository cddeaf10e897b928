// #/nodes and #/nodes/ID: docker node ls's columns, and one node with its tasks
// and the availability buttons (Drain, Pause, Activate).
import { api } from './api.js';
import { badge, h, stateKind, table } from './dom.js';
import { ago, bytesSize, cpus, formatLabels, managerStatus } from './format.js';
import { findNode, nodeTasks } from './model.js';
import { errorMessage, showError, showStatus } from './notices.js';
import { href } from './route.js';
import { compareTasks, sortNodes } from './sort.js';
import type { Availability, NodeView } from './types.js';
import { facts, message, pageHeading, swap, TaskTable, type Ctx, type View } from './view.js';

export function nodesView(ctx: Ctx): View {
  const body = h('div');
  return {
    title: () => 'Nodes',
    mount(root) {
      root.append(pageHeading('Nodes'), body);
    },
    update() {
      const { model } = ctx;
      if (!model.loaded) return swap(body, message('Loading nodes…'));
      const rows = document.createDocumentFragment();
      for (const n of sortNodes(model.nodes.values())) rows.appendChild(nodeRow(n));
      swap(
        body,
        model.nodes.size === 0
          ? message('No nodes.')
          : table('Nodes', ['Hostname', 'Address', 'Role', 'Availability', 'State', 'Manager status', 'Engine', 'CPUs', 'Memory', 'Labels'], rows, {
              testid: 'nodes',
              hideCaption: true,
            }),
      );
    },
  };
}

function nodeRow(n: NodeView): HTMLElement {
  return h(
    'tr',
    { 'data-testid': `node-row-${n.id}` },
    h('th', { scope: 'row' }, h('a', { href: href('nodes', n.id) }, n.hostname)),
    // Several nodes of one host share its hostname: the address tells them apart.
    h('td', { class: 'mono' }, n.addr),
    h('td', null, n.role),
    h('td', { 'data-testid': 'availability' }, badge(n.availability, stateKind(n.availability))),
    h('td', { 'data-testid': 'state' }, badge(n.state, stateKind(n.state))),
    h('td', null, managerStatus(n)),
    h('td', null, n.engineVersion),
    h('td', { class: 'num' }, cpus(n.nanoCpus)),
    h('td', { class: 'num' }, bytesSize(n.memoryBytes)),
    h('td', { class: 'wrap' }, formatLabels(n.labels)),
  );
}

const AVAILABILITY_BUTTONS: [Availability, string, string][] = [
  ['drain', 'Drain', 'drain-button'],
  ['pause', 'Pause', 'pause-button'],
  ['active', 'Activate', 'activate-button'],
];

export function nodeView(ctx: Ctx, idOrHostname: string): View {
  const heading = pageHeading(`Node ${idOrHostname}`);
  const body = h('div');
  const taskTable = new TaskTable(`Tasks on ${idOrHostname}`, 'node-tasks', 'No tasks on this node.', 200);
  const tasks = h('div', { hidden: true }, h('h2', null, 'Tasks'), taskTable.element);
  const buttons = AVAILABILITY_BUTTONS.map(([availability, label, testid]) =>
    h('button', { type: 'button', 'data-testid': testid, onclick: () => void setAvailability(availability) }, label),
  );
  const actions = h(
    'section',
    { 'aria-labelledby': 'node-actions-title', class: 'actions' },
    h('h2', { id: 'node-actions-title' }, 'Availability'),
    h('p', { class: 'hint' }, 'Drain moves its tasks elsewhere; Pause keeps them but places no new ones; Activate takes tasks again.'),
    h('div', { class: 'button-row' }, buttons),
  );
  let shown: NodeView | undefined;

  async function setAvailability(availability: Availability): Promise<void> {
    if (!shown) return;
    const node = shown;
    for (const b of buttons) b.disabled = true;
    try {
      await api.setAvailability(node.id, availability);
      showStatus(`Node ${node.hostname} is now ${availability}.`);
    } catch (err) {
      showError(errorMessage(err));
    } finally {
      for (const b of buttons) b.disabled = false;
    }
  }

  return {
    title: () => `Node ${shown?.hostname ?? idOrHostname}`,
    mount(root) {
      root.append(heading, body, actions, tasks);
    },
    update() {
      const { model } = ctx;
      shown = model.loaded ? findNode(model, idOrHostname) : undefined;
      actions.hidden = !shown;
      if (!model.loaded) return swap(body, message('Loading the node…'));
      if (!shown) {
        tasks.hidden = true;
        return swap(body, message(`No such node: ${idOrHostname}. It may have been removed; see the node list.`));
      }
      const n = shown;
      heading.textContent = `Node ${n.hostname}`;
      const now = ctx.now();
      swap(
        body,
        facts([
          ['ID', h('span', { class: 'mono' }, n.id)],
          ['Hostname', n.hostname],
          ['Role', n.role],
          ['Availability', badge(n.availability, stateKind(n.availability))],
          ['State', badge(n.state, stateKind(n.state))],
          ['Manager status', managerStatus(n)],
          ['Address', h('span', { class: 'mono' }, n.addr)],
          ['Engine', n.engineVersion],
          ['Platform', [n.os, n.arch].filter(Boolean).join('/')],
          ['CPUs', cpus(n.nanoCpus)],
          ['Memory', bytesSize(n.memoryBytes)],
          ['Labels', formatLabels(n.labels)],
          ['Engine labels', formatLabels(n.engineLabels)],
          ['Created', ago(n.createdAt, now)],
          ['Updated', ago(n.updatedAt, now)],
        ]),
      );
      const list = nodeTasks(model, n.id).sort(compareTasks);
      tasks.hidden = false;
      taskTable.update(list, model.nodes, now);
    },
  };
}
