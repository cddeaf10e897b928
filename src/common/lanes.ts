// Pipelined writes: jobs (each usually one Raft transaction) run with a few
// in flight at once, because waiting for each commit before proposing the
// next would make many transactions as slow as that many round trips.

/**
 * Runs the jobs `next` hands out, at most `width` at a time, in the order
 * handed out. After a failure no job is started; once those already started
 * have settled, resolves with the error of the earliest failed job (by the
 * order handed out), or undefined when all succeeded. `next` returns
 * undefined when there is nothing more to do.
 */
export async function inLanes(next: () => (() => Promise<void>) | undefined, width: number): Promise<{ error: unknown } | undefined> {
  let failed: { at: number; error: unknown } | undefined;
  let seq = 0;
  const lane = async (): Promise<void> => {
    for (let job = failed ? undefined : next(); job !== undefined; job = failed ? undefined : next()) {
      const at = seq++;
      try {
        await job();
      } catch (error) {
        if (failed === undefined || at < failed.at) failed = { at, error };
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
  return failed && { error: failed.error };
}

/** `inLanes` over a list. */
export function listInLanes(jobs: ReadonlyArray<() => Promise<void>>, width: number): Promise<{ error: unknown } | undefined> {
  let i = 0;
  return inLanes(() => jobs[i++], width);
}
