// Read a stopped manager's replicated store from its data dir, the way the
// manager itself does at start: its key ring (opened with the unlock key when
// it is locked), its encrypted Raft storage, the snapshot, then every stored
// entry up to the commit index. For tests that need what the store holds in
// plaintext (the CA key) to prove it is not on disk.
import { dataDirPaths } from '../daemon/state.js';
import { DataKeyring } from '../manager/encryption/keyring.js';
import { ClusterStore } from '../manager/store/store.js';
import { RaftStorage } from '../raft/storage.js';
import { EntryType } from '../raft/types.js';
import { decodeSnapshot } from '../raft/node.js';

export async function readManagerStore(dataDir: string, unlockKey?: string): Promise<ClusterStore> {
  const p = dataDirPaths(dataDir);
  const loaded = await DataKeyring.load(p.keys);
  if (!loaded) throw new Error(`${p.keys} holds no key ring`);
  let keyring: DataKeyring;
  if (loaded.locked) {
    if (!unlockKey) throw new Error(`the key ring in ${p.keys} is locked: give the unlock key`);
    keyring = await loaded.unlock(unlockKey);
  } else {
    keyring = loaded.keyring;
  }
  const storage = await RaftStorage.open(p.raft, { cipher: keyring.cipher });
  try {
    const { snapshot, entries, hardState } = storage.load();
    const store = new ClusterStore();
    // A Raft snapshot wraps the store's image with the members' addresses (src/raft/node.ts).
    if (snapshot) store.restore(decodeSnapshot(snapshot.data).app);
    for (const e of entries) {
      if (e.index > hardState.commit) break;
      if (e.type === EntryType.Normal && e.data.length > 0) store.apply(e.data, e.index);
    }
    return store;
  } finally {
    await storage.close();
  }
}
