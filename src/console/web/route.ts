// Hash routes (#/services/ID): parsed to a route the app renders. Pure.

export type Route =
  | { view: 'cluster' }
  | { view: 'nodes' }
  | { view: 'node'; id: string }
  | { view: 'services' }
  | { view: 'service'; id: string }
  | { view: 'create-service' }
  | { view: 'task'; id: string }
  | { view: 'events' }
  | { view: 'not-found'; path: string };

/** The route of a location hash ("#/nodes/abc"); an empty hash is the cluster page. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/^\/+|\/+$/g, '');
  const parts = path === '' ? [] : path.split('/').map(decodePart);
  const [head, id, ...rest] = parts;
  if (rest.length > 0 || parts.includes(null)) return { view: 'not-found', path };
  switch (head) {
    case undefined:
    case 'cluster':
      return id === undefined ? { view: 'cluster' } : { view: 'not-found', path };
    case 'nodes':
      return id === undefined ? { view: 'nodes' } : { view: 'node', id: id as string };
    case 'services':
      if (id === undefined) return { view: 'services' };
      return id === 'new' ? { view: 'create-service' } : { view: 'service', id: id as string };
    case 'tasks':
      return id === undefined ? { view: 'not-found', path } : { view: 'task', id: id as string };
    case 'events':
      return id === undefined ? { view: 'events' } : { view: 'not-found', path };
    default:
      return { view: 'not-found', path };
  }
}

function decodePart(p: string): string | null {
  try {
    return decodeURIComponent(p);
  } catch {
    return null;
  }
}

/** The hash of a page: href(['services', id]) -> "#/services/ID". */
export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

/** The nav section a route belongs to (for aria-current). */
export function section(route: Route): 'cluster' | 'nodes' | 'services' | 'create-service' | 'events' | '' {
  switch (route.view) {
    case 'cluster':
    case 'nodes':
    case 'services':
    case 'events':
    case 'create-service':
      return route.view;
    case 'node':
      return 'nodes';
    case 'service':
    case 'task':
      return 'services';
    default:
      return '';
  }
}
