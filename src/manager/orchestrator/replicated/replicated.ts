// The replicated orchestrator: keeps slots 1..replicas of every replicated
// service filled with one live task each (../slots.ts does the per-slot work):
// new tasks for missing slots, desiredState SHUTDOWN for the slots above
// `replicas` (Swarm removes the highest slots), replacements in the same slot
// for tasks on nodes that are gone, down, drained or no longer match the
// placement constraints (the task's own: see ../../constraint/usability.ts), restarts by the
// restart policy, rolling updates.
import type { Logger } from 'pino';
import { taskMustLeaveReason } from '../../constraint/usability.js';
import type { ControllerContext } from '../../controller.js';
import type { Service, Task } from '../../../api/objects.js';
import type { StoreEvent } from '../../store/watch.js';
import { nodeChangeMatters, serviceOrTaskEvent } from '../events.js';
import { ReconcileLoop, type Job, type Planned, type ResolvedOptions, type Serial } from '../loop.js';
import type { LeaderTimes } from '../leader-times.js';
import type { RestartSupervisor } from '../restart/restart.js';
import { logPlan, planService, type ServicePlan, type SlotInput } from '../slots.js';
import { SpecMatcher, isLive } from '../tasks.js';
import { updateUnderWay, type Updater } from '../update/updater.js';

export const isReplicated = (s: Service): boolean => 'replicated' in s.spec.mode;

export function replicasOf(s: Service): number {
  return 'replicated' in s.spec.mode ? s.spec.mode.replicated.replicas : 0;
}

export class ReplicatedOrchestrator extends ReconcileLoop {
  readonly name = 'replicated-orchestrator';

  constructor(
    ctx: ControllerContext,
    serial: Serial,
    options: ResolvedOptions,
    log: Logger,
    private readonly restart: RestartSupervisor,
    private readonly updater: Updater,
    private readonly times: LeaderTimes,
  ) {
    super(ctx, serial, options, log);
  }

  protected override onStart(): void {
    this.times.acquire(this.ctx.now(), () => this.ctx.store.list('task'));
  }

  protected override onStop(): void {
    this.times.release();
  }

  protected plan(job: Job): Planned {
    const now = this.ctx.now();
    return this.planEach(this.jobServices(job, isReplicated), (service) => this.planOne(service, now, job.slots?.get(service.id)));
  }

  /**
   * Plan one replicated service (exposed for tests and benchmarks); `only`:
   * just these slots (see Job.slots), unless an update is under way, which
   * paces itself over every slot.
   */
  planOne(service: Service, now: number, only?: ReadonlySet<number>): ServicePlan {
    const { store } = this.ctx;
    const replicas = replicasOf(service);
    const partial = only !== undefined && !updateUnderWay(service);
    const bySlot = new Map<number, Task[]>();
    if (partial) {
      for (const slot of only) bySlot.set(slot, store.tasksBySlot(service.id, slot));
    } else {
      for (const t of store.tasksByService(service.id, { sorted: false })) {
        const list = bySlot.get(t.slot);
        if (list) list.push(t);
        else bySlot.set(t.slot, [t]);
      }
    }
    const inputs: SlotInput[] = [];
    const slotInput = (slot: number): SlotInput => ({
      key: `${service.id}/${slot}`,
      slot,
      nodeId: '',
      wanted: slot >= 1 && slot <= replicas,
      unwantedReason: `scaled down to ${replicas} replica(s)`,
      canCreate: true,
      tasks: bySlot.get(slot) ?? [],
    });
    if (partial) {
      for (const slot of [...only].sort((a, b) => a - b)) inputs.push(slotInput(slot));
    } else {
      for (let slot = 1; slot <= replicas; slot++) inputs.push(slotInput(slot));
      for (const slot of [...bySlot.keys()].sort((a, b) => a - b)) if (slot < 1 || slot > replicas) inputs.push(slotInput(slot));
    }

    const plan = planService(
      {
        service,
        now,
        node: (id) => store.get('node', id),
        matcher: new SpecMatcher(service),
        restart: this.restart,
        times: this.times,
        stopMarginMs: this.options.stopMarginMs,
        mustLeave: (t) => (t.nodeId === '' ? '' : taskMustLeaveReason(t, store.get('node', t.nodeId))),
      },
      inputs,
      this.updater,
    );
    logPlan(this.log, this.restart.log, service, plan);
    return plan;
  }

  protected onEvent(ev: StoreEvent): void {
    const { store } = this.ctx;
    if (ev.op === 'restored') return this.markAll();
    if (serviceOrTaskEvent(ev, store, isReplicated, this.restart, this.times, () => this.ctx.now(), (id, slot) => (slot === undefined ? this.markDirty(id) : this.markSlotDirty(id, slot)))) return;
    switch (ev.kind) {
      case 'node': {
        if (!nodeChangeMatters(ev)) return;
        const ids = new Set<string>();
        for (const t of store.tasksByNode(ev.object.id)) if (isLive(t)) ids.add(t.serviceId);
        for (const id of ids) {
          const s = store.get('service', id);
          if (s && isReplicated(s)) this.markDirty(id);
        }
        return;
      }
      default:
        return;
    }
  }
}
