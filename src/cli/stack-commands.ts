// `flotilla stack deploy | ls | services | ps | rm`, as docker stack's: a
// stack is the services, networks, secrets and configs of compose files,
// named STACK_NAME and labelled com.docker.stack.namespace=STACK.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Service } from '../api/objects.js';
import { UsageError } from './args.js';
import { CliError } from './errors.js';
import type { CommandContext, CommandDef, CommandGroup } from './command.js';
import { FORMAT_FLAG, formatRows, NO_TRUNC_FLAG, outputFormat, QUIET_FLAG, renderTable } from './format.js';
import { listNodes, listTasks } from './lookup.js';
import { printTasks, replicasColumn, serviceRow, serviceTable, SERVICE_HEADERS } from './service-commands.js';
import { STACK_NAMESPACE_LABEL } from './stack/model.js';

/** docker's rule for a stack name (it prefixes every object's name). */
const STACK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function stackName(ctx: CommandContext): string {
  const name = ctx.args[0];
  if (!STACK_NAME.test(name)) throw new UsageError(`invalid stack name ${JSON.stringify(name)}: use letters, digits, '_', '.' and '-', starting with a letter or digit`);
  return name;
}

async function readStdin(ctx: CommandContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of ctx.io.stdin?.() ?? []) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

const deploy: CommandDef = {
  name: 'deploy',
  aliases: ['up'],
  usage: 'flotilla stack deploy [OPTIONS] STACK',
  summary: 'Deploy a new stack or update an existing stack from compose files.',
  flags: [
    { name: 'compose-file', short: 'c', kind: 'list', metavar: 'FILE', help: 'path to a compose file, or "-" to read from stdin (repeat to merge files)' },
    { name: 'prune', kind: 'bool', help: 'remove services that are no longer referenced' },
    { name: 'detach', short: 'd', kind: 'bool', help: 'exit immediately instead of waiting for the stack services to converge (depends_on is still honoured)' },
    { name: 'dry-run', kind: 'bool', help: 'print what would be created, updated (with the spec difference) or removed, and change nothing' },
  ],
  args: { min: 1, max: 1 },
  details: 'Beyond docker: depends_on orders the first start of services (condition service_started, service_healthy, service_completed_successfully).',
  async run(ctx) {
    const stack = stackName(ctx);
    const paths = ctx.flags.list('compose-file');
    if (paths.length === 0) throw new UsageError('give a compose file: flotilla stack deploy -c docker-compose.yml STACK');
    if (paths.filter((p) => p === '-').length > 1) throw new UsageError('"-" (standard input) may be given once');
    const files: { path: string; content: string }[] = [];
    for (const p of paths) {
      if (p === '-') {
        files.push({ path: resolve('-'), content: await readStdin(ctx) });
        continue;
      }
      let content: string;
      try {
        content = readFileSync(p, 'utf8');
      } catch (err) {
        throw new UsageError(`cannot read compose file ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
      }
      files.push({ path: resolve(p), content });
    }
    const { loadStack } = await import('./stack/load.js');
    const model = loadStack(stack, files, { env: ctx.io.env, readFile: (p: string) => readFileSync(p) });
    // docker prints a blank line after each.
    for (const w of model.warnings) ctx.io.err(`${w}\n\n`);
    const control = ctx.control();
    if (ctx.flags.bool('dry-run')) {
      const [{ planDeploy, planText }, { readCluster }] = await Promise.all([import('./stack/plan.js'), import('./stack/deploy.js')]);
      ctx.io.out(planText(planDeploy(model, await readCluster(control), { prune: ctx.flags.bool('prune') })));
      return 0;
    }
    const { deployStack } = await import('./stack/deploy.js');
    await deployStack(control, ctx.io, model, { prune: ctx.flags.bool('prune'), detach: ctx.flags.bool('detach') });
    return 0;
  },
};

const ls: CommandDef = {
  name: 'ls',
  aliases: ['list'],
  usage: 'flotilla stack ls [OPTIONS]',
  summary: 'List stacks.',
  flags: [FORMAT_FLAG],
  args: { min: 0, max: 0 },
  async run(ctx) {
    const format = outputFormat(ctx.flags);
    const { stackObjects } = await import('./stack/deploy.js');
    const { services } = await stackObjects(ctx.control());
    const counts = new Map<string, number>();
    for (const s of services) counts.set(s.spec.labels[STACK_NAMESPACE_LABEL], (counts.get(s.spec.labels[STACK_NAMESPACE_LABEL]) ?? 0) + 1);
    const names = [...counts.keys()].sort();
    // docker's columns since 23.0, which dropped Kubernetes and its ORCHESTRATOR column (test/cli/golden/stack-ls.*).
    const rows = names.map((n) => ({ Name: n, Services: String(counts.get(n)) }));
    ctx.io.out(formatRows(format, rows, { headers: { Name: 'NAME', Services: 'SERVICES' }, typeName: 'stack', table: () => renderTable(['NAME', 'SERVICES'], rows.map((r) => [r.Name, r.Services])) }));
    return 0;
  },
};

async function servicesOf(ctx: CommandContext): Promise<Service[]> {
  const stack = stackName(ctx);
  const { stackObjects } = await import('./stack/deploy.js');
  const { services } = await stackObjects(ctx.control(), stack);
  if (services.length === 0) ctx.io.err(`Nothing found in stack: ${stack}\n`);
  return services.sort((a, b) => a.spec.name.localeCompare(b.spec.name));
}

const services: CommandDef = {
  name: 'services',
  usage: 'flotilla stack services [OPTIONS] STACK',
  summary: 'List the services in the stack.',
  flags: [FORMAT_FLAG, QUIET_FLAG, NO_TRUNC_FLAG],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const format = outputFormat(ctx.flags);
    const list = await servicesOf(ctx);
    if (list.length === 0) return 0;
    if (ctx.flags.bool('quiet')) {
      ctx.io.out(list.map((s) => `${s.id}\n`).join(''));
      return 0;
    }
    const tasks = await listTasks(ctx.control(), { serviceIds: list.map((s) => s.id) });
    const noTrunc = ctx.flags.bool('no-trunc');
    const rows = list.map((s) => serviceRow(s, replicasColumn(s, tasks), noTrunc));
    ctx.io.out(formatRows(format, rows, { headers: SERVICE_HEADERS, typeName: 'service', table: () => serviceTable(list, tasks, noTrunc) }));
    return 0;
  },
};

const ps: CommandDef = {
  name: 'ps',
  usage: 'flotilla stack ps [OPTIONS] STACK',
  summary: 'List the tasks in the stack.',
  flags: [FORMAT_FLAG, QUIET_FLAG, NO_TRUNC_FLAG],
  args: { min: 1, max: 1 },
  async run(ctx) {
    outputFormat(ctx.flags);
    const stack = stackName(ctx);
    const { stackObjects } = await import('./stack/deploy.js');
    const { services: list } = await stackObjects(ctx.control(), stack);
    const control = ctx.control();
    const byId = new Map(list.map((s) => [s.id, s]));
    const tasks = list.length === 0 ? [] : (await listTasks(control, { serviceIds: [...byId.keys()] })).filter((t) => byId.has(t.serviceId));
    // docker's stack ps fails (exit 1) when the stack has no task, where stack services and rm only say so.
    if (tasks.length === 0) throw new CliError(`nothing found in stack: ${stack}`);
    printTasks(ctx, tasks, byId, await listNodes(control));
    return 0;
  },
};

const rm: CommandDef = {
  name: 'rm',
  aliases: ['remove', 'down'],
  usage: 'flotilla stack rm STACK',
  summary: 'Remove the stack: its services, networks, secrets and configs.',
  flags: [],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const stack = stackName(ctx);
    const { removeStack } = await import('./stack/deploy.js');
    return removeStack(ctx.control(), ctx.io, stack);
  },
};

export const STACK_GROUP: CommandGroup = {
  name: 'stack',
  summary: 'Manage stacks: applications deployed from compose files.',
  commands: [deploy, ls, ps, rm, services],
};
