// The kernel's flow table on crafted frames (BPF_PROG_TEST_RUN, loopback):
// a healthy flow costs no event, only counts; a PTB carries what the table
// knew of the flow it quotes; a PTB that cannot be genuine is flagged; a flow
// in trouble has its later sizes reported. Lab scenarios (test/observer)
// cover what needs two hooks: an MSS rewritten between them, sizes above the
// smallest hook MTU.

import { afterAll, beforeAll, expect, it } from 'vitest';

import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { ether, icmpFragNeeded, ipv4, tcp, PROTO } from '../helpers/packets.js';
import { TestRunner } from '../helpers/testrun.js';

const C = '198.18.20.2';
const S = '198.18.23.2';
const R = '198.18.21.1';

function syn(sport: number, o: { ack?: boolean; mss?: number; from?: string; to?: string } = {}): Buffer {
  const [src, dst] = [o.from ?? C, o.to ?? S];
  const [sp, dp] = o.ack ? [443, sport] : [sport, 443];
  return ether(ipv4({ src, dst, proto: PROTO.tcp, df: true, payload: tcp({ src, dst, sport: sp, dport: dp, syn: true, ack: o.ack, mss: o.mss ?? 8960 }) }));
}

function data(sport: number, bytes: number): Buffer {
  return ether(ipv4({ src: C, dst: S, proto: PROTO.tcp, df: true, payload: tcp({ src: C, dst: S, sport, dport: 443, ack: true, payload: Buffer.alloc(bytes - 40) }) }));
}

/** A router's frag-needed to `to` quoting `quotedSrc` -> S:443 from sport. */
function ptb(sport: number, o: { to?: string; quotedSrc?: string; mtu?: number } = {}): Buffer {
  const from = o.quotedSrc ?? C;
  const quoted = ipv4({ src: from, dst: S, proto: PROTO.tcp, df: true, payload: tcp({ src: from, dst: S, sport, dport: 443, ack: true, payload: Buffer.alloc(1460) }) }).subarray(0, 28);
  return ether(ipv4({ src: R, dst: o.to ?? C, proto: PROTO.icmp, payload: icmpFragNeeded(o.mtu ?? 1400, quoted) }));
}

kernelDescribe(
  'the kernel flow table (BPF_PROG_TEST_RUN)',
  () => {
    let runner: TestRunner;
    beforeAll(() => {
      runner = new TestRunner({ everyFlow: false });
    });
    afterAll(() => runner?.stop());

    it('a healthy flow makes no event: its SYN, SYN-ACK and data are counted, not reported', async () => {
      const before = runner.traffic().find((t) => t.ifindex === 1);
      expect((await runner.run(syn(41000), 'egress')).events).toEqual([]);
      expect((await runner.run(syn(41000, { ack: true, from: S, to: C }), 'ingress')).events).toEqual([]);
      expect((await runner.run(data(41000, 1500), 'egress')).events).toEqual([]);
      const after = runner.traffic().find((t) => t.ifindex === 1)!;
      expect(after.syns - (before?.syns ?? 0)).toBeGreaterThanOrEqual(1);
      expect(after.synAcks - (before?.synAcks ?? 0)).toBeGreaterThanOrEqual(1);
      expect(after.flows - (before?.flows ?? 0)).toBeGreaterThanOrEqual(1);
    });

    it("a PTB arrives knowing its flow: the SYN's MSS both ways, who started it, the largest size sent", async () => {
      await runner.run(syn(41001, { mss: 8960 }), 'egress');
      await runner.run(syn(41001, { ack: true, mss: 1460, from: S, to: C }), 'ingress');
      await runner.run(data(41001, 2000), 'egress');
      const [ev, ...rest] = (await runner.run(ptb(41001), 'ingress')).events;
      expect(rest).toEqual([]);
      expect(ev).toMatchObject({ kind: 'ptb', mtu: 1400, flags: { quoteMismatch: false } });
      expect(ev!.state).toMatchObject({
        known: true,
        initiator: 'src', // the quoted flow's source, C, sent the SYN
        syn: { first: 8960, firstIfindex: 1, last: 8960 },
        synAck: { first: 1460, last: 1460 },
        largest: [2000, 0],
      });
    });

    it('a PTB about a flow no hook saw arrives as unknown; one quoting a packet its destination did not send is flagged', async () => {
      const [unknown] = (await runner.run(ptb(41999), 'ingress')).events;
      expect(unknown!.state.known).toBe(false);
      expect(unknown!.flags.quoteMismatch).toBe(false);
      await runner.run(syn(41002), 'egress');
      // To C, quoting a packet from 198.18.99.9: C's kernel never sent it, whatever flow it names.
      const [forged] = (await runner.run(ptb(41002, { quotedSrc: '198.18.99.9' }), 'ingress')).events;
      expect(forged!.flags.quoteMismatch).toBe(true);
      expect(forged!.state.known).toBe(false);
    });

    it('once a PTB put a flow in trouble, its next larger size is reported (what got through bounds the path MTU)', async () => {
      await runner.run(syn(41003), 'egress');
      expect((await runner.run(data(41003, 1400), 'egress')).events).toEqual([]);
      await runner.run(ptb(41003), 'ingress');
      const [size] = (await runner.run(data(41003, 1500), 'egress')).events;
      expect(size).toMatchObject({ kind: 'size', len: 1500 });
      expect(size!.state).toMatchObject({ known: true, largest: [1500, 0] });
      // Not larger: nothing new to say.
      expect((await runner.run(data(41003, 1450), 'egress')).events).toEqual([]);
    });
  },
  { requires: [needBtf, needAddon] },
);

kernelDescribe(
  'a full bucket of the kernel flow table (BPF_PROG_TEST_RUN, one bucket of eight ways)',
  () => {
    let runner: TestRunner;
    beforeAll(() => {
      runner = new TestRunner({ everyFlow: false, flowTableEntries: 4 });
    });
    afterAll(() => runner?.stop());

    it('new flows take the way of the flow seen longest ago that is not in trouble; a flow in trouble gives way only when all are, counted', async () => {
      await runner.run(syn(42000, { mss: 1400 }), 'egress');
      expect((await runner.run(ptb(42000), 'ingress')).events[0]!.state.known).toBe(true); // now in trouble
      await runner.run(syn(42001, { mss: 1300 }), 'egress');
      for (let port = 42100; port < 42120; port++) await runner.run(syn(port), 'egress');
      expect(runner.losses().flowTableFull).toBe(0);
      const [troubled] = (await runner.run(ptb(42000), 'ingress')).events;
      expect(troubled!.state).toMatchObject({ known: true, syn: { first: 1400 } });
      const [healthy] = (await runner.run(ptb(42001), 'ingress')).events;
      expect(healthy!.state.known).toBe(false); // twenty newer flows took its way

      // Seven more in trouble fill the bucket with flows in trouble; the next new flow costs one of them.
      for (let port = 42200; port < 42207; port++) {
        await runner.run(syn(port), 'egress');
        await runner.run(ptb(port), 'ingress');
      }
      expect(runner.losses().flowTableFull).toBe(0);
      await runner.run(syn(42300), 'egress');
      expect(runner.losses().flowTableFull).toBe(1);
      const known = [];
      for (const port of [42000, 42200, 42201, 42202, 42203, 42204, 42205, 42206, 42300])
        if ((await runner.run(ptb(port), 'ingress')).events[0]!.state.known) known.push(port);
      expect(known).toHaveLength(8);
      expect(known).toContain(42300);
    });
  },
  { requires: [needBtf, needAddon] },
);
