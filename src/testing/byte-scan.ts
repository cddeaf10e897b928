// The proof of encryption at rest: read every file under a directory, byte by
// byte, and report which of them hold any of the given needles.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export interface ScanHit {
  /** Path relative to the scanned directory. */
  file: string;
  /** The label of the needle found. */
  needle: string;
}

/** Every file under `dir` (recursively, without following symbolic links). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Which files under `dir` contain which needles (label -> bytes or text). Sockets and other special files are skipped. */
export function scanFiles(dir: string, needles: Record<string, string | Uint8Array>): ScanHit[] {
  const hits: ScanHit[] = [];
  const wanted = Object.entries(needles).map(([label, n]) => [label, typeof n === 'string' ? Buffer.from(n, 'utf8') : Buffer.from(n)] as const);
  for (const label of wanted) if (label[1].byteLength === 0) throw new Error(`needle ${label[0]} is empty`);
  for (const path of filesUnder(dir)) {
    const bytes = readFileSync(path);
    for (const [label, n] of wanted) if (bytes.includes(n)) hits.push({ file: relative(dir, path), needle: label });
  }
  return hits;
}
