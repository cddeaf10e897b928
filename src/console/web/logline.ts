// A log line's prefix as `docker service logs` prints it:
// "web.1.k3j4h5g6f7d8@node-1    | text" (the task name, the task id cut to 12
// characters, the node), padded so that a stream's bars line up. Pure.
import type { LogLine } from './types.js';

/** "web.1.k3j4h5g6f7d8@node-1": for a global service the task name already carries the node id ("web.NODEID"). */
export function logPrefix(line: Pick<LogLine, 'taskName' | 'taskId' | 'nodeName' | 'nodeId'>): string {
  return `${line.taskName}.${line.taskId.slice(0, 12)}@${line.nodeName || line.nodeId}`;
}

/**
 * Pads prefixes to the widest seen so far in one stream (docker pads to its widest task name up front; a
 * stream's tasks are not known up front here, so the width only grows).
 */
export class PrefixPadder {
  private width = 0;

  /** The prefix padded, then docker's separator ("    | "). */
  format(prefix: string): string {
    if (prefix.length > this.width) this.width = prefix.length;
    return `${prefix.padEnd(this.width)}    | `;
  }
}
