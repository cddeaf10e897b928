// Log lines are prefixed like docker service logs: name.slot.taskid@node    | text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logPrefix, PrefixPadder } from '../../../src/console/web/logline.js';

test('the prefix is the task name, the task id cut to 12 characters and the node', () => {
  assert.equal(logPrefix({ taskName: 'web.1', taskId: 'k3j4h5g6f7d8a9s0d1f2', nodeName: 'node-1', nodeId: 'abc' }), 'web.1.k3j4h5g6f7d8@node-1');
  assert.equal(logPrefix({ taskName: 'agent.x7y8z9', taskId: 'short', nodeName: 'n', nodeId: 'x7y8z9' }), 'agent.x7y8z9.short@n');
  assert.equal(logPrefix({ taskName: 'web.2', taskId: 'abc', nodeName: '', nodeId: 'nodeid123' }), 'web.2.abc@nodeid123', 'the node id when the name is unknown');
});

test('prefixes are padded to the widest seen so the bars line up, then docker\'s separator', () => {
  const p = new PrefixPadder();
  assert.equal(p.format('web.10.aaa@node-1'), 'web.10.aaa@node-1    | ');
  assert.equal(p.format('web.1.aaa@node-1'), 'web.1.aaa@node-1     | ');
  assert.equal(p.format('web.100.aaa@node-1'), 'web.100.aaa@node-1    | ');
});
