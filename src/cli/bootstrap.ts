// `flotilla init`, `flotilla join`, `flotilla daemon`: create or join a
// cluster, or restart a node, from its data dir; then run the node's daemon in
// the foreground (logs as JSON lines on stderr) until SIGINT/SIGTERM.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { quoteArg } from './args.js';
import { pino, type Logger } from 'pino';
import { BootstrapError, defaultAdvertiseAddr, DEFAULT_PORT, initCluster, joinCluster, normalizeAddr } from '../daemon/bootstrap.js';
import { Daemon } from '../daemon/daemon.js';
import { DataDirError } from '../daemon/state.js';
import { CertificateError } from '../manager/ca/ca.js';
import { CaDigestMismatchError, InvalidTokenError } from '../manager/ca/token.js';

const DEFAULT_DATA_DIR = '/var/lib/flotilla';

const COMMON = {
  'data-dir': { type: 'string' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;
const ADDRS = {
  'advertise-addr': { type: 'string' },
  'listen-addr': { type: 'string' },
} as const;

const USAGE = {
  init: `usage: flotilla init [--advertise-addr HOST[:PORT]] [--listen-addr HOST[:PORT]] [--data-dir DIR]

Creates a cluster with this node as its first manager, prints how to join it,
and runs the node's daemon in the foreground.
  --advertise-addr   where other nodes reach this one (default: the listen
                     address, or this host's first IPv4 address; port ${DEFAULT_PORT})
  --listen-addr      the address to bind (default 0.0.0.0 and the advertised port)
  --data-dir         where the node keeps its state (default $FLOTILLA_DATA_DIR or ${DEFAULT_DATA_DIR})
  --log-level        trace|debug|info|warn|error (default info; logs go to stderr)
`,
  join: `usage: flotilla join --token TOKEN [--advertise-addr HOST[:PORT]] [--listen-addr HOST[:PORT]] [--data-dir DIR] MANAGER_HOST[:PORT]

Joins the cluster of the manager at MANAGER_HOST:PORT as a worker or a manager
(the token decides), then runs the node's daemon in the foreground. Get a token
with \`flotilla join-token worker\` (or manager) on a manager.
`,
  daemon: `usage: flotilla daemon [--data-dir DIR] [--log-level LEVEL]

Restarts a node from its data dir (created by init or join), in the foreground.
`,
} as const;

type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] };

function parse(cmd: keyof typeof USAGE, argv: string[], withAddrs: boolean, extra: Record<string, { type: 'string' }> = {}): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...(withAddrs ? ADDRS : {}), ...extra }, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    // node's message quotes the option (twice): keep it short, whatever was typed.
    const line = (err as Error).message.split('\n')[0];
    throw new UsageError(`${line.length > 240 ? `${line.slice(0, 240)}…` : line} (see: flotilla ${cmd} --help)`);
  }
}

class UsageError extends Error {}

function dataDir(v: Parsed['values']): string {
  const dir = (v['data-dir'] as string | undefined) ?? process.env.FLOTILLA_DATA_DIR ?? DEFAULT_DATA_DIR;
  return resolve(dir);
}

function logger(v: Parsed['values']): Logger {
  const level = (v['log-level'] as string | undefined) ?? process.env.FLOTILLA_LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(level)) throw new UsageError(`invalid --log-level ${quoteArg(level)}`);
  return pino({ level }, pino.destination(2));
}

function addresses(v: Parsed['values']): { listenAddr: string; advertiseAddr: string } {
  const adv = v['advertise-addr'] as string | undefined;
  const listen = v['listen-addr'] as string | undefined;
  const advertiseAddr = adv ? normalizeAddr(adv, '--advertise-addr') : undefined;
  const port = advertiseAddr ? Number(advertiseAddr.slice(advertiseAddr.lastIndexOf(':') + 1)) : DEFAULT_PORT;
  const listenAddr = listen ? normalizeAddr(listen, '--listen-addr', port) : `0.0.0.0:${port}`;
  return { listenAddr, advertiseAddr: advertiseAddr ?? defaultAdvertiseAddr(listenAddr) };
}

function statusIntervalMs(): number | undefined {
  const v = process.env.FLOTILLA_NODE_STATUS_MS;
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 50) throw new UsageError(`FLOTILLA_NODE_STATUS_MS must be an integer >= 50 (got ${quoteArg(v)})`);
  return n;
}

/** Run the daemon until a signal or until it stops by itself; resolves with the exit code. */
async function runForeground(dir: string, log: Logger): Promise<number> {
  const daemon = await Daemon.start({ dataDir: dir, logger: log, nodeStatusIntervalMs: statusIntervalMs() });
  return new Promise<number>((done) => {
    const onSignal = (sig: string): void => {
      log.info({ signal: sig }, 'stopping');
      void daemon.stop().then(() => done(0));
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
    daemon.once('exit', (code, reason) => {
      process.stderr.write(`flotilla: ${reason}\n`);
      done(code);
    });
  });
}

async function guarded(cmd: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`flotilla ${cmd}: ${err.message}\n`);
      return 2;
    }
    const known = [BootstrapError, DataDirError, InvalidTokenError, CaDigestMismatchError, CertificateError].some((E) => err instanceof E);
    process.stderr.write(`flotilla ${cmd}: ${known ? (err as Error).message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`}\n`);
    return 1;
  }
}

export function runInit(argv: string[]): Promise<number> {
  return guarded('init', async () => {
    const { values, positionals } = parse('init', argv, true);
    if (values.help) {
      process.stdout.write(USAGE.init);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument ${quoteArg(positionals[0])}`);
    const dir = dataDir(values);
    const log = logger(values);
    const addrs = addresses(values);
    const r = await initCluster({ dataDir: dir, ...addrs, logger: log });
    process.stdout.write(
      `Cluster initialized: ${r.clusterId}\nThis node (${r.nodeId}) is now its first manager.\n\n` +
        `To add a worker to this cluster, run the following command:\n\n    flotilla join --token ${r.workerToken} ${addrs.advertiseAddr}\n\n` +
        `To add a manager to this cluster, run \`flotilla join-token manager\` and follow the instructions.\n\n` +
        `The control API of this node: flotilla --data-dir ${dir} node ls\n`,
    );
    return runForeground(dir, log);
  });
}

export function runJoin(argv: string[]): Promise<number> {
  return guarded('join', async () => {
    const { values, positionals } = parse('join', argv, true, { token: { type: 'string' } });
    if (values.help) {
      process.stdout.write(USAGE.join);
      return 0;
    }
    const token = values.token as string | undefined;
    if (!token) throw new UsageError('--token is required: get one with `flotilla join-token worker` (or manager) on a manager');
    if (positionals.length !== 1) throw new UsageError('give exactly one manager address (HOST[:PORT])');
    const remoteAddr = normalizeAddr(positionals[0], 'manager address');
    const dir = dataDir(values);
    const log = logger(values);
    const addrs = addresses(values);
    const r = await joinCluster({ dataDir: dir, token, remoteAddr, ...addrs });
    process.stdout.write(`This node joined the cluster ${r.clusterId} as a ${r.role} (node id ${r.nodeId}).\n`);
    return runForeground(dir, log);
  });
}

export function runDaemon(argv: string[]): Promise<number> {
  return guarded('daemon', async () => {
    const { values, positionals } = parse('daemon', argv, false);
    if (values.help) {
      process.stdout.write(USAGE.daemon);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument ${quoteArg(positionals[0])}`);
    const dir = dataDir(values);
    return runForeground(dir, logger(values));
  });
}
