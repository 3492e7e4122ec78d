// The tc program's rules (src/packet/tc-rules.ts) from both ends: an Ethernet
// frame as the program sees it (readFrame; the fuzz test holds the kernel to
// it) and a capture's packet from its IP header on (readPacket) must read
// alike, and a snaplen cut must not shrink what the wire carried.

import { describe as group, expect, it } from 'vitest';

import { addrRange, describe, readFrame, readPacket, SNAP_LEN } from '../../src/packet/tc-rules.js';
import { ether, gre, hopByHop, icmpFragNeeded, ipv4, ipv6, PROTO, tcp, TUNNEL_PROTO } from '../helpers/packets.js';
import { TcReference } from '../helpers/tc-reference.js';

const A = '198.18.1.2';
const B = '198.18.3.2';
const R = '198.19.0.1';

const seg = (len: number, o: { syn?: boolean; seq?: number } = {}) =>
  ipv4({ src: A, dst: B, proto: PROTO.tcp, df: true, payload: tcp({ src: A, dst: B, sport: 40000, dport: 443, ack: !o.syn, ...(o.syn ? { syn: true, mss: 8960 } : {}), seq: o.seq ?? 1000, payload: Buffer.alloc(Math.max(0, len - (o.syn ? 48 : 40))) }) });

group('tc rules', () => {
  it('read a packet from its IP header on as they read its Ethernet frame', () => {
    const packets = [
      seg(1500),
      seg(0, { syn: true }),
      ipv4({ src: R, dst: A, proto: PROTO.icmp, payload: icmpFragNeeded(1500, seg(9000).subarray(0, 548)) }),
      ipv6({ src: '2001:db8::1', dst: '2001:db8::2', next: 0, payload: hopByHop(PROTO.tcp, tcp({ src: '2001:db8::1', dst: '2001:db8::2', sport: 1, dport: 2, syn: true, mss: 1440 })) }),
      ipv4({ src: '198.18.9.1', dst: '198.18.9.2', proto: TUNNEL_PROTO.gre, df: true, payload: gre({ protocol: 0x0800, key: 7, payload: seg(1400) }) }),
    ];
    for (const p of packets) {
      const frame = ether(p);
      const a = readFrame(frame)!;
      const b = readPacket(p, (p[0]! >> 4) as 4 | 6, p.length)!;
      expect({ ...b, l3: b.l3 + 14, ip: b.ip + 14, l4: b.l4 < 0 ? -1 : b.l4 + 14 }).toEqual(a);
      const kind = a.ptb ? 'ptb' : a.syn ? 'syn' : 'size';
      const { snap: s1, parsed: _p1, ...d1 } = describe(frame, a, kind);
      const { snap: s2, parsed: _p2, ...d2 } = describe(p, b, kind);
      expect(d2).toEqual(d1);
      expect(s2.equals(s1)).toBe(true);
    }
  });

  it('the wire length, not the bytes a snaplen kept, is the packet\'s length; the snapshot is what was kept, at most 256 bytes', () => {
    const p = seg(1500);
    const w = readPacket(p.subarray(0, 96), 4, 1500)!;
    expect(w).toMatchObject({ l3Len: 1500, df: true, proto: 6, sport: 40000, dport: 443, l4: 20 });
    expect(describe(p.subarray(0, 96), w, 'size').snap.length).toBe(96);
    expect(describe(p, readPacket(p, 4, 1500)!, 'size').snap.length).toBe(SNAP_LEN);
  });

  it('the addresses, the tunnel\'s inner flow, and a PTB\'s quoted TCP header are where the wire says', () => {
    const inner = seg(1400, { seq: 0xdeadbeef });
    const tunneled = ipv4({ src: '198.18.9.1', dst: '198.18.9.2', proto: TUNNEL_PROTO.gre, df: true, payload: gre({ protocol: 0x0800, payload: inner }) });
    const w = readPacket(tunneled, 4, tunneled.length)!;
    const a = addrRange(w);
    expect([...tunneled.subarray(a.src, a.src + 4)].join('.')).toBe(A);
    expect(tunneled.readUInt32BE(w.l4 + 4)).toBe(0xdeadbeef);
    expect(w.l3Len).toBe(1400);
    const ptb = ipv4({ src: R, dst: A, proto: PROTO.icmp, payload: icmpFragNeeded(1400, inner.subarray(0, 28)) });
    const d = describe(ptb, readPacket(ptb, 4, ptb.length)!, 'ptb');
    expect(d.ptbMtu).toBe(1400);
    expect(d.snap.readUInt32BE(d.parsed.innerL4 + 4)).toBe(0xdeadbeef);
  });

  it('the reference (the rules in the test-run context) still says what the fuzz test expects of the kernel', () => {
    const ref = new TcReference();
    const out = ref.run(ether(seg(0, { syn: true })), 'egress');
    expect(out).toMatchObject({ event: { kind: 'syn', mtu: 65536, mss: 8960, flags: { local: true, df: true } } });
    expect(ref.run(ether(seg(1500)), 'ingress')).toMatchObject({ event: { kind: 'size', len: 1500, flags: { local: false } } });
    expect(ref.run(ether(seg(1500)), 'ingress')).toEqual({ event: null }); // not larger than before
    expect(ref.run(Buffer.alloc(10), 'ingress')).toEqual({ refused: 'shorter than an Ethernet header' });
  });
});
