// A real browser for the console's tests and benchmark: Debian's chromium,
// headless, driven by playwright-core (which downloads nothing: it is given
// the installed browser), and axe-core's accessibility check run in a page.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

/** Why the browser cannot run here (undefined when it can). */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM_BIN) ? undefined : `${CHROMIUM_BIN} not found; install Debian's chromium package (scripts/setup-machine.sh does)`;
}

/** Headless chromium; no sandbox (tests run as root in CI), no first-run or network extras. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_BIN,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--disable-background-networking'],
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[]; failureSummary?: string }[];
}

let axeSource: string | null = null;

/**
 * axe-core's violations on the page as it is. Its source goes in through the
 * DevTools protocol (page.evaluate), which the page's content security
 * policy does not govern: the page itself stays under its CSP.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const g = globalThis as unknown as { document: unknown; axe: { run(ctx: unknown, o: unknown): Promise<{ violations: AxeViolation[] }> } };
    const r = await g.axe.run(g.document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) }));
  });
}

/** The serious and critical ones, one line each. */
export function seriousViolations(vs: readonly AxeViolation[]): string[] {
  return vs.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact}: ${v.id} (${v.help}) at ${v.nodes.map((n) => JSON.stringify(n.target)).join(', ')}`);
}
