// The tc program's parser on crafted frames (BPF_PROG_TEST_RUN): what it
// reports for well-formed PTBs and SYNs, and that hostile or cut-short
// frames pass unchanged without inventing anything.

import { afterAll, beforeAll, expect, it } from 'vitest';

import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { ether, hopByHop, icmpFragNeeded, icmpv6PacketTooBig, ipv4, ipv6, tcp, udp, PROTO } from '../helpers/packets.js';
import { TestRunner } from '../helpers/testrun.js';

const C = '198.18.1.2';
const S = '198.18.3.2';
const R = '198.19.0.1';
const C6 = '2001:db8:1::2';
const S6 = '2001:db8:3::2';
const R6 = '2001:db8:ff::1';

/** The packet c sent that did not fit, as a router quotes it (header + 8 bytes). */
function quotedTcp4(opts: { optionBytes?: number } = {}): Buffer {
  const full = ipv4({ src: C, dst: S, proto: PROTO.tcp, df: true, payload: tcp({ src: C, dst: S, sport: 40000, dport: 443, payload: Buffer.alloc(3960) }), ...opts });
  return full.subarray(0, 20 + (opts.optionBytes ?? 0) + 8);
}

function ptb4(mtu: number, quoted = quotedTcp4(), outer: { optionBytes?: number } = {}): Buffer {
  return ipv4({ src: R, dst: C, proto: PROTO.icmp, payload: icmpFragNeeded(mtu, quoted), ...outer });
}

function ptb6(mtu: number): Buffer {
  const inner = ipv6({ src: C6, dst: S6, next: PROTO.tcp, payload: tcp({ src: C6, dst: S6, sport: 40000, dport: 443, payload: Buffer.alloc(3000) }) });
  const quoted = inner.subarray(0, 1232);
  return ipv6({ src: R6, dst: C6, next: PROTO.icmpv6, payload: icmpv6PacketTooBig(R6, C6, mtu, quoted) });
}

kernelDescribe(
  'tc program on crafted frames (BPF_PROG_TEST_RUN)',
  () => {
    let runner: TestRunner;
    beforeAll(() => {
      runner = new TestRunner();
    });
    afterAll(() => runner?.stop());

    const only = (frame: Buffer, dir: 'ingress' | 'egress' = 'ingress') => runner.passing(frame, dir);

    it('reports an IPv4 frag-needed with its MTU, sender and the flow it quotes', async () => {
      const [ev, ...rest] = await only(ether(ptb4(1500)));
      expect(rest).toEqual([]);
      expect(ev).toMatchObject({ kind: 'ptb', dir: 'ingress', mtu: 1500, icmpType: 3, icmpCode: 4 });
      expect(ev!.outer).toMatchObject({ family: 4, src: R, dst: C, proto: PROTO.icmp });
      expect(ev!.inner).toMatchObject({ family: 4, src: C, dst: S, sport: 40000, dport: 443, proto: PROTO.tcp, len: 4000 });
      expect(ev!.flags.icmpError).toBe(true);
      expect(ev!.flags.innerTruncated).toBe(false);
      expect(ev!.snap.length).toBe(28 + 28);
    });

    it('reads past IP options in the outer and the quoted header', async () => {
      const [ev] = await only(ether(ptb4(1400, quotedTcp4({ optionBytes: 12 }), { optionBytes: 8 })));
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1400 });
      expect(ev!.inner).toMatchObject({ src: C, dst: S, sport: 40000, dport: 443 });
    });

    it('reports an ICMPv6 Packet Too Big', async () => {
      const [ev] = await only(ether(ptb6(1280)));
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1280, icmpType: 2 });
      expect(ev!.outer).toMatchObject({ family: 6, src: R6, dst: C6, proto: PROTO.icmpv6 });
      expect(ev!.inner).toMatchObject({ family: 6, src: C6, dst: S6, sport: 40000, dport: 443, len: 3060 });
    });

    it('finds PTBs under one 802.1Q tag and under 802.1ad + 802.1Q (QinQ)', async () => {
      const [one] = await only(ether(ptb4(1500), { vlans: [42] }));
      expect(one).toMatchObject({ kind: 'ptb', mtu: 1500, vlan: 42 });
      expect(one!.inner?.dst).toBe(S);
      const [two] = await only(ether(ptb6(1400), { vlans: [100, 200] }));
      expect(two).toMatchObject({ kind: 'ptb', mtu: 1400, vlan: 100 });
      expect(two!.inner?.dst).toBe(S6);
    });

    it('reports the MSS of SYN and SYN-ACK, and a SYN without one as 0', async () => {
      const syn = ether(ipv4({ src: C, dst: S, proto: PROTO.tcp, df: true, payload: tcp({ src: C, dst: S, sport: 40001, dport: 443, syn: true, mss: 8960 }) }));
      const [a] = await only(syn, 'egress');
      expect(a).toMatchObject({ kind: 'syn', dir: 'egress', mss: 8960 });
      expect(a!.flags.synAck).toBe(false);
      const synAck = ether(ipv4({ src: S, dst: C, proto: PROTO.tcp, payload: tcp({ src: S, dst: C, sport: 443, dport: 40001, syn: true, ack: true, mss: 1460 }) }));
      const [b] = await only(synAck);
      expect(b).toMatchObject({ kind: 'syn', mss: 1460 });
      expect(b!.flags.synAck).toBe(true);
      const bare = ether(ipv6({ src: C6, dst: S6, next: PROTO.tcp, payload: tcp({ src: C6, dst: S6, sport: 40002, dport: 80, syn: true }) }));
      const [c] = await only(bare);
      expect(c).toMatchObject({ kind: 'syn', mss: 0 });
      expect(c!.outer).toMatchObject({ src: C6, dst: S6, sport: 40002, dport: 80 });
    });

    it('finds a SYN behind an IPv6 hop-by-hop header', async () => {
      const frame = ether(ipv6({ src: C6, dst: S6, next: 0, payload: hopByHop(PROTO.tcp, tcp({ src: C6, dst: S6, sport: 40003, dport: 443, syn: true, mss: 1440 })) }));
      const [ev] = await only(frame);
      expect(ev).toMatchObject({ kind: 'syn', mss: 1440 });
      expect(ev!.outer).toMatchObject({ sport: 40003, dport: 443, proto: PROTO.tcp });
    });

    it("reports a flow's largest DF packet only when it grows, and never a non-DF one", async () => {
      const big = (len: number, df = true) =>
        ether(ipv4({ src: C, dst: S, proto: PROTO.udp, df, payload: udp({ src: C, dst: S, sport: 5000, dport: 6000, payload: Buffer.alloc(len - 28) }) }));
      expect(await only(big(1400, false))).toEqual([]);
      const [first] = await only(big(1400));
      expect(first).toMatchObject({ kind: 'size', len: 1400 });
      expect(first!.flags.df).toBe(true);
      expect(await only(big(1400))).toEqual([]);
      expect(await only(big(1300))).toEqual([]);
      const [grown] = await only(big(1450));
      expect(grown).toMatchObject({ kind: 'size', len: 1450 });
      expect(await only(big(1000))).toEqual([]); // below the reporting threshold (1280)
    });

    it('flags a PTB quoting a bare IPv4 header (no ports) or garbage, and still names its sender and MTU', async () => {
      const [short] = await only(ether(ptb4(1500, quotedTcp4().subarray(0, 20))));
      expect(short).toMatchObject({ kind: 'ptb', mtu: 1500 });
      expect(short!.inner).toMatchObject({ src: C, dst: S, sport: 0, dport: 0 });
      expect(short!.flags.innerTruncated).toBe(true);
      const [bogus] = await only(ether(ptb4(1500, Buffer.from('this is not an ip header at all'))));
      expect(bogus).toMatchObject({ kind: 'ptb', mtu: 1500 });
      expect(bogus!.outer?.src).toBe(R);
      expect(bogus!.inner).toBeNull();
      expect(bogus!.flags.innerTruncated).toBe(true);
    });

    it('passes every truncation of a PTB unchanged and never reports a wrong field', async () => {
      // BPF_PROG_TEST_RUN itself refuses an IPv4/IPv6 frame shorter than its
      // IP header (EINVAL) before the program runs; tagged frames it takes whole.
      const frames = [
        { full: ether(ptb4(1500)), kernelMin: 14 + 20 },
        { full: ether(ptb6(1500)), kernelMin: 14 + 40 },
        { full: ether(ptb4(1500), { vlans: [7, 8] }), kernelMin: 14 },
      ];
      let reported = 0;
      for (const { full, kernelMin } of frames) {
        for (let n = kernelMin; n <= full.length; n++) {
          const events = await only(Buffer.from(full.subarray(0, n)));
          for (const ev of events) {
            reported++;
            expect(ev.kind).toBe('ptb');
            expect(ev.mtu).toBe(1500);
            if (ev.inner) expect([C, C6]).toContain(ev.inner.src);
          }
        }
      }
      expect(reported).toBeGreaterThan(0);
    });

    it('counts no loss for all of the above', () => {
      const l = runner.losses();
      expect(l.ringbufFull).toBe(0);
      expect(l.queueFull).toBe(0);
    });
  },
  { requires: [needBtf, needAddon] },
);
