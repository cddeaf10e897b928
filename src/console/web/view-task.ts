// #/tasks/ID: one task (state, desired state, message, error, exit code) and
// its slot's history (GET /console/api/tasks/ID/history), kept live from the
// model, and the task's logs.
import { api, logsUrl } from './api.js';
import { badge, h, stateKind } from './dom.js';
import { ago, shortId, stateAgo } from './format.js';
import { LogsPanel } from './logs-panel.js';
import { errorMessage } from './notices.js';
import { href } from './route.js';
import { compareTasksNewestFirst } from './sort.js';
import type { TaskHistory, TaskView } from './types.js';
import { facts, message, pageHeading, swap, TaskTable, type Ctx, type View } from './view.js';

export function taskView(ctx: Ctx, id: string): View {
  const heading = pageHeading(`Task ${shortId(id)}`);
  const body = h('div');
  const slotTable = new TaskTable(`Slot history of task ${shortId(id)}`, 'slot-history', 'No other task in this slot.');
  const slot = h('div', null, h('h2', null, 'Slot history'), slotTable.element);
  const logsSlot = h('div');
  let fetched: TaskHistory | null = null;
  let failure = '';
  let logs: LogsPanel | null = null;
  let gone = false;

  async function load(): Promise<void> {
    try {
      fetched = await api.taskHistory(id);
    } catch (err) {
      failure = errorMessage(err);
    }
    if (!gone) view.update();
  }

  /** The fetched history with the model's newer copies, plus the slot's tasks that appeared since. */
  function liveHistory(h0: TaskHistory): { task: TaskView; slot: TaskView[] } {
    const { model } = ctx;
    const task = model.tasks.get(h0.task.id) ?? h0.task;
    const byId = new Map(h0.slot.map((t) => [t.id, model.tasks.get(t.id) ?? t]));
    const sameSlot = (t: TaskView): boolean => t.serviceId === task.serviceId && (task.slot !== 0 ? t.slot === task.slot : t.slot === 0 && t.nodeId === task.nodeId);
    for (const tid of model.tasksByService.get(task.serviceId) ?? []) {
      const t = model.tasks.get(tid);
      if (t && !byId.has(t.id) && sameSlot(t)) byId.set(t.id, t);
    }
    return { task, slot: [...byId.values()].sort(compareTasksNewestFirst) };
  }

  const view: View = {
    title: () => `Task ${fetched ? fetched.task.name : shortId(id)}`,
    mount(root) {
      slot.hidden = true;
      root.append(heading, body, slot, logsSlot);
      void load();
    },
    update() {
      if (failure) {
        slot.hidden = true;
        return swap(body, message(failure));
      }
      if (!fetched) return swap(body, message('Loading the task…'));
      const { task, slot: history } = liveHistory(fetched);
      const now = ctx.now();
      heading.textContent = `Task ${task.name}`;
      const service = ctx.model.services.get(task.serviceId);
      const node = ctx.model.nodes.get(task.nodeId);
      swap(
        body,
        facts([
          ['ID', h('span', { class: 'mono' }, task.id)],
          ['Name', task.name],
          ['Service', service ? h('a', { href: href('services', service.id) }, service.name) : task.serviceName],
          ['Node', node ? h('a', { href: href('nodes', node.id) }, node.hostname) : task.nodeId],
          ['Image', task.image],
          ['State', h('span', { 'data-testid': 'task-state' }, badge(task.state, stateKind(task.state)), ' ', stateAgo(task.state, task.stateSince, now))],
          ['Desired state', h('span', { 'data-testid': 'task-desired-state' }, task.desiredState)],
          ['Message', h('span', { 'data-testid': 'task-message' }, task.message)],
          ['Error', h('span', { 'data-testid': 'task-error', class: task.error ? 'error-text' : '' }, task.error)],
          ['Exit code', h('span', { 'data-testid': 'task-exit-code' }, task.exitCode === null ? '' : String(task.exitCode))],
          ['Container', h('span', { class: 'mono' }, task.containerId ? shortId(task.containerId) : '')],
          ['Created', ago(task.createdAt, now)],
          ['Updated', ago(task.updatedAt, now)],
        ]),
      );
      slot.hidden = false;
      slotTable.update(history, ctx.model.nodes, now);
      if (!logs) {
        logs = new LogsPanel(logsUrl(task.serviceId, task.id), `Logs of ${task.name}`);
        logsSlot.replaceChildren(logs.element);
        logs.start();
      }
    },
    unmount() {
      gone = true;
      logs?.stop('closed');
    },
  };
  return view;
}
