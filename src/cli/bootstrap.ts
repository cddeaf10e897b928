// `flotilla init`, `flotilla join`, `flotilla daemon`: create or join a
// cluster, or restart a node, from its data dir; then run the node's daemon in
// the foreground (logs as JSON lines on stderr) until SIGINT/SIGTERM.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { integerProblem, parseInteger, quoteArg, UsageError } from './args.js';
import { pino, type Logger } from 'pino';
import { BootstrapError, defaultAdvertiseAddr, DEFAULT_PORT, initCluster, joinCluster, normalizeAddr } from '../daemon/bootstrap.js';
import { checkCanListen, ListenError, METRICS_LISTENER } from '../daemon/listen-check.js';
import { Daemon } from '../daemon/daemon.js';
import { DataDirError, loadState, saveState, type NodeState } from '../daemon/state.js';
import { parseMetricsAddr } from '../daemon/http.js';
import { defaultMetricsAddr, DEFAULT_METRICS_PORT, splitHostPort } from '../common/address.js';
import type { NetworkConfig } from '../api/objects.js';
import { DEFAULT_NETWORK_CONFIG, parseIPv4Cidr, validateNetworkConfig } from '../api/validate.js';
import { ValidationError } from '../api/input.js';
import { validationDetail } from './errors.js';
import { unlockKeyInstructions } from './lock-commands.js';
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
const PUBLISH_ADDR = { 'publish-addr': { type: 'string' }, 'metrics-addr': { type: 'string' } } as const;
const NETWORK_FLAGS = {
  'vip-pool': { type: 'string' },
  'vip-pool-mask-length': { type: 'string' },
  'published-port-range': { type: 'string' },
} as const;
const D = DEFAULT_NETWORK_CONFIG;
const PUBLISH_ADDR_HELP = `  --publish-addr     the address this node's routing mesh binds published ports on
                     (default: the advertise address when it is a loopback one,
                     127.0.0.0/8, so that nodes on one host do not clash; else 0.0.0.0)
  --metrics-addr     HOST:PORT where this node serves Prometheus metrics, GET /metrics
                     (default: the advertise address when it is a loopback one, else
                     127.0.0.1, port ${DEFAULT_METRICS_PORT}: never exposed beyond this host unless
                     asked; 'off' serves none)`;

const USAGE = {
  init: `usage: flotilla init [--advertise-addr HOST[:PORT]] [--listen-addr HOST[:PORT]] [--publish-addr ADDR] [--metrics-addr HOST:PORT] [--data-dir DIR] [--autolock]
                     [--vip-pool CIDR] [--vip-pool-mask-length N] [--published-port-range START-END]

Creates a cluster with this node as its first manager, prints how to join it,
and runs the node's daemon in the foreground.
  --advertise-addr   where other nodes reach this one (default: the listen
                     address, or this host's first IPv4 address; port ${DEFAULT_PORT})
  --listen-addr      the address to bind (default 0.0.0.0 and the advertised port)
  --data-dir         where the node keeps its state (default $FLOTILLA_DATA_DIR or ${DEFAULT_DATA_DIR})
  --log-level        trace|debug|info|warn|error (default info; logs go to stderr)
${PUBLISH_ADDR_HELP}

  --autolock         managers wait for \`flotilla unlock\` with the unlock key after a
                     restart (the key is printed once; \`flotilla unlock-key\` shows it)

The cluster's data plane ranges (fixed once the cluster exists):
  --vip-pool CIDR            where each node's block of virtual IPs comes from (default ${D.vipPool})
  --vip-pool-mask-length N   the size of each node's block (default ${D.vipPoolMaskLength}: /${D.vipPoolMaskLength}, ${2 ** (32 - D.vipPoolMaskLength) - 3} virtual IPs per node)
  --published-port-range START-END
                             published ports assigned to services that publish a
                             port without one, -p 80 (default ${D.publishedPortRangeStart}-${D.publishedPortRangeEnd})
`,
  join: `usage: flotilla join --token TOKEN [--advertise-addr HOST[:PORT]] [--listen-addr HOST[:PORT]] [--publish-addr ADDR] [--metrics-addr HOST:PORT] [--data-dir DIR] MANAGER_HOST[:PORT]

Joins the cluster of the manager at MANAGER_HOST:PORT as a worker or a manager
(the token decides), then runs the node's daemon in the foreground. Get a token
with \`flotilla join-token worker\` (or manager) on a manager.
${PUBLISH_ADDR_HELP}
`,
  daemon: `usage: flotilla daemon [--data-dir DIR] [--log-level LEVEL] [--publish-addr ADDR] [--metrics-addr HOST:PORT]

Restarts a node from its data dir (created by init or join), in the foreground.
${PUBLISH_ADDR_HELP}
                     (both saved in the data dir: later restarts keep them)
`,
} as const;

type Parsed = { values: Record<string, string | boolean | undefined>; positionals: string[] };

function parse(cmd: keyof typeof USAGE, argv: string[], withAddrs: boolean, extra: Record<string, { type: 'string' | 'boolean' }> = {}): Parsed {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...PUBLISH_ADDR, ...(withAddrs ? ADDRS : {}), ...extra }, allowPositionals: true, strict: true }) as Parsed;
  } catch (err) {
    // node's message quotes the option (twice): keep it short, whatever was typed.
    const line = (err as Error).message.split('\n')[0];
    throw new UsageError(`${line.length > 240 ? `${line.slice(0, 240)}…` : line} (see: flotilla ${cmd} --help)`);
  }
}

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

/**
 * `--publish-addr ADDR`: an IP address to bind published ports on (IPv4, or
 * IPv6 with or without brackets; 0.0.0.0 or :: for every address), not a
 * name and no port. undefined when the flag is absent.
 */
export function parsePublishAddr(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const bracketed = /^\[.*\]$/.test(value);
  const v = bracketed ? value.slice(1, -1) : value;
  if (bracketed ? isIP(v) !== 6 : isIP(v) === 0) {
    const why = /:\d+$/.test(value) && isIP(value.replace(/:\d+$/, '')) !== 0 ? 'give the address alone: published ports keep their own numbers' : 'expected an IP address such as 0.0.0.0, 10.0.0.5 or 127.0.0.2';
    throw new UsageError(`invalid --publish-addr ${quoteArg(value)}: ${why}`);
  }
  return v;
}

/** The flag of each NetworkConfig field, for the validator's errors. */
const NETWORK_FIELD_FLAGS: Readonly<Record<string, string>> = {
  vipPool: '--vip-pool',
  vipPoolMaskLength: '--vip-pool-mask-length',
  publishedPortRangeStart: '--published-port-range',
  publishedPortRangeEnd: '--published-port-range',
};

/**
 * The data plane ranges `init` gives the new cluster, from --vip-pool,
 * --vip-pool-mask-length and --published-port-range (absent: the defaults);
 * checked by the manager's own validateNetworkConfig, each error one line
 * naming the flag. undefined when none of the flags is given.
 */
export function parseNetworkConfigFlags(v: Readonly<Record<string, string | boolean | undefined>>): NetworkConfig | undefined {
  const pool = v['vip-pool'] as string | undefined;
  const mask = v['vip-pool-mask-length'] as string | undefined;
  const range = v['published-port-range'] as string | undefined;
  if (pool === undefined && mask === undefined && range === undefined) return undefined;
  const draft: Partial<NetworkConfig> = {};
  if (pool !== undefined) {
    const cidr = parseIPv4Cidr(pool);
    if (cidr === undefined) throw new UsageError(`invalid --vip-pool ${quoteArg(pool)}: expected an IPv4 range in CIDR notation such as ${DEFAULT_NETWORK_CONFIG.vipPool}`);
    const canonical = `${cidr.address}/${cidr.prefix}`;
    if (canonical !== pool) throw new UsageError(`invalid --vip-pool ${quoteArg(pool)}: the address has bits set beyond the /${cidr.prefix}: did you mean ${canonical}?`);
    draft.vipPool = pool;
  }
  if (mask !== undefined) draft.vipPoolMaskLength = parseInteger(mask, '--vip-pool-mask-length', 1, 30);
  if (range !== undefined) {
    const m = /^([^-]*)-([^-]*)$/.exec(range);
    if (!m) throw new UsageError(`invalid --published-port-range ${quoteArg(range)}: expected START-END, such as ${DEFAULT_NETWORK_CONFIG.publishedPortRangeStart}-${DEFAULT_NETWORK_CONFIG.publishedPortRangeEnd}`);
    const port = (text: string, which: string): number => {
      const problem = integerProblem(text, 1, 65535);
      if (problem !== undefined) throw new UsageError(`invalid --published-port-range ${quoteArg(range)}: the ${which} must be a port number in 1..65535${problem.hint}`);
      return Number(text);
    };
    draft.publishedPortRangeStart = port(m[1], 'start');
    draft.publishedPortRangeEnd = port(m[2], 'end');
  }
  try {
    return validateNetworkConfig(draft, 'network');
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    const flag = NETWORK_FIELD_FLAGS[err.field.slice(err.field.lastIndexOf('.') + 1)] ?? '--vip-pool';
    throw new UsageError(`invalid ${flag}: ${validationDetail(err.message, err.field, err.rule)}`);
  }
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

/** The listen flags a node keeps in node.json (given to init, join or daemon), so that later restarts bind there too. */
export type NodeSettings = Partial<Pick<NodeState, 'publishAddr' | 'metricsAddr'>>;

export async function saveNodeSettings(dir: string, settings: NodeSettings): Promise<void> {
  const given = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as NodeSettings;
  if (Object.keys(given).length === 0) return;
  const state = await loadState(dir);
  if (Object.entries(given).some(([k, v]) => state[k as keyof NodeSettings] !== v)) await saveState(dir, { ...state, ...given });
}

/** `--metrics-addr`, checked: the normalized HOST:PORT, '' for off, undefined when absent. */
function metricsAddrFlag(v: Parsed['values']): string | undefined {
  try {
    return parseMetricsAddr(v['metrics-addr'] as string | undefined);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** init and join bind the metrics address before they register anything: a clash fails with nothing left behind. */
async function checkMetricsAddr(metricsAddr: string | undefined, advertiseAddr: string): Promise<void> {
  const addr = metricsAddr ?? defaultMetricsAddr(splitHostPort(advertiseAddr)?.host ?? '');
  if (addr !== '') await checkCanListen(addr, METRICS_LISTENER);
}

async function guarded(cmd: string, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`flotilla ${cmd}: ${err.message}\n`);
      return 2;
    }
    const known = [BootstrapError, ListenError, DataDirError, InvalidTokenError, CaDigestMismatchError, CertificateError].some((E) => err instanceof E);
    process.stderr.write(`flotilla ${cmd}: ${known ? (err as Error).message : `unexpected error: ${err instanceof Error ? err.message : String(err)}`}\n`);
    return 1;
  }
}

export function runInit(argv: string[]): Promise<number> {
  return guarded('init', async () => {
    const { values, positionals } = parse('init', argv, true, { ...NETWORK_FLAGS, autolock: { type: 'boolean' } });
    if (values.help) {
      process.stdout.write(USAGE.init);
      return 0;
    }
    if (positionals.length) throw new UsageError(`unexpected argument ${quoteArg(positionals[0])}`);
    // Every flag is checked before anything is written.
    const network = parseNetworkConfigFlags(values);
    const publishAddr = parsePublishAddr(values['publish-addr'] as string | undefined);
    const metricsAddr = metricsAddrFlag(values);
    const dir = dataDir(values);
    const log = logger(values);
    const addrs = addresses(values);
    const autolock = values.autolock === true;
    await checkMetricsAddr(metricsAddr, addrs.advertiseAddr);
    const r = await initCluster({ dataDir: dir, ...addrs, logger: log, ...(network ? { network } : {}), ...(publishAddr === undefined ? {} : { publishAddr }), autolock });
    process.stdout.write(
      `Cluster initialized: ${r.clusterId}\nThis node (${r.nodeId}) is now its first manager.\n\n` +
        `To add a worker to this cluster, run the following command:\n\n    flotilla join --token ${r.workerToken} ${addrs.advertiseAddr}\n\n` +
        `To add a manager to this cluster, run \`flotilla join-token manager\` and follow the instructions.\n\n` +
        `The control API of this node: flotilla --data-dir ${dir} node ls\n` +
        (r.unlockKey ? `\n${unlockKeyInstructions(r.unlockKey)}` : ''),
    );
    await saveNodeSettings(dir, { metricsAddr });
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
    const publishAddr = parsePublishAddr(values['publish-addr'] as string | undefined);
    const metricsAddr = metricsAddrFlag(values);
    const dir = dataDir(values);
    const log = logger(values);
    const addrs = addresses(values);
    await checkMetricsAddr(metricsAddr, addrs.advertiseAddr);
    const r = await joinCluster({ dataDir: dir, token, remoteAddr, ...addrs, ...(publishAddr === undefined ? {} : { publishAddr }) });
    process.stdout.write(`This node joined the cluster ${r.clusterId} as a ${r.role} (node id ${r.nodeId}).\n`);
    await saveNodeSettings(dir, { metricsAddr });
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
    const publishAddr = parsePublishAddr(values['publish-addr'] as string | undefined);
    const metricsAddr = metricsAddrFlag(values);
    const dir = dataDir(values);
    const log = logger(values);
    await saveNodeSettings(dir, { publishAddr, metricsAddr });
    return runForeground(dir, log);
  });
}
