// Probe bytes and the reading of what came back, on synthetic receipts.

import { describe, expect, it } from 'vitest';

import { answerOf, probeBytes, receiptSeq, type ProbeIds } from '../../src/probe/packets.js';
import type { ProbeReceipt } from '../../native/index.js';

const V4: ProbeIds = { family: 4, proto: 'icmp', id: 0x1234, port: 0, src: '198.18.1.2', dst: '198.18.3.2' };

function sum16(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += b.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function receipt(over: Partial<ProbeReceipt>): ProbeReceipt {
  return { error: true, tsUs: 1500, from: '198.18.1.1', origin: 2, type: 0, code: 0, errno: 0, info: 0, data: Buffer.alloc(0), ...over };
}

describe('probe packets', () => {
  it('an ICMP echo of the size asked for (less the IP header), with a valid checksum and its number', () => {
    const b = probeBytes(V4, 7, 1500);
    expect(b.length).toBe(1480);
    expect(b[0]).toBe(8);
    expect(sum16(b)).toBe(0xffff);
    expect(b.readUInt16BE(6)).toBe(7);
    expect(probeBytes({ ...V4, family: 6, dst: '2001:db8::2', src: '2001:db8::1' }, 7, 1500).length).toBe(1460);
  });

  it('a TCP SYN padded to size, its checksum over the pseudo-header', () => {
    const ids: ProbeIds = { ...V4, proto: 'tcp', port: 443, id: 40000 };
    const b = probeBytes(ids, 9, 1400);
    expect(b.length).toBe(1380);
    expect(b[13]).toBe(0x02);
    const pseudo = Buffer.from([198, 18, 1, 2, 198, 18, 3, 2, 0, 6, 1380 >> 8, 1380 & 255]);
    expect(sum16(Buffer.concat([pseudo, b]))).toBe(0xffff);
  });

  it('frag-needed quoting our echo: too-big with the MTU; Time Exceeded; port unreachable from dst is a reply (UDP)', () => {
    const quoted = probeBytes(V4, 7, 9000).subarray(0, 8);
    const r = receipt({ type: 3, code: 4, info: 1500, data: quoted });
    expect(receiptSeq(V4, r)).toBe(7);
    expect(answerOf(V4, r, 1000)).toEqual({ kind: 'too-big', from: '198.18.1.1', mtu: 1500, rttMs: 0.5 });
    expect(answerOf(V4, receipt({ type: 11, data: quoted }), 1000)).toMatchObject({ kind: 'time-exceeded' });
    const udp: ProbeIds = { ...V4, proto: 'udp', port: 33434 };
    const payload = probeBytes(udp, 3, 600);
    expect(receiptSeq(udp, receipt({ type: 3, code: 3, data: payload }))).toBe(3);
    expect(answerOf(udp, receipt({ type: 3, code: 3, from: '198.18.3.2', data: payload }), 1000)).toMatchObject({ kind: 'reply' });
  });

  it('an echo reply (IPv4 raw: after its IP header) is ours by id; another tool\'s is not', () => {
    const reply = Buffer.alloc(28);
    reply[0] = 0x45;
    reply.writeUInt16BE(0x1234, 24);
    reply.writeUInt16BE(5, 26);
    expect(receiptSeq(V4, receipt({ error: false, data: reply }))).toBe(5);
    reply.writeUInt16BE(0x4321, 24);
    expect(receiptSeq(V4, receipt({ error: false, data: reply }))).toBeUndefined();
  });

  it('local errors (EMSGSIZE on the error queue) are no answer', () => {
    expect(answerOf(V4, receipt({ origin: 1, errno: 90 }), 1000)).toBeUndefined();
  });
});
