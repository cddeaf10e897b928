// What `stack deploy` makes of compose files: the services as complete
// ServiceSpecs and the networks, volumes, secrets and configs they use, named
// in the stack's namespace. Built by load.ts (pure); the deployer resolves the
// names to ids and creates what is missing.
import type { ServiceSpec } from '../../api/objects.js';

export { STACK_NAMESPACE_LABEL } from '../../api/objects.js';

export type DependsOnCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface StackModel {
  stack: string;
  /** In file order (the first file's services first, then those later files add). */
  services: StackService[];
  /** Every network the services use, incl. `${stack}_default` when a service names none. */
  networks: StackNetwork[];
  /** Every named volume the services mount. */
  volumes: StackVolume[];
  /** Every secret the services use. */
  secrets: StackFileObject[];
  /** Every config the services use. */
  configs: StackFileObject[];
  /** What docker prints on stderr: "Ignoring unsupported options: build, links", ... */
  warnings: string[];
}

export interface StackService {
  /** The key under `services:` ("web"). */
  key: string;
  /**
   * name `${stack}_${key}`; labels hold STACK_NAMESPACE_LABEL and deploy.labels.
   * taskTemplate.networks, and the keys of taskTemplate.networkAliases, hold network NAMES (full names): the
   * deployer swaps them for ids.
   * container.secrets/configs carry id '' and the object's full name: the deployer fills the ids.
   */
  spec: ServiceSpec;
  /** Keys of other services of the stack; no cycles (load refuses them). */
  dependsOn: { service: string; condition: DependsOnCondition }[];
}

export interface StackNetwork {
  key: string;
  name: string;
  external: boolean;
  labels: Record<string, string>;
}

export interface StackVolume {
  key: string;
  name: string;
  external: boolean;
}

export interface StackFileObject {
  key: string;
  name: string;
  external: boolean;
  /** The file's bytes (absent when external). */
  data?: Buffer;
  /** The file's path, resolved against the first compose file's directory (absent when external). */
  file?: string;
  labels: Record<string, string>;
}
