// Starts the leader-only controllers (dispatcher, orchestrators, scheduler)
// when this manager becomes the leader, and stops them when it is not any
// more. They start only after a barrier: the local store then holds every
// write committed before this term, so they reconcile from the truth. Their
// writes are proposed locally only (never forwarded): a deposed leader's
// controller fails fast instead of acting through the new leader.
import type { Logger } from 'pino';
import type { ControllerContext, LeaderController } from './controller.js';
import type { ReplicatedStore } from './replicated-store.js';

/** How long a controller waits for a majority to confirm this leader before it gives up on a decision. */
const CONFIRM_LEADER_TIMEOUT_MS = 2_000;

export class LeaderControllers {
  private current: LeaderController[] | null = null;
  private chain: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly onChange = (): void => void this.check();

  constructor(
    private readonly rs: ReplicatedStore,
    private readonly make: (ctx: ControllerContext) => LeaderController[],
    private readonly log?: Logger,
  ) {}

  start(): void {
    this.rs.raft.on('role-change', this.onChange);
    this.rs.raft.on('leader-change', this.onChange);
    // A safety net: leadership can also be lost without an event we act on in time.
    this.timer = setInterval(this.onChange, 500);
    void this.check();
  }

  /** The running controller named `name`, if this manager leads. */
  get<T extends LeaderController>(name: string): T | null {
    return (this.current?.find((c) => c.name === name) as T | undefined) ?? null;
  }

  private check(): Promise<void> {
    this.chain = this.chain.then(() => this.reconcile()).catch((err: unknown) => this.log?.warn({ err: String(err) }, 'leader controllers did not switch'));
    return this.chain;
  }

  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const leader = this.rs.isLeader();
    if (leader && !this.current) {
      await this.rs.barrier({ timeoutMs: 5_000 });
      if (!this.rs.isLeader() || this.stopped) return;
      const ctx: ControllerContext = {
        store: this.rs.store,
        write: (actions) => this.rs.write(actions),
        now: Date.now,
        confirmLeader: () => this.rs.barrier({ timeoutMs: CONFIRM_LEADER_TIMEOUT_MS }),
        logger: this.log,
      };
      this.current = this.make(ctx);
      for (const c of this.current) c.start();
      this.log?.info({ controllers: this.current.map((c) => c.name) }, 'leader: controllers started');
    } else if (!leader && this.current) {
      // Said at once: stopping may wait for a controller's write in flight (it fails: a follower proposes nothing).
      this.log?.info('not the leader any more: stopping the leader controllers');
      const t0 = Date.now();
      await this.stopAll();
      this.log?.info({ ms: Date.now() - t0 }, 'leader controllers stopped');
    }
  }

  private async stopAll(): Promise<void> {
    const cs = this.current ?? [];
    this.current = null;
    await Promise.all(cs.map((c) => c.stop().catch(() => undefined)));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.rs.raft.off('role-change', this.onChange);
    this.rs.raft.off('leader-change', this.onChange);
    await this.chain;
    await this.stopAll();
  }
}
