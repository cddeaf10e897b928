// #/services/new: the create-service form. Its inputs are named after the JSON
// fields of POST /console/api/services. Live updates never touch it, and a
// refused request leaves every field as typed, with the server's one-line
// error in the alert region.
import { api } from './api.js';
import { buildCreateRequest, type CreateServiceFields } from './create-request.js';
import { h } from './dom.js';
import { errorMessage, showError, showStatus } from './notices.js';
import { href } from './route.js';
import { pageHeading, type Ctx, type View } from './view.js';

type FieldName = keyof CreateServiceFields;

export function createServiceView(ctx: Ctx): View {
  const inputs = new Map<FieldName, HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement>();

  function field(name: FieldName, label: string, control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, hint?: string): HTMLElement {
    const id = `create-${name}`;
    control.id = id;
    control.name = name;
    inputs.set(name, control);
    const hintId = hint ? `${id}-hint` : null;
    if (hintId) control.setAttribute('aria-describedby', hintId);
    return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  }

  const text = (attrs: Record<string, string | boolean> = {}): HTMLInputElement => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
  const area = (): HTMLTextAreaElement => h('textarea', { rows: 3, spellcheck: 'false' });
  const mode = h('select', null, h('option', { value: 'replicated' }, 'replicated'), h('option', { value: 'global' }, 'global'));
  const replicas = h('input', { type: 'number', min: 0, step: 1, value: '1' });
  const submit = h('button', { type: 'submit', 'data-testid': 'create-submit' }, 'Create service');

  const form = h(
    'form',
    { 'data-testid': 'create-form', class: 'create-form', novalidate: true },
    field('name', 'Name', text(), 'Leave empty for a generated name.'),
    field('image', 'Image', text({ required: true }), 'For example nginx:1.25 or registry:5000/app@sha256:…'),
    field('mode', 'Mode', mode),
    field('replicas', 'Replicas', replicas, 'Replicated mode only.'),
    field('command', 'Command', text(), 'Split like a shell does: sh -c "echo hi; sleep 100".'),
    field('env', 'Environment', area(), 'One KEY=value per line.'),
    field('publish', 'Published ports', area(), 'One per line, as docker --publish: 8080:80 or published=8080,target=80.'),
    field('constraints', 'Placement constraints', area(), 'One per line: node.role==worker, node.labels.zone==a.'),
    h('div', { class: 'button-row' }, submit),
  );

  mode.addEventListener('change', () => {
    replicas.disabled = mode.value === 'global';
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void send();
  });

  async function send(): Promise<void> {
    const values = {} as CreateServiceFields;
    for (const [name, control] of inputs) values[name] = control.value;
    const built = buildCreateRequest(values);
    if ('error' in built) return showError(built.error);
    submit.disabled = true;
    try {
      const res = await api.createService(built.request);
      const shownName = built.request.name || res?.id || 'the service';
      showStatus(`Created service ${shownName}.`);
      ctx.navigate(res && typeof res.id === 'string' ? href('services', res.id) : href('services'));
    } catch (err) {
      showError(errorMessage(err));
    } finally {
      submit.disabled = false;
    }
  }

  return {
    title: () => 'Create a service',
    mount(root) {
      root.append(pageHeading('Create a service'), form);
    },
    update() {
      // Nothing live here: the form keeps what the operator typed.
    },
  };
}
