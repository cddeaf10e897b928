// Where each node of one log subscription stands, and what to do next: send
// the subscription once the node has a session (a new leader waits for the
// agents to come back), give up on a node that has no session or does not
// answer in time (a warning, and the other nodes' lines still flow: Swarm
// hangs there, moby/moby#37336), and end a stream without --follow once every
// node has sent all it had or was given up on. Pure: the clock and the
// sessions are passed in.

/** How long a node may go without a session before it is given up on (the agents of a new leader reconnect within it). */
export const SESSION_WAIT_MS = 10_000;
/** How long a node that was sent the subscription may take to answer. */
export const ANSWER_MS = 5_000;

type State = { kind: 'no-session'; since: number } | { kind: 'sent'; at: number } | { kind: 'answered' } | { kind: 'done' } | { kind: 'given-up' };

export type ProgressAction = { kind: 'send'; nodeId: string } | { kind: 'give-up'; nodeId: string; why: string };

export interface ProgressTiming {
  sessionWaitMs?: number;
  answerMs?: number;
}

export class NodeProgress {
  private readonly nodes = new Map<string, State>();
  private readonly sessionWaitMs: number;
  private readonly answerMs: number;

  constructor(timing: ProgressTiming = {}) {
    this.sessionWaitMs = timing.sessionWaitMs ?? SESSION_WAIT_MS;
    this.answerMs = timing.answerMs ?? ANSWER_MS;
  }

  /** A node whose tasks are to be read (again: a node given up on is tried anew for new tasks). */
  add(nodeId: string, now: number): void {
    const s = this.nodes.get(nodeId);
    if (s && s.kind !== 'given-up' && s.kind !== 'done') return;
    this.nodes.set(nodeId, { kind: 'no-session', since: now });
  }

  has(nodeId: string): boolean {
    return this.nodes.has(nodeId);
  }

  /** What to do now: nodes to send the subscription to (they have a session), nodes to give up on. */
  step(now: number, hasSession: (nodeId: string) => boolean): ProgressAction[] {
    const out: ProgressAction[] = [];
    for (const [nodeId, s] of this.nodes) {
      if (s.kind === 'no-session') {
        if (hasSession(nodeId)) {
          this.nodes.set(nodeId, { kind: 'sent', at: now });
          out.push({ kind: 'send', nodeId });
        } else if (now - s.since >= this.sessionWaitMs) {
          this.nodes.set(nodeId, { kind: 'given-up' });
          out.push({ kind: 'give-up', nodeId, why: 'has no session with the leader (down, or cut off)' });
        }
      } else if (s.kind === 'sent' && now - s.at >= this.answerMs) {
        this.nodes.set(nodeId, { kind: 'given-up' });
        out.push({ kind: 'give-up', nodeId, why: `did not answer within ${Math.round(this.answerMs / 1000)}s` });
      }
    }
    return out;
  }

  /** The node sent a message for the subscription. */
  answered(nodeId: string): void {
    const s = this.nodes.get(nodeId);
    if (s?.kind === 'sent' || s?.kind === 'no-session') this.nodes.set(nodeId, { kind: 'answered' });
  }

  /** The node sent everything it had. */
  done(nodeId: string): void {
    if (this.nodes.has(nodeId)) this.nodes.set(nodeId, { kind: 'done' });
  }

  /** The node's stream broke off: true when it had not finished (a warning is due). */
  lost(nodeId: string): boolean {
    const s = this.nodes.get(nodeId);
    if (!s || s.kind === 'done' || s.kind === 'given-up') return false;
    this.nodes.set(nodeId, { kind: 'given-up' });
    return true;
  }

  /** Whether the node is still expected to send (not done, not given up on). */
  active(nodeId: string): boolean {
    const s = this.nodes.get(nodeId);
    return s !== undefined && s.kind !== 'done' && s.kind !== 'given-up';
  }

  /** Every node sent all it had or was given up on (a stream without --follow ends then). */
  finished(): boolean {
    for (const s of this.nodes.values()) if (s.kind !== 'done' && s.kind !== 'given-up') return false;
    return true;
  }
}
