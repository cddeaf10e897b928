// The Control API's tasks: listed by filters, in pages of bounded size.
import * as grpc from '@grpc/grpc-js';
import { taskToProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import { isTaskState, TaskState, type Task } from '../../api/objects.js';
import { validateId } from '../../api/validate.js';
import { ValidationError } from '../../api/input.js';
import { KindApi, type Defaulting } from './common.js';


/**
 * ListTasks answers at most this many tasks at once (see proto/control.proto): serialising an answer runs on the
 * leader's event loop in one piece, and 45,000 tasks held it 3.7 s (its followers elected another leader).
 */
export const MAX_TASKS_PER_ANSWER = 5_000;

export class TasksApi extends KindApi {
  async ListTasks(req: Defaulting<control.ListTasksRequest__Output, 'filters' | 'pageSize' | 'pageToken'>): Promise<control.ListTasksResponse__Output> {
    const pageSize = req.pageSize ?? 0;
    if (!Number.isInteger(pageSize) || pageSize < 0) throw new ValidationError('pageSize', 'range', `must be 0 (every task) or a positive number of tasks (got ${pageSize})`);
    const after = req.pageToken ? validateId(req.pageToken, 'pageToken') : '';
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListTasksRequest__Output['filters']>> = req.filters ?? {};
    const states = (f.desiredStates ?? []).map((s, i) => {
      if (!isTaskState(s)) throw new ValidationError(`filters.desiredStates[${i}]`, 'enum', `${s} is not a task state`);
      return s as TaskState;
    });
    // From the narrowest index the filters allow, not a copy of every task sorted first.
    const candidates: Iterable<Task> = f.serviceIds?.length
      ? f.serviceIds.flatMap((id) => this.rs.store.tasksByService(id, { sorted: false }))
      : f.nodeIds?.length
        ? f.nodeIds.flatMap((id) => this.rs.store.tasksByNode(id))
        : this.rs.store.values('task');
    const matching: Task[] = [];
    for (const t of candidates) {
      if (after && t.id <= after) continue;
      if (f.serviceIds?.length && !f.serviceIds.includes(t.serviceId)) continue;
      if (f.nodeIds?.length && !f.nodeIds.includes(t.nodeId)) continue;
      if (states.length && !states.includes(t.desiredState)) continue;
      matching.push(t);
    }
    const limit = pageSize === 0 ? MAX_TASKS_PER_ANSWER : Math.min(pageSize, MAX_TASKS_PER_ANSWER);
    if (pageSize === 0 && matching.length > limit) {
      throw new ApiError(
        grpc.status.RESOURCE_EXHAUSTED,
        `${matching.length} tasks match, more than the ${MAX_TASKS_PER_ANSWER} of one answer: ask for them in pages (page_size, page_token) or narrow the filters`,
      );
    }
    matching.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const page = matching.length > limit ? matching.slice(0, limit) : matching;
    // The token is the last id answered: the next page starts after it, whatever was created or deleted since.
    const nextPageToken = matching.length > limit ? page[page.length - 1].id : '';
    return { tasks: page.map(taskToProto), nextPageToken };
  }
}
