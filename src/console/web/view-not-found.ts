// Any hash the console does not know.
import { h } from './dom.js';
import { href } from './route.js';
import { pageHeading, type View } from './view.js';

export function notFoundView(path: string): View {
  return {
    title: () => 'Not found',
    mount(root) {
      root.append(pageHeading('Not found'), h('p', null, `The console has no page "${path}". `, h('a', { href: href('cluster') }, 'Go to the cluster overview'), '.'));
    },
    update() {},
  };
}
