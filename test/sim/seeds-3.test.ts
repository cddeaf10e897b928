// Simulated seeds 801..1200 (3, 5 and 7 nodes, every fault kind): no safety
// violation, a linearizable history, and liveness once faults stop.
import { test } from 'node:test';
import { assertCoverage, runSeedRange } from './seeds.js';

test('seeds 801..1200 hold every invariant and exercise every fault', () => {
  assertCoverage(runSeedRange(801, 400));
});
