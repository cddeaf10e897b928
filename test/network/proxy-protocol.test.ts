// The PROXY protocol header (src/network/proxy-protocol.ts) against the byte
// layout of haproxy's doc/proxy-protocol.txt: v1 lines, v2 binary headers for
// each family, IPv4-mapped IPv6 written as IPv4, unknown ends; and the decoder
// on those, on partial input and on malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addressBytes,
  decodeProxyHeader,
  encodeProxyHeader,
  encodeProxyV1,
  encodeProxyV2,
  formatAddress,
  ProxyProtocolError,
  V2_SIGNATURE,
} from '../../src/network/proxy-protocol.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const SIG = '0d0a0d0a000d0a515549540a';

test('v1 TCP4: the spec\'s example line', () => {
  const h = encodeProxyV1({ address: '192.168.0.1', port: 56324 }, { address: '192.168.0.11', port: 443 });
  assert.equal(h.toString('latin1'), 'PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n');
});

test('v1 TCP6 in canonical text form', () => {
  const h = encodeProxyV1({ address: '2001:DB8:0:0:0:0:0:1', port: 1 }, { address: '::1', port: 65535 });
  assert.equal(h.toString('latin1'), 'PROXY TCP6 2001:db8::1 ::1 1 65535\r\n');
});

test('v1: an IPv4-mapped IPv6 address is written as TCP4', () => {
  const h = encodeProxyV1({ address: '::ffff:127.0.0.1', port: 40000 }, { address: '::ffff:127.0.0.2', port: 80 });
  assert.equal(h.toString('latin1'), 'PROXY TCP4 127.0.0.1 127.0.0.2 40000 80\r\n');
  // The hex spelling of the same mapped address too.
  assert.equal(encodeProxyV1({ address: '::ffff:7f00:1', port: 1 }, { address: '127.0.0.2', port: 2 }).toString('latin1'), 'PROXY TCP4 127.0.0.1 127.0.0.2 1 2\r\n');
});

test('v1: one end IPv4, the other IPv6: one family, TCP6, the IPv4 end mapped', () => {
  const h = encodeProxyV1({ address: '10.0.0.1', port: 1000 }, { address: 'fd00::5', port: 80 });
  assert.equal(h.toString('latin1'), 'PROXY TCP6 ::ffff:10.0.0.1 fd00::5 1000 80\r\n');
});

test('v1 UNKNOWN when an end is missing or is not an address', () => {
  for (const [s, d] of [
    [undefined, { address: '127.0.0.1', port: 1 }],
    [{ address: undefined, port: 1 }, { address: '127.0.0.1', port: 1 }],
    [{ address: 'localhost', port: 1 }, { address: '127.0.0.1', port: 1 }],
    [{ address: '127.0.0.1', port: 70000 }, { address: '127.0.0.1', port: 1 }],
    [{ address: '127.0.0.1', port: undefined }, { address: '127.0.0.1', port: 1 }],
  ] as const) {
    assert.equal(encodeProxyV1(s, d).toString('latin1'), 'PROXY UNKNOWN\r\n', JSON.stringify([s, d]));
  }
});

test('v2 TCP4: signature, 0x21, 0x11, length 12, addresses then ports in network order', () => {
  // The bytes haproxy writes for 172.19.0.1:42578 -> 172.19.0.3:80.
  const h = encodeProxyV2({ address: '172.19.0.1', port: 42578 }, { address: '172.19.0.3', port: 80 });
  assert.deepEqual(h, hex(`${SIG} 21 11 000c ac130001 ac130003 a652 0050`));
  assert.equal(h.length, 28);
});

test('v2 UDP4 is family byte 0x12', () => {
  const h = encodeProxyV2({ address: '127.0.0.1', port: 53 }, { address: '127.0.0.2', port: 5353 }, 'udp');
  assert.deepEqual(h, hex(`${SIG} 21 12 000c 7f000001 7f000002 0035 14e9`));
});

test('v2 TCP6 (0x21) and UDP6 (0x22): length 36, sixteen-byte addresses', () => {
  const src = { address: '2001:db8::1', port: 1 };
  const dst = { address: 'fe80::1:2%eth0', port: 2 };
  const block = '20010db8000000000000000000000001 fe800000000000000000000000010002 0001 0002';
  assert.deepEqual(encodeProxyV2(src, dst, 'tcp'), hex(`${SIG} 21 21 0024 ${block}`));
  assert.deepEqual(encodeProxyV2(src, dst, 'udp'), hex(`${SIG} 21 22 0024 ${block}`));
});

test('v2: an IPv4-mapped IPv6 address is written as TCP4', () => {
  const h = encodeProxyV2({ address: '::ffff:127.0.0.1', port: 1 }, { address: '::ffff:127.0.0.9', port: 2 });
  assert.deepEqual(h, hex(`${SIG} 21 11 000c 7f000001 7f000009 0001 0002`));
});

test('v2 with an end unknown: LOCAL (0x20), UNSPEC (0x00), no address block', () => {
  assert.deepEqual(encodeProxyV2(undefined, { address: '127.0.0.1', port: 1 }), hex(`${SIG} 20 00 0000`));
});

test('encodeProxyHeader dispatches on the version', () => {
  const s = { address: '127.0.0.1', port: 1 };
  const d = { address: '127.0.0.2', port: 2 };
  assert.deepEqual(encodeProxyHeader('v1', s, d), encodeProxyV1(s, d));
  assert.deepEqual(encodeProxyHeader('v2', s, d, 'udp'), encodeProxyV2(s, d, 'udp'));
  assert.deepEqual(V2_SIGNATURE, hex(SIG));
});

test('round trips: what is encoded decodes to the same ends, family and length', () => {
  const cases = [
    ['127.0.0.1', 1, '127.0.0.2', 65535, '4'],
    ['0.0.0.0', 0, '255.255.255.255', 8080, '4'],
    ['::1', 2, '2001:db8:85a3::8a2e:370:7334', 3, '6'],
    ['1:2:3:4:5:6:7:8', 4, '1::', 5, '6'],
    ['1:0:0:2::3', 6, '::2:0:0:3', 7, '6'],
  ] as const;
  for (const [sa, sp, da, dp, fam] of cases) {
    const s = { address: sa, port: sp };
    const d = { address: da, port: dp };
    for (const [version, transport, family] of [
      ['v1', 'tcp', `TCP${fam}`],
      ['v2', 'tcp', `TCP${fam}`],
      ['v2', 'udp', `UDP${fam}`],
    ] as const) {
      const h = encodeProxyHeader(version, s, d, transport);
      const payload = Buffer.from('GET / HTTP/1.1\r\n\r\n');
      const got = decodeProxyHeader(Buffer.concat([h, payload]));
      assert.notEqual(got, 'incomplete');
      if (got === 'incomplete') return;
      assert.deepEqual(got, { version: version === 'v1' ? 1 : 2, command: 'proxy', family, source: s, dest: d, headerLength: h.length }, `${version} ${transport} ${sa}`);
    }
  }
});

test('the canonical IPv6 form: longest zero run shortened, the first of equal runs, never a single group', () => {
  const f = (a: string): string => formatAddress(addressBytes(a)!);
  assert.equal(f('2001:db8:0:0:1:0:0:1'), '2001:db8::1:0:0:1');
  assert.equal(f('2001:0:0:1:0:0:0:1'), '2001:0:0:1::1');
  assert.equal(f('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(f('::'), '::');
  assert.equal(f('::0.0.0.1'), '::1');
  assert.equal(addressBytes('::ffff:1.2.3.4')!.length, 4);
  assert.equal(addressBytes('not-an-address'), undefined);
});

test('every proper prefix of a header is incomplete', () => {
  const headers = [
    encodeProxyV1({ address: '127.0.0.1', port: 1234 }, { address: '127.0.0.2', port: 80 }),
    encodeProxyV2({ address: '::1', port: 1 }, { address: '::2', port: 2 }),
    encodeProxyV2(undefined, undefined),
  ];
  for (const h of headers) {
    for (let n = 0; n < h.length; n++) assert.equal(decodeProxyHeader(h.subarray(0, n)), 'incomplete', `${n} of ${h.length} bytes`);
    const full = decodeProxyHeader(h);
    assert.notEqual(full, 'incomplete');
    if (full !== 'incomplete') assert.equal(full.headerLength, h.length);
  }
});

test('v2 with TLVs after the addresses: headerLength covers them', () => {
  // Address block of 12 plus a 5-byte TLV (PP2_TYPE_NOOP 0x04, length 2).
  const h = hex(`${SIG} 21 11 0011 7f000001 7f000002 0001 0002 04 0002 abcd`);
  const got = decodeProxyHeader(Buffer.concat([h, Buffer.from('x')]));
  assert.notEqual(got, 'incomplete');
  if (got === 'incomplete') return;
  assert.equal(got.headerLength, 33);
  assert.deepEqual(got.source, { address: '127.0.0.1', port: 1 });
});

test('v2 LOCAL: addresses ignored; v1 UNKNOWN with trailing fields accepted', () => {
  const local = decodeProxyHeader(hex(`${SIG} 20 11 000c 7f000001 7f000002 0001 0002`));
  assert.deepEqual(local, { version: 2, command: 'local', family: 'UNKNOWN', source: undefined, dest: undefined, headerLength: 28 });
  const unknown = decodeProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest'));
  assert.deepEqual(unknown, { version: 1, command: 'proxy', family: 'UNKNOWN', source: undefined, dest: undefined, headerLength: 35 });
});

test('malformed headers are refused', () => {
  const bad: [string, Buffer][] = [
    ['not PROXY at all', Buffer.from('GET / HTTP/1.1\r\n')],
    ['v1 without CR', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.2 1 2\n')],
    ['v1 with a TCP6 address under TCP4', Buffer.from('PROXY TCP4 ::1 127.0.0.2 1 2\r\n')],
    ['v1 port out of range', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.2 65536 2\r\n')],
    ['v1 port with a leading zero', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.2 01 2\r\n')],
    ['v1 UDP4 (v1 has no UDP)', Buffer.from('PROXY UDP4 127.0.0.1 127.0.0.2 1 2\r\n')],
    ['v1 missing a field', Buffer.from('PROXY TCP4 127.0.0.1 127.0.0.2 1\r\n')],
    ['v1 longer than 107 bytes with no end', Buffer.from(`PROXY TCP6 ${'a'.repeat(120)}`)],
    ['v2 version 1', hex(`${SIG} 11 11 000c 7f000001 7f000002 0001 0002`)],
    ['v2 command 2', hex(`${SIG} 22 11 000c 7f000001 7f000002 0001 0002`)],
    ['v2 family 4', hex(`${SIG} 21 41 000c 7f000001 7f000002 0001 0002`)],
    ['v2 TCP6 with a 12-byte block', hex(`${SIG} 21 21 000c 7f000001 7f000002 0001 0002`)],
  ];
  for (const [what, buf] of bad) assert.throws(() => decodeProxyHeader(buf), ProxyProtocolError, what);
});
