// Simulated seeds 1..400 (3, 5 and 7 nodes, every fault kind): no safety
// violation, a linearizable history, and liveness once faults stop.
import { test } from 'node:test';
import { assertCoverage, runSeedRange } from './seeds.js';

test('seeds 1..400 hold every invariant and exercise every fault', () => {
  assertCoverage(runSeedRange(1, 400));
});
