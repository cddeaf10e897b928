// A stack as its compose files describe it, after loading (load.ts): what
// the deployer (plan.ts, deploy.ts) turns into cluster objects.
import type { ServiceSpec } from '../../api/objects.js';

/** docker's label of every object a stack creates: its value is the stack's name. */
export const STACK_NAMESPACE_LABEL = 'com.docker.stack.namespace';

export interface StackModel {
  stack: string;
  /** In file order. */
  services: StackService[];
  /** Every network the services use, `${stack}_default` included when a service names none. */
  networks: StackNetwork[];
  volumes: StackVolume[];
  secrets: StackFileObject[];
  configs: StackFileObject[];
  /** "Ignoring unsupported options: build" and the like, for stderr. */
  warnings: string[];
}

export interface StackService {
  /** The key in the file: "web". */
  key: string;
  /**
   * Named `${stack}_${key}`, labelled with STACK_NAMESPACE_LABEL. Its
   * taskTemplate.networks hold network NAMES, and its secret and config
   * references ids '' and full names: the deployer resolves them.
   */
  spec: ServiceSpec;
  /** Keys of other services of the stack. */
  dependsOn: { service: string; condition: 'service_started' | 'service_healthy' | 'service_completed_successfully' }[];
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
  data?: Buffer;
  file?: string;
  labels: Record<string, string>;
}
