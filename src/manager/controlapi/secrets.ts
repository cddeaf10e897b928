// The Control API's secrets (Swarm's): create, get, list, update (labels
// only), remove (refused while a service uses it), and rotate (beyond Swarm).
// The handlers are file-objects.ts's; no answer ever carries a secret's data
// (secretToProto leaves it out).
import type { Logger } from 'pino';
import { fileDataFromProto, secretSpecFromProto, secretToProto } from '../../api/convert.js';
import type { control } from '../../api/wire.js';
import type { LeaderWriter } from '../leader-writer.js';
import type { ReplicatedStore } from '../replicated-store.js';
import { FileObjectsApi } from './file-objects.js';

export class SecretsApi extends FileObjectsApi<'secret'> {
  constructor(rs: ReplicatedStore, writer: LeaderWriter, log?: Logger) {
    super(rs, writer, log, 'secret');
  }

  async CreateSecret(req: control.CreateSecretRequest__Output): Promise<control.CreateSecretResponse__Output> {
    return { secret: secretToProto(await this.create(secretSpecFromProto(req.spec))) };
  }

  async GetSecret(req: control.GetSecretRequest__Output): Promise<control.GetSecretResponse__Output> {
    return { secret: secretToProto(await this.get(req.secretId)) };
  }

  async ListSecrets(req: control.ListSecretsRequest__Output): Promise<control.ListSecretsResponse__Output> {
    return { secrets: (await this.list(req.filters ?? {})).map(secretToProto) };
  }

  async UpdateSecret(req: control.UpdateSecretRequest__Output): Promise<control.UpdateSecretResponse__Output> {
    return { secret: secretToProto(await this.update(req.secretId, req.version, secretSpecFromProto(req.spec, 'spec', 'stored'))) };
  }

  async RemoveSecret(req: control.RemoveSecretRequest__Output): Promise<control.RemoveSecretResponse__Output> {
    await this.remove(req.secretId);
    return {};
  }

  async RotateSecret(req: control.RotateSecretRequest__Output): Promise<control.RotateSecretResponse__Output> {
    const { object, serviceIds } = await this.rotate(req.secretId, fileDataFromProto('secret', req.data));
    return { secret: secretToProto(object), serviceIds };
  }
}
