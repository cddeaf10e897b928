// Loading of proto/control.proto and proto/ca.proto: the service definitions
// (with their serializers) for the manager's gRPC server and for clients (the
// CLI has a lighter one of its own: control-client.ts).
// The loader options are the project's (src/common/protos.ts);
// the generated types (src/api/wire.ts) describe the shapes they produce.
import * as grpc from '@grpc/grpc-js';
import { dirname } from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_LOADER_OPTIONS, protoPath } from '../common/protos.js';
import { strictServiceDefinition } from '../common/strict-wire.js';
import { CONTROL_METHODS, CONTROL_SERVICE_NAME, type ControlMethod } from './control-methods.js';

// Named in control-methods.ts, which the CLI loads without this module.
export * from './control-methods.js';
export const CA_SERVICE_NAME = 'flotilla.ca.CA';


export const MANAGER_SERVICE_NAME = 'flotilla.manager.Manager';

export const CA_METHODS = ['GetRootCA', 'IssueNodeCertificate', 'NodeStatus'] as const;
export type CaMethod = (typeof CA_METHODS)[number];

export const MANAGER_METHODS = ['Propose', 'JoinRaft'] as const;

export const DISPATCHER_SERVICE_NAME = 'flotilla.dispatcher.Dispatcher';
export const DISPATCHER_METHODS = ['Session', 'Heartbeat', 'UpdateTaskStatus', 'PublishLogs'] as const;
export type DispatcherMethod = (typeof DISPATCHER_METHODS)[number];
/** Metadata on every "not the leader" answer of a manager's dispatcher service. */
export const NOT_LEADER_HEADER = 'flotilla-not-leader';
export type ManagerMethod = (typeof MANAGER_METHODS)[number];

export interface LoadedService<M extends string> {
  packageDefinition: protoLoader.PackageDefinition;
  /**
   * The service definition for grpc.Server.addService, with every method in
   * `M`. Its request deserializers are strict (src/common/strict-wire.ts):
   * serve it from a server made with withStrictWire().
   */
  service: grpc.ServiceDefinition;
  /** A client constructor for the service. */
  Client: grpc.ServiceClientConstructor;
  methods: readonly M[];
}

function load<M extends string>(file: string, serviceName: string, methods: readonly M[]): LoadedService<M> {
  // includeDirs: dispatcher.proto imports control.proto's messages.
  const packageDefinition = protoLoader.loadSync(protoPath(file), { ...PROTO_LOADER_OPTIONS, includeDirs: [dirname(protoPath(file))] });
  const def = packageDefinition[serviceName];
  if (!def || typeof def !== 'object' || 'format' in def) throw new Error(`service ${serviceName} is missing from proto/${file}`);
  for (const m of methods) {
    if (!(m in def)) throw new Error(`proto/${file}: ${serviceName} has no method ${m}`);
  }
  const service = strictServiceDefinition(def as grpc.ServiceDefinition, file, serviceName);
  const Client = grpc.makeGenericClientConstructor(service, serviceName);
  return { packageDefinition, service, Client, methods };
}

let control: LoadedService<ControlMethod> | null = null;
let ca: LoadedService<CaMethod> | null = null;
let manager: LoadedService<ManagerMethod> | null = null;
let dispatcher: LoadedService<DispatcherMethod> | null = null;

/** proto/control.proto, loaded once per process. */
export function loadControlProto(): LoadedService<ControlMethod> {
  control ??= load('control.proto', CONTROL_SERVICE_NAME, CONTROL_METHODS);
  return control;
}

/** proto/ca.proto, loaded once per process. */
export function loadCaProto(): LoadedService<CaMethod> {
  ca ??= load('ca.proto', CA_SERVICE_NAME, CA_METHODS);
  return ca;
}

/** proto/manager.proto (manager-to-manager calls), loaded once per process. */
export function loadManagerProto(): LoadedService<ManagerMethod> {
  manager ??= load('manager.proto', MANAGER_SERVICE_NAME, MANAGER_METHODS);
  return manager;
}

/** proto/dispatcher.proto (agents to the leader), loaded once per process. */
export function loadDispatcherProto(): LoadedService<DispatcherMethod> {
  dispatcher ??= load('dispatcher.proto', DISPATCHER_SERVICE_NAME, DISPATCHER_METHODS);
  return dispatcher;
}
