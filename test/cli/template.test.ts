// The --format template evaluator: Go's text/template subset docker's users write, its values and errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { goJson, goValue, parseTemplate, TemplateError } from '../../src/cli/template.js';

const row = { ID: 'abc', Name: 'web', Labels: { b: '2', a: '1' }, Args: ['sleep', '3600'], Spec: { Mode: { Replicated: { Replicas: 3 } } }, Self: true, Ports: '*:80->80/tcp' };
const run = (t: string, data: unknown = row, missing: 'field' | 'key' = 'field'): string => parseTemplate(t).execute(data, { missing, typeName: 'service' });

test("fields, nested fields, Go's %v of maps, slices, bools and numbers", () => {
  assert.equal(run('{{.ID}} {{.Name}}'), 'abc web');
  assert.equal(run('{{.Spec.Mode.Replicated.Replicas}}'), '3');
  assert.equal(run('{{.Labels}} {{.Args}} {{.Self}}'), 'map[a:1 b:2] [sleep 3600] true');
  assert.equal(run('{{ .Name -}}  .  {{- .ID }}'), 'web.abc');
  assert.equal(run('{{/* a comment */}}x'), 'x');
});

test("functions: json (Go's escapes), join, split, lower, upper, title, truncate, pad, len, index, print; pipes and parentheses", () => {
  assert.equal(run('{{json .}}', { B: 1, A: '<&>' }), '{"B":1,"A":"\\u003c\\u0026\\u003e"}');
  assert.equal(run('{{json .Ports}}'), '"*:80-\\u003e80/tcp"');
  assert.equal(run('{{join .Args ","}} {{upper .Name}} {{.Name | upper | lower}} {{title "hello world"}}'), 'sleep,3600 WEB web Hello World');
  assert.equal(run('{{truncate .Name 2}}|{{pad .Name 1 2}}|{{len .Args}}|{{index .Labels "a"}}|{{index .Args 1}}'), 'we| web  |2|1|3600');
  assert.equal(run('{{json (split "a:b" ":")}} {{print 1 2 "x"}}'), '["a","b"] 1 2x');
  assert.equal(goValue(null), '<nil>');
  assert.equal(goJson(undefined), 'null');
});

test("errors: docker's one line, with line and column; unknown fields name the fields there are", () => {
  const fails = (t: string, re: RegExp, missing: 'field' | 'key' = 'field'): void => assert.throws(() => run(t, row, missing), (e: unknown) => e instanceof TemplateError && re.test(e.message) && !e.message.includes('\n'));
  fails('{{.Nmae}}', /^template parsing error: template: :1:2: executing "" at <\.Nmae>: can't evaluate field Nmae in type service \(its fields: ID, Name, Labels, Args, Spec, Self, Ports\)$/);
  fails('x\n  {{.Spec.Nope}}', /^template parsing error: template: :2:4: executing "" at <\.Spec\.Nope>: map has no entry for key "Nope"$/, 'key');
  fails('{{.ID}', /^template parsing error: template: :1: unclosed action$/);
  fails('{{range .Args}}{{.}}{{end}}', /\{\{range\}\} is not supported/);
  fails('{{nope .ID}}', /function "nope" not defined/);
  fails('{{}}', /missing value for command/);
  fails('{{upper .Args}}', /error calling upper: wrong type for value; expected string; got \[\]interface \{\}/);
  fails('{{join .Args}}', /wrong number of args for join: want 2 got 1/);
  fails('{{$x}}', /variables/);
  fails('{{.ID.Sub}}', /can't evaluate field Sub in type string/);
});
