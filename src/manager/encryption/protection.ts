// Every manager (leader or not) keeps its data key wrapped the way the
// cluster says: by the unlock key while autolock is on, by the key file in
// its data dir otherwise. It follows the cluster object as it applies it, so a
// manager that was down catches up when it comes back (unlocked with the key
// it was locked with) and re-wraps with the current one.
//
// Turning autolock on also rotates the data key (as Swarm does): the old one
// was wrapped by a key file on this disk, so whatever it sealed is sealed
// again with a key that never was. The new wrap and the new key are one write
// (DataKeyring.protectAndRotate), so no crash leaves the old key current.
import type { Logger } from 'pino';
import type { Cluster } from '../../api/objects.js';
import type { ClusterStore } from '../store/store.js';

/** How a data key ring is protected now (DataKeyring.protection). */
export type CurrentProtection = { kind: 'node' } | { kind: 'unlock-key'; digest: string };
export type WantedProtection = { kind: 'node' } | { kind: 'unlock-key'; unlockKey: string };

/** What DataKeyring (src/manager/encryption/keyring.ts) offers this follower. */
export interface ProtectedKeyring {
  readonly protection: CurrentProtection;
  matches(unlockKey: string): boolean;
  protect(p: WantedProtection): Promise<void>;
  /** Re-wrap and start a data key rotation in one atomic write, then finish the rotation. */
  protectAndRotate(p: WantedProtection, reencrypt: () => Promise<void>): Promise<void>;
}

export type ProtectionStep =
  | { action: 'none' }
  /** Re-wrap under `to`; `rotate`: then rotate the data key (it was wrapped by a key on disk until now). */
  | { action: 'protect'; to: WantedProtection; rotate: boolean };

/** The step that brings a ring to what the cluster says. A pure function of the cluster object and the ring. */
export function protectionStep(cluster: Cluster | undefined, ring: Pick<ProtectedKeyring, 'protection' | 'matches'>): ProtectionStep {
  if (!cluster) return { action: 'none' };
  const locked = cluster.spec.encryption?.autoLockManagers === true && Boolean(cluster.unlockKey);
  if (locked) {
    const key = cluster.unlockKey as string;
    if (ring.protection.kind === 'unlock-key' && ring.matches(key)) return { action: 'none' };
    return { action: 'protect', to: { kind: 'unlock-key', unlockKey: key }, rotate: ring.protection.kind === 'node' };
  }
  return ring.protection.kind === 'node' ? { action: 'none' } : { action: 'protect', to: { kind: 'node' }, rotate: false };
}

const RETRY_MS = 5_000;

export class KeyProtectionFollower {
  private unwatch: (() => void) | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: ClusterStore,
    private readonly ring: ProtectedKeyring,
    /** Seal everything stored again with the ring's current data key (RaftStorage.reencrypt). */
    private readonly reencrypt: () => Promise<void>,
    private readonly log?: Logger,
  ) {}

  start(): void {
    this.unwatch = this.store.watch({ kind: 'cluster' }, () => this.kick());
    this.kick();
  }

  /** Wait for a step in progress (a re-wrap is a few file writes; never cut one short). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.unwatch?.();
    this.unwatch = null;
    await this.running;
  }

  /** Resolves once the ring is as the cluster said when this was called (for tests). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.kick();
      }
    });
  }

  private async run(): Promise<void> {
    const step = protectionStep(this.store.list('cluster')[0], this.ring);
    if (step.action === 'none') return;
    try {
      // Autolock turned on: the new wrap and the new data key land in one write (a crash cannot leave the old key,
      // which a key file on this disk wrapped, as the current one).
      if (step.rotate) await this.ring.protectAndRotate(step.to, this.reencrypt);
      else await this.ring.protect(step.to);
      this.log?.info(
        { protection: step.to.kind, rotated: step.rotate },
        step.to.kind === 'node' ? 'data key now wrapped by the key file in the data dir (autolock off)' : 'data key now wrapped by the unlock key (autolock on)',
      );
    } catch (err) {
      // The ring is as it was or as asked (each step is atomic on disk): try again a little later.
      this.log?.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot re-wrap the data key; trying again in 5 s');
      if (!this.stopped) {
        this.retry = setTimeout(() => {
          this.retry = null;
          this.kick();
        }, RETRY_MS);
        this.retry.unref();
      }
    }
  }
}
