// The one way the app builds elements: h('td', { 'data-testid': 'image' }, text).
// Text always becomes a text node (never parsed as HTML), and a `style`
// attribute is refused: the console's CSP allows no inline style (classes only).

export type Child = Node | string | number | null | undefined | false | Child[];
type Listener = (ev: Event) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el: HTMLElement, attrs: Attrs): void {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'style') throw new Error('no style attributes: the CSP refuses them, use a class');
    if (typeof value === 'function') {
      if (!key.startsWith('on')) throw new Error(`attribute ${key} takes a string, not a function`);
      el.addEventListener(key.slice(2), value);
    } else if (key === 'class') {
      el.className = String(value);
    } else if (key === 'value' && (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement || el instanceof HTMLSelectElement)) {
      el.value = String(value);
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** Appends children (nested arrays flattened; null, undefined and false skipped). */
export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(parent, c);
    else if (c === null || c === undefined || c === false) continue;
    else parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children in one DOM operation. */
export function replaceChildren(parent: Element, ...children: Child[]): void {
  const frag = document.createDocumentFragment();
  append(frag, children);
  parent.replaceChildren(frag);
}

/** A table with a caption (visually hidden when `hideCaption`), column headers and the rows given as a fragment. */
export function table(caption: string, headers: string[], rows: DocumentFragment | Node[], opts: { testid?: string; hideCaption?: boolean } = {}): HTMLElement {
  const tbody = h('tbody');
  if (Array.isArray(rows)) append(tbody, rows);
  else tbody.appendChild(rows);
  return h(
    'div',
    { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-label': caption },
    h(
      'table',
      { 'data-testid': opts.testid },
      h('caption', { class: opts.hideCaption ? 'visually-hidden' : null }, caption),
      h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))),
      tbody,
    ),
  );
}

/** A `<time>` with the ISO time as its datetime and tooltip. */
export function time(iso: string, text: string): HTMLElement {
  return h('time', { datetime: iso || null, title: iso || null }, text);
}

/** A small coloured word for a state ("running", "ready", "drain"): the class picks the colour, the text says it. */
export function badge(word: string, kind: string): HTMLElement {
  return h('span', { class: `badge badge-${kind}` }, word);
}

/** The badge colour of a task, node or update state. */
export function stateKind(state: string): string {
  switch (state) {
    case 'running':
    case 'ready':
    case 'active':
    case 'completed':
    case 'complete':
    case 'reachable':
    case 'leader':
    case 'rollback_completed':
      return 'ok';
    case 'failed':
    case 'rejected':
    case 'down':
    case 'unreachable':
    case 'orphaned':
    case 'disconnected':
    case 'rollback_paused':
    case 'paused':
      return 'bad';
    case 'shutdown':
    case 'remove':
    case 'drain':
    case 'pause':
    case 'unknown':
      return 'muted';
    default:
      return 'busy';
  }
}
