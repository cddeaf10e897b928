// The create-service form's fields to the body of POST /console/api/services.
// Pure, so that the parsing of its line fields is tested under node; the
// server validates the rest (image syntax, publish syntax, constraints) and
// answers a one-line error the form shows.
import type { CreateServiceRequest } from './types.js';

export interface CreateServiceFields {
  name: string;
  image: string;
  mode: string;
  replicas: string;
  command: string;
  env: string;
  publish: string;
  constraints: string;
}

/** Non-empty lines, trimmed (a textarea of "K=V" or "8080:80" lines). */
export function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/** The request, or a one-line error saying what to fix. Empty optional fields are left out. */
export function buildCreateRequest(f: CreateServiceFields): { request: CreateServiceRequest } | { error: string } {
  const name = f.name.trim();
  const image = f.image.trim();
  if (image === '') return { error: 'image is required: give an image such as nginx:1.25' };
  if (f.mode !== 'replicated' && f.mode !== 'global') return { error: `mode must be replicated or global, not "${f.mode}"` };
  const request: CreateServiceRequest = { name, image, mode: f.mode };
  if (f.mode === 'replicated' && f.replicas.trim() !== '') {
    const n = Number(f.replicas.trim());
    if (!Number.isInteger(n) || n < 0) return { error: `replicas must be a whole number of 0 or more, not "${f.replicas.trim()}"` };
    request.replicas = n;
  }
  if (f.command.trim() !== '') request.command = f.command.trim();
  const env = lines(f.env);
  if (env.length > 0) request.env = env;
  const publish = lines(f.publish);
  if (publish.length > 0) request.publish = publish;
  const constraints = lines(f.constraints);
  if (constraints.length > 0) request.constraints = constraints;
  return { request };
}

/** The scale form's value as a replica count, or a one-line error. */
export function parseReplicas(text: string): { replicas: number } | { error: string } {
  const t = text.trim();
  const n = Number(t);
  if (t === '' || !Number.isInteger(n) || n < 0) return { error: `replicas must be a whole number of 0 or more, not "${t}"` };
  return { replicas: n };
}
