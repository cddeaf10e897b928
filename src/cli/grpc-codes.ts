// gRPC's status codes and metadata, the very objects @grpc/grpc-js exports as
// grpc.status and grpc.Metadata (so values and types mix freely with its
// own), taken from the two small files that define them: grpc-js's index
// loads its whole client and server (some 65 files), the largest part of a
// read command's start-up (bench/cli.ts). The CLI loads grpc-js itself only for
// a TCP target (connection.ts).
export { Status as status } from '@grpc/grpc-js/build/src/constants.js';
export { Metadata } from '@grpc/grpc-js/build/src/metadata.js';
