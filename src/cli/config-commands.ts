// `flotilla config create | ls | inspect | rm | rotate`, like `docker config`
// (rotate is beyond docker): built by file-object-commands.ts, which secrets
// share. `config inspect` shows the data, as docker's does.
import type { Env } from './connection.js';
import { CONFIG_KIND, fileObjectGroup, parseFileObjectCreate } from './file-object-commands.js';
import type { CommandGroup } from './command.js';

export const CONFIG_GROUP: CommandGroup = fileObjectGroup(CONFIG_KIND);

/** `flotilla config create ARGV...` up to what it would send but the data: failures are UsageErrors. */
export function parseConfigCreate(argv: readonly string[], env: Env = {}): ReturnType<typeof parseFileObjectCreate> {
  return parseFileObjectCreate(CONFIG_KIND, argv, env);
}
