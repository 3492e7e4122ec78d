// End to end: the real observer (`pmtu-watch live --json`, a child process)
// watches namespaces this test builds while real traffic crosses them, and
// the test asserts on the JSON lines a user would read.

import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import type { FlowStateJson } from '../../src/contract/event.js';
import { bridgePort, routedPath } from '../../src/lab/topologies.js';
import { pingDf, tcpTransfer, waitFor } from '../../src/lab/traffic.js';
import { BIN, events, observerAttached, runLive, trafficFlows, verdictLatencies, verdicts, type EventLine, type JsonLine } from '../helpers/live.js';
import { kernelDescribe, needAddon, needBtf, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

/** This (the observer's own) namespace's qdiscs, as `tc` shows them. */
const hostQdiscs = () => execFileSync('tc', ['qdisc', 'show'], { encoding: 'utf8' });

kernelDescribe(
  'pmtu-watch live --json on real traffic',
  () => {
    const labs = useLabs();
    let lab: NetLab | undefined;

    it('--all-netns shows the rp_filter black hole in order: PTB generated and PKT_TOO_BIG at r1, PTB at c, IP_RPFILTER at c', async () => {
      lab = await labs.create('obsrpf');
      const path = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, ipv6: false });
      const { c, r1 } = path.ns;
      const hostTcBefore = hostQdiscs();
      const run = await runLive(lab, ['--all-netns'], { ns: c, ifname: path.client.ifname }, async () => {
        const ping = await pingDf(lab!, c, path.server.v4, { size: 4000, count: 3 });
        expect(ping.received).toBe(0); // the black hole is real
      });
      expect(run.code).toBe(0);
      // --all-netns watched this namespace's interfaces too, and left them as they were.
      expect(hostQdiscs()).toBe(hostTcBefore);
      const ev = events(run);
      const fromC = (e: EventLine) => e.inner?.src === path.client.v4 && e.inner?.dst === path.server.v4;

      const generated = ev.find((e) => e.kind === 'ptb-sent' && e.netns === r1 && fromC(e));
      expect(generated, 'icmp_send at r1').toBeDefined();
      expect(generated!.mtu).toBe(1500);
      expect(generated!.mtuIface).toBe(path.links.r1R2.a.ifname);

      const tooBig = ev.find((e) => e.kind === 'drop' && e.reason === 'PKT_TOO_BIG' && e.netns === r1);
      expect(tooBig, 'PKT_TOO_BIG drop at r1').toBeDefined();
      expect(tooBig!.mtu).toBe(1500);
      expect(tooBig!.len).toBe(4028);
      expect(tooBig!.src).toBe(path.client.v4);

      const arrived = ev.find((e) => e.kind === 'ptb' && e.netns === c && e.dir === 'ingress' && fromC(e));
      expect(arrived, 'PTB on c ingress').toBeDefined();
      expect(arrived!.iface).toBe(path.client.ifname);
      expect(arrived!.src).toBe(path.mgmt!.router.v4);
      expect(arrived!.mtu).toBe(1500);

      const eaten = ev.find((e) => e.kind === 'drop' && e.reason === 'IP_RPFILTER' && e.netns === c);
      expect(eaten, 'IP_RPFILTER drop of the PTB at c').toBeDefined();
      expect(eaten!.src).toBe(path.mgmt!.router.v4);
      expect(eaten!.iface).toBe(path.client.ifname);
      expect(eaten!.mtu).toBe(1500);
      expect(fromC(eaten!)).toBe(true);

      // The verdict a user reads, within a second of the evidence.
      const verdict = verdicts(run).find((v) => v.verdict === 'ptb-dropped' && v.flow.src === path.client.v4);
      expect(verdict).toMatchObject({ cause: 'rp_filter', mtu: 1500, where: { netns: c, iface: path.client.ifname, hop: path.mgmt!.router.v4 } });
      const latencies = verdictLatencies(run);
      console.log(`verdict latency after the evidence: max ${Math.max(...latencies).toFixed(1)} ms over ${latencies.length} verdict lines`);
      expect(Math.max(...latencies)).toBeLessThan(1000);

      const ts = (e: EventLine) => e.ts as number;
      expect(ts(generated!)).toBeLessThanOrEqual(ts(arrived!));
      expect(ts(arrived!)).toBeLessThanOrEqual(ts(eaten!));
      expect(ts(tooBig!)).toBeLessThanOrEqual(ts(arrived!));
    });

    it('--all-netns started before the namespaces exist watches them once they appear', async () => {
      const child = spawn(process.execPath, [BIN, 'live', '--json', '--all-netns', '--duration', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const lines: JsonLine[] = [];
      createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as JsonLine));
      const exited = once(child, 'exit');
      try {
        await waitFor(() => lines.some((l) => l.type === 'stats'), 15_000); // the hooks are in place
        lab = await labs.create('obslate');
        const path = await routedPath(lab, { ipv6: false });
        await waitFor(() => observerAttached(lab!, path.ns.c, path.client.ifname), 10_000);
        await pingDf(lab, path.ns.c, path.server.v4, { size: 4000, count: 2 });
        await waitFor(() => events({ lines }).some((e) => e.kind === 'ptb' && e.netns === path.ns.c && e.dir === 'ingress'), 5000);
      } finally {
        child.kill('SIGINT');
      }
      await exited;
    });

    it("shows a PTB eaten by c's firewall as a NETFILTER_DROP of that ICMP error", async () => {
      lab = await labs.create('obsfw');
      const path = await routedPath(lab, { dropPtbOnClient: true, ipv6: false });
      const { c } = path.ns;
      const run = await runLive(lab, ['--netns', c], { ns: c, ifname: path.client.ifname }, async () => {
        const ping = await pingDf(lab!, c, path.server.v4, { size: 4000, count: 2 });
        expect(ping.received).toBe(0);
      });
      const eaten = events(run).find((e) => e.kind === 'drop' && e.netns === c && e.reason === 'NETFILTER_DROP');
      expect(eaten, 'NETFILTER_DROP of the PTB at c').toBeDefined();
      expect(eaten!.flags).toContain('icmp-error');
      expect(eaten!.mtu).toBe(1500);
      expect(eaten!.src).toBe(path.ptb.v4);
      expect(eaten!.inner?.dst).toBe(path.server.v4);
      expect(eaten!.iface).toBe(path.client.ifname);
    });

    it('shows retransmissions of large segments when r1 never sends a PTB (silent black hole)', async () => {
      lab = await labs.create('obsblack');
      const path = await routedPath(lab, { blockIcmpOnRouter: true, ipv6: false });
      const { c, s } = path.ns;
      const run = await runLive(lab, ['--netns', c], { ns: c, ifname: path.client.ifname }, async () => {
        const t = await tcpTransfer(lab!, { serverNs: s, clientNs: c, serverAddr: path.server.v4, seconds: 2 });
        expect(t.bytesReceived).toBe(0);
      });
      const ev = events(run);
      expect(ev.some((e) => e.kind === 'ptb')).toBe(false);
      const rtx = ev.filter((e) => e.kind === 'retransmit' && e.netns === c && e.dst === path.server.v4);
      expect(rtx.length).toBeGreaterThan(0);
      expect(Math.min(...rtx.map((e) => e.len!))).toBeGreaterThan(1500);
      expect(rtx[0]!.mss).toBe(8948); // 9000 - 40 - 12 bytes of timestamps
      expect(rtx[0]!.iface).toBe(path.client.ifname);
    });

    it('shows the layer-2 oversize drop of a bridge port at 1500 under a 9000 bridge', async () => {
      lab = await labs.create('obsbr');
      const br = await bridgePort(lab, { ipv6: false });
      const hv = br.ns.hv;
      const run = await runLive(lab, ['--netns', hv], { ns: hv, ifname: br.ports.g2.ifname }, async () => {
        const ping = await pingDf(lab!, br.ns.g1, br.guests.g2.v4, { size: 8000, count: 2 });
        expect(ping.received).toBe(0);
      });
      const drop = events(run).find((e) => e.kind === 'drop' && e.netns === hv && e.iface === br.ports.g2.ifname);
      expect(drop, 'drop at the 1500 port').toBeDefined();
      expect(drop!.mtu).toBe(1500);
      expect(drop!.len).toBe(8028);
      expect(drop!.flags).toContain('oversize');
      expect(drop!.src).toBe(br.guests.g1.v4);
    });

    it('shows ICMPv6 Packet Too Big generated at r1 and arriving at c, honored', async () => {
      lab = await labs.create('obsv6');
      const path = await routedPath(lab, {});
      const { c, r1 } = path.ns;
      const run = await runLive(lab, ['--netns', c, '--netns', r1], { ns: c, ifname: path.client.ifname }, async () => {
        await pingDf(lab!, c, path.server.v6!, { size: 4000, count: 3, ipv6: true });
      });
      const ev = events(run);
      const sent = ev.find((e) => e.kind === 'ptb-sent' && e.netns === r1 && e.dir === 'egress');
      expect(sent, 'PTB leaving r1').toBeDefined();
      expect(sent!.mtu).toBe(1500);
      expect(sent!.inner?.src).toBe(path.client.v6);
      const got = ev.find((e) => e.kind === 'ptb' && e.netns === c && e.dir === 'ingress');
      expect(got, 'PTB at c').toBeDefined();
      expect(got!.mtu).toBe(1500);
      expect(got!.inner?.dst).toBe(path.server.v6);
      expect(got!.iface).toBe(path.client.ifname);
      // IPv6 routers never fragment: the too-big packet is dropped at r1.
      expect(ev.some((e) => e.kind === 'drop' && e.reason === 'PKT_TOO_BIG' && e.netns === r1)).toBe(true);
    });

    it('a TCP transfer through a bottleneck: no SYN or size events, only the PTB, which carries the flow as the kernel knew it', async () => {
      lab = await labs.create('obstcp');
      const path = await routedPath(lab, { ipv6: false });
      const { c, s } = path.ns;
      const run = await runLive(lab, ['--netns', c, '--netns', s], { ns: s, ifname: path.server.ifname }, async () => {
        const t = await tcpTransfer(lab!, { serverNs: s, clientNs: c, serverAddr: path.server.v4, seconds: 1 });
        expect(t.bytesReceived).toBeGreaterThan(0);
      });
      const ev = events(run);
      // c and s each see only their own 9000 hooks: nothing about the SYNs or sizes can be trouble there.
      expect(ev.filter((e) => e.kind === 'syn' || e.kind === 'size').map((e) => `${e.kind} ${e.netns}/${e.iface}`)).toEqual([]);
      const ptb = ev.find((e) => e.kind === 'ptb' && e.netns === c && e.inner?.proto === 'tcp' && e.inner.dport === 5201);
      expect(ptb?.mtu).toBe(1500);
      expect(ptb?.inner?.dst).toBe(path.server.v4);
      // The kernel's join: c sent the SYN with MSS 8960, got 8960 back, and sent DF segments over 1500.
      const flow = ptb!.flow as FlowStateJson;
      expect(flow).toMatchObject({
        known: true,
        initiator: 'src',
        syn: { first: 8960, firstIface: path.client.ifname, last: 8960 },
        synAck: { first: 8960, last: 8960 },
        minMtu: { mtu: 9000, iface: path.client.ifname },
      });
      expect(flow.largest!.fwd).toBeGreaterThan(1500);
      expect(flow.since!).toBeLessThanOrEqual(ptb!.ts as number);
      // Healthy traffic is still counted.
      expect(trafficFlows(run)).toBeGreaterThan(0);
    });

    it('--every-flow: every SYN both ways and each largest DF size, as before the flow table', async () => {
      lab = await labs.create('obsevery');
      const path = await routedPath(lab, { ipv6: false });
      const { c, s } = path.ns;
      const run = await runLive(lab, ['--netns', c, '--netns', s, '--every-flow'], { ns: s, ifname: path.server.ifname }, async () => {
        const t = await tcpTransfer(lab!, { serverNs: s, clientNs: c, serverAddr: path.server.v4, seconds: 1 });
        expect(t.bytesReceived).toBeGreaterThan(0);
      });
      const ev = events(run);
      const syn = ev.find((e) => e.kind === 'syn' && e.netns === c && e.dir === 'egress' && !e.flags?.includes('synack'));
      expect(syn?.mss).toBe(8960);
      const synAck = ev.find((e) => e.kind === 'syn' && e.netns === c && e.dir === 'ingress' && e.flags?.includes('synack'));
      expect(synAck?.mss).toBe(8960);
      // At s nothing larger than the bottleneck ever arrives.
      const sizesAtS = ev.filter((e) => e.kind === 'size' && e.netns === s && e.dir === 'ingress');
      expect(sizesAtS.length).toBeGreaterThan(0);
      expect(Math.max(...sizesAtS.map((e) => e.len!))).toBeLessThanOrEqual(1500);
      const sizesAtC = ev.filter((e) => e.kind === 'size' && e.netns === c && e.dir === 'egress');
      expect(Math.max(...sizesAtC.map((e) => e.len!))).toBeGreaterThan(1500);
    });
  },
  { requires: [needBtf, needLabTools, needAddon] },
);
