// #/cluster: the managers (who leads, who is reachable), Raft's term and
// index, and how many nodes, services and tasks there are.
import { badge, h, stateKind, table } from './dom.js';
import { ago } from './format.js';
import { leaderHostname } from './model.js';
import { href } from './route.js';
import { naturalCompare } from './sort.js';
import { facts, message, pageHeading, swap, type Ctx, type View } from './view.js';

export function clusterView(ctx: Ctx): View {
  const body = h('div');
  return {
    title: () => 'Cluster',
    mount(root) {
      root.append(pageHeading('Cluster'), body);
    },
    update() {
      const { model } = ctx;
      const c = model.cluster;
      if (!model.loaded || !c) return swap(body, message('Loading the cluster…'));
      const now = ctx.now();
      let ready = 0;
      for (const n of model.nodes.values()) if (n.state === 'ready') ready++;
      let running = 0;
      for (const t of model.tasks.values()) if (t.state === 'running') running++;
      const managers = [...c.managers].sort((a, b) => naturalCompare(a.hostname, b.hostname));
      const rows = document.createDocumentFragment();
      for (const m of managers) {
        rows.appendChild(
          h(
            'tr',
            { 'data-testid': `manager-row-${m.hostname}` },
            h('td', null, h('a', { href: href('nodes', m.id) }, m.hostname)),
            h('td', { class: 'mono' }, m.addr),
            h('td', null, badge(m.reachability, stateKind(m.reachability))),
            h('td', null, m.leader ? badge('leader', 'ok') : ''),
          ),
        );
      }
      const fragment = document.createDocumentFragment();
      fragment.append(
        facts([
          ['Name', c.name],
          ['ID', h('span', { class: 'mono' }, c.id)],
          ['Created', ago(c.createdAt, now)],
          ['Leader', leaderHostname(c) || 'none (an election is under way)'],
          ['Raft term', String(c.term)],
          ['Raft index', String(c.raftIndex)],
        ]),
        h('h2', null, 'Counts'),
        facts([
          ['Nodes', `${model.nodes.size} (${ready} ready)`],
          ['Managers', String(c.managers.length)],
          ['Services', String(model.services.size)],
          ['Tasks', `${model.tasks.size} (${running} running)`],
        ]),
        h('h2', null, 'Managers'),
        table('Managers', ['Hostname', 'Address', 'Reachability', 'Leader'], rows, { testid: 'managers', hideCaption: true }),
      );
      swap(body, fragment);
    },
  };
}
