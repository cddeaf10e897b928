// The console's entry point (assets/app.js): loads the session, opens the
// live stream into the model, routes the location hash to a view and
// re-renders the current view when the model changes (once per frame at most).
import { api, ApiError, currentSession, loadSession } from './api.js';
import { connectLive, type LiveStatus } from './live.js';
import { applyEvents, applyPatch, applySnapshot, emptyModel, leaderHostname } from './model.js';
import { clearNotices, errorMessage, showError, showStatus } from './notices.js';
import { parseRoute, section, type Route } from './route.js';
import type { Ctx, View } from './view.js';
import { clusterView } from './view-cluster.js';
import { createServiceView } from './view-create.js';
import { eventsView } from './view-events.js';
import { nodesView, nodeView } from './view-nodes.js';
import { notFoundView } from './view-not-found.js';
import { serviceView } from './view-service.js';
import { servicesView } from './view-services.js';
import { taskView } from './view-task.js';

/** How often "x ago" texts are refreshed when nothing else changes. */
const CLOCK_TICK_MS = 10_000;

function byId(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}: index.html and the app are out of step, rebuild with npm run build`);
  return el;
}

const model = emptyModel();
let renderNow = Date.now();
let keepNotices = false;

const ctx: Ctx = {
  model,
  now: () => renderNow,
  navigate(hash) {
    keepNotices = true;
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

function viewFor(r: Route): View {
  switch (r.view) {
    case 'cluster':
      return clusterView(ctx);
    case 'nodes':
      return nodesView(ctx);
    case 'node':
      return nodeView(ctx, r.id);
    case 'services':
      return servicesView(ctx);
    case 'service':
      return serviceView(ctx, r.id);
    case 'create-service':
      return createServiceView(ctx);
    case 'task':
      return taskView(ctx, r.id);
    case 'events':
      return eventsView(ctx);
    case 'not-found':
      return notFoundView(r.path);
  }
}

let current: View | null = null;
let frame = 0;

function route(): void {
  const r = parseRoute(location.hash);
  current?.unmount?.();
  if (!keepNotices) clearNotices();
  keepNotices = false;
  const root = byId('view');
  root.replaceChildren();
  current = viewFor(r);
  current.mount(root);
  renderNow = Date.now();
  current.update();
  setTitle();
  for (const link of document.querySelectorAll<HTMLAnchorElement>('nav a[data-section]')) {
    if (link.dataset.section === section(r)) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  // A new page: its heading takes focus, so keyboard and screen-reader users start there.
  root.querySelector<HTMLElement>('h1')?.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

function setTitle(): void {
  const name = model.cluster?.name;
  document.title = `${current ? current.title() : 'Console'} · ${name ? `${name} · ` : ''}Flotilla console`;
}

/** Coalesces model changes into one render per frame. */
function scheduleRender(): void {
  if (frame) return;
  frame = requestAnimationFrame(() => {
    frame = 0;
    renderNow = Date.now();
    renderHeader();
    current?.update();
    setTitle();
  });
}

function renderHeader(): void {
  const c = model.cluster;
  byId('cluster-name').textContent = c?.name || '…';
  byId('cluster-leader').textContent = c ? leaderHostname(c) || 'none' : '…';
  byId('cluster-term').textContent = c ? String(c.term) : '…';
}

function setLive(status: LiveStatus): void {
  const el = byId('live-status');
  el.textContent = status;
  el.className = `live-status live-${status}`;
}

async function logout(): Promise<void> {
  try {
    await api.logout();
    document.body.classList.add('logged-out');
    byId('view').replaceChildren();
    showStatus('Logged out. Run `flotilla console` on a manager for a new login link.');
  } catch (err) {
    showError(errorMessage(err));
  }
}

async function start(): Promise<void> {
  byId('logout').addEventListener('click', () => void logout());
  window.addEventListener('hashchange', route);
  route();
  try {
    await loadSession();
    byId('session-node').textContent = currentSession()?.node.hostname ?? '';
  } catch (err) {
    // Without a session nothing else answers either: say what to do (the server's words) and stop here.
    setLive('offline');
    showError(err instanceof ApiError ? err.message : errorMessage(err));
    return;
  }
  connectLive({
    snapshot: (s) => {
      // A snapshot proves the stream is up even if its open event was missed.
      setLive('live');
      applySnapshot(model, s);
      scheduleRender();
    },
    patch: (p) => {
      if (applyPatch(model, p)) scheduleRender();
    },
    events: (e) => {
      if (applyEvents(model, e) > 0) scheduleRender();
    },
    status: setLive,
  });
  window.setInterval(scheduleRender, CLOCK_TICK_MS);
}

void start();
