// `flotilla service logs SERVICE|TASK`, as `docker service logs`: the lines of
// every task of the service (or of one task), from the nodes that run them,
// stdout lines on stdout and stderr lines on stderr, each prefixed with its
// task (log-format.ts). A node that cannot be reached is a warning on stderr,
// and the others' lines still come; without --follow the command ends when
// every node has sent what it had (or was given up on).
import { oneLine } from './errors.js';
import { NO_TRUNC_FLAG } from './format.js';
import type { CommandDef } from './command.js';
import { formatLogLine, parseSince, parseTail, type LogPrintOptions } from './log-format.js';
import type { control } from '../api/wire.js';

export const logs: CommandDef = {
  name: 'logs',
  usage: 'flotilla service logs [OPTIONS] SERVICE|TASK',
  summary: 'Fetch the logs of a service or task.',
  flags: [
    { name: 'follow', short: 'f', kind: 'bool', help: 'follow log output' },
    { name: 'tail', short: 'n', kind: 'string', metavar: 'N', help: 'number of lines to show from the end of the logs of each task, or "all" (default all)' },
    { name: 'since', kind: 'string', metavar: 'TIME', help: 'show logs since a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'timestamps', short: 't', kind: 'bool', help: 'show timestamps' },
    { name: 'no-task-ids', kind: 'bool', help: 'do not include task IDs in output' },
    { ...NO_TRUNC_FLAG, help: 'do not truncate output' },
    { name: 'no-resolve', kind: 'bool', help: 'do not map IDs to names in output' },
    { name: 'raw', kind: 'bool', help: 'do not neatly format logs' },
  ],
  args: { min: 1, max: 1 },
  details: [
    'SERVICE is a service name, id or id prefix; TASK a task id (or id prefix).',
    'A node that does not answer within a few seconds is named in a warning on stderr; the other nodes\' lines still come.',
  ].join('\n'),
  async run(ctx) {
    const f = ctx.flags;
    const tail = parseTail(f.str('tail') ?? 'all');
    const since = f.str('since');
    const sinceMs = since === undefined ? 0 : parseSince(since, ctx.io.now());
    const opts: LogPrintOptions = {
      timestamps: f.bool('timestamps'),
      noTaskIds: f.bool('no-task-ids'),
      noTrunc: f.bool('no-trunc'),
      noResolve: f.bool('no-resolve'),
      raw: f.bool('raw'),
    };
    const tasks = new Map<string, control.LogTaskContext__Output>();
    const request: control.SubscribeLogsRequest = { target: ctx.args[0], follow: f.bool('follow'), hasTail: tail !== undefined, tail: tail ?? 0, sinceMs, resume: [] };
    await ctx.control().stream('SubscribeLogs', request, (msg) => {
      for (const t of msg.tasks) tasks.set(t.taskId, t);
      for (const line of msg.lines) {
        const text = formatLogLine(line, tasks.get(line.taskId), opts);
        if (line.stream === 1) ctx.io.err(text);
        else ctx.io.out(text);
      }
      for (const w of msg.warnings) ctx.io.err(`flotilla: warning: ${oneLine(w)}\n`);
    }).done;
    return 0;
  },
};
