// The node's description (what the scheduler filters on) from the engine's
// `GET /info`. CPUs, memory and platform are the engine's, because that is what
// containers get; the hostname is the agent's own, because several agents may
// share one engine (the container-level test cluster does).
import type { Labels, NodeDescription } from '../../../api/objects.js';

/** The fields of the engine's /info that the description uses. */
export interface EngineInfo {
  NCPU?: unknown;
  MemTotal?: unknown;
  ServerVersion?: unknown;
  OSType?: unknown;
  Architecture?: unknown;
  Labels?: unknown;
  /** The engine's own ID. */
  ID?: unknown;
}

function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}

function text(v: unknown, def: string): string {
  return typeof v === 'string' && v ? v : def;
}

/** Engine labels come as ['k=v', ...]; a label without '=' has an empty value. */
export function parseEngineLabels(raw: unknown): Labels {
  const labels: Labels = {};
  if (!Array.isArray(raw)) return labels;
  for (const item of raw) {
    if (typeof item !== 'string' || !item) continue;
    const eq = item.indexOf('=');
    if (eq < 0) labels[item] = '';
    else labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return labels;
}

/**
 * Platform arch is the engine's as-is (x86_64, aarch64), as Docker Swarm
 * reports it, so `node.platform.arch==x86_64` constraints read the same.
 */
export function describeNode(info: EngineInfo, hostname: string): NodeDescription {
  return {
    hostname,
    cpus: num(info.NCPU),
    memoryBytes: num(info.MemTotal),
    engineVersion: text(info.ServerVersion, 'unknown'),
    platform: { os: text(info.OSType, 'linux'), arch: text(info.Architecture, 'unknown') },
    engineLabels: parseEngineLabels(info.Labels),
    ...(typeof info.ID === 'string' && info.ID ? { engineId: info.ID } : {}),
  };
}
