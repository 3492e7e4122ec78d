// The frame builders the kernel tests feed to BPF_PROG_TEST_RUN: lengths,
// flags, tags and checksums checked here with an independent one's-complement
// sum, so a kernel test that fails points at the BPF program, not its input.

import { describe, expect, it } from 'vitest';

import { checksum, ether, hopByHop, icmpFragNeeded, icmpv6PacketTooBig, ipv4, ipv6, PROTO, tcp, udp } from './packets.js';

/** One's-complement sum of 16-bit words; a region with a correct checksum sums to 0xffff. */
function sum16(...parts: Buffer[]): number {
  const b = Buffer.concat(parts);
  let s = 0;
  for (let i = 0; i < b.length; i += 2) {
    s += b.readUInt8(i) * 256 + (i + 1 < b.length ? b.readUInt8(i + 1) : 0);
    s = (s & 0xffff) + Math.floor(s / 0x10000);
  }
  return s;
}

function pseudo4(ip: Buffer, proto: number, len: number): Buffer {
  const p = Buffer.alloc(12);
  ip.copy(p, 0, 12, 20);
  p[9] = proto;
  p.writeUInt16BE(len, 10);
  return p;
}

function pseudo6(ip: Buffer, proto: number, len: number): Buffer {
  const p = Buffer.alloc(40);
  ip.copy(p, 0, 8, 40);
  p.writeUInt32BE(len, 32);
  p[39] = proto;
  return p;
}

const C = '10.0.0.1';
const S = '10.0.3.2';
const C6 = '2001:db8::1';
const S6 = '2001:db8:0:3::2';

describe('checksum', () => {
  it('gives the known checksum of a textbook IPv4 header', () => {
    const h = Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex');
    expect(checksum(h)).toBe(0xb861);
  });

  it('pads an odd length with a zero byte', () => {
    expect(checksum(Buffer.from([0x01]))).toBe(checksum(Buffer.from([0x01, 0x00])));
  });
});

describe('ipv4', () => {
  it('a 20-byte header with total length, DF, protocol, addresses and a valid checksum', () => {
    const p = ipv4({ src: C, dst: S, proto: PROTO.udp, payload: Buffer.alloc(100), df: true });
    expect(p.length).toBe(120);
    expect(p[0]).toBe(0x45);
    expect(p.readUInt16BE(2)).toBe(120);
    expect(p.readUInt16BE(6) & 0x4000).toBe(0x4000);
    expect(p[9]).toBe(17);
    expect([...p.subarray(12, 20)]).toEqual([10, 0, 0, 1, 10, 0, 3, 2]);
    expect(sum16(p.subarray(0, 20))).toBe(0xffff);
  });

  it('without DF the flags are clear; a fragment offset is kept', () => {
    const p = ipv4({ src: C, dst: S, proto: PROTO.udp, payload: Buffer.alloc(8), fragOffset: 185 });
    expect(p.readUInt16BE(6)).toBe(185);
  });

  it('IP options lengthen the header (IHL) and are covered by the checksum', () => {
    const p = ipv4({ src: C, dst: S, proto: PROTO.tcp, payload: Buffer.alloc(20), optionBytes: 40 });
    expect(p[0]).toBe(0x4f);
    expect(p.readUInt16BE(2)).toBe(80);
    expect([...p.subarray(20, 60)].every((b) => b === 1)).toBe(true); // NOPs
    expect(sum16(p.subarray(0, 60))).toBe(0xffff);
  });

  it('a stated total length can be bogus on purpose, still with a valid checksum', () => {
    const p = ipv4({ src: C, dst: S, proto: PROTO.tcp, payload: Buffer.alloc(8), totalLength: 1500 });
    expect(p.length).toBe(28);
    expect(p.readUInt16BE(2)).toBe(1500);
    expect(sum16(p.subarray(0, 20))).toBe(0xffff);
  });
});

describe('ipv6', () => {
  it('version, payload length, next header, hop limit and the addresses', () => {
    const p = ipv6({ src: C6, dst: S6, next: PROTO.tcp, payload: Buffer.alloc(60) });
    expect(p.length).toBe(100);
    expect(p[0]! >> 4).toBe(6);
    expect(p.readUInt16BE(4)).toBe(60);
    expect(p[6]).toBe(6);
    expect(p[7]).toBe(64);
    expect(p.subarray(8, 24).toString('hex')).toBe('20010db8000000000000000000000001');
    expect(p.subarray(24, 40).toString('hex')).toBe('20010db8000000030000000000000002');
  });

  it('a hop-by-hop header in front: next header chains, 8 bytes', () => {
    const p = ipv6({ src: C6, dst: S6, next: 0, payload: hopByHop(PROTO.udp, Buffer.alloc(8)) });
    expect(p[6]).toBe(0);
    expect(p[40]).toBe(17);
    expect(p[41]).toBe(0); // (0 + 1) * 8 bytes
    expect(p.readUInt16BE(4)).toBe(16);
  });
});

describe('tcp', () => {
  it('a SYN with the MSS option first, data offset covering the options, a valid checksum over IPv4', () => {
    const seg = tcp({ src: C, dst: S, sport: 40000, dport: 443, syn: true, mss: 8960 });
    expect(seg.readUInt16BE(0)).toBe(40000);
    expect(seg.readUInt16BE(2)).toBe(443);
    expect(seg[12]! >> 4).toBe(7); // 28 bytes
    expect(seg[13]).toBe(0x02);
    expect([...seg.subarray(20, 24)]).toEqual([2, 4, 0x23, 0x00]);
    const ip = ipv4({ src: C, dst: S, proto: PROTO.tcp, payload: seg, df: true });
    expect(sum16(pseudo4(ip, 6, seg.length), seg)).toBe(0xffff);
  });

  it('a SYN-ACK sets both flags; a data segment has no options', () => {
    expect(tcp({ src: C, dst: S, sport: 1, dport: 2, syn: true, ack: true, mss: 1460 })[13]).toBe(0x12);
    const data = tcp({ src: C, dst: S, sport: 1, dport: 2, ack: true, payload: Buffer.alloc(1448, 7) });
    expect(data[12]! >> 4).toBe(5);
    expect(data.length).toBe(1468);
  });

  it('a valid checksum over IPv6 (pseudo-header with 32-bit length)', () => {
    const seg = tcp({ src: C6, dst: S6, sport: 5555, dport: 80, ack: true, payload: Buffer.alloc(1001, 0xa5) });
    const ip = ipv6({ src: C6, dst: S6, next: PROTO.tcp, payload: seg });
    expect(sum16(pseudo6(ip, 6, seg.length), seg)).toBe(0xffff);
  });
});

describe('udp', () => {
  it('length and a valid checksum over IPv4 and IPv6 (never 0)', () => {
    const seg4 = udp({ src: C, dst: S, sport: 53, dport: 5353, payload: Buffer.from('hello') });
    expect(seg4.readUInt16BE(4)).toBe(13);
    expect(sum16(pseudo4(ipv4({ src: C, dst: S, proto: PROTO.udp, payload: seg4 }), 17, 13), seg4)).toBe(0xffff);
    const seg6 = udp({ src: C6, dst: S6, sport: 53, dport: 5353, payload: Buffer.alloc(300, 1) });
    expect(seg6.readUInt16BE(6)).not.toBe(0);
    expect(sum16(pseudo6(ipv6({ src: C6, dst: S6, next: PROTO.udp, payload: seg6 }), 17, seg6.length), seg6)).toBe(0xffff);
  });
});

describe('icmpFragNeeded', () => {
  it('type 3 code 4, the next-hop MTU, the quoted IPv4 header + 8 bytes, a valid checksum', () => {
    const original = ipv4({ src: C, dst: S, proto: PROTO.tcp, df: true, payload: tcp({ src: C, dst: S, sport: 40000, dport: 443, ack: true, payload: Buffer.alloc(1460) }) });
    const quote = original.subarray(0, 28);
    const msg = icmpFragNeeded(1400, quote);
    expect([msg[0], msg[1]]).toEqual([3, 4]);
    expect(msg.readUInt16BE(6)).toBe(1400);
    expect(msg.subarray(8).equals(quote)).toBe(true);
    expect(msg.readUInt16BE(8 + 2)).toBe(1500); // the quoted total length
    expect(msg.readUInt16BE(8 + 20)).toBe(40000); // the quoted source port
    expect(sum16(msg)).toBe(0xffff);
  });
});

describe('icmpv6PacketTooBig', () => {
  it('type 2, the 32-bit MTU, the quoted IPv6 packet, a checksum over the pseudo-header', () => {
    const original = ipv6({ src: C6, dst: S6, next: PROTO.udp, payload: udp({ src: C6, dst: S6, sport: 1, dport: 2, payload: Buffer.alloc(1452) }) });
    const quote = original.subarray(0, 1280 - 48);
    const router = '2001:db8:0:2::1';
    const msg = icmpv6PacketTooBig(router, C6, 1400, quote);
    expect([msg[0], msg[1]]).toEqual([2, 0]);
    expect(msg.readUInt32BE(4)).toBe(1400);
    expect(msg.subarray(8).equals(quote)).toBe(true);
    const ip = ipv6({ src: router, dst: C6, next: PROTO.icmpv6, payload: msg });
    expect(ip.length).toBe(1280);
    expect(sum16(pseudo6(ip, 58, msg.length), msg)).toBe(0xffff);
  });
});

describe('ether', () => {
  const v4 = ipv4({ src: C, dst: S, proto: PROTO.udp, payload: Buffer.alloc(8) });
  const v6 = ipv6({ src: C6, dst: S6, next: PROTO.udp, payload: Buffer.alloc(8) });

  it('untagged: 14 bytes, EtherType by IP version', () => {
    const f4 = ether(v4);
    expect(f4.readUInt16BE(12)).toBe(0x0800);
    expect(f4.subarray(14).equals(v4)).toBe(true);
    expect(ether(v6).readUInt16BE(12)).toBe(0x86dd);
  });

  it('one 802.1Q tag: TPID 0x8100, the VLAN id, then the EtherType', () => {
    const f = ether(v6, { vlans: [100] });
    expect(f.readUInt16BE(12)).toBe(0x8100);
    expect(f.readUInt16BE(14)).toBe(100);
    expect(f.readUInt16BE(16)).toBe(0x86dd);
    expect(f.subarray(18).equals(v6)).toBe(true);
  });

  it('two tags (QinQ): 802.1ad outside, 802.1Q inside', () => {
    const f = ether(v4, { vlans: [10, 4095] });
    expect(f.readUInt16BE(12)).toBe(0x88a8);
    expect(f.readUInt16BE(14)).toBe(10);
    expect(f.readUInt16BE(16)).toBe(0x8100);
    expect(f.readUInt16BE(18)).toBe(4095);
    expect(f.readUInt16BE(20)).toBe(0x0800);
    expect(f.subarray(22).equals(v4)).toBe(true);
  });
});
