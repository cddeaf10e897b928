// The one error of the compose loader: one line naming the file, the place in
// it (services.web.deploy.replicas) and what is wrong.
import { CliError } from '../errors.js';

/** A compose file the loader refuses; exit code 1, like docker's `stack deploy`. */
export class StackFileError extends CliError {
  constructor(
    readonly file: string,
    /** 'services.web.deploy.replicas'; '' for the file as a whole. */
    readonly at: string,
    readonly detail: string,
  ) {
    // One line, and no control character of the file's reaches the terminal (keys and values are quoted
    // with JSON.stringify, which leaves DEL and the C1 controls as they are).
    super(
      `${file}: ${at ? `${at}: ` : ''}${detail}`
        .replace(/\s*\n\s*/g, ' ')
        // eslint-disable-next-line no-control-regex -- control characters are what is escaped
        .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    );
  }
}

/** A path into a compose document as the messages write it: services.web.ports[0]. */
export function pathText(path: readonly (string | number)[]): string {
  let s = '';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}
