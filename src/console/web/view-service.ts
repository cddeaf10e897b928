// #/services/ID: one service: its spec, its rolling update, the actions (scale,
// change image, roll back, promote a canary, remove), its tasks (current ones
// first, then the history) and its logs.
import { api, logsUrl } from './api.js';
import { badge, h, stateKind } from './dom.js';
import { ago, formatLabels, formatPorts, replicas } from './format.js';
import { parseReplicas } from './create-request.js';
import { LogsPanel } from './logs-panel.js';
import { findService, serviceTasks } from './model.js';
import { errorMessage, showError, showStatus } from './notices.js';
import { href } from './route.js';
import { splitTasks } from './sort.js';
import type { ServiceView } from './types.js';
import { updateCell } from './view-services.js';
import { facts, message, pageHeading, swap, TaskTable, type Ctx, type View } from './view.js';

/** History rows shown until "Show all": a long history (docker keeps 5 per slot) need not cost every live update. */
const HISTORY_ROWS = 100;

export function serviceView(ctx: Ctx, idOrName: string): View {
  const heading = pageHeading(`Service ${idOrName}`);
  const body = h('div');
  const update = h('div');
  const currentTable = new TaskTable(`Current tasks of ${idOrName}`, 'current-tasks', 'No current tasks.');
  const historyTable = new TaskTable(`Task history of ${idOrName}`, 'task-history', 'No task history.', HISTORY_ROWS);
  const tasks = h('div', { hidden: true }, h('h2', null, 'Current tasks'), currentTable.element, h('h2', null, 'Task history'), historyTable.element);
  let shown: ServiceView | undefined;
  let logs: LogsPanel | null = null;
  const logsSlot = h('div');

  /** Runs one action with its button disabled; the outcome goes to the status or alert region. */
  async function act(button: HTMLButtonElement, run: (s: ServiceView) => Promise<unknown>, done: (s: ServiceView) => string): Promise<boolean> {
    if (!shown) return false;
    const s = shown;
    button.disabled = true;
    try {
      await run(s);
      showStatus(done(s));
      return true;
    } catch (err) {
      showError(errorMessage(err));
      return false;
    } finally {
      button.disabled = false;
    }
  }

  // Scale: a number input; its value follows the service's desired count until the operator edits it.
  const scaleInput = h('input', { id: 'scale-input', name: 'replicas', type: 'number', min: 0, step: 1, required: true, 'data-testid': 'scale-input' });
  const scaleSubmit = h('button', { type: 'submit', 'data-testid': 'scale-submit' }, 'Scale');
  let scaleEdited = false;
  scaleInput.addEventListener('input', () => (scaleEdited = true));
  const scaleForm = h(
    'form',
    { class: 'inline-form', 'data-testid': 'scale-form' },
    h('label', { for: 'scale-input' }, 'Replicas'),
    scaleInput,
    scaleSubmit,
  );
  scaleForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const parsed = parseReplicas(scaleInput.value);
    if ('error' in parsed) return showError(parsed.error);
    void act(scaleSubmit, (s) => api.scale(s.id, parsed.replicas), (s) => `Scaled ${s.name} to ${parsed.replicas}.`).then((ok) => {
      if (ok) scaleEdited = false;
    });
  });

  // Image: a text input, the current image until edited.
  const imageInput = h('input', { id: 'image-input', name: 'image', type: 'text', required: true, spellcheck: 'false', autocomplete: 'off', 'data-testid': 'image-input' });
  const imageSubmit = h('button', { type: 'submit', 'data-testid': 'image-submit' }, 'Update image');
  let imageEdited = false;
  imageInput.addEventListener('input', () => (imageEdited = true));
  const imageForm = h('form', { class: 'inline-form', 'data-testid': 'image-form' }, h('label', { for: 'image-input' }, 'Image'), imageInput, imageSubmit);
  imageForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const image = imageInput.value.trim();
    if (image === '') return showError('image is required: give an image such as nginx:1.25');
    void act(imageSubmit, (s) => api.setImage(s.id, image), (s) => `Updating ${s.name} to ${image}.`).then((ok) => {
      if (ok) imageEdited = false;
    });
  });

  const rollbackButton: HTMLButtonElement = h(
    'button',
    { type: 'button', 'data-testid': 'rollback-button', onclick: () => void act(rollbackButton, (s) => api.rollback(s.id), (s) => `Rolling ${s.name} back.`) },
    'Roll back',
  );
  const promoteButton: HTMLButtonElement = h(
    'button',
    { type: 'button', 'data-testid': 'promote-button', onclick: () => void act(promoteButton, (s) => api.promote(s.id), (s) => `Promoted the canary of ${s.name}.`) },
    'Promote canary',
  );

  // Remove asks first, in the page (no window.confirm): the confirm button appears beside it.
  const removeConfirm: HTMLButtonElement = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-testid': 'remove-confirm',
      onclick: () =>
        void act(removeConfirm, (s) => api.removeService(s.id), (s) => `Removed service ${s.name}.`).then((ok) => {
          if (ok) ctx.navigate(href('services'));
          else confirmBox.hidden = true;
        }),
    },
    'Yes, remove it',
  );
  const removeCancel = h('button', { type: 'button', 'data-testid': 'remove-cancel', onclick: () => {
        confirmBox.hidden = true;
        removeButton.focus();
      },
    }, 'Cancel');
  const confirmText = h('p', { id: 'remove-question' });
  const confirmBox = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'remove-question', hidden: true }, confirmText, removeConfirm, removeCancel);
  const removeButton: HTMLButtonElement = h(
    'button',
    {
      type: 'button',
      class: 'danger',
      'data-testid': 'remove-button',
      onclick: () => {
        confirmText.textContent = `Remove service ${shown?.name ?? ''} and all its tasks?`;
        confirmBox.hidden = false;
        removeConfirm.focus();
      },
    },
    'Remove service',
  );

  const actions = h(
    'section',
    { class: 'actions', 'aria-labelledby': 'service-actions-title' },
    h('h2', { id: 'service-actions-title' }, 'Actions'),
    scaleForm,
    imageForm,
    h('div', { class: 'button-row' }, rollbackButton, promoteButton, removeButton),
    confirmBox,
  );

  return {
    title: () => `Service ${shown?.name ?? idOrName}`,
    mount(root) {
      root.append(heading, body, h('h2', null, 'Update status'), update, actions, tasks, logsSlot);
    },
    update() {
      const { model } = ctx;
      const s = model.loaded ? findService(model, idOrName) : undefined;
      shown = s;
      actions.hidden = !s;
      if (!model.loaded) return swap(body, message('Loading the service…'));
      if (!s) {
        update.replaceChildren();
        tasks.hidden = true;
        logs?.stop('ended: the service is gone');
        return swap(body, message(`No such service: ${idOrName}. It may have been removed; see the service list.`));
      }
      heading.textContent = `Service ${s.name}`;
      if (!logs) {
        logs = new LogsPanel(logsUrl(s.id), `Logs of ${s.name}`);
        logsSlot.replaceChildren(logs.element);
        logs.start();
      }
      const now = ctx.now();
      if (!scaleEdited && document.activeElement !== scaleInput) scaleInput.value = String(s.desired);
      if (!imageEdited && document.activeElement !== imageInput) imageInput.value = s.image;
      // A global service runs one task per eligible node: there is nothing to scale.
      scaleForm.hidden = s.mode === 'global';
      promoteButton.hidden = !s.canary;
      swap(
        body,
        facts([
          ['ID', h('span', { class: 'mono' }, s.id)],
          ['Mode', s.mode],
          ['Replicas', h('span', { 'data-testid': 'replicas' }, replicas(s))],
          ['Image', h('span', { 'data-testid': 'image', class: 'mono wrap' }, s.image)],
          ['Previous image', s.previousImage ?? ''],
          ['Command', s.command.join(' ')],
          ['Environment', s.env.join(', ')],
          ['Ports', formatPorts(s.ports)],
          ['Constraints', s.constraints.join(', ')],
          ['Labels', formatLabels(s.labels)],
          ['Created', ago(s.createdAt, now)],
          ['Updated', ago(s.updatedAt, now)],
        ]),
      );
      const u = s.updateStatus;
      const canary = s.canary ? h('p', { 'data-testid': 'canary' }, 'Canary: ', badge(s.canary.state, stateKind(s.canary.state)), s.canary.message ? ` ${s.canary.message}` : '') : null;
      swap(
        update,
        h(
          'div',
          { 'data-testid': 'update-status' },
          u
            ? facts([
                ['State', h('span', null, updateCell(s))],
                ['Progress', `${u.updated} of ${u.total} tasks updated`],
                ['Message', u.message],
                ['Started', ago(u.startedAt, now)],
                ['Completed', ago(u.completedAt, now)],
              ])
            : message('No update has run.'),
          canary,
        ),
      );
      const { current, history } = splitTasks(serviceTasks(model, s.id));
      tasks.hidden = false;
      currentTable.update(current, model.nodes, now);
      historyTable.update(history, model.nodes, now);
    },
    unmount() {
      logs?.stop('closed');
    },
  };
}

