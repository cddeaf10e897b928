// The Control API handlers (src/manager/controlapi/service.ts) over an
// in-process store (LocalStore): no Raft, barrier() is immediate, and this
// manager is the leader and the only member. `writes` counts what was
// proposed, so that a test can check that a refusal changed nothing.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { toGrpcStatus } from '../../../src/manager/grpc-status.js';
import { ControlService } from '../../../src/manager/controlapi/service.js';
import type { LeaderWriter } from '../../../src/manager/leader-writer.js';
import type { ReplicatedStore } from '../../../src/manager/replicated-store.js';
import { createAction, type Action } from '../../../src/manager/store/store.js';
import { cluster, node } from '../store-fixtures.js';
import { LocalStore } from '../local-store.js';

export interface ControlHarness {
  control: ControlService;
  local: LocalStore;
  /** Transactions proposed through the writer. */
  writes: () => number;
}

/** A ControlService over a store holding cluster c1 ("default") and workers w1, w2. */
export function controlHarness(): ControlHarness {
  const local = new LocalStore();
  local.applyNow([createAction('cluster', cluster('c1', 'default')), createAction('node', node('w1')), createAction('node', node('w2'))]);
  let writes = 0;
  const rs = {
    store: local.store,
    barrier: async () => {},
    status: () => ({ id: 'm1', leader: 'm1', role: 'leader', term: 1, conf: { voters: ['m1'], learners: [] }, addresses: {}, progress: {} }),
  } as unknown as ReplicatedStore;
  const writer = {
    write: (actions: readonly Action[]) => {
      writes++;
      return local.write(actions);
    },
  } as unknown as LeaderWriter;
  return { control: new ControlService(rs, writer), local, writes: () => writes };
}

export interface Refusal {
  code: grpc.status;
  details: string;
  /** The `field` and `rule` metadata ('' when absent). */
  field: string;
  rule: string;
  metadata: Record<string, string>;
}

/** The gRPC status a call fails with, as a client gets it (it must fail). */
export async function refusal(p: Promise<unknown>): Promise<Refusal> {
  try {
    await p;
  } catch (err) {
    const st = toGrpcStatus(err);
    const metadata: Record<string, string> = {};
    for (const [k, v] of Object.entries(st.metadata.getMap())) metadata[k] = String(v);
    return { code: st.code, details: st.details, field: metadata.field ?? '', rule: metadata.rule ?? '', metadata };
  }
  assert.fail('the call succeeded');
}
