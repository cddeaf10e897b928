// `--format TEMPLATE`: the subset of Go's text/template that docker's users
// write, evaluated without eval. Actions hold a pipeline of commands joined by
// `|`; a command is an operand (`.`, `.Field`, `.A.B`, a string or a number, a
// parenthesized pipeline) or a function applied to operands. The functions are
// docker's (json, join, split, lower, upper, title, truncate, pad) and Go's
// len, index, print and println. Control structures ({{if}}, {{range}}, ...)
// are refused at parse time with one line. Values print as Go's %v does
// (`map[a:b]`, `[x y]`, `<nil>`); errors read as Go's ("template: :1:2:
// executing "" at <.Nmae>: can't evaluate field Nmae ...").
import { UsageError } from './args.js';

type Operand =
  | { kind: 'field'; path: string[]; pos: number; text: string }
  | { kind: 'literal'; value: unknown }
  | { kind: 'pipe'; pipe: Pipeline };

interface Command {
  fn?: string;
  args: Operand[];
  pos: number;
}
type Pipeline = Command[];
type Node = { kind: 'text'; text: string } | { kind: 'action'; pipe: Pipeline };

/** How a missing field reads: rows (docker's ls contexts are Go structs) or inspect objects (decoded JSON maps). */
export interface ExecuteOptions {
  /** 'field': "can't evaluate field X in type T" naming the fields; 'key': Go's missingkey=error on a map; 'empty': '' (headers). */
  missing: 'field' | 'key' | 'empty';
  /** What the rows are, for the error: 'service', 'task', ... */
  typeName?: string;
}

export interface Template {
  /** The text as given. */
  readonly source: string;
  execute(data: unknown, opts: ExecuteOptions): string;
}

const FUNCTIONS = ['json', 'join', 'split', 'lower', 'upper', 'title', 'truncate', 'pad', 'len', 'index', 'print', 'println'] as const;
const KEYWORDS = ['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue', 'nil'];

/** A template error, one line: `template parsing error: template: :LINE[:COL]: ...` (docker's prefix, exit 2). */
export class TemplateError extends UsageError {}

function lineOf(src: string, pos: number): { line: number; col: number } {
  const before = src.slice(0, pos);
  const nl = before.lastIndexOf('\n');
  return { line: before.split('\n').length, col: pos - nl - 1 };
}

function parseError(src: string, pos: number, msg: string): TemplateError {
  return new TemplateError(`template parsing error: template: :${lineOf(src, pos).line}: ${msg}`);
}

// ------------------------------------------------------------ parsing

class ActionParser {
  private i: number;
  constructor(
    private readonly src: string,
    start: number,
    private readonly end: number,
  ) {
    this.i = start;
  }

  private skipBlanks(): void {
    while (this.i < this.end && /\s/.test(this.src[this.i])) this.i++;
  }

  private err(msg: string): TemplateError {
    return parseError(this.src, this.i, msg);
  }

  pipeline(closing?: string): Pipeline {
    const cmds: Command[] = [];
    for (;;) {
      cmds.push(this.command(closing));
      this.skipBlanks();
      if (this.i < this.end && this.src[this.i] === '|') {
        this.i++;
        continue;
      }
      break;
    }
    return cmds;
  }

  private command(closing?: string): Command {
    this.skipBlanks();
    const pos = this.i;
    const ops: { op: Operand | { ident: string } }[] = [];
    for (;;) {
      this.skipBlanks();
      if (this.i >= this.end) break;
      const c = this.src[this.i];
      if (c === '|' || c === closing) break;
      ops.push({ op: this.operand() });
    }
    if (ops.length === 0) throw this.err(closing === ')' ? 'missing value for parenthesized pipeline' : 'missing value for command');
    const first = ops[0].op;
    if ('ident' in first) {
      const rest = ops.slice(1).map((o) => {
        if ('ident' in o.op) throw parseError(this.src, pos, `function ${JSON.stringify(o.op.ident)} is an argument: put it in parentheses`);
        return o.op;
      });
      return { fn: first.ident, args: rest, pos };
    }
    if (ops.length > 1) throw parseError(this.src, pos, `can't give argument to non-function ${this.src.slice(pos, this.i).trim().split(/\s+/)[0]}`);
    return { args: [first], pos };
  }

  private operand(): Operand | { ident: string } {
    const src = this.src;
    const start = this.i;
    const c = src[this.i];
    if (c === '.') {
      const m = /^\.([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?/.exec(src.slice(this.i, this.end));
      const text = m ? m[0] : '.';
      this.i += text.length;
      return { kind: 'field', path: text === '.' ? [] : text.slice(1).split('.'), pos: start, text };
    }
    if (c === '"' || c === '`') {
      const close = c === '`' ? src.indexOf('`', this.i + 1) : this.quoteEnd();
      if (close < 0 || close >= this.end) throw this.err('unterminated quoted string');
      const raw = src.slice(this.i, close + 1);
      this.i = close + 1;
      if (c === '`') return { kind: 'literal', value: raw.slice(1, -1) };
      try {
        return { kind: 'literal', value: JSON.parse(raw) as string };
      } catch {
        throw parseError(src, start, `bad string ${raw}`);
      }
    }
    if (c === '(') {
      this.i++;
      const pipe = this.pipeline(')');
      this.skipBlanks();
      if (src[this.i] !== ')') throw this.err('unclosed left paren');
      this.i++;
      return { kind: 'pipe', pipe };
    }
    const num = /^-?\d+(\.\d+)?/.exec(src.slice(this.i, this.end));
    if (num) {
      this.i += num[0].length;
      return { kind: 'literal', value: Number(num[0]) };
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(this.i, this.end));
    if (id) {
      this.i += id[0].length;
      const word = id[0];
      if (word === 'true' || word === 'false') return { kind: 'literal', value: word === 'true' };
      if (KEYWORDS.includes(word)) {
        throw parseError(src, start, `{{${word}}} is not supported by flotilla's --format: use fields ({{.Name}}), functions (${FUNCTIONS.join(', ')}) and table`);
      }
      if (!(FUNCTIONS as readonly string[]).includes(word)) throw parseError(src, start, `function ${JSON.stringify(word)} not defined`);
      return { ident: word };
    }
    if (c === '$') throw parseError(src, start, 'variables ($x) are not supported by flotilla\'s --format');
    throw parseError(src, start, `unexpected ${JSON.stringify(c)} in operand`);
  }

  private quoteEnd(): number {
    for (let j = this.i + 1; j < this.end; j++) {
      if (this.src[j] === '\\') j++;
      else if (this.src[j] === '"') return j;
    }
    return -1;
  }

  atEnd(): boolean {
    this.skipBlanks();
    return this.i >= this.end;
  }
}

/** The end of the action that starts at `from` (just after `{{`): the index of its `}}`, skipping quoted strings. */
function actionEnd(src: string, from: number): number {
  for (let j = from; j < src.length; j++) {
    const c = src[j];
    if (c === '"') {
      for (j++; j < src.length && src[j] !== '"'; j++) if (src[j] === '\\') j++;
    } else if (c === '`') {
      const k = src.indexOf('`', j + 1);
      if (k < 0) return -1;
      j = k;
    } else if (c === '}' && src[j + 1] === '}') return j;
  }
  return -1;
}

/** Parse TEMPLATE; a TemplateError (a usage error) for what Go's parser refuses or flotilla does not support. */
export function parseTemplate(source: string): Template {
  const nodes: Node[] = [];
  let i = 0;
  let trimNext = false;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    let text = open < 0 ? source.slice(i) : source.slice(i, open);
    if (trimNext) text = text.replace(/^\s+/, '');
    trimNext = false;
    if (open < 0) {
      if (text) nodes.push({ kind: 'text', text });
      break;
    }
    let start = open + 2;
    if (source[start] === '-' && /\s/.test(source[start + 1] ?? '')) {
      text = text.replace(/\s+$/, '');
      start += 2;
    }
    if (text) nodes.push({ kind: 'text', text });
    const close = actionEnd(source, start);
    if (close < 0) throw parseError(source, open, 'unclosed action');
    let end = close;
    if (source[close - 1] === '-' && /\s/.test(source[close - 2] ?? '')) {
      end = close - 2;
      trimNext = true;
    }
    if (source.slice(start, end).trim().startsWith('/*')) {
      i = close + 2;
      continue;
    }
    const p = new ActionParser(source, start, end);
    if (p.atEnd()) throw parseError(source, open, 'missing value for command');
    const pipe = p.pipeline();
    if (!p.atEnd()) throw parseError(source, open, `unexpected ${JSON.stringify(source.slice(start, end).trim())} in command`);
    nodes.push({ kind: 'action', pipe });
    i = close + 2;
  }
  return { source, execute: (data, opts) => execute(source, nodes, data, opts) };
}

// ------------------------------------------------------------ values

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A value as Go's fmt %v prints it: maps with sorted keys, slices in brackets, nil as <nil>. */
export function goValue(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map(goValue).join(' ')}]`;
  if (isMap(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${goValue(v[k])}`)
      .join(' ')}]`;
  }
  return String(v);
}

/** JSON as Go's encoding/json writes it: compact, with <, > and & escaped (docker's `{{json .}}`). */
export function goJson(v: unknown): string {
  return (JSON.stringify(v ?? null) ?? 'null').replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

// ------------------------------------------------------------ execution

class ExecError extends Error {
  constructor(
    readonly pos: number,
    readonly at: string,
    message: string,
  ) {
    super(message);
  }
}

function str(v: unknown, fn: string, pos: number): string {
  if (typeof v !== 'string') throw new ExecError(pos, fn, `error calling ${fn}: wrong type for value; expected string; got ${goTypeName(v)}`);
  return v;
}

function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (Array.isArray(v)) return '[]interface {}';
  if (isMap(v)) return 'map[string]interface {}';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  return typeof v;
}

function callFunction(fn: string, args: unknown[], pos: number): unknown {
  const arity = (n: number): void => {
    if (args.length !== n) throw new ExecError(pos, fn, `wrong number of args for ${fn}: want ${n} got ${args.length}`);
  };
  switch (fn) {
    case 'json':
      arity(1);
      return goJson(args[0]);
    case 'join': {
      arity(2);
      if (!Array.isArray(args[0])) throw new ExecError(pos, fn, `error calling join: wrong type for value; expected []string; got ${goTypeName(args[0])}`);
      return args[0].map(goValue).join(str(args[1], fn, pos));
    }
    case 'split':
      arity(2);
      return str(args[0], fn, pos).split(str(args[1], fn, pos));
    case 'lower':
      arity(1);
      return str(args[0], fn, pos).toLowerCase();
    case 'upper':
      arity(1);
      return str(args[0], fn, pos).toUpperCase();
    case 'title':
      arity(1);
      return str(args[0], fn, pos).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, b: string, c: string) => b + c.toUpperCase());
    case 'truncate': {
      arity(2);
      const n = args[1];
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new ExecError(pos, fn, 'error calling truncate: the length must be a whole number');
      return [...str(args[0], fn, pos)].slice(0, n).join('');
    }
    case 'pad': {
      arity(3);
      const [s, l, r] = args;
      if (typeof l !== 'number' || typeof r !== 'number' || l < 0 || r < 0 || l > 1000 || r > 1000) throw new ExecError(pos, fn, 'error calling pad: the paddings must be whole numbers up to 1000');
      return ' '.repeat(l) + str(s, fn, pos) + ' '.repeat(r);
    }
    case 'len': {
      arity(1);
      const v = args[0];
      if (typeof v === 'string') return Buffer.byteLength(v);
      if (Array.isArray(v)) return v.length;
      if (isMap(v)) return Object.keys(v).length;
      throw new ExecError(pos, fn, `error calling len: len of type ${goTypeName(v)}`);
    }
    case 'index': {
      if (args.length < 1) throw new ExecError(pos, fn, 'wrong number of args for index: want at least 1 got 0');
      let v = args[0];
      for (const k of args.slice(1)) {
        if (Array.isArray(v) && typeof k === 'number') {
          if (!Number.isInteger(k) || k < 0 || k >= v.length) throw new ExecError(pos, fn, `error calling index: index out of range: ${k}`);
          v = v[k];
        } else if (isMap(v) && typeof k === 'string') v = Object.hasOwn(v, k) ? v[k] : undefined;
        else throw new ExecError(pos, fn, `error calling index: cannot index ${goTypeName(v)} with ${goTypeName(k)}`);
      }
      return v ?? null;
    }
    case 'print':
      // fmt.Sprint: a space between operands when neither is a string.
      return args.reduce<string>((acc, a, i) => acc + (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goValue(a), '');
    default:
      return args.map(goValue).join(' ') + '\n';
  }
}

function fieldsOf(v: Record<string, unknown>): string {
  return Object.keys(v).join(', ');
}

function lookup(data: unknown, op: Extract<Operand, { kind: 'field' }>, opts: ExecuteOptions): unknown {
  let v = data;
  for (const [i, name] of op.path.entries()) {
    if (v === null || v === undefined) {
      throw new ExecError(op.pos, op.text, `nil pointer evaluating interface {}.${name}`);
    }
    if (!isMap(v)) throw new ExecError(op.pos, op.text, `can't evaluate field ${name} in type ${goTypeName(v)}`);
    if (!Object.hasOwn(v, name)) {
      if (opts.missing === 'empty') return '';
      if (opts.missing === 'key') throw new ExecError(op.pos, op.text, `map has no entry for key ${JSON.stringify(name)}`);
      const type = i === 0 && opts.typeName ? opts.typeName : 'map';
      throw new ExecError(op.pos, op.text, `can't evaluate field ${name} in type ${type} (its fields: ${fieldsOf(v)})`);
    }
    v = v[name];
  }
  return v;
}

function runPipeline(pipe: Pipeline, data: unknown, opts: ExecuteOptions): unknown {
  let prev: unknown;
  let hasPrev = false;
  for (const cmd of pipe) {
    const args = cmd.args.map((a) => evalOperand(a, data, opts));
    if (hasPrev) args.push(prev);
    if (cmd.fn !== undefined) prev = callFunction(cmd.fn, args, cmd.pos);
    else {
      if (hasPrev) throw new ExecError(cmd.pos, '', "can't give argument to non-function");
      prev = args[0];
    }
    hasPrev = true;
  }
  return prev;
}

function evalOperand(op: Operand, data: unknown, opts: ExecuteOptions): unknown {
  switch (op.kind) {
    case 'literal':
      return op.value;
    case 'pipe':
      return runPipeline(op.pipe, data, opts);
    default:
      return lookup(data, op, opts);
  }
}

function execute(source: string, nodes: readonly Node[], data: unknown, opts: ExecuteOptions): string {
  let out = '';
  for (const n of nodes) {
    if (n.kind === 'text') {
      out += n.text;
      continue;
    }
    try {
      const v = runPipeline(n.pipe, data, opts);
      out += v === undefined ? '<no value>' : goValue(v);
    } catch (err) {
      if (!(err instanceof ExecError)) throw err;
      const { line, col } = lineOf(source, err.pos);
      throw new TemplateError(`template parsing error: template: :${line}:${col}: executing "" at <${err.at}>: ${err.message}`);
    }
  }
  return out;
}
