// The global orchestrator: exactly one live task of every global service on
// every eligible node. A node keeps its task while it is up, not drained and
// matches the service's placement constraints; it gets a new one only when it
// is also active (a paused node keeps its task and gets none). A node that
// joins gets a task; a node that is removed, goes down, is drained or stops
// matching gets its task shut down (desiredState SHUTDOWN). Restarts, updates
// and the rest of the per-node work are ../slots.ts's, with the node as the slot.
import type { Logger } from 'pino';
import { Placement } from '../../constraint/usability.js';
import type { ControllerContext } from '../../controller.js';
import type { Node, Service, Task } from '../../../api/objects.js';
import type { StoreEvent } from '../../store/watch.js';
import { nodeChangeMatters, serviceOrTaskEvent } from '../events.js';
import { ReconcileLoop, type Job, type Planned, type ResolvedOptions, type Serial } from '../loop.js';
import type { LeaderTimes } from '../leader-times.js';
import type { RestartSupervisor } from '../restart/restart.js';
import { logPlan, planService, type ServicePlan, type SlotInput } from '../slots.js';
import { SpecMatcher } from '../tasks.js';
import type { Updater } from '../update/updater.js';

export const isGlobal = (s: Service): boolean => 'global' in s.spec.mode;

export class GlobalOrchestrator extends ReconcileLoop {
  readonly name = 'global-orchestrator';

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
    const services = this.jobServices(job, isGlobal);
    if (services.length === 0) return { units: [], wake: new Map() };
    const nodes = this.ctx.store.list('node');
    return this.planEach(services, (service) => this.planOne(service, nodes, now));
  }

  /** Plan one global service over the given nodes (exposed for tests). */
  planOne(service: Service, nodes: readonly Node[], now: number): ServicePlan {
    const { store } = this.ctx;
    const byNode = new Map<string, Task[]>();
    for (const n of nodes) byNode.set(n.id, []);
    for (const t of store.tasksByService(service.id, { sorted: false })) {
      const list = byNode.get(t.nodeId);
      if (list) list.push(t);
      else byNode.set(t.nodeId, [t]);
    }
    const placement = new Placement(service);
    const inputs: SlotInput[] = [];
    for (const [nodeId, tasks] of byNode) {
      const node = store.get('node', nodeId);
      const why = placement.keepReason(node);
      inputs.push({ key: `${service.id}@${nodeId}`, slot: 0, nodeId, wanted: why === '', unwantedReason: why, canCreate: placement.accepts(node), tasks });
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
        mustLeave: () => '',
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
    if (serviceOrTaskEvent(ev, store, isGlobal, this.restart, this.times, () => this.ctx.now(), (id) => this.markDirty(id))) return;
    switch (ev.kind) {
      case 'node':
        if (nodeChangeMatters(ev)) this.markAll();
        return;
      default:
        return;
    }
  }
}
