// Spreading a group of tasks (same service, same requirements) over the nodes
// that passed the static filters (availability, constraints).
//
// Without placement preferences the next task goes to the node with the
// fewest tasks of the service, then the fewest tasks in all, then the
// smallest id: a binary heap of candidates on that key, so a task costs
// O(log nodes) and the key of a node only changes when it gets a task.
//
// Placement preferences (`spread: node.labels.zone`, ...) build a tree, as in
// SwarmKit: one level per preference, one branch per distinct value of the
// descriptor (nodes without it form their own branch), a heap per leaf. The
// next task descends, at each level, into the branch holding the fewest tasks
// of the service (ties: the first value in sort order), then takes the best
// node of the leaf. A node that fails the capacity checks (resources, host
// ports) is dropped for the rest of the group: within a pass, capacity only
// shrinks and the group's tasks all need the same.
import { nodeAttribute } from '../constraint/match.js';
import { PASS, type Filter } from './filters.js';
import type { NodeInfo } from './view.js';

export interface Candidate {
  info: NodeInfo;
  /** Tasks of the group's service holding the node. */
  svc: number;
}

function less(a: Candidate, b: Candidate): boolean {
  if (a.svc !== b.svc) return a.svc < b.svc;
  if (a.info.tasks !== b.info.tasks) return a.info.tasks < b.info.tasks;
  return a.info.id < b.info.id;
}

/** A binary min-heap of candidates ordered by (service tasks, tasks, id). */
export class CandidateHeap {
  private readonly h: Candidate[];

  /** Takes ownership of the array. */
  constructor(items: Candidate[]) {
    this.h = items;
    for (let i = (items.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  get size(): number {
    return this.h.length;
  }

  peek(): Candidate | undefined {
    return this.h[0];
  }

  /** The root's key grew (it got a task): move it to its place. */
  rootChanged(): void {
    this.down(0);
  }

  popRoot(): void {
    const last = this.h.pop();
    if (last !== undefined && this.h.length > 0) {
      this.h[0] = last;
      this.down(0);
    }
  }

  private down(i: number): void {
    const h = this.h;
    const n = h.length;
    const x = h[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && less(h[c + 1], h[c])) c++;
      if (!less(h[c], x)) break;
      h[i] = h[c];
      i = c;
    }
    h[i] = x;
  }
}

interface Branch {
  /** The descriptor's value ('' when this is the root). */
  value: string;
  /** Tasks of the service on the branch's nodes. */
  svc: number;
  exhausted: boolean;
  children: Branch[] | undefined;
  heap: CandidateHeap | undefined;
}

/** The value of the branch for nodes that lack the descriptor (sorts after every real value). */
const MISSING = '\uffff<missing>';

/** A check a candidate must pass for the next task: PASS, or the filter it fails. */
export type CapacityCheck = (info: NodeInfo) => Filter | typeof PASS;

export class SpreadTree {
  private readonly root: Branch;
  private readonly path: Branch[] = [];

  constructor(candidates: readonly NodeInfo[], serviceId: string, preferences: readonly string[]) {
    const cands = candidates.map((info): Candidate => ({ info, svc: info.serviceTasks(serviceId) }));
    this.root = build('', cands, preferences, 0);
  }

  /**
   * Choose the node for the next task of the group: `check` it, drop it (and
   * report the filter to `excluded`) if it fails, call `place` on the one
   * chosen before reordering (place updates the view's task counts). Returns
   * undefined when no candidate is left.
   */
  take(check: CapacityCheck, excluded: (filter: Filter) => void, place: (info: NodeInfo) => void): NodeInfo | undefined {
    const path = this.path;
    for (;;) {
      if (this.root.exhausted) return undefined;
      path.length = 0;
      let b = this.root;
      while (b.children !== undefined) {
        path.push(b);
        b = pickChild(b.children);
      }
      const heap = b.heap as CandidateHeap;
      let chosen: Candidate | undefined;
      while (heap.size > 0) {
        const c = heap.peek() as Candidate;
        const f = check(c.info);
        if (f === PASS) {
          chosen = c;
          break;
        }
        excluded(f);
        heap.popRoot();
      }
      if (chosen === undefined) {
        b.exhausted = true;
        for (let i = path.length - 1; i >= 0; i--) {
          if (!(path[i].children as Branch[]).every((c) => c.exhausted)) break;
          path[i].exhausted = true;
        }
        continue;
      }
      place(chosen.info);
      chosen.svc++;
      heap.rootChanged();
      b.svc++;
      for (const p of path) p.svc++;
      return chosen.info;
    }
  }
}

/** The open branch with the fewest tasks of the service; ties go to the first (branches are sorted by value). */
function pickChild(children: Branch[]): Branch {
  let best: Branch | undefined;
  for (const c of children) if (!c.exhausted && (best === undefined || c.svc < best.svc)) best = c;
  return best as Branch;
}

function build(value: string, cands: Candidate[], prefs: readonly string[], level: number): Branch {
  if (level === prefs.length) {
    let svc = 0;
    for (const c of cands) svc += c.svc;
    return { value, svc, exhausted: cands.length === 0, children: undefined, heap: new CandidateHeap(cands) };
  }
  const groups = new Map<string, Candidate[]>();
  for (const c of cands) {
    const v = nodeAttribute(c.info.node as NonNullable<NodeInfo['node']>, prefs[level]) ?? MISSING;
    let g = groups.get(v);
    if (g === undefined) groups.set(v, (g = []));
    g.push(c);
  }
  const children = [...groups.keys()].sort().map((v) => build(v, groups.get(v) as Candidate[], prefs, level + 1));
  let svc = 0;
  for (const c of children) svc += c.svc;
  return { value, svc, exhausted: children.length === 0, children, heap: undefined };
}
