// The orchestrators, as the Manager starts them on the leader:
//
//   for (const c of createOrchestrators(ctx)) c.start();   // ... c.stop()
//
// - replicated-orchestrator: slots 1..replicas of replicated services;
// - global-orchestrator: one task per eligible node for global services;
// - task-reaper: task history retention, tasks of deleted services.
// The restart supervisor (restart/restart.ts) and the updater (update/updater.ts) work inside
// the two orchestrators' passes; all three controllers share one lock, so
// every pass plans from a store that holds the writes of the passes before it.
// Each controller also has reconcile(): one full pass now (tests).
import { pino } from 'pino';
import type { ControllerContext } from '../controller.js';
import { GlobalOrchestrator } from './global/global.js';
import { Serial, resolveOptions, type OrchestratorController, type OrchestratorOptions } from './loop.js';
import { TaskReaper } from './reaper/reaper.js';
import { ReplicatedOrchestrator } from './replicated/replicated.js';
import { RestartSupervisor } from './restart/restart.js';
import { Updater } from './update/updater.js';
import { LeaderTimes } from './leader-times.js';

export interface Orchestrators {
  replicated: ReplicatedOrchestrator;
  global: GlobalOrchestrator;
  reaper: TaskReaper;
  restart: RestartSupervisor;
  updater: Updater;
  times: LeaderTimes;
  /** All three controllers, in start order. */
  controllers: OrchestratorController[];
}

/** The orchestrator controllers with their shared parts exposed (tests, diagnostics). */
export function buildOrchestrators(ctx: ControllerContext, options: OrchestratorOptions = {}): Orchestrators {
  const o = resolveOptions(options);
  const base = ctx.logger ?? pino({ level: 'silent' });
  const serial = new Serial();
  const restart = new RestartSupervisor(base.child({ component: 'restart-supervisor' }));
  const updater = new Updater(base.child({ component: 'updater' }));
  const times = new LeaderTimes();
  const replicated = new ReplicatedOrchestrator(ctx, serial, o, base.child({ component: 'replicated-orchestrator' }), restart, updater, times);
  const global = new GlobalOrchestrator(ctx, serial, o, base.child({ component: 'global-orchestrator' }), restart, updater, times);
  const reaper = new TaskReaper(ctx, serial, o, base.child({ component: 'task-reaper' }));
  return { replicated, global, reaper, restart, updater, times, controllers: [replicated, global, reaper] };
}

/** The leader-only controllers of orchestration: replicated, global, task reaper. */
export function createOrchestrators(ctx: ControllerContext, options: OrchestratorOptions = {}): OrchestratorController[] {
  return buildOrchestrators(ctx, options).controllers;
}

export const orchestrators = createOrchestrators;

export { GlobalOrchestrator, isGlobal } from './global/global.js';
export { ReplicatedOrchestrator, isReplicated, replicasOf } from './replicated/replicated.js';
export { TaskReaper, DEFAULT_TASK_HISTORY_RETENTION } from './reaper/reaper.js';
export { RestartSupervisor, slotKey, type FillVerdict } from './restart/restart.js';
export { Updater, updateUnderWay, inCanaryPhase, activeConfig } from './update/updater.js';
export { LeaderTimes } from './leader-times.js';
export { Serial, type OrchestratorController, type OrchestratorOptions } from './loop.js';
export { newTask, shutdownTask } from './task-factory.js';
export { isLive, isStopping, isStopped, isUnhandledExit, SpecMatcher } from './tasks.js';
