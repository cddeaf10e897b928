// The web console's shell and build output: index.html holds every element the
// app looks up by id, obeys the CSP (no inline script, style or handler), and
// `npm run build` leaves a flat assets/ dir whose modules import only each other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../../src/common/protos.js';

const root = packageRoot();
const src = join(root, 'src', 'console', 'web');
const built = join(root, 'dist', 'src', 'console', 'web');
const html = readFileSync(join(src, 'index.html'), 'utf8');

test('index.html has every id the app looks up', () => {
  const wanted = new Set<string>();
  for (const f of readdirSync(src).filter((n) => n.endsWith('.ts'))) {
    for (const m of readFileSync(join(src, f), 'utf8').matchAll(/\b(?:byId|region)\('([\w-]+)'\)/g)) wanted.add(m[1]);
  }
  assert.ok(wanted.size >= 8, `found ${[...wanted].join(', ')}`);
  for (const id of wanted) assert.match(html, new RegExp(`\\bid="${id}"`), `#${id} is missing from index.html`);
});

test('index.html obeys the CSP and has the landmarks: no inline script, style or handler', () => {
  assert.match(html, /<html lang="en">/);
  assert.match(html, /<script type="module" src="\/console\/assets\/app\.js"><\/script>/);
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script');
  assert.doesNotMatch(html, /\sstyle=/, 'a style attribute');
  assert.doesNotMatch(html, /<style/, 'a style element');
  assert.doesNotMatch(html, /\son[a-z]+=/, 'an event handler attribute');
  assert.doesNotMatch(html, /https?:\/\//, 'nothing from another origin');
  for (const landmark of ['<header', '<nav', '<main id="app"', 'role="alert"', 'data-testid="live-status"']) assert.ok(html.includes(landmark), landmark);
});

test('the build leaves index.html beside a flat assets/ dir whose modules import only each other', () => {
  assert.ok(existsSync(join(built, 'index.html')));
  const assets = readdirSync(join(built, 'assets'));
  for (const f of ['app.js', 'style.css', 'model.js', 'format.js']) assert.ok(assets.includes(f), `assets/${f}`);
  for (const f of assets.filter((n) => n.endsWith('.js'))) {
    const code = readFileSync(join(built, 'assets', f), 'utf8');
    for (const m of code.matchAll(/(?:^|\n)\s*(?:import|export)[^;]*?from\s*['"]([^'"]+)['"]/g)) {
      assert.match(m[1], /^\.\/[\w.-]+\.js$/, `${f} imports ${m[1]}`);
      assert.ok(assets.includes(m[1].slice(2)), `${f} imports ${m[1]}, which the build did not emit`);
    }
    assert.doesNotMatch(code, /\binnerHTML\b|\beval\(|new Function\(/, f);
  }
});
