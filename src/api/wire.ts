// The wire types, generated from proto/*.proto at build (npm run gen, into
// src/api/gen/), one namespace per proto package: control.Task__Output is a
// Task as @grpc/proto-loader hands it out with our loader options
// (src/common/protos.ts: every field present, int64 as number, enums as
// numbers, unset messages null, oneofs named by a virtual field);
// control.Task (all fields optional) is what it accepts. No wire shape is
// written by hand anywhere else.
export type * as ca from './gen/flotilla/ca/index.js';
export type * as control from './gen/flotilla/control/index.js';
export type * as dispatcher from './gen/flotilla/dispatcher/index.js';
export type * as kvtest from './gen/flotilla/kvtest/index.js';
export type * as manager from './gen/flotilla/manager/index.js';
export type * as raft from './gen/flotilla/raft/index.js';
