// The task reaper: task history retention, and tasks whose service is gone.
//
// Per slot (replicated: service + slot; global: service + node) it keeps at
// most `taskHistoryRetention` (cluster spec.orchestration, default 5)
// non-live tasks, deleting the oldest. It never deletes:
// - a live task;
// - a task whose desiredState is past RUNNING while its observed state is
//   still <= RUNNING (its agent may still be stopping it and needs it), unless
//   its node no longer exists (no agent will ever ask for it);
// - a task that ended while still desired RUNNING (the restart supervisor has
//   not handled it yet);
// - the newest task of a wanted slot (replicated: 1..replicas; global: a
//   node that exists) that has no live task, whatever the retention:
//   it records why the slot is empty (restart delay, or left empty on purpose
//   by the restart policy; see ../restart/restart.ts).
// Tasks of a service that no longer exists are deleted (the control API
// deletes them with their service; this catches any left over).
import type { Logger } from 'pino';
import type { ControllerContext } from '../../controller.js';
import type { Unit } from '../../plan/unit.js';
import { deleteAction } from '../../store/store.js';
import { isTerminal, type Service, type Task } from '../../../api/objects.js';
import type { StoreEvent } from '../../store/watch.js';
import { ReconcileLoop, type Job, type Planned, type ResolvedOptions, type Serial } from '../loop.js';
import { slotKey } from '../restart/restart.js';
import { MAX_CHANGES_PER_PASS } from '../slots.js';
import { byCreation, isLive, isStopped, isStopping } from '../tasks.js';

export const DEFAULT_TASK_HISTORY_RETENTION = 5;

export class TaskReaper extends ReconcileLoop {
  readonly name = 'task-reaper';

  constructor(ctx: ControllerContext, serial: Serial, options: ResolvedOptions, log: Logger) {
    super(ctx, serial, options, log);
  }

  /** The cluster's taskHistoryRetention (default 5). */
  retention(): number {
    const c = this.ctx.store.list('cluster')[0];
    return c ? c.spec.orchestration.taskHistoryRetention : DEFAULT_TASK_HISTORY_RETENTION;
  }

  protected plan(job: Job): Planned {
    const { store } = this.ctx;
    const retention = this.retention();
    const units: Unit[] = [];
    const wake = new Map<string, number>();
    // At most MAX_CHANGES_PER_PASS deletions a pass, the rest right after (as the orchestrators create): the
    // 100,000 tasks of a removed service deleted back to back held the leader long enough to lose its leadership.
    const del = (t: Task): void => {
      if (units.length >= MAX_CHANGES_PER_PASS) {
        wake.set(t.serviceId, this.ctx.now());
        return;
      }
      units.push({ actions: [deleteAction('task', t.id, t.version)] });
    };
    let orphans = 0;
    let reaped = 0;
    if (job.all) {
      for (const t of store.values('task')) {
        if (store.get('service', t.serviceId) !== undefined) continue;
        del(t);
        orphans++;
      }
      for (const s of store.list('service')) reaped += this.reapService(s, retention, del);
    } else {
      for (const id of job.ids) {
        const s = store.get('service', id);
        if (s) {
          reaped += this.reapService(s, retention, del, job.slots?.get(id));
        } else {
          for (const t of store.tasksByService(id)) {
            del(t);
            orphans++;
          }
        }
      }
    }
    if (orphans) this.log.info({ tasks: Math.min(orphans, units.length), left: wake.size > 0 }, 'deleting tasks whose service is gone');
    if (reaped) this.log.debug({ tasks: reaped, retention }, 'deleting old task history');
    return { units, wake };
  }

  /** `only`: just these replicated slots (see Job.slots). */
  private reapService(service: Service, retention: number, del: (t: Task) => void, only?: ReadonlySet<number>): number {
    const { store } = this.ctx;
    const slots = new Map<string, Task[]>();
    const tasks = only === undefined ? store.tasksByService(service.id, { sorted: false }) : [...only].flatMap((slot) => store.tasksBySlot(service.id, slot));
    for (const t of tasks) {
      const k = slotKey(t);
      const list = slots.get(k);
      if (list) list.push(t);
      else slots.set(k, [t]);
    }
    const replicas = 'replicated' in service.spec.mode ? service.spec.mode.replicated.replicas : 0;
    // A slot the service still wants (replicated: 1..replicas; global: an existing node).
    const wanted = (t: Task): boolean => (t.slot > 0 ? t.slot <= replicas : store.get('node', t.nodeId) !== undefined);
    let n = 0;
    for (const tasks of slots.values()) {
      const nonLive = tasks.filter((t) => !isLive(t));
      const keep = nonLive.length === tasks.length && wanted(tasks[0]) ? Math.max(retention, 1) : retention;
      if (nonLive.length <= keep) continue;
      nonLive.sort((a, b) => byCreation(b, a)); // newest first
      for (const t of nonLive.slice(keep)) {
        if (isStopped(t) || (isStopping(t) && t.nodeId !== '' && store.get('node', t.nodeId) === undefined)) {
          del(t);
          n++;
        }
      }
    }
    return n;
  }

  protected onEvent(ev: StoreEvent): void {
    if (ev.op === 'restored') return this.markAll();
    switch (ev.kind) {
      case 'cluster':
        if (ev.op === 'create' || ev.old?.spec.orchestration.taskHistoryRetention !== ev.object.spec.orchestration.taskHistoryRetention) this.markAll();
        return;
      case 'service':
        if (ev.op === 'delete') this.markDirty(ev.object.id);
        return;
      case 'task': {
        if (ev.op !== 'update' || !ev.old) return;
        const a = ev.old;
        const b = ev.object;
        if (a.desiredState !== b.desiredState || isTerminal(a.status.state) !== isTerminal(b.status.state)) {
          if (b.slot > 0) this.markSlotDirty(b.serviceId, b.slot);
          else this.markDirty(b.serviceId);
        }
        return;
      }
      case 'node':
        // A removed node's stopping tasks become deletable.
        if (ev.op === 'delete') this.markAll();
        return;
      default:
        return;
    }
  }
}
