// A small replicated key-value store, the application of the simulator and
// of the process-level test fixture (not the product): applied from the Raft
// log, with client sessions so that a retried command applies exactly once
// (Raft dissertation §6.3). Reads do not go through the log: they use ReadIndex.

export type WriteOp = 'put' | 'append' | 'cas';

export interface KvCommand {
  /** Client session id and the command's sequence number in that session. */
  client: string;
  seq: number;
  f: WriteOp;
  key: string;
  value: string;
  /** cas only: the value expected (null = absent). */
  expected: string | null;
}

export interface KvResult {
  /** For cas: whether it swapped. put and append always succeed. */
  ok: boolean;
}

interface Session {
  seq: number;
  result: KvResult;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export function encodeCommand(c: KvCommand): Uint8Array {
  return enc.encode(JSON.stringify([c.client, c.seq, c.f, c.key, c.value, c.expected]));
}

export function decodeCommand(data: Uint8Array): KvCommand {
  const [client, seq, f, key, value, expected] = JSON.parse(dec.decode(data)) as [string, number, WriteOp, string, string, string | null];
  return { client, seq, f, key, value, expected };
}

export class KvStore {
  private data = new Map<string, string>();
  private sessions = new Map<string, Session>();
  /** Last log index applied (including no-ops and conf changes). */
  appliedIndex = 0;

  get(key: string): string | null {
    return this.data.get(key) ?? null;
  }

  apply(index: number, c: KvCommand): KvResult {
    this.appliedIndex = index;
    const s = this.sessions.get(c.client);
    // A retry of a command already applied: answer as the first time, change nothing.
    if (s && c.seq <= s.seq) return s.seq === c.seq ? s.result : { ok: false };
    let result: KvResult;
    switch (c.f) {
      case 'put':
        this.data.set(c.key, c.value);
        result = { ok: true };
        break;
      case 'append':
        this.data.set(c.key, (this.data.get(c.key) ?? '') + c.value);
        result = { ok: true };
        break;
      case 'cas': {
        const cur = this.data.get(c.key) ?? null;
        result = { ok: cur === c.expected };
        if (result.ok) this.data.set(c.key, c.value);
        break;
      }
    }
    this.sessions.set(c.client, { seq: c.seq, result });
    return result;
  }

  serialize(): Uint8Array {
    const data = [...this.data.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const sessions = [...this.sessions.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return enc.encode(JSON.stringify({ index: this.appliedIndex, data, sessions }));
  }

  static restore(bytes: Uint8Array): KvStore {
    const o = JSON.parse(dec.decode(bytes)) as { index: number; data: [string, string][]; sessions: [string, Session][] };
    const kv = new KvStore();
    kv.appliedIndex = o.index;
    kv.data = new Map(o.data);
    kv.sessions = new Map(o.sessions);
    return kv;
  }
}
