// The record decoder against struct pmtu_event as bpf/events.h lays it out:
// a record written out in hex, and records built at the header's offsets
// (test/helpers/records.ts), never with the decoder's own constants.

import { describe, expect, it } from 'vitest';

import { PmtuError } from '../../src/errors.js';
import { decodeBatch, decodeRecord, ipv6, plainEvent, RecordEvent } from '../../src/observer/decode.js';
import { addrBytes, batch, DIR, ENCAP, F, FS, KIND, record, RECORD_BYTES } from '../helpers/records.js';

function hex(lines: string[]): Buffer {
  return Buffer.from(lines.join('').replace(/\s/g, '').padEnd(RECORD_BYTES * 2, '0'), 'hex');
}

// A router's frag-needed (mtu 1400) arriving on eth0, quoting the client's
// 1500-byte TCP segment. Little-endian, addresses in network order.
const PTB_V4 = hex([
  '01 01 05 03 04 00 2400', //                 kind ptb, dir ingress, flags df|icmp-err, type 3, code 4, pad, snap_len 36
  '141a99be1c000000', //                       ts_ns 123456789012
  '000100f0 07000000 78050000 40020000', //    netns 4026532096, ifindex 7, mtu 1400, len 576
  '00000000 0000 0000 00000000 00000000', //   reason, mss, vlan, mtu_ifindex, mtu_netns
  '65746830000000000000000000000000', //       ifname "eth0"
  '00000000000000000000000000000000', //       mtu_ifname ""
  'c6120101000000000000000000000000', //       outer saddr 198.18.1.1
  'c6120002000000000000000000000000', //       outer daddr 198.18.0.2
  '0000 0000 01 04 4002', //                   sport, dport, proto icmp, family 4, len 576
  'c6120002000000000000000000000000', //       inner saddr 198.18.0.2
  'c6120302000000000000000000000000', //       inner daddr 198.18.3.2
  '409c bb01 06 04 dc05', //                   sport 40000, dport 443, proto tcp, family 4, len 1500
  '00e8764817000000 000e5fa31c000000', //      state: first_ns 100000000000, last_ns 123000000000
  'b405 0023 7805 0023', //                    mss_first [1460, 8960], mss_last [1400, 8960]
  '07000000 07000000 09000000 07000000', //    mss_first_ifindex [7, 7], mss_last_ifindex [9, 7]
  'dc05 4002 7805 0f 00 09000000 00000000', // largest [1500, 576], min_mtu 1400, known|reported|syn|synack, min_mtu_ifindex 9
  '00000000 00000000 00000000 00000000', //    encap: none (48 bytes)
  '00000000 00000000 00000000 00000000',
  '00000000 00000000 00000000 00000000',
  '45000240 00004000 40010000 c6120101 c6120002', // snap: outer IPv4 header,
  '0304000000000578', //                       ICMP frag-needed mtu 1400,
  '450005dc00004000', //                       the quote's first 8 bytes
]);

// The same router's frag-needed about the IPIP packet a load balancer
// (198.18.40.1) sent to a realserver (198.18.40.2): the quote's tunnel in
// encap, the client's flow inside it in inner (seed 004).
const PTB_IPIP = hex([
  '01 01 05 03 04 00 2400', //                 kind ptb, dir ingress, flags df|icmp-err, type 3, code 4, pad, snap_len 36
  '141a99be1c000000', //                       ts_ns 123456789012
  '000100f0 07000000 78050000 40020000', //    netns 4026532096, ifindex 7, mtu 1400, len 576
  '00000000 0000 0000 00000000 00000000', //   reason, mss, vlan, mtu_ifindex, mtu_netns
  '65746830000000000000000000000000', //       ifname "eth0"
  '00000000000000000000000000000000', //       mtu_ifname ""
  'c6130001000000000000000000000000', //       outer saddr 198.19.0.1
  'c6122801000000000000000000000000', //       outer daddr 198.18.40.1
  '0000 0000 01 04 4002', //                   sport, dport, proto icmp, family 4, len 576
  'c6123202000000000000000000000000', //       inner saddr 198.18.50.2
  'c6123c01000000000000000000000000', //       inner daddr 198.18.60.1
  '28a0 bb01 06 04 dc05', //                   sport 41000, dport 443, proto tcp, family 4, len 1500
  '0000000000000000 0000000000000000', //      state: unknown (56 bytes)
  '00000000 00000000 00000000 00000000',
  '00000000 00000000 00000000 00000000',
  '00000000 00000000',
  '01 04 01 00 1400 0000 00000000 00000000', // encap: ipip, family 4, quoted, overhead 20, id 0
  'c6122801000000000000000000000000', //       encap saddr 198.18.40.1
  'c6122802000000000000000000000000', //       encap daddr 198.18.40.2
]);

const NO_FLAGS = { df: false, gso: false, icmpError: false, oversize: false, synAck: false, innerTruncated: false, local: false, quoteMismatch: false };

describe('decodeRecord', () => {
  it('decodes a PTB written out in hex, with the flow it quotes', () => {
    expect(PTB_V4.length).toBe(520);
    const ev = decodeRecord(PTB_V4);
    expect(ev).toEqual({
      kind: 'ptb',
      dir: 'ingress',
      tsNs: 123456789012n,
      netnsInode: 4026532096,
      ifindex: 7,
      ifname: 'eth0',
      mtu: 1400,
      len: 576,
      mss: 0,
      vlan: 0,
      reason: 0,
      icmpType: 3,
      icmpCode: 4,
      timeouts: 0,
      mtuIfindex: 0,
      mtuNetnsInode: 0,
      mtuIfname: '',
      flags: { ...NO_FLAGS, df: true, icmpError: true },
      outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', sport: 0, dport: 0, proto: 1, len: 576 },
      inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
      state: {
        known: true,
        firstNs: 100000000000n,
        lastNs: 123000000000n,
        initiator: 'src',
        syn: { first: 1460, firstIfindex: 7, last: 1400, lastIfindex: 9 },
        synAck: { first: 8960, firstIfindex: 7, last: 8960, lastIfindex: 7 },
        largest: [1500, 576],
        minMtu: 1400,
        minMtuIfindex: 9,
      },
      encap: null,
      snap: PTB_V4.subarray(264, 300),
    });
    expect(ev!.snap.toString('hex')).toBe(
      '45000240' + '00004000' + '40010000' + 'c6120101' + 'c6120002' + '0304000000000578' + '450005dc00004000',
    );
  });

  it("decodes a PTB quoting a tunnel's packet written out in hex: the tunnel in encap, the flow inside in inner", () => {
    const ev = decodeRecord(PTB_IPIP)!;
    expect(ev.outer).toEqual({ family: 4, src: '198.19.0.1', dst: '198.18.40.1', sport: 0, dport: 0, proto: 1, len: 576 });
    expect(ev.inner).toEqual({ family: 4, src: '198.18.50.2', dst: '198.18.60.1', sport: 41000, dport: 443, proto: 6, len: 1500 });
    expect(ev.encap).toEqual({ type: 'ipip', family: 4, src: '198.18.40.1', dst: '198.18.40.2', overhead: 20, id: 0, sport: 0, dport: 0, quoted: true });
    const built = record({
      kind: KIND.ptb,
      dir: DIR.ingress,
      flags: F.df | F.icmpErr,
      icmpType: 3,
      icmpCode: 4,
      tsNs: 123456789012n,
      netns: 4026532096,
      ifindex: 7,
      mtu: 1400,
      len: 576,
      snapLen: 36,
      ifname: 'eth0',
      outer: { family: 4, src: '198.19.0.1', dst: '198.18.40.1', proto: 1, len: 576 },
      inner: { family: 4, src: '198.18.50.2', dst: '198.18.60.1', sport: 41000, dport: 443, proto: 6, len: 1500 },
      encap: { type: ENCAP.ipip, family: 4, quoted: true, overhead: 20, src: '198.18.40.1', dst: '198.18.40.2' },
    });
    expect(built.toString('hex')).toBe(PTB_IPIP.toString('hex'));
  });

  it('decodes every tunnel type and an IPv6 tunnel with its VNI; an unknown type or family is no tunnel', () => {
    const types = Object.entries(ENCAP);
    for (const [name, type] of types) {
      const ev = decodeRecord(record({ kind: KIND.syn, encap: { type, family: 4, overhead: 20, src: '198.18.40.1', dst: '198.18.40.2' } }))!;
      expect(ev.encap?.type).toBe(name);
    }
    const vx = decodeRecord(
      record({ kind: KIND.syn, encap: { type: ENCAP.vxlan, family: 6, overhead: 70, id: 0xabcdef, sport: 51234, dport: 4789, src: '2001:db8:40:0:0:0:0:1', dst: '2001:db8:40:0:0:0:0:2' } }),
    )!;
    expect(vx.encap).toEqual({ type: 'vxlan', family: 6, src: '2001:db8:40::1', dst: '2001:db8:40::2', overhead: 70, id: 0xabcdef, sport: 51234, dport: 4789, quoted: false });
    expect(decodeRecord(record({ kind: KIND.syn, encap: { type: 99, family: 4 } }))!.encap).toBeNull();
    expect(decodeRecord(record({ kind: KIND.syn, encap: { type: ENCAP.ipip, family: 0 } }))!.encap).toBeNull();
    const lazy = decodeBatch(record({ kind: KIND.syn, encap: { type: ENCAP.gre, family: 4, id: 5 } })).events[0] as RecordEvent;
    expect(lazy.encapped).toBe(true);
    expect(lazy.encap).toMatchObject({ type: 'gre', id: 5 });
  });

  it('the fixture builder writes the same bytes as the hex (so the other fixtures are at the right offsets)', () => {
    const built = record({
      kind: KIND.ptb,
      dir: DIR.ingress,
      flags: F.df | F.icmpErr,
      icmpType: 3,
      icmpCode: 4,
      tsNs: 123456789012n,
      netns: 4026532096,
      ifindex: 7,
      mtu: 1400,
      len: 576,
      ifname: 'eth0',
      outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', proto: 1, len: 576 },
      inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
      state: {
        firstNs: 100000000000n,
        lastNs: 123000000000n,
        mssFirst: [1460, 8960],
        mssLast: [1400, 8960],
        mssFirstIfindex: [7, 7],
        mssLastIfindex: [9, 7],
        largest: [1500, 576],
        minMtu: 1400,
        flags: FS.known | FS.reported | FS.syn | FS.synack,
        minMtuIfindex: 9,
      },
      snap: PTB_V4.subarray(264, 300),
    });
    expect(built.toString('hex')).toBe(PTB_V4.toString('hex'));
  });

  it('ptb-sent: the generated PTB has no outer packet yet, only the flow it quotes and the route device', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.ptbSent,
        dir: DIR.none,
        flags: F.icmpErr | F.local,
        icmpType: 3,
        icmpCode: 4,
        netns: 4026532100,
        ifindex: 3,
        ifname: 'to-c',
        mtu: 1500,
        mtuIfindex: 4,
        mtuNetns: 4026532100,
        mtuIfname: 'to-r2',
        outer: { family: 0 },
        inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', proto: 1, len: 4028 },
      }),
    );
    expect(ev).toMatchObject({
      kind: 'ptb-sent',
      dir: null,
      mtu: 1500,
      ifname: 'to-c',
      mtuIfindex: 4,
      mtuNetnsInode: 4026532100,
      mtuIfname: 'to-r2',
      outer: null,
      inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 0, dport: 0, proto: 1, len: 4028 },
      flags: { ...NO_FLAGS, icmpError: true, local: true },
      snap: Buffer.alloc(0),
    });
  });

  it('drop: the reason value and the device whose MTU the packet exceeded, in another namespace', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.drop,
        dir: DIR.none,
        flags: F.df | F.oversize | F.gso,
        tsNs: 5_000_000_000n,
        netns: 4026532200,
        ifindex: 12,
        ifname: 'br0',
        mtu: 1500,
        len: 9000,
        reason: 2,
        mtuIfindex: 13,
        mtuNetns: 4026532300,
        mtuIfname: 'veth-peer',
        outer: { family: 4, src: '10.0.0.1', dst: '10.0.0.2', sport: 5201, dport: 45678, proto: 6, len: 9000 },
      }),
    );
    expect(ev).toMatchObject({
      kind: 'drop',
      dir: null,
      reason: 2,
      mtu: 1500,
      len: 9000,
      mtuIfindex: 13,
      mtuNetnsInode: 4026532300,
      mtuIfname: 'veth-peer',
      flags: { ...NO_FLAGS, df: true, oversize: true, gso: true },
      outer: { family: 4, src: '10.0.0.1', dst: '10.0.0.2', sport: 5201, dport: 45678, proto: 6, len: 9000 },
      inner: null,
    });
  });

  it('syn: a SYN-ACK and its MSS option', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.syn,
        dir: DIR.egress,
        flags: F.df | F.synack,
        ifindex: 2,
        ifname: 'eth0',
        mtu: 9000,
        len: 60,
        mss: 8960,
        outer: { family: 4, src: '192.0.2.1', dst: '192.0.2.2', sport: 443, dport: 50000, proto: 6, len: 60 },
      }),
    );
    expect(ev).toMatchObject({ kind: 'syn', dir: 'egress', mss: 8960, mtu: 9000, flags: { ...NO_FLAGS, df: true, synAck: true } });
  });

  it('retransmit: segment length and the socket MSS', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.retransmit,
        flags: F.df,
        netns: 4026531840,
        mtu: 1500,
        len: 1500,
        mss: 1448,
        timeouts: 3,
        outer: { family: 4, src: '192.0.2.1', dst: '192.0.2.2', sport: 50000, dport: 443, proto: 6, len: 1500 },
      }),
    );
    expect(ev).toMatchObject({ kind: 'retransmit', dir: null, len: 1500, mss: 1448, timeouts: 3, mtu: 1500, ifindex: 0, ifname: '' });
  });

  it('size: a VLAN-tagged flow grew, over IPv6', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.size,
        dir: DIR.ingress,
        flags: F.df,
        ifindex: 5,
        ifname: 'eth1',
        mtu: 9000,
        len: 8940,
        vlan: 100,
        outer: {
          family: 6,
          src: '2001:0db8:0001:0000:0000:0000:0000:0002',
          dst: '2001:0db8:0003:0000:0000:0000:0000:0002',
          sport: 0x1234,
          dport: 0xabcd,
          proto: 17,
          len: 8940,
        },
      }),
    );
    expect(ev).toMatchObject({
      kind: 'size',
      vlan: 100,
      len: 8940,
      outer: { family: 6, src: '2001:db8:1::2', dst: '2001:db8:3::2', sport: 0x1234, dport: 0xabcd, proto: 17, len: 8940 },
    });
  });

  it('an ICMPv6 PTB quoting an IPv6 flow', () => {
    const ev = decodeRecord(
      record({
        kind: KIND.ptb,
        dir: DIR.egress,
        flags: F.df | F.icmpErr,
        icmpType: 2,
        mtu: 1280,
        len: 1280,
        outer: { family: 6, src: 'fe80:0:0:0:0:0:0:1', dst: '2001:db8:0:0:0:0:0:2', proto: 58, len: 1280 },
        inner: { family: 6, src: '2001:db8:0:0:0:0:0:2', dst: '2001:db8:0:0:0:0:3:2', sport: 1, dport: 2, proto: 6, len: 1500 },
      }),
    );
    expect(ev?.outer).toMatchObject({ family: 6, src: 'fe80::1', dst: '2001:db8::2', proto: 58 });
    expect(ev?.inner).toMatchObject({ family: 6, src: '2001:db8::2', dst: '2001:db8::3:2', len: 1500 });
    expect(ev?.icmpType).toBe(2);
  });

  it('each flag bit sets exactly its own flag', () => {
    const bits: [number, keyof typeof NO_FLAGS][] = [
      [F.df, 'df'],
      [F.gso, 'gso'],
      [F.icmpErr, 'icmpError'],
      [F.oversize, 'oversize'],
      [F.synack, 'synAck'],
      [F.innerTrunc, 'innerTruncated'],
      [F.local, 'local'],
      [0x80, 'quoteMismatch'],
    ];
    for (const [bit, name] of bits) {
      expect(decodeRecord(record({ kind: KIND.ptb, flags: bit }))!.flags).toEqual({ ...NO_FLAGS, [name]: true });
    }
    const all = decodeRecord(record({ kind: KIND.ptb, flags: 0xff }))!.flags;
    expect(Object.values(all).every(Boolean)).toBe(true);
  });

  it('snap_len beyond 256 is clamped to the 256 bytes a record holds', () => {
    const snap = Buffer.alloc(256, 0xab);
    const buf = Buffer.concat([record({ kind: KIND.drop, snap, snapLen: 1000 }), record({ kind: KIND.syn, snap: Buffer.alloc(4, 0xcd) })]);
    const ev = decodeRecord(buf, 0)!;
    expect(ev.snap.length).toBe(256);
    expect(ev.snap.equals(snap)).toBe(true);
    expect(decodeRecord(buf, RECORD_BYTES)!.snap.toString('hex')).toBe('cdcdcdcd');
  });

  it('an interface name filling all 16 bytes (no NUL) does not run into the next field', () => {
    const ev = decodeRecord(record({ kind: KIND.syn, ifname: 'abcdefghijklmnop', mtuIfname: 'qrstuvwxyz012345' }))!;
    expect(ev.ifname).toBe('abcdefghijklmnop');
    expect(ev.mtuIfname).toBe('qrstuvwxyz012345');
  });

  it('a direction it does not know reads as null; the timestamp keeps all 64 bits', () => {
    const ev = decodeRecord(record({ kind: KIND.size, dir: 7, tsNs: 0xfedcba9876543210n }))!;
    expect(ev.dir).toBeNull();
    expect(ev.tsNs).toBe(0xfedcba9876543210n);
  });

  it('a flow of family other than 4 or 6 is absent', () => {
    const ev = decodeRecord(record({ kind: KIND.drop, outer: { family: 5, src: '1.2.3.4', dst: '5.6.7.8' }, inner: { family: 0 } }))!;
    expect(ev.outer).toBeNull();
    expect(ev.inner).toBeNull();
  });

  it('events with the same flags share one frozen flags object', () => {
    const { events } = decodeBatch(batch({ kind: KIND.ptb, flags: F.df }, { kind: KIND.drop, flags: F.df }, { kind: KIND.syn }));
    expect(events[0]!.flags).toBe(events[1]!.flags);
    expect(events[2]!.flags).not.toBe(events[0]!.flags);
    expect(Object.isFrozen(events[0]!.flags)).toBe(true);
  });

  it('reads a record inside a larger (pooled) allocation at its own offsets', () => {
    const rec = record({ kind: KIND.retransmit, tsNs: 7n, len: 1448, mss: 1448, outer: { family: 4, src: '10.0.0.1', dst: '10.0.0.2' } });
    const pool = Buffer.alloc(rec.length + 100, 0xee);
    rec.copy(pool, 37);
    const view = pool.subarray(37, 37 + rec.length);
    const ev = decodeRecord(view)!;
    expect(ev).toMatchObject({ kind: 'retransmit', tsNs: 7n, len: 1448, mss: 1448, ifname: '', outer: { src: '10.0.0.1', dst: '10.0.0.2' } });
    expect(decodeBatch(view).events.map(plainEvent)).toEqual([ev]);
  });

  it.each([-1, 1, RECORD_BYTES])('no whole record at offset %i of one record: PMTU_ERR_INVALID', (o) => {
    expect(() => decodeRecord(record({ kind: KIND.syn }), o)).toThrow(expect.objectContaining({ code: 'PMTU_ERR_INVALID' }));
  });

  it('a kind this version does not know is null', () => {
    expect(decodeRecord(record({ kind: 0 }))).toBeNull();
    expect(decodeRecord(record({ kind: 7 }))).toBeNull();
    expect(decodeRecord(record({ kind: 255 }))).toBeNull();
  });
});

describe('ipv6 (RFC 5952 text)', () => {
  const cases: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:0DB8:000A:00BC:0DEF:ABCD:EF01:2345', '2001:db8:a:bc:def:abcd:ef01:2345'], // lowercase, no leading zeros
    ['0000:0000:0000:0000:0000:0000:0000:0000', '::'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['fe80:0000:0000:0000:0000:0000:0000:0000', 'fe80::'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'], // one zero group is not '::'
    ['2001:0000:0000:0001:0000:0000:0000:0001', '2001:0:0:1::1'], // the longest run
    ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1'], // equal runs: the first
    ['0000:0000:0001:0000:0000:0001:0000:0000', '::1:0:0:1:0:0'],
    ['0001:0000:0000:0000:0000:0000:0000:0000', '1::'],
    ['0001:0000:0001:0000:0001:0000:0001:0000', '1:0:1:0:1:0:1:0'],
    ['0000:0000:0000:0000:0000:ffff:c000:0201', '::ffff:192.0.2.1'], // IPv4-mapped
    ['0000:0000:0000:0000:0000:ffff:0a00:0001', '::ffff:10.0.0.1'],
  ];
  for (const [full, text] of cases) {
    it(`${full} → ${text}`, () => {
      expect(ipv6(addrBytes(full), 0)).toBe(text);
    });
  }

  it('reads at the given offset', () => {
    const buf = Buffer.concat([Buffer.alloc(3, 0xff), addrBytes('2001:0db8:0000:0000:0000:0000:0000:0042')]);
    expect(ipv6(buf, 3)).toBe('2001:db8::42');
  });

  it('agrees with the WHATWG URL serializer (RFC 5952 but for IPv4-mapped) on 5000 random addresses', () => {
    // Zero groups are made likely, so runs of every length and position occur.
    let seed = 42;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
    for (let n = 0; n < 5000; n++) {
      const addr = Buffer.alloc(16);
      for (let g = 0; g < 8; g++) {
        const r = rand();
        if (r < 0.5) continue;
        addr.writeUInt16BE(r < 0.75 ? Math.floor(rand() * 16) << (4 * Math.floor(rand() * 4)) : Math.floor(rand() * 65536), g * 2);
      }
      if (addr.subarray(0, 10).every((b) => b === 0) && addr.readUInt16BE(10) === 0xffff) continue;
      const groups = [...Array(8).keys()].map((g) => addr.readUInt16BE(g * 2).toString(16)).join(':');
      const expected = new URL(`http://[${groups}]/`).hostname.slice(1, -1);
      expect(ipv6(addr, 0)).toBe(expected);
    }
  });
});

describe('decodeBatch', () => {
  it('decodes records in order and skips and counts unknown kinds', () => {
    const buf = batch(
      { kind: KIND.syn, mss: 1460 },
      { kind: 99 },
      { kind: KIND.drop, reason: 3 },
      { kind: 0 },
      { kind: KIND.size, len: 1400 },
    );
    const { events, unknown } = decodeBatch(buf);
    expect(unknown).toBe(2);
    expect(events.map((e) => e.kind)).toEqual(['syn', 'drop', 'size']);
    expect(events[0]!.mss).toBe(1460);
    expect(events[1]!.reason).toBe(3);
    expect(events[2]!.len).toBe(1400);
  });

  it('hands out lazy events that read exactly what decodeRecord reads, field by field', () => {
    // Every kind, both families, a known state, names, a snap: the batch's events against each record decoded whole.
    const specs = [
      { kind: KIND.ptb, dir: DIR.ingress, flags: F.df | F.icmpErr, tsNs: 123456789012n, netns: 4026532096, ifindex: 7, mtu: 1400, len: 576, ifname: 'eth0',
        outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', proto: 1, len: 576 }, inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
        state: { firstNs: 1n, lastNs: 2n, mssFirst: [1460, 8960] as [number, number], flags: FS.known | FS.syn | FS.synack, minMtu: 1400, minMtuIfindex: 9 }, snap: Buffer.alloc(40, 0x45) },
      { kind: KIND.ptbSent, flags: F.icmpErr | F.local, mtuIfindex: 4, mtuNetns: 4026532100, mtuIfname: 'to-r2', inner: { family: 6, src: '2001:db8:0:0:0:0:0:2', dst: '2001:db8:0:0:0:0:3:2', proto: 58, len: 1500 } },
      { kind: KIND.drop, flags: F.df | F.oversize | F.quoteMismatch, reason: 6, vlan: 12, timeouts: 0, outer: { family: 4, src: '10.0.0.1', dst: '10.0.0.2', sport: 1, dport: 2, proto: 6, len: 9000 } },
      { kind: KIND.syn, dir: DIR.egress, flags: F.synack, mss: 1460, outer: { family: 6, src: 'fe80:0:0:0:0:0:0:1', dst: '2001:db8:0:0:0:0:0:2', proto: 6 } },
      { kind: KIND.retransmit, timeouts: 3, mss: 1448, tsNs: 0xfedcba9876543210n, state: { flags: FS.known | FS.synFromOther | FS.syn } },
      { kind: KIND.size, dir: 9, len: 8940, snapLen: 1000, snap: Buffer.alloc(128, 1) },
    ];
    const buf = batch(...specs);
    const { events } = decodeBatch(buf);
    expect(events).toHaveLength(specs.length);
    for (const [i, ev] of events.entries()) {
      expect(ev).toBeInstanceOf(RecordEvent);
      const whole = decodeRecord(buf, i * RECORD_BYTES)!;
      expect(plainEvent(ev)).toEqual(whole);
      // What is made on first use is made once.
      expect(ev.outer).toBe(ev.outer);
      expect(ev.inner).toBe(ev.inner);
      expect(ev.state).toBe(ev.state);
      expect(ev.snap).toBe(ev.snap);
      expect((ev as RecordEvent).known).toBe(whole.state.known);
    }
  });

  it('tsUs is tsNs / 1000 rounded down, without a BigInt, across the 32-bit halves and past 2^62 ns', () => {
    const values = [0n, 999n, 1000n, 4294967295n, 4294967296n, 4294967296n * 1000n - 1n, 123456789012345678n, (1n << 62n) - 1n, 1n << 62n, 0xffffffffffffffffn];
    for (let k = 0n; k < 2000n; k++) values.push(k * 4294967296n + ((k * 2654435761n) % 4294967296n));
    const { events } = decodeBatch(batch(...values.map((tsNs) => ({ kind: KIND.ptb, tsNs }))));
    events.forEach((ev, i) => expect((ev as RecordEvent).tsUs).toBe(Number(values[i]! / 1000n)));
  });

  it('an empty batch is no events', () => {
    expect(decodeBatch(Buffer.alloc(0))).toEqual({ events: [], unknown: 0 });
  });

  it.each([1, RECORD_BYTES - 1, RECORD_BYTES + 1, RECORD_BYTES * 3 - 1])('a batch of %i bytes is not whole records: PMTU_ERR_INVALID', (n) => {
    const buf = Buffer.alloc(n);
    buf[0] = KIND.ptb;
    let err: unknown;
    try {
      decodeBatch(buf);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PmtuError);
    expect((err as PmtuError).code).toBe('PMTU_ERR_INVALID');
    expect((err as PmtuError).message).toContain(`${n} bytes`);
    expect((err as PmtuError).hint).not.toBe('');
  });
});
