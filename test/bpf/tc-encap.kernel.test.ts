// The tc program on tunnels' packets (BPF_PROG_TEST_RUN): IPIP, sit,
// ip6ip6, ip4ip6, GRE (with its optional fields), GRETAP, VXLAN and Geneve.
// Events describe the packet inside (flow, length, MSS) and carry the
// tunnel's header (type, endpoints, overhead, VNI/key); a PTB quoting a
// tunnel's packet quotes the flow inside it. This kernel has no ipip, gre,
// sit, ip6tnl or geneve module, so these are crafted frames; VXLAN and real
// IPIP over a veth are in test/observer/encap.kernel.test.ts.

import { afterAll, beforeAll, expect, it } from 'vitest';

import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { ether, geneve, gre, icmpFragNeeded, icmpv6PacketTooBig, innerEther, ipv4, ipv6, tcp, udp, vxlan, PROTO, TUNNEL_PROTO } from '../helpers/packets.js';
import { TestRunner } from '../helpers/testrun.js';

/** The load balancer and the realserver: the tunnel's endpoints. */
const LB = '198.18.40.1';
const RS = '198.18.40.2';
const LB6 = '2001:db8:40::1';
const RS6 = '2001:db8:40::2';
/** The client and the service address, inside the tunnel. */
const CLIENT = '198.18.50.2';
const VIP = '198.18.60.1';
const CLIENT6 = '2001:db8:50::2';
const VIP6 = '2001:db8:60::1';
const ROUTER = '198.19.0.1';
const ROUTER6 = '2001:db8:ff::1';

function syn4(sport: number, mss = 1460): Buffer {
  return ipv4({ src: CLIENT, dst: VIP, proto: PROTO.tcp, df: true, payload: tcp({ src: CLIENT, dst: VIP, sport, dport: 443, syn: true, mss }) });
}

function syn6(sport: number, mss = 1440): Buffer {
  return ipv6({ src: CLIENT6, dst: VIP6, next: PROTO.tcp, payload: tcp({ src: CLIENT6, dst: VIP6, sport, dport: 443, syn: true, mss }) });
}

function data4(sport: number, len: number): Buffer {
  return ipv4({ src: CLIENT, dst: VIP, proto: PROTO.tcp, df: true, payload: tcp({ src: CLIENT, dst: VIP, sport, dport: 443, ack: true, payload: Buffer.alloc(len - 40) }) });
}

/** IPv4 in IPv4, as IPVS's tunnel mode sends it. */
function ipip(inner: Buffer, df = true): Buffer {
  return ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.ipip, df, payload: inner });
}

kernelDescribe(
  'tc program on tunnels (BPF_PROG_TEST_RUN)',
  () => {
    let runner: TestRunner;
    beforeAll(() => {
      runner = new TestRunner();
    });
    afterAll(() => runner?.stop());

    const only = (frame: Buffer, dir: 'ingress' | 'egress' = 'ingress') => runner.passing(frame, dir);

    it("reports an IPIP SYN as the inner flow's, with the tunnel's header and its 20 bytes", async () => {
      const [ev, ...rest] = await only(ether(ipip(syn4(41000))));
      expect(rest).toEqual([]);
      expect(ev).toMatchObject({ kind: 'syn', mss: 1460, len: 48 });
      expect(ev!.outer).toMatchObject({ family: 4, src: CLIENT, dst: VIP, sport: 41000, dport: 443, proto: PROTO.tcp });
      expect(ev!.encap).toEqual({ type: 'ipip', family: 4, src: LB, dst: RS, overhead: 20, id: 0, sport: 0, dport: 0, quoted: false });
      expect(ev!.flags.df).toBe(true);
      // The snapshot is the packet as it was on the wire, tunnel header first.
      expect(ev!.snap.length).toBe(20 + 48);
    });

    it('names sit, ip6ip6 and ip4ip6 by the two IP versions', async () => {
      const [sit] = await only(ether(ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.ipv6, payload: syn6(41001) })));
      expect(sit!.outer).toMatchObject({ family: 6, src: CLIENT6, dst: VIP6, sport: 41001 });
      expect(sit!.encap).toMatchObject({ type: 'sit', family: 4, src: LB, dst: RS, overhead: 20 });
      const [six] = await only(ether(ipv6({ src: LB6, dst: RS6, next: TUNNEL_PROTO.ipv6, payload: syn6(41002) })));
      expect(six).toMatchObject({ kind: 'syn', mss: 1440 });
      expect(six!.encap).toMatchObject({ type: 'ip6ip6', family: 6, src: LB6, dst: RS6, overhead: 40 });
      const [four] = await only(ether(ipv6({ src: LB6, dst: RS6, next: TUNNEL_PROTO.ipip, payload: syn4(41003) })));
      expect(four!.outer).toMatchObject({ family: 4, src: CLIENT, sport: 41003 });
      expect(four!.encap).toMatchObject({ type: 'ip4ip6', overhead: 40 });
    });

    it('reads GRE past its checksum, key and sequence number, and GRETAP past the inner Ethernet header', async () => {
      const plain = await only(ether(ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.gre, payload: gre({ protocol: 0x0800, payload: syn4(41004) }) })));
      expect(plain[0]!.encap).toMatchObject({ type: 'gre', overhead: 24, id: 0 });
      const all = await only(ether(ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.gre, payload: gre({ protocol: 0x0800, csum: true, key: 0x01020304, seq: 7, payload: syn4(41005) }) })));
      expect(all[0]).toMatchObject({ kind: 'syn', mss: 1460 });
      expect(all[0]!.outer).toMatchObject({ src: CLIENT, sport: 41005 });
      expect(all[0]!.encap).toMatchObject({ type: 'gre', overhead: 36, id: 0x01020304 });
      const tap = await only(ether(ipv6({ src: LB6, dst: RS6, next: TUNNEL_PROTO.gre, payload: gre({ protocol: 0x6558, key: 9, payload: innerEther(syn6(41006)) }) })));
      expect(tap[0]!.outer).toMatchObject({ family: 6, src: CLIENT6, sport: 41006 });
      expect(tap[0]!.encap).toMatchObject({ type: 'gretap', family: 6, overhead: 40 + 8 + 14, id: 9 });
      // Version 1 (PPTP's enhanced GRE) and source-routed GRE are not followed.
      const pptp = await only(ether(ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.gre, payload: gre({ protocol: 0x0800, flags: 0x0001, payload: syn4(41007) }) })));
      expect(pptp).toEqual([]);
    });

    it('reads VXLAN (4789, and 8472) and Geneve (with options) down to the inner flow, with the VNI', async () => {
      const vx = (port: number, sport: number) =>
        ether(ipv4({ src: LB, dst: RS, proto: PROTO.udp, payload: udp({ src: LB, dst: RS, sport: 50000, dport: port, payload: vxlan(42, innerEther(syn4(sport))) }) }));
      const [a] = await only(vx(4789, 41010));
      expect(a).toMatchObject({ kind: 'syn', mss: 1460 });
      expect(a!.outer).toMatchObject({ src: CLIENT, dst: VIP, sport: 41010, dport: 443 });
      expect(a!.encap).toEqual({ type: 'vxlan', family: 4, src: LB, dst: RS, overhead: 50, id: 42, sport: 50000, dport: 4789, quoted: false });
      const [b] = await only(vx(8472, 41011));
      expect(b!.encap).toMatchObject({ type: 'vxlan', overhead: 50 });
      const opts = Buffer.from([0x01, 0x02, 0x80, 0x01, 0, 0, 0, 1]); // one 4-byte option
      const gen = ether(ipv6({ src: LB6, dst: RS6, next: PROTO.udp, payload: udp({ src: LB6, dst: RS6, sport: 50001, dport: 6081, payload: geneve(7, innerEther(syn4(41012)), { options: opts }) }) }));
      const [c] = await only(gen);
      expect(c!.outer).toMatchObject({ family: 4, src: CLIENT, sport: 41012 });
      expect(c!.encap).toMatchObject({ type: 'geneve', family: 6, overhead: 40 + 8 + 8 + 8 + 14, id: 7 });
    });

    it('leaves UDP to a tunnel port that holds no tunnel as the UDP it is', async () => {
      const noI = ether(ipv4({ src: LB, dst: RS, proto: PROTO.udp, df: true, payload: udp({ src: LB, dst: RS, sport: 50002, dport: 4789, payload: vxlan(42, innerEther(data4(41013, 1400)), 0x00) }) }));
      const [ev] = await only(noI);
      expect(ev).toMatchObject({ kind: 'size', len: 20 + 8 + 8 + 14 + 1400 });
      expect(ev!.outer).toMatchObject({ src: LB, dst: RS, sport: 50002, dport: 4789, proto: PROTO.udp });
      expect(ev!.encap).toBeNull();
      // An inner Ethernet type that is no IP (ARP) is not followed either.
      const arp = Buffer.concat([innerEther(data4(41014, 1400)).subarray(0, 12), Buffer.from([0x08, 0x06]), Buffer.alloc(1400)]);
      const [ev2] = await only(ether(ipv4({ src: LB, dst: RS, proto: PROTO.udp, df: true, payload: udp({ src: LB, dst: RS, sport: 50003, dport: 4789, payload: vxlan(42, arp) }) })));
      expect(ev2!.encap).toBeNull();
      expect(ev2!.outer).toMatchObject({ src: LB, dport: 4789 });
    });

    it("tracks the inner flow's largest size, in the inner packet's bytes", async () => {
      const [first] = await only(ether(ipip(data4(41020, 1400))));
      expect(first).toMatchObject({ kind: 'size', len: 1400 });
      expect(first!.outer).toMatchObject({ src: CLIENT, sport: 41020 });
      expect(first!.encap).toMatchObject({ type: 'ipip', overhead: 20 });
      expect(await only(ether(ipip(data4(41020, 1400))))).toEqual([]);
      const [grown] = await only(ether(ipip(data4(41020, 1460))));
      expect(grown).toMatchObject({ kind: 'size', len: 1460 });
      // Without DF on the tunnel's header the underlay may fragment it: not a size that bounds a path MTU.
      expect(await only(ether(ipip(data4(41021, 1400), false)))).toEqual([]);
    });

    it("ties a PTB quoting a tunnel's packet to the flow inside it", async () => {
      // The router between the load balancer and the realserver: its PTB goes to the LB and quotes LB -> RS.
      const full = ipip(data4(41030, 1500));
      const ptb = ether(ipv4({ src: ROUTER, dst: LB, proto: PROTO.icmp, payload: icmpFragNeeded(1400, full.subarray(0, 548)) }));
      const [ev] = await only(ptb);
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1400 });
      expect(ev!.outer).toMatchObject({ src: ROUTER, dst: LB, proto: PROTO.icmp });
      expect(ev!.inner).toMatchObject({ family: 4, src: CLIENT, dst: VIP, sport: 41030, dport: 443, proto: PROTO.tcp, len: 1500 });
      expect(ev!.encap).toEqual({ type: 'ipip', family: 4, src: LB, dst: RS, overhead: 20, id: 0, sport: 0, dport: 0, quoted: true });
      // The quoted tunnel's source is the PTB's destination: genuine, though the flow inside is the client's.
      expect(ev!.flags.quoteMismatch).toBe(false);
      expect(ev!.flags.innerTruncated).toBe(false);
    });

    it('names the tunnel of a quote cut short inside it, and flags the flow as not quoted', async () => {
      // RFC 792's minimum: the header and 8 bytes, here 8 bytes of the inner IP header.
      const quoted = ipip(data4(41031, 1500)).subarray(0, 28);
      const [ev] = await only(ether(ipv4({ src: ROUTER, dst: LB, proto: PROTO.icmp, payload: icmpFragNeeded(1400, quoted) })));
      expect(ev!.inner).toMatchObject({ src: LB, dst: RS, proto: TUNNEL_PROTO.ipip, sport: 0, dport: 0 });
      expect(ev!.encap).toMatchObject({ type: 'ipip', src: LB, dst: RS, quoted: true });
      expect(ev!.flags.innerTruncated).toBe(true);
      // A quoted VXLAN packet cut before its VXLAN header is the UDP flow it looks like.
      const vx = ipv4({ src: LB, dst: RS, proto: PROTO.udp, df: true, payload: udp({ src: LB, dst: RS, sport: 50004, dport: 4789, payload: vxlan(42, innerEther(data4(41032, 1400))) }) });
      const [ev2] = await only(ether(ipv4({ src: ROUTER, dst: LB, proto: PROTO.icmp, payload: icmpFragNeeded(1400, vx.subarray(0, 28)) })));
      expect(ev2!.inner).toMatchObject({ src: LB, dst: RS, dport: 4789, proto: PROTO.udp });
      expect(ev2!.encap).toBeNull();
    });

    it('ties an ICMPv6 Packet Too Big quoting an IP6IP6 packet to the inner flow (the snapshot holds it all)', async () => {
      const inner = ipv6({ src: CLIENT6, dst: VIP6, next: PROTO.tcp, payload: tcp({ src: CLIENT6, dst: VIP6, sport: 41040, dport: 443, ack: true, payload: Buffer.alloc(1400) }) });
      const full = ipv6({ src: LB6, dst: RS6, next: TUNNEL_PROTO.ipv6, payload: inner });
      const ptb = ether(ipv6({ src: ROUTER6, dst: LB6, next: PROTO.icmpv6, payload: icmpv6PacketTooBig(ROUTER6, LB6, 1400, full.subarray(0, 1232)) }));
      const [ev] = await only(ptb);
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1400 });
      expect(ev!.inner).toMatchObject({ family: 6, src: CLIENT6, dst: VIP6, sport: 41040, dport: 443 });
      expect(ev!.encap).toMatchObject({ type: 'ip6ip6', src: LB6, dst: RS6, overhead: 40, quoted: true });
      expect(ev!.flags.quoteMismatch).toBe(false);
    });

    it("flags a PTB whose quoted tunnel's source is not the PTB's destination", async () => {
      const quoted = ipip(data4(41050, 1500)).subarray(0, 548);
      const [ev] = await only(ether(ipv4({ src: ROUTER, dst: CLIENT, proto: PROTO.icmp, payload: icmpFragNeeded(1400, quoted) })));
      expect(ev!.flags.quoteMismatch).toBe(true);
    });

    it('finds a PTB travelling inside a tunnel (an overlay router to a pod), quoting the pod flow', async () => {
      const podPtb = ipv4({ src: '198.18.70.1', dst: CLIENT, proto: PROTO.icmp, payload: icmpFragNeeded(1400, data4(41060, 1450).subarray(0, 48)) });
      const frame = ether(ipv4({ src: LB, dst: RS, proto: PROTO.udp, payload: udp({ src: LB, dst: RS, sport: 50005, dport: 4789, payload: vxlan(42, innerEther(podPtb)) }) }));
      const [ev] = await only(frame);
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1400 });
      expect(ev!.outer).toMatchObject({ src: '198.18.70.1', dst: CLIENT, proto: PROTO.icmp });
      expect(ev!.inner).toMatchObject({ src: CLIENT, dst: VIP, sport: 41060 });
      expect(ev!.encap).toMatchObject({ type: 'vxlan', quoted: false, src: LB, dst: RS });
    });

    it('passes every truncation of tunnel frames unchanged and never names a wrong flow', async () => {
      const frames = [
        ether(ipip(syn4(41070))),
        ether(ipv4({ src: LB, dst: RS, proto: PROTO.udp, payload: udp({ src: LB, dst: RS, sport: 50006, dport: 4789, payload: vxlan(42, innerEther(syn4(41071))) }) })),
        ether(ipv4({ src: LB, dst: RS, proto: TUNNEL_PROTO.gre, payload: gre({ protocol: 0x0800, csum: true, key: 1, seq: 2, payload: syn4(41072) }) })),
      ];
      let inner = 0;
      for (const full of frames) {
        for (let n = 14 + 20; n <= full.length; n++) {
          for (const ev of await only(Buffer.from(full.subarray(0, n)))) {
            if (ev.encap) {
              inner++;
              expect(ev.outer?.src).toBe(CLIENT);
              expect(ev.encap.src).toBe(LB);
            } else {
              expect(ev.outer?.src).toBe(LB);
            }
          }
        }
      }
      expect(inner).toBeGreaterThan(0);
    });

    it('counts no loss for all of the above', () => {
      const l = runner.losses();
      expect(l.ringbufFull).toBe(0);
      expect(l.queueFull).toBe(0);
    });
  },
  { requires: [needBtf, needAddon] },
);
