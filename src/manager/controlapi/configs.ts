// The Control API's configs (Swarm's): as secrets (file-objects.ts), but
// GetConfig answers the data, as `docker config inspect` shows it; a list
// does not.
import type { Logger } from 'pino';
import { configSpecFromProto, configToProto, fileDataFromProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { FileObjectsApi } from './file-objects.js';

export class ConfigsApi extends FileObjectsApi<'config'> {
  constructor(rs: ReplicatedStore, writer: LeaderWriter, log?: Logger) {
    super(rs, writer, log, 'config');
  }

  async CreateConfig(req: control.CreateConfigRequest__Output): Promise<control.CreateConfigResponse__Output> {
    return { config: configToProto(await this.create(configSpecFromProto(req.spec))) };
  }

  async GetConfig(req: control.GetConfigRequest__Output): Promise<control.GetConfigResponse__Output> {
    return { config: configToProto(await this.get(req.configId), true) };
  }

  async ListConfigs(req: control.ListConfigsRequest__Output): Promise<control.ListConfigsResponse__Output> {
    return { configs: (await this.list(req.filters ?? {})).map((c) => configToProto(c)) };
  }

  async UpdateConfig(req: control.UpdateConfigRequest__Output): Promise<control.UpdateConfigResponse__Output> {
    return { config: configToProto(await this.update(req.configId, req.version, configSpecFromProto(req.spec, 'spec', 'stored'))) };
  }

  async RemoveConfig(req: control.RemoveConfigRequest__Output): Promise<control.RemoveConfigResponse__Output> {
    await this.remove(req.configId);
    return {};
  }

  async RotateConfig(req: control.RotateConfigRequest__Output): Promise<control.RotateConfigResponse__Output> {
    const { object, serviceIds } = await this.rotate(req.configId, fileDataFromProto('config', req.data));
    return { config: configToProto(object), serviceIds };
  }
}
