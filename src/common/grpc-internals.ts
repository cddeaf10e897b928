// The HTTP/2 stream under a grpc-js server call. grpc-js does not expose it,
// but two hot paths need what hangs off it: the TLS socket (a caller's
// identity, once per connection instead of a certificate object per call) and
// the HTTP/2 session (Raft's receive windows). This walks the call's
// interceptor chain the way grpc-js 1.x builds it; when the shape differs it
// returns undefined and callers fall back to the public API.

export interface Http2StreamLike {
  session?: unknown;
}

/** The HTTP/2 stream of a server call (a handler's call object, or an interceptor's). */
export function http2StreamOf(call: unknown): Http2StreamLike | undefined {
  let c: unknown = call;
  for (let depth = 0; depth < 16 && typeof c === 'object' && c !== null; depth++) {
    const stream = (c as { stream?: unknown }).stream;
    if (typeof stream === 'object' && stream !== null && 'session' in stream) return stream as Http2StreamLike;
    const o = c as { call?: unknown; nextCall?: unknown };
    c = o.nextCall ?? o.call;
  }
  return undefined;
}

/** The socket of a server call's connection (a TLSSocket under mTLS), if it can be found. */
export function socketOf(call: unknown): object | undefined {
  const socket = (http2StreamOf(call)?.session as { socket?: unknown } | undefined)?.socket;
  return typeof socket === 'object' && socket !== null ? socket : undefined;
}
