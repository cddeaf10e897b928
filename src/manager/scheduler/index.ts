// The scheduler: places PENDING tasks on nodes (see scheduler.ts).
export { Scheduler, type SchedulerOptions } from './scheduler.js';
export { explainTask, formatNoSuitableNode, NO_SUITABLE_NODE, PENDING_MESSAGE } from './filters.js';
export { ASSIGNED_MESSAGE } from './planner.js';
