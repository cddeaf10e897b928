// Writes from any manager: the leader proposes locally; a follower forwards
// the encoded transaction to the leader (Manager.Propose over mTLS) and gets
// the outcome back. While there is no leader (an election), it waits and
// retries until its deadline, but only when the transaction was certainly not
// proposed (a NotLeader answer, or no connection): a write is never applied
// twice by a retry. Optimistic versions in the transaction make a stale retry
// fail loudly anyway.
import type { Logger } from 'pino';
import { NotLeaderError } from '../raft/errors.js';
import { notDelivered, unary, type PeerClients } from './peer-clients.js';
import type { ReplicatedStore } from './replicated-store.js';
import { encodeTx, unwrapTx, type Action, type TxResult } from './store/store.js';
import type { StoreObject } from '../api/objects.js';

const RETRY_MS = 100;

export class NoLeaderError extends Error {
  override readonly name = 'NoLeaderError';
}

export class LeaderWriter {
  constructor(
    private readonly rs: ReplicatedStore,
    private readonly peers: PeerClients,
    private readonly log?: Logger,
  ) {}

  async write(actions: readonly Action[], opts: { timeoutMs?: number } = {}): Promise<StoreObject[]> {
    return unwrapTx(await this.propose(encodeTx(actions), opts.timeoutMs ?? 10_000));
  }

  /** Propose an encoded transaction through the leader; resolves with its outcome. */
  async propose(tx: Uint8Array, timeoutMs: number): Promise<TxResult> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new NoLeaderError(`no leader accepted the write within ${timeoutMs} ms: is a majority of managers up?`);
      if (this.rs.isLeader()) {
        try {
          return await this.rs.raft.propose(tx, { timeoutMs: remaining });
        } catch (err) {
          if (!(err instanceof NotLeaderError)) throw err;
        }
      } else {
        const leader = this.rs.leader();
        if (leader.address) {
          try {
            const res = await unary<{ tx: Uint8Array }, { result: Uint8Array }>(this.peers.managerClient(leader.address), 'Propose', { tx }, { deadlineMs: remaining });
            return JSON.parse(Buffer.from(res.result).toString('utf8')) as TxResult;
          } catch (err) {
            if (!notDelivered(err)) throw err;
            this.log?.debug({ leader: leader.id, err: String(err) }, 'forwarding a write to the leader failed; retrying');
          }
        }
      }
      await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())));
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
