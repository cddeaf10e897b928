// The leader's encoder of SessionMessage (the Session stream's messages), in
// place of the generic one @grpc/proto-loader builds. Every task pushed to an
// agent carries its whole TaskTemplate, and the tasks of a service share one:
// the generic encoder converts and encodes that template again for every task,
// which was the largest part of a push. This one encodes each template once
// (cached per proto object, which the dispatcher itself shares per stored
// spec) and splices its bytes into each task.
//
// The bytes are a valid encoding of the same message: an embedded message is
// written as its field number with wire type 2 and the length-prefixed bytes
// of the message, which is exactly what is spliced; fields may come in any
// order (the template, field 8, comes after Task's other fields).
// test/manager/dispatcher/session-encoding.test.ts decodes both encodings and compares.
import type * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { protoRoot } from '../../common/proto-reflection.js';
import type { control, dispatcher } from '../../api/wire.js';

interface Types {
  session: protobuf.Type;
  task: protobuf.Type;
  template: protobuf.Type;
  /** Field numbers, as the proto files give them. */
  tasksField: number;
  specField: number;
}

let types: Types | null = null;

function load(): Types {
  if (types) return types;
  // The reflection the strict request check uses too (src/common/strict-wire.ts).
  const root = protoRoot('dispatcher.proto');
  const session = root.lookupType('flotilla.dispatcher.SessionMessage');
  const task = root.lookupType('flotilla.control.Task');
  types = {
    session,
    task,
    template: root.lookupType('flotilla.control.TaskTemplate'),
    tasksField: session.fields.tasks.id,
    specField: task.fields.spec.id,
  };
  return types;
}

/** Encoded TaskTemplates, by the proto object they were encoded from. */
const templates = new WeakMap<object, Uint8Array>();

function templateBytes(t: Types, spec: NonNullable<control.Task__Output['spec']>): Uint8Array {
  let b = templates.get(spec);
  if (b === undefined) templates.set(spec, (b = t.template.encode(t.template.fromObject(spec)).finish()));
  return b;
}

function taskBytes(t: Types, task: control.Task__Output): Uint8Array {
  const { spec, ...rest } = task;
  const w = t.task.encode(t.task.fromObject(rest));
  if (spec) w.uint32(((t.specField << 3) | 2) >>> 0).bytes(templateBytes(t, spec));
  return w.finish();
}

/** The wire bytes of a SessionMessage. */
export function encodeSessionMessage(msg: dispatcher.SessionMessage__Output): Buffer {
  const t = load();
  const w = t.session.encode(t.session.fromObject({ ...msg, tasks: [] }));
  for (const task of msg.tasks) w.uint32(((t.tasksField << 3) | 2) >>> 0).bytes(taskBytes(t, task));
  const out = w.finish();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * The Dispatcher service definition for the server, with this encoder on the
 * Session stream (the strict request deserializers of `service` are kept).
 */
export function dispatcherServerDefinition(service: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const session = service.Session as grpc.MethodDefinition<unknown, dispatcher.SessionMessage__Output>;
  return { ...service, Session: { ...session, responseSerialize: encodeSessionMessage } };
}
