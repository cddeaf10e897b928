// Where a stream of log lines stands, per task: the timestamp of the last line
// received and the lines received with exactly that timestamp. A manager that
// subscribes again (the leader changed during a followed stream) sends the
// cursors; lines at or before them are the ones the client has had, and are
// dropped, so the client sees each line once. The engine's `since` keeps
// lines at the cursor's own timestamp, which is why those are remembered.
import type { control } from '../../api/wire.js';
import { fixedTimestamp, MAX_SEEN_PER_CURSOR } from './select.js';

interface Cursor {
  /** Fixed width (nine digits of fraction): compares as a string. */
  at: string;
  seen: string[];
}

export class LogCursors {
  private readonly byTask = new Map<string, Cursor>();

  constructor(from: readonly control.LogCursor__Output[] = []) {
    for (const c of from) this.byTask.set(c.taskId, { at: fixedTimestamp(c.timestamp), seen: c.seen.slice(0, MAX_SEEN_PER_CURSOR) });
  }

  /**
   * True when `line` is new (and the cursor moves to it); false when the
   * client has had it. A line without a timestamp cannot be placed: it is new.
   */
  admit(line: Pick<control.LogLine__Output, 'taskId' | 'timestamp' | 'data'>): boolean {
    if (!line.timestamp) return true;
    const at = fixedTimestamp(line.timestamp);
    const c = this.byTask.get(line.taskId);
    if (!c || at > c.at) {
      this.byTask.set(line.taskId, { at, seen: [line.data] });
      return true;
    }
    if (at < c.at) return false;
    if (c.seen.includes(line.data)) return false;
    // Same timestamp, another line: remembered while there is room (past that, a resume may repeat one).
    if (c.seen.length < MAX_SEEN_PER_CURSOR) c.seen.push(line.data);
    return true;
  }

  /** The cursors, as a request resumes from them. */
  list(): control.LogCursor__Output[] {
    return [...this.byTask].map(([taskId, c]) => ({ taskId, timestamp: c.at, seen: [...c.seen] }));
  }
}
