// One scheduling pass as a computation over the view, with no I/O: which
// pending tasks go to which node, and which stay PENDING with what reason.
// Every placement is recorded in the view as it is decided (view.place), so
// the rest of the pass sees the resources, ports and spread counts it took.
//
// Order: tasks with a preset node (a global service's) first, each checked
// against its own node; then the others, grouped by service and requirements
// (groups in key order, tasks by slot then id), each group spread by a
// SpreadTree over the nodes that pass the static filters. The static filters
// (availability, constraints) are evaluated once per distinct constraint set.
import { matchConstraints } from '../constraint/match.js';
import type { CompiledConstraint } from '../../api/constraint.js';
import { nodeAvailable } from '../constraint/usability.js';
import { TaskState, type Task } from '../../api/objects.js';
import {
  Filter,
  PASS,
  PENDING_MESSAGE,
  checkCapacity,
  checkNode,
  formatInvalidConstraints,
  formatNoSuitableNode,
  newCounts,
  requirementsKey,
  requirementsOf,
} from './filters.js';
import { fitsResources } from './resources.js';
import { SpreadTree } from './spread.js';
import type { ClusterView, NodeInfo } from './view.js';

export const ASSIGNED_MESSAGE = 'scheduler assigned task to node';

/** A task as read (its version is the one the write expects) and as it should be written. */
export interface PlannedWrite {
  read: Task;
  next: Task;
}

export interface Plan {
  /** Tasks to write ASSIGNED on the chosen node. */
  assignments: PlannedWrite[];
  /** Tasks that stay PENDING and whose status message or error must change. */
  unschedulable: PlannedWrite[];
  /** Tasks that stay PENDING (written or not). */
  waiting: number;
}

interface StaticResult {
  /** Nodes that are not ready and active. */
  notReady: number;
  /** Available nodes that fail the constraints. */
  unmatched: NodeInfo[];
  /** Available nodes that satisfy the constraints. */
  candidates: NodeInfo[];
}

function staticFilter(nodes: readonly NodeInfo[], constraints: readonly CompiledConstraint[]): StaticResult {
  const r: StaticResult = { notReady: 0, unmatched: [], candidates: [] };
  for (const info of nodes) {
    const node = info.node;
    if (node === undefined || !nodeAvailable(node)) r.notReady++;
    else if (constraints.length > 0 && !matchConstraints(constraints, node)) r.unmatched.push(info);
    else r.candidates.push(info);
  }
  return r;
}

function bySlotThenId(a: Task, b: Task): number {
  return a.slot - b.slot || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function assigned(t: Task, nodeId: string, now: number): Task {
  return { ...t, updatedAt: now, nodeId, status: { ...t.status, state: TaskState.ASSIGNED, message: ASSIGNED_MESSAGE, err: '', timestamp: now } };
}

/** Decide the pass; records each placement in the view. */
export function planPass(view: ClusterView, now: number): Plan {
  const plan: Plan = { assignments: [], unschedulable: [], waiting: 0 };
  const wait = (t: Task, err: string): void => {
    plan.waiting++;
    if (t.status.err === err && t.status.message === PENDING_MESSAGE) return; // no write when nothing changes
    plan.unschedulable.push({ read: t, next: { ...t, updatedAt: now, status: { ...t.status, message: PENDING_MESSAGE, err } } });
  };

  const preset: Task[] = [];
  const groups = new Map<string, Task[]>();
  for (const t of view.pending.values()) {
    if (t.nodeId !== '') {
      preset.push(t);
      continue;
    }
    const key = requirementsKey(t);
    let g = groups.get(key);
    if (g === undefined) groups.set(key, (g = []));
    g.push(t);
  }

  preset.sort(bySlotThenId);
  for (const t of preset) {
    const req = requirementsOf(t);
    if (!req.constraints.ok) {
      wait(t, formatInvalidConstraints(req.constraints.error));
      continue;
    }
    const info = view.node(t.nodeId);
    const f = info === undefined ? Filter.READY : checkNode(req, info);
    if (info !== undefined && f === PASS) {
      view.place(t, info);
      plan.assignments.push({ read: t, next: assigned(t, info.id, now) });
    } else {
      const counts = newCounts();
      counts[f === PASS ? Filter.READY : f]++;
      wait(t, formatNoSuitableNode(counts));
    }
  }

  const nodes = view.nodes();
  const statics = new Map<string, StaticResult>();
  for (const key of [...groups.keys()].sort()) {
    const tasks = (groups.get(key) as Task[]).sort(bySlotThenId);
    const req = requirementsOf(tasks[0]);
    if (!req.constraints.ok) {
      const err = formatInvalidConstraints(req.constraints.error);
      for (const t of tasks) wait(t, err);
      continue;
    }
    const ckey = tasks[0].spec.placement.constraints.join('\n');
    let st = statics.get(ckey);
    if (st === undefined) statics.set(ckey, (st = staticFilter(nodes, req.constraints.constraints)));

    const tree = new SpreadTree(st.candidates, req.serviceId, req.preferences);
    const counts = newCounts();
    counts[Filter.READY] = st.notReady;
    const check = (info: NodeInfo): Filter | typeof PASS => checkCapacity(req, info);
    const excluded = (f: Filter): void => {
      counts[f]++;
    };
    let i = 0;
    for (; i < tasks.length; i++) {
      const t = tasks[i];
      const info = tree.take(check, excluded, (chosen) => view.place(t, chosen));
      if (info === undefined) break;
      plan.assignments.push({ read: t, next: assigned(t, info.id, now) });
    }
    if (i < tasks.length) {
      // Resources come before constraints in the pipeline: a node that fails
      // both counts as short of resources. (This group placed nothing on them.)
      for (const info of st.unmatched) counts[fitsResources(info, req.nanoCpus, req.memoryBytes) ? Filter.CONSTRAINTS : Filter.RESOURCES]++;
      const err = formatNoSuitableNode(counts);
      for (; i < tasks.length; i++) wait(tasks[i], err);
    }
  }
  return plan;
}
