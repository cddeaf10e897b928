// Leader-side bookkeeping of ReadIndex requests (Raft §6.4): each request
// remembers the commit index when it arrived; it may be answered once a
// quorum of voters has acknowledged a heartbeat sent after it, which proves
// that no newer leader could have committed anything we do not know of.
import type { NodeId } from '../types.js';

export interface ReadRequest {
  from: NodeId;
  context: string;
  index: number;
  acks: Set<NodeId>;
}

export class ReadOnlyQueue {
  private queue: ReadRequest[] = [];
  private byContext = new Map<string, ReadRequest>();

  add(from: NodeId, context: string, index: number, self: NodeId): void {
    // A retried request with the same context keeps its first place in line.
    if (this.byContext.has(context)) return;
    const r: ReadRequest = { from, context, index, acks: new Set([self]) };
    this.queue.push(r);
    this.byContext.set(context, r);
  }

  /** Record `from`'s acknowledgement of the heartbeat for `context`; returns the acks so far (0 if unknown). */
  ack(from: NodeId, context: string): number {
    const r = this.byContext.get(context);
    if (!r) return 0;
    r.acks.add(from);
    return r.acks.size;
  }

  /** Remove and return every request up to and including `context`: a later confirmation covers earlier requests. */
  releaseUpTo(context: string): ReadRequest[] {
    const i = this.queue.findIndex((r) => r.context === context);
    if (i < 0) return [];
    const out = this.queue.splice(0, i + 1);
    for (const r of out) this.byContext.delete(r.context);
    return out;
  }

  clear(): void {
    this.queue = [];
    this.byContext.clear();
  }

  get size(): number {
    return this.queue.length;
  }
}
