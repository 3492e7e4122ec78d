// End to end through tunnels: `pmtu-watch live --json` (the built CLI, a child
// process) on namespaces this test builds, with real tunnel traffic. VXLAN is
// a real device here; IPIP has no module on this kernel, so a "load balancer"
// namespace sends real IPIP frames from a raw socket of protocol 4, as IPVS's
// tunnel mode does to its realservers (seed 004).

import { writeFileSync } from 'node:fs';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { events, runLive, verdicts, type EventLine, type LiveRun } from '../helpers/live.js';
import { sendIpip } from '../helpers/ipip.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { routeGet, useLabs } from '../helpers/labs.js';

const CLIENT = '198.18.50.2';
const VIP = '198.18.60.1';

type Encap = { type: string; src: string; dst: string; overhead: number; id?: number; sport?: number; dport?: number; quoted?: boolean };
const encapOf = (e: EventLine) => (e as EventLine & { encap?: Encap }).encap;

/**
 * With PMTU_RECORD_STREAMS set, keeps a run's event lines as the recorded
 * stream test/fixtures/streams/NAME.jsonl (namespaces named by their role),
 * which test/correlate/encap.test.ts replays.
 */
function record(name: string, run: LiveRun, roles: Record<string, string>): void {
  if (!process.env.PMTU_RECORD_STREAMS) return;
  let text = run.lines
    .filter((l) => l.type === 'event')
    .map((l) => JSON.stringify(l))
    .join('\n');
  for (const [role, ns] of Object.entries(roles)) text = text.split(JSON.stringify(ns)).join(JSON.stringify(role));
  writeFileSync(new URL(`../fixtures/streams/${name}.jsonl`, import.meta.url), `${text}\n`);
}

/** A python connect() to a closed port: one SYN (and the RST back), nothing else. */
async function synTo(lab: NetLab, ns: string, dst: string, port: number): Promise<void> {
  await lab.exec(ns, ['python3', '-c', `import socket; s = socket.socket(); s.settimeout(1); s.connect_ex(('${dst}', ${port}))`], { timeoutMs: 5000 });
}

/** Two namespaces, a veth underlay at 1500 and a VXLAN (VNI 42, port 4789) over it. */
async function vxlanPair(lab: NetLab, vxMtu: number, df: boolean) {
  const n1 = await lab.addNs('n1');
  const n2 = await lab.addNs('n2');
  await lab.veth(n1, 'u1', n2, 'u2', { mtuA: 1500, mtuB: 1500 });
  await lab.addr(n1, 'u1', '198.18.41.1/24');
  await lab.addr(n2, 'u2', '198.18.41.2/24');
  for (const [ns, dev, local, remote, addr] of [
    [n1, 'u1', '198.18.41.1', '198.18.41.2', '198.18.42.1/24'],
    [n2, 'u2', '198.18.41.2', '198.18.41.1', '198.18.42.2/24'],
  ] as const) {
    // Bound to its underlay the device refuses an MTU above the underlay's less 50: unbound (as the lab's overlay) it takes 1500.
    const bind = vxMtu + 50 <= 1500 ? ['dev', dev] : [];
    await lab.ip(ns, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '42', ...bind, 'dstport', '4789', 'local', local, 'remote', remote, ...(df ? ['df', 'set'] : [])]);
    await lab.linkSet(ns, 'vx0', { mtu: vxMtu, up: true });
    await lab.addr(ns, 'vx0', addr);
  }
  return { n1, n2 };
}

kernelDescribe(
  'live --json through tunnels',
  () => {
    const labs = useLabs();

    it("seed 004's shape: IPIP-encapsulated SYNs with MSS 1460 to a realserver over 1500 name the inner flow, the tunnel, and that 1460 + 40 + 20 > 1500", async () => {
      const lab = await labs.create('encipip');
      const lb = await lab.addNs('lb');
      const rs = await lab.addNs('rs');
      await lab.veth(lb, 'eth0', rs, 'eth0', { mtuA: 1500, mtuB: 1500 });
      await lab.addr(lb, 'eth0', '198.18.40.1/24');
      await lab.addr(rs, 'eth0', '198.18.40.2/24');
      const run = await runLive(lab, ['--all-netns'], { ns: rs, ifname: 'eth0' }, async () => {
        const sent = await sendIpip(lab, lb, '198.18.40.2', [0, 1, 2].map((i) => ({ src: CLIENT, dst: VIP, sport: 41000 + i, dport: 443, mss: 1460 })), 0);
        expect(sent).toEqual({ sent: 3, refused: 0 });
      });
      expect(run.code).toBe(0);
      record('ipip-syn', run, { lb, rs });
      const syns = events(run).filter((e) => e.kind === 'syn' && e.src === CLIENT && e.dst === VIP);
      // Reported without --every-flow: the kernel's flow table saw MSS 1460 + 40 exceed 1500 less the tunnel's 20.
      const atRs = syns.find((e) => e.netns === rs && e.iface === 'eth0' && e.dir === 'ingress' && (e as { sport?: number }).sport === 41000);
      expect(atRs, 'the SYN at the realserver, inside its tunnel').toBeDefined();
      expect(atRs).toMatchObject({ mss: 1460, mtu: 1500, len: 48, dport: 443, proto: 'tcp' });
      expect(encapOf(atRs!)).toEqual({ type: 'ipip', src: '198.18.40.1', dst: '198.18.40.2', overhead: 20 });
      expect((atRs as { flow?: { minMtu?: { mtu: number } } }).flow?.minMtu?.mtu).toBe(1480);
      expect(syns.some((e) => e.netns === lb && e.dir === 'egress' && encapOf(e)?.type === 'ipip')).toBe(true);

      const v = verdicts(run).filter((x) => x.flow.src === CLIENT && x.flow.sport === 41000).at(-1);
      expect(v, 'a verdict for the inner flow').toBeDefined();
      expect(v).toMatchObject({ verdict: 'mss-exceeds-path', cause: 'encap-overhead', mtu: 1500, flow: { dst: VIP, dport: 443, proto: 'tcp' } });
      expect([lb, rs]).toContain(v!.where.netns);
      expect(v!.notes.join('\n')).toContain('1460 + 40 (IPv4 + TCP) + 20 (IPIP) = 1520 > MTU 1500');
      expect(v!.notes.join('\n')).toContain('MSS 1440 fits');
      expect(v!.fix).toContain('1440');
      expect(v!.fix).toContain('Calico');
      console.log(`[ipip] ${v!.verdict} ${v!.cause} at ${v!.where.netns}/${v!.where.iface}: ${v!.notes[0]}\n    fix: ${v!.fix}`);
    });

    it("ties a router's frag-needed about a tunnel's packet to the flow inside it, and the sender's route to the tunnel's far end learns it", async () => {
      const lab = await labs.create('encptb');
      const lb = await lab.addNs('lb');
      const r = await lab.addNs('r', { forward: true });
      const rs = await lab.addNs('rs');
      await lab.veth(lb, 'eth0', r, 'to-lb', { mtuA: 1500, mtuB: 1500 });
      await lab.veth(r, 'to-rs', rs, 'eth0', { mtuA: 1400, mtuB: 1400 });
      await lab.addr(lb, 'eth0', '198.18.43.1/24');
      await lab.addr(r, 'to-lb', '198.18.43.254/24');
      await lab.addr(r, 'to-rs', '198.18.44.254/24');
      await lab.addr(rs, 'eth0', '198.18.44.2/24');
      await lab.route(lb, ['add', 'default', 'via', '198.18.43.254']);
      await lab.route(rs, ['add', 'default', 'via', '198.18.44.254']);
      const run = await runLive(lab, ['--all-netns'], { ns: lb, ifname: 'eth0' }, async () => {
        // The SYN, then a full-size segment of the same flow: 1460 inside, 1480 with the tunnel's header, over r's 1400.
        const sent = await sendIpip(lab, lb, '198.18.44.2', [
          { src: CLIENT, dst: VIP, sport: 42000, dport: 443, mss: 1460 },
          { src: CLIENT, dst: VIP, sport: 42000, dport: 443, payload: 1420 },
        ]);
        expect(sent.sent).toBe(2);
      });
      expect(run.code).toBe(0);
      record('ipip-ptb', run, { lb, r, rs });
      const ptb = events(run).find((e) => e.kind === 'ptb' && e.netns === lb && e.dir === 'ingress');
      expect(ptb, 'the PTB at the load balancer').toBeDefined();
      expect(ptb).toMatchObject({ src: '198.18.43.254', dst: '198.18.43.1', mtu: 1400, iface: 'eth0' });
      expect(ptb!.inner).toMatchObject({ src: CLIENT, dst: VIP, sport: 42000, dport: 443, proto: 'tcp', len: 1460 });
      expect(encapOf(ptb!)).toEqual({ type: 'ipip', src: '198.18.43.1', dst: '198.18.44.2', overhead: 20, quoted: true });
      expect(ptb!.flags).not.toContain('quote-mismatch');
      expect((ptb as { flow?: { known: boolean } }).flow?.known).toBe(true);
      expect(await routeGet(lab, lb, '198.18.44.2')).toMatch(/mtu 1400/);

      const route = run.lines.find((l) => l.type === 'event' && (l as { kind?: string }).kind === 'route') as { dst?: string; learned?: boolean } | undefined;
      expect(route).toMatchObject({ dst: '198.18.44.2', learned: true });
      const v = verdicts(run).filter((x) => x.flow.src === CLIENT && x.flow.sport === 42000).at(-1);
      expect(v).toMatchObject({ verdict: 'ptb-honored', mtu: 1400, where: { hop: '198.18.43.254' } });
      expect(v!.notes.join('\n')).toContain('quotes the IPIP packet (198.18.43.1 -> 198.18.44.2)');
      expect(v!.notes.join('\n')).toContain('leaves 1380 for the packets inside');
    });

    it('VXLAN: a SYN crossing the underlay is reported as the inner flow with the VNI and the outer addresses, on the underlay interface', async () => {
      const lab = await labs.create('encvx');
      const { n1, n2 } = await vxlanPair(lab, 1450, false);
      const run = await runLive(lab, ['--all-netns', '--every-flow'], { ns: n2, ifname: 'u2' }, async () => {
        for (let i = 0; i < 2; i++) await synTo(lab, n1, '198.18.42.2', 9);
      });
      expect(run.code).toBe(0);
      const syns = events(run).filter((e) => e.kind === 'syn' && e.src === '198.18.42.1' && e.dst === '198.18.42.2');
      const under = syns.find((e) => e.netns === n2 && e.iface === 'u2' && e.dir === 'ingress');
      expect(under, 'the SYN on the underlay').toBeDefined();
      expect(under).toMatchObject({ mss: 1410, mtu: 1500, proto: 'tcp', dport: 9 });
      expect(encapOf(under!)).toMatchObject({ type: 'vxlan', src: '198.18.41.1', dst: '198.18.41.2', overhead: 50, id: 42, dport: 4789 });
      // On the VXLAN device itself the same flow has no tunnel around it.
      const onVx = syns.find((e) => e.netns === n2 && e.iface === 'vx0');
      expect(onVx).toBeDefined();
      expect(encapOf(onVx!)).toBeUndefined();
      // 1410 + 40 + 50 = 1500: it fits, nothing alarming.
      expect(verdicts(run).filter((v) => v.flow.src === '198.18.42.1' && v.verdict !== 'ok')).toEqual([]);
    });

    it('VXLAN left at 1500 over a 1500 underlay: the SYN inside it says MSS 1460 does not fit the 50 bytes', async () => {
      const lab = await labs.create('encvx15');
      const { n1, n2 } = await vxlanPair(lab, 1500, true);
      const run = await runLive(lab, ['--all-netns'], { ns: n1, ifname: 'u1' }, async () => {
        await synTo(lab, n1, '198.18.42.2', 9);
      });
      expect(run.code).toBe(0);
      record('vxlan-1500', run, { n1, n2 });
      const v = verdicts(run).filter((x) => x.flow.src === '198.18.42.1' && x.flow.dport === 9).at(-1);
      expect(v).toMatchObject({ verdict: 'mss-exceeds-path', cause: 'encap-overhead', mtu: 1500 });
      expect([n1, n2]).toContain(v!.where.netns);
      expect(v!.notes.join('\n')).toContain('1460 + 40 (IPv4 + TCP) + 50 (VXLAN) = 1550 > MTU 1500');
      expect(v!.fix).toContain('1410');
    });
  },
  { requires: [needBtf, needLabTools, needCommands('python3'), needAddon] },
);
