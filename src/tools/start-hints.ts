// What `npm start` prints once its cluster is up: the console's address with a
// one-time login link (from `flotilla console -q`), and CLI lines to try. The
// lines use `npx flotilla`, which runs this package's own bin after `npm ci`
// (no global install), from the package's directory.
import { execFile } from 'node:child_process';
import { isAbsolute, relative } from 'node:path';

/** How long `flotilla console -q` may take before the start goes on without a login link. */
const CONSOLE_TIMEOUT_MS = 15_000;

/**
 * The one-time console login URL that `flotilla console -q --data-dir DIR` prints, or undefined when the command
 * fails, is not there, or prints anything but one URL: the start never fails for it.
 */
export function consoleLoginLine(bin: string, dataDir: string, timeoutMs = CONSOLE_TIMEOUT_MS): Promise<string | undefined> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, 'console', '-q', '--data-dir', dataDir], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout) => {
      const line = err ? '' : stdout.trim();
      done(/^https?:\/\/\S+$/.test(line) ? line : undefined);
    });
  });
}

/** `dir` as the operator types it from `cwd`: relative when inside it, else absolute. */
export function displayDir(dir: string, cwd: string): string {
  const rel = relative(cwd, dir);
  const shown = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : dir;
  // Quoted for the shell when it holds anything but a plain path's characters.
  return /^[\w./+@:-]+$/.test(shown) ? shown : `'${shown.replace(/'/g, `'\\''`)}'`;
}

export interface HintInput {
  /** The console's address on the first manager (http://HOST:PORT/console/). */
  consoleUrl: string;
  /** The one-time login link; undefined when `flotilla console -q` gave none. */
  loginLink: string | undefined;
  /** The first manager's data dir, as the operator types it. */
  dataDir: string;
  /** The image of the example service. */
  image: string;
}

/** The lines after "the cluster is running": the console and the CLI lines to try. */
export function hintLines(h: HintInput): string[] {
  const cli = `npx flotilla --data-dir ${h.dataDir}`;
  const login = h.loginLink ?? `run \`${cli} console\` for a login link`;
  const pad = ' '.repeat('Try:      '.length);
  return [
    `Console:  ${h.consoleUrl}   (login: ${login})`,
    `Try:      ${cli} service create --name web --replicas 3 ${h.image} httpd -f -p 8080`,
    ...['service ls', 'service ps web', 'node ls', 'service logs web', 'cluster info'].map((c) => `${pad}${cli} ${c}`),
    `${pad}(or \`export FLOTILLA_DATA_DIR=${h.dataDir}\`, then \`npx flotilla node ls\`)`,
  ];
}
