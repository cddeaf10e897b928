// A scenario's report as people read it: PASS or FAIL, the timeline (seconds
// from the fault), the checks, the recovery times and the workload.
import type { ScenarioReport } from './runner.js';

export function formatReport(r: ScenarioReport): string {
  const lines = [`== ${r.name} (${r.title}): ${r.ok ? 'PASS' : 'FAIL'} in ${r.durationS.toFixed(1)} s`, '   timeline (seconds from the fault):'];
  for (const e of r.timeline) lines.push(`   ${e.t.toFixed(2).padStart(9)}  ${e.what}`);
  lines.push('   checks:');
  for (const k of r.checks) lines.push(`     ${k.ok ? 'ok  ' : 'FAIL'}  ${k.name}: ${k.detail}`);
  const rec = r.recovery;
  const s = (v: number | null): string => (v === null ? '-' : `${v.toFixed(2)} s`);
  lines.push(
    `   recovery: leader elected ${s(rec.leaderElectedS)}, node marked down ${s(rec.nodeMarkedDownS)}, first replacement RUNNING ${s(rec.firstReplacementRunningS)}, ` +
      `service converged ${s(rec.serviceConvergedS)}, longest gap between acknowledged writes ${s(rec.longestWriteGapS)}, healthy ${s(rec.healthyAfterHealS)} after the heal`,
  );
  const w = r.workload;
  lines.push(`   workload: ${w.operations} operations; writes ok ${w.writes.ok}, failed ${w.writes.fail}, unknown ${w.writes.info}; reads ok ${w.reads.ok}, failed ${w.reads.fail}`);
  return lines.join('\n');
}
