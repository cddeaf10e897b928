// The Control API's nodes: get, list, update (availability, role, labels) and
// remove, with the quorum checks that keep the managers' majority.
import * as grpc from '@grpc/grpc-js';
import { nodeToProto, requireVersion } from '../../api/convert.js';
import { nodeAvailabilityFromProto, nodeRoleFromProto } from '../../api/enums.js';
import type { control } from '../../api/wire.js';
import { ApiError } from '../grpc-status.js';
import type { NodeRole } from '../ca/ca.js';
import { quorumRefusal } from '../membership.js';
import { deleteAction, updateAction, NotFoundError } from '../store/store.js';
import { jsonEqual } from '../../api/shared-specs.js';
import type { Cluster, Node } from '../../api/objects.js';
import { checkLabelKeys, validateLabels } from '../../api/validate.js';
import { quoteInput, ValidationError } from '../../api/input.js';
import { checkVersion, KindApi, labelsMatch, type Defaulting } from './common.js';

export class NodesApi extends KindApi {
  async GetNode(req: control.GetNodeRequest__Output): Promise<control.GetNodeResponse__Output> {
    await this.rs.barrier();
    return { node: nodeToProto(this.withManagerStatus(this.resolveNode(req.nodeId))) };
  }

  async ListNodes(req: control.ListNodesRequest__Output): Promise<control.ListNodesResponse__Output> {
    await this.rs.barrier();
    const f: Partial<NonNullable<control.ListNodesRequest__Output['filters']>> = req.filters ?? {};
    const roles = (f.roles ?? []).map((r, i) => nodeRoleFromProto(r, `filters.roles[${i}]`));
    const avail = (f.availabilities ?? []).map((a, i) => nodeAvailabilityFromProto(a, `filters.availabilities[${i}]`));
    const nodes = this.rs.store
      .list('node')
      .filter((n) => (f.ids?.length ? f.ids.some((id) => n.id.startsWith(id)) : true))
      .filter((n) => (roles.length ? roles.includes(n.role) : true))
      .filter((n) => (avail.length ? avail.includes(n.availability) : true))
      .filter((n) => labelsMatch(n.labels, f.labels ?? []));
    return { nodes: nodes.map((n) => nodeToProto(this.withManagerStatus(n))) };
  }

  async UpdateNode(req: Defaulting<control.UpdateNodeRequest__Output, 'labelsAdd' | 'labelsRm'>): Promise<control.UpdateNodeResponse__Output> {
    // `optional` in the proto: a change that is asked for says its value (absent is not ACTIVE / WORKER).
    if (req.hasAvailability && (req.availability === undefined || req.availability === null)) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, 'availability is required when has_availability is set: active, pause or drain');
    }
    if (req.hasRole && (req.role === undefined || req.role === null)) {
      throw new ApiError(grpc.status.INVALID_ARGUMENT, 'role is required when has_role is set: worker or manager');
    }
    const version = requireVersion(req.version, 'node', 'GetNode');
    const availability = req.hasAvailability ? nodeAvailabilityFromProto(req.availability) : undefined;
    const role: NodeRole | undefined = req.hasRole ? nodeRoleFromProto(req.role) : undefined;
    const labelsAdd = checkLabelKeys(validateLabels(req.labelsAdd ?? {}, 'labelsAdd'), 'labelsAdd');
    await this.rs.barrier();
    const node = this.resolveNode(req.nodeId);
    checkVersion('node', node, version);
    // A Map, not an object: a label named '__proto__' or 'toString' is a label like any other.
    const labels = new Map(Object.entries(node.labels));
    for (const key of req.labelsRm ?? []) {
      if (!labels.delete(key)) throw new ValidationError('labelsRm', 'label-missing', `node ${node.id} has no label ${quoteInput(key)}`);
    }
    for (const [k, v] of Object.entries(labelsAdd)) labels.set(k, v);
    const next: Node = { ...node, labels: Object.fromEntries(labels) };
    if (availability !== undefined) next.availability = availability;
    if (role !== undefined && role !== node.role) {
      if (role === 'worker') {
        const refusal = quorumRefusal(this.rs.status(), node.id, { force: req.force });
        if (refusal) throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot demote ${node.description.hostname} (${node.id}): ${refusal}`);
      }
      if (role === 'manager' && !node.status.address) {
        throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot promote ${node.id}: it joined without an advertise address (rejoin it with --advertise-addr)`);
      }
      next.role = role;
    }
    // Nothing changes: nothing to write (the version stays).
    if (jsonEqual(next, node)) return { node: nodeToProto(this.withManagerStatus(node)) };
    const [stored] = await this.writer.write([updateAction('node', { ...next, updatedAt: Date.now() }, version)]);
    return { node: nodeToProto(this.withManagerStatus(stored as Node)) };
  }

  async RemoveNode(req: control.RemoveNodeRequest__Output): Promise<control.RemoveNodeResponse__Output> {
    await this.rs.barrier();
    const node = this.resolveNode(req.nodeId);
    const st = this.rs.status();
    if (node.id === st.id) {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `${node.id} is the manager answering this call (the leader): demote it first, then remove it from another manager`);
    }
    const member = st.conf.voters.includes(node.id) || st.conf.learners.includes(node.id);
    if (node.role === 'manager' || member) {
      const refusal = quorumRefusal(st, node.id, { force: req.force });
      if (refusal) throw new ApiError(grpc.status.FAILED_PRECONDITION, `cannot remove manager ${node.description.hostname} (${node.id}): ${refusal}`);
    } else if (node.status.state === 'ready' && !req.force) {
      // Docker's rule: a node that still looks alive is probably still running tasks.
      throw new ApiError(
        grpc.status.FAILED_PRECONDITION,
        `node ${node.description.hostname} (${node.id}) is not down: stop its daemon first, or remove it anyway with --force`,
      );
    }
    const cluster = this.cluster();
    const nextCluster: Cluster = { ...cluster, removedNodes: [...cluster.removedNodes, node.id], updatedAt: Date.now() };
    await this.writer.write([deleteAction('node', node.id), updateAction('cluster', nextCluster)]);
    this.log?.info({ node: node.id, force: req.force }, 'node removed');
    return {};
  }

  /** A node by id, unique id prefix, or hostname (as docker accepts). */
  private resolveNode(ref: string): Node {
    // An absent (empty) reference names no node: it must not match a node whose hostname is empty.
    if (!ref) throw new ApiError(grpc.status.INVALID_ARGUMENT, 'node_id is required: a node id, id prefix or hostname');
    const direct = this.rs.store.get('node', ref);
    if (direct) return direct;
    const nodes = this.rs.store.list('node');
    const byPrefix = ref ? nodes.filter((n) => n.id.startsWith(ref)) : [];
    if (byPrefix.length === 1) return byPrefix[0];
    const byHost = nodes.filter((n) => n.description.hostname === ref);
    if (byHost.length === 1) return byHost[0];
    if (byPrefix.length > 1 || byHost.length > 1) {
      throw new ApiError(grpc.status.FAILED_PRECONDITION, `node reference ${quoteInput(ref)} is ambiguous: use the full node id`);
    }
    throw new NotFoundError('not-found', `no node ${quoteInput(ref)}: see \`flotilla node ls\``);
  }

  private withManagerStatus(n: Node): Node {
    const st = this.rs.status();
    if (!st.conf.voters.includes(n.id) && !st.conf.learners.includes(n.id)) {
      const { managerStatus: _drop, ...rest } = n;
      return rest;
    }
    const ms = this.managerStatus(n.id);
    return { ...n, managerStatus: { raftId: n.id, addr: ms.addr, leader: ms.leader, reachability: ms.reachability } };
  }
}
