// Batching windows that do not delay the first item of a quiet period.
//
// The dispatcher's pushes and status writes and the agent's status reports
// are batched over a window (100 ms, 50 ms, 100 ms) so that a burst of
// thousands of changes goes out in a few messages. A fixed window delays
// every lone change by the whole window, and a rolling update is a chain of
// lone changes (task created, assigned, pushed, started, reported, written:
// the next slot waits for all of them): the windows were most of a slot's
// time. Here a change that comes after a quiet window goes out at once (a
// tick later, so that what the same turn of the event loop adds joins it);
// changes that follow within the window wait for its end, as before.

/** The least delay: changes made in the same turn of the event loop go out together. */
export const SAME_TURN_MS = 1;

/** How long to wait before sending, given when the last send happened (ms, a monotonic clock). */
export function windowDelay(lastSentAt: number, windowMs: number, now: number = performance.now()): number {
  return Math.max(SAME_TURN_MS, lastSentAt + windowMs - now);
}
