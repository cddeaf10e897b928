// `flotilla secret create | ls | inspect | rm | rotate`, like `docker secret`
// (rotate is beyond docker): built by file-object-commands.ts, which configs
// share. A secret's data is never printed: the manager never sends it.
import type { Env } from './connection.js';
import { fileObjectGroup, parseFileObjectCreate, SECRET_KIND } from './file-object-commands.js';
import type { CommandGroup } from './command.js';

export const SECRET_GROUP: CommandGroup = fileObjectGroup(SECRET_KIND);

/** `flotilla secret create ARGV...` up to what it would send but the data: failures are UsageErrors. */
export function parseSecretCreate(argv: readonly string[], env: Env = {}): ReturnType<typeof parseFileObjectCreate> {
  return parseFileObjectCreate(SECRET_KIND, argv, env);
}
