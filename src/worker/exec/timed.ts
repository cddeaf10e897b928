// An executor whose calls are timed, for the node's metrics: each call of an
// operation below reports its duration and whether it succeeded. The calls
// that last as long as the container (wait, logs) are not timed; anything else
// goes straight to the executor, so methods it gains later pass through.
import type { Executor } from './executor.js';

/** Executor method -> the operation label it is reported under (a fixed set: bounded cardinality). */
export const TIMED_OPERATIONS = {
  prepare: 'create',
  restoreFiles: 'restore_files',
  start: 'start',
  health: 'health',
  shutdown: 'stop',
  remove: 'remove',
  inspect: 'inspect',
  list: 'list',
  describe: 'describe',
  endpoints: 'endpoints',
} as const satisfies Partial<Record<keyof Executor, string>>;

export type ExecutorOperation = (typeof TIMED_OPERATIONS)[keyof typeof TIMED_OPERATIONS];

export type ExecutorCallObserver = (operation: ExecutorOperation, seconds: number, ok: boolean) => void;

/** `executor`, with its calls reported to `observe` (which must not throw). */
export function timedExecutor<E extends Executor>(executor: E, observe: ExecutorCallObserver): E {
  return new Proxy(executor, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const operation = Object.hasOwn(TIMED_OPERATIONS, prop) ? TIMED_OPERATIONS[prop as keyof typeof TIMED_OPERATIONS] : undefined;
      if (operation === undefined) return value.bind(target) as unknown;
      return (...args: unknown[]): unknown => {
        const started = performance.now();
        const seconds = (): number => (performance.now() - started) / 1000;
        let out: unknown;
        try {
          out = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (err) {
          observe(operation, seconds(), false);
          throw err;
        }
        if (!(out instanceof Promise)) {
          observe(operation, seconds(), true);
          return out;
        }
        return out.then(
          (v: unknown) => {
            observe(operation, seconds(), true);
            return v;
          },
          (err: unknown) => {
            observe(operation, seconds(), false);
            throw err;
          },
        );
      };
    },
  });
}
