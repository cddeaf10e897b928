// The Control API (proto/control.proto) as served by the leader: reads after a
// barrier (linearizable), writes through Raft with the version the caller read.
// A follower does not run these: it forwards the whole call to the leader
// (./proxy.ts), as SwarmKit's raft proxy does, so every answer (manager
// reachability included) is the leader's view.
//
// One file per object kind (nodes.ts, services.ts, tasks.ts, networks.ts,
// secrets.ts, configs.ts, cluster.ts; what they share is in common.ts and
// file-objects.ts), composed here into the one service the server registers: a new kind is a new file and its methods' lines below.
import type { Logger } from 'pino';
import type { ControlLeaderMethod } from '../../api/proto.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { ClusterApi } from './cluster.js';
import { ConfigsApi } from './configs.js';
import { NetworksApi } from './networks.js';
import { NodesApi } from './nodes.js';
import { SecretsApi } from './secrets.js';
import { ServicesApi } from './services.js';
import { TasksApi } from './tasks.js';

type Req = Record<string, unknown>;

/** Every unary method of the Control service (api/proto.ts CONTROL_LEADER_METHODS), each served by its object kind (Events: src/manager/events). */
export class ControlService implements Record<ControlLeaderMethod, unknown> {
  private readonly nodes: NodesApi;
  private readonly services: ServicesApi;
  private readonly tasks: TasksApi;
  private readonly cluster: ClusterApi;
  private readonly networks: NetworksApi;
  private readonly secrets: SecretsApi;
  private readonly configs: ConfigsApi;

  constructor(rs: ReplicatedStore, writer: LeaderWriter, log?: Logger) {
    this.nodes = new NodesApi(rs, writer, log);
    this.services = new ServicesApi(rs, writer, log);
    this.tasks = new TasksApi(rs, writer, log);
    this.cluster = new ClusterApi(rs, writer, log);
    this.networks = new NetworksApi(rs, writer, log);
    this.secrets = new SecretsApi(rs, writer, log);
    this.configs = new ConfigsApi(rs, writer, log);
  }

  readonly GetNode: NodesApi['GetNode'] = (req) => this.nodes.GetNode(req);
  readonly ListNodes: NodesApi['ListNodes'] = (req) => this.nodes.ListNodes(req);
  readonly UpdateNode: NodesApi['UpdateNode'] = (req) => this.nodes.UpdateNode(req);
  readonly RemoveNode: NodesApi['RemoveNode'] = (req) => this.nodes.RemoveNode(req);

  readonly CreateService: ServicesApi['CreateService'] = (req) => this.services.CreateService(req);
  readonly GetService: ServicesApi['GetService'] = (req) => this.services.GetService(req);
  readonly ListServices: ServicesApi['ListServices'] = (req) => this.services.ListServices(req);
  readonly UpdateService: ServicesApi['UpdateService'] = (req) => this.services.UpdateService(req);
  readonly PromoteService: ServicesApi['PromoteService'] = (req) => this.services.PromoteService(req);
  readonly RemoveService: ServicesApi['RemoveService'] = (req) => this.services.RemoveService(req);

  readonly ListTasks: TasksApi['ListTasks'] = (req) => this.tasks.ListTasks(req);

  readonly CreateNetwork: NetworksApi['CreateNetwork'] = (req) => this.networks.CreateNetwork(req);
  readonly GetNetwork: NetworksApi['GetNetwork'] = (req) => this.networks.GetNetwork(req);
  readonly ListNetworks: NetworksApi['ListNetworks'] = (req) => this.networks.ListNetworks(req);
  readonly RemoveNetwork: NetworksApi['RemoveNetwork'] = (req) => this.networks.RemoveNetwork(req);

  readonly CreateSecret: SecretsApi['CreateSecret'] = (req) => this.secrets.CreateSecret(req);
  readonly GetSecret: SecretsApi['GetSecret'] = (req) => this.secrets.GetSecret(req);
  readonly ListSecrets: SecretsApi['ListSecrets'] = (req) => this.secrets.ListSecrets(req);
  readonly UpdateSecret: SecretsApi['UpdateSecret'] = (req) => this.secrets.UpdateSecret(req);
  readonly RemoveSecret: SecretsApi['RemoveSecret'] = (req) => this.secrets.RemoveSecret(req);
  readonly RotateSecret: SecretsApi['RotateSecret'] = (req) => this.secrets.RotateSecret(req);

  readonly CreateConfig: ConfigsApi['CreateConfig'] = (req) => this.configs.CreateConfig(req);
  readonly GetConfig: ConfigsApi['GetConfig'] = (req) => this.configs.GetConfig(req);
  readonly ListConfigs: ConfigsApi['ListConfigs'] = (req) => this.configs.ListConfigs(req);
  readonly UpdateConfig: ConfigsApi['UpdateConfig'] = (req) => this.configs.UpdateConfig(req);
  readonly RemoveConfig: ConfigsApi['RemoveConfig'] = (req) => this.configs.RemoveConfig(req);
  readonly RotateConfig: ConfigsApi['RotateConfig'] = (req) => this.configs.RotateConfig(req);

  readonly GetCluster: ClusterApi['GetCluster'] = () => this.cluster.GetCluster();
  readonly UpdateCluster: ClusterApi['UpdateCluster'] = (req) => this.cluster.UpdateCluster(req);
  readonly GetJoinTokens: ClusterApi['GetJoinTokens'] = () => this.cluster.GetJoinTokens();
  readonly RotateJoinToken: ClusterApi['RotateJoinToken'] = (req) => this.cluster.RotateJoinToken(req);
  readonly ClusterInfo: ClusterApi['ClusterInfo'] = () => this.cluster.ClusterInfo();
  readonly GetUnlockKey: ClusterApi['GetUnlockKey'] = () => this.cluster.GetUnlockKey();
  readonly RotateUnlockKey: ClusterApi['RotateUnlockKey'] = () => this.cluster.RotateUnlockKey();
  readonly UnlockNode: ClusterApi['UnlockNode'] = () => this.cluster.UnlockNode();
}

export type ControlHandler = (req: Req) => Promise<unknown>;
