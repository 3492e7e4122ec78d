// Root-only: every scenario of SCENARIOS.md built for real and driven with its
// own bounded traffic, asserting what the network does — what a user would
// check by hand with ping, iperf3, curl, ip route get, nstat and ip -s link —
// not what pmtu-watch concludes (test/observer/scenarios.kernel.test.ts does
// that). Each lab is torn down after its test and must leave nothing behind.

import { afterEach, beforeAll, expect, it } from 'vitest';

import { NetLab, listNetns, reapStale } from '../../src/lab/netlab.js';
import { SCENARIOS, describeStep, scenario, type Built, type DriveStep, type DriveSummary } from '../../src/lab/scenarios.js';
import { kernelDescribe, needCommands, needLabTools } from '../helpers/kernel.js';
import { nstat, routeGet } from '../helpers/labs.js';

type Ping = Extract<DriveStep, { kind: 'ping' }>;
type Tcp = Extract<DriveStep, { kind: 'tcp' }>;
type Tls = Extract<DriveStep, { kind: 'tls' }>;
type Syn = Extract<DriveStep, { kind: 'syn' }>;

function steps<K extends DriveStep['kind']>(sum: DriveSummary, kind: K): Extract<DriveStep, { kind: K }>[] {
  return sum.steps.filter((s): s is Extract<DriveStep, { kind: K }> => s.kind === kind);
}
const pings = (sum: DriveSummary): Ping[] => steps(sum, 'ping');
const tcps = (sum: DriveSummary): Tcp[] => steps(sum, 'tcp');
const tls = (sum: DriveSummary): Tls => steps(sum, 'tls')[0]!;
const ping = (sum: DriveSummary, size: number): Ping => pings(sum).find((p) => p.size === size)!;

async function rxDropped(lab: NetLab, ns: string, ifname: string): Promise<number> {
  const r = await lab.exec(ns, ['ip', '-j', '-s', 'link', 'show', 'dev', ifname], { check: true });
  const [link] = JSON.parse(r.stdout) as { stats64: { rx: { dropped: number } } }[];
  return link!.stats64.rx.dropped;
}

/** A black-holed ping: nothing back, not even an error. */
function blackHoled(p: Ping): void {
  expect(p, JSON.stringify(p)).toMatchObject({ received: 0, errors: 0, fragNeeded: false });
  expect(p.transmitted).toBeGreaterThan(0);
  expect(p.pmtu).toBeUndefined();
}
const passed = (p: Ping) => expect(p, JSON.stringify(p)).toMatchObject({ received: p.transmitted, errors: 0 });

/** What each scenario's traffic must have shown, and the kernel state behind it. */
const CHECKS: Record<string, (lab: NetLab, b: Built, sum: DriveSummary) => Promise<void>> = {
  async healthy(lab, b, sum) {
    for (const p of pings(sum)) passed(p);
    expect(ping(sum, 8972).to).toBe(b.addrs.s); // the jumbo path carries 9000-byte packets
    expect(ping(sum, 1472).to).toBe(b.addrs.stds); // the standard path full-size ones
    for (const t of tcps(sum)) expect(t.bytesReceived, describeStep(t)).toBeGreaterThan(50_000_000);
    expect(tls(sum)).toMatchObject({ curlExit: 0, httpCode: 200, stalled: false });
    // Nothing needed discovering.
    expect(await routeGet(lab, b.ns.c!, b.addrs.s!)).not.toMatch(/\bmtu\b/);
    expect(await routeGet(lab, b.ns.stdc!, b.addrs.stds!)).not.toMatch(/\bmtu\b/);
  },

  async 'router-bottleneck'(lab, b, sum) {
    expect(tcps(sum)[0]!.bytesReceived).toBeGreaterThan(10_000_000); // adapted
    expect(ping(sum, 4000)).toMatchObject({ received: 0, pmtu: 1500 }); // c knows the MTU now
    expect(await routeGet(lab, b.ns.c!, b.addrs.s!)).toMatch(/\bmtu 1500\b/);
    expect(await nstat(lab, b.ns.r1!, 'IcmpOutDestUnreachs')).toBeGreaterThan(0); // r1 said so
  },

  async 'rp-filter'(lab, b, sum) {
    passed(ping(sum, 1000));
    blackHoled(ping(sum, 4000));
    const t = tls(sum);
    expect(t, describeStep(t)).toMatchObject({ stalled: true, curlExit: 28 });
    expect(t.pemBytes).toBeGreaterThan(4500);
    // r2 sent its PTBs from 198.19.0.1; s routes that out of mgmt0, so its strict rp_filter dropped every one.
    expect(await nstat(lab, b.ns.r2!, 'IcmpOutDestUnreachs')).toBeGreaterThan(0);
    expect(await routeGet(lab, b.ns.s!, '198.19.0.1')).toMatch(/dev mgmt0/);
    expect(await nstat(lab, b.ns.s!, 'TcpExtIPReversePathFilter')).toBeGreaterThanOrEqual(2);
    expect(await routeGet(lab, b.ns.s!, b.addrs.c!)).not.toMatch(/\bmtu\b/);
    // The other direction is fine: r1's PTBs to c come from its own interface address.
    expect(await nstat(lab, b.ns.c!, 'TcpExtIPReversePathFilter')).toBe(0);
  },

  async firewall(lab, b, sum) {
    expect(tcps(sum)[0]!.bytesReceived, describeStep(tcps(sum)[0]!)).toBeLessThan(1_000_000);
    blackHoled(ping(sum, 4000));
    expect(await nstat(lab, b.ns.r1!, 'IcmpOutDestUnreachs')).toBeGreaterThan(0); // r1 did send PTBs
    expect(await nstat(lab, b.ns.c!, 'IcmpInDestUnreachs')).toBe(0); // c's firewall took them first
    expect(await routeGet(lab, b.ns.c!, b.addrs.s!)).not.toMatch(/\bmtu\b/);
  },

  async 'silent-blackhole'(lab, b, sum) {
    const t = tcps(sum)[0]!;
    expect(t.bytesReceived, describeStep(t)).toBeLessThan(1_000_000);
    expect(t.retransmits).toBeGreaterThan(0);
    blackHoled(ping(sum, 4000));
    expect(await nstat(lab, b.ns.r1!, 'IpFragFails')).toBeGreaterThan(0); // r1 dropped oversize DF packets...
    expect(await nstat(lab, b.ns.c!, 'IcmpInDestUnreachs')).toBe(0); // ...and nothing came back
    expect(await routeGet(lab, b.ns.c!, b.addrs.s!)).not.toMatch(/\bmtu\b/);
  },

  async 'bridge-port'(lab, b, sum) {
    blackHoled(ping(sum, 8000));
    passed(ping(sum, 1472));
    const t = tcps(sum)[0]!;
    expect(t.bytesReceived, describeStep(t)).toBeLessThan(20_000_000); // a 9000-MTU veth moves GBs in 1 s
    expect(await nstat(lab, b.ns.g1!, 'IcmpInDestUnreachs')).toBe(0); // layer 2: no ICMP from anyone
  },

  async 'nested-containers'(lab, b, sum) {
    const down = tcps(sum)[0]!;
    expect(down).toMatchObject({ sender: 's', receiver: 'i' });
    // The server's full-size segments never get through and it never sends smaller: a stall (a consistent path moves GBs in 2 s).
    expect(down.retransmits, describeStep(down)).toBeGreaterThan(0);
    expect(down.bytesReceived, describeStep(down)).toBeLessThan(1_000_000);
    expect(tls(sum), describeStep(tls(sum))).toMatchObject({ stalled: true });
    blackHoled(ping(sum, 1472));
    passed(ping(sum, 1422)); // 1450 fits
    // The node told the server, the anycast edge handed that to the other server, and the server never learned.
    const { s, s2 } = b.elsewhere!;
    expect(await nstat(lab, b.ns.h!, 'IcmpOutDestUnreachs')).toBeGreaterThan(0);
    expect(await nstat(lab, s2!, 'IcmpInDestUnreachs')).toBeGreaterThan(0);
    expect(await nstat(lab, s!, 'IcmpInDestUnreachs')).toBe(0);
    expect(await routeGet(lab, s!, b.addrs.i!)).not.toMatch(/\bmtu\b/);
    // Both veth pairs are equal: nothing is dropped at layer 2.
    expect(await rxDropped(lab, b.ns.d!, 'eth0')).toBe(0);
  },

  async overlay(lab, b, sum) {
    passed(ping(sum, 1000));
    blackHoled(ping(sum, 1472));
    const t = tcps(sum)[0]!;
    expect(t.bytesReceived, describeStep(t)).toBeLessThan(1_000_000);
    expect(tls(sum), describeStep(tls(sum))).toMatchObject({ stalled: true });
    // n1 could not send the 1550-byte outer packets (DF set) and told only itself.
    expect(await nstat(lab, b.ns.n1!, 'IpFragFails')).toBeGreaterThan(0);
    expect(await nstat(lab, b.ns.n1!, 'IcmpInDestUnreachs')).toBeGreaterThan(0);
    expect(await routeGet(lab, b.ns.n1!, b.addrs.p2!)).toMatch(/dev vxlan0 .*\bmtu 1450\b/); // learned, but not used when forwarding
    expect(await nstat(lab, b.ns.p1!, 'IcmpInDestUnreachs')).toBe(0); // the pod is never told
    expect(await routeGet(lab, b.ns.p1!, b.addrs.p2!)).not.toMatch(/\bmtu\b/);
  },

  async ipv6(lab, b, sum) {
    expect(tcps(sum)[0]!.bytesReceived).toBeGreaterThan(10_000_000);
    expect(ping(sum, 4000)).toMatchObject({ received: 0, pmtu: 1500 });
    const r = await lab.exec(b.ns.c!, ['ip', '-6', 'route', 'get', b.addrs.s6!], { check: true });
    expect(r.stdout).toMatch(/\bmtu 1500\b/);
    expect(await nstat(lab, b.ns.c!, 'Icmp6InPktTooBigs')).toBeGreaterThan(0);
  },

  async 'mss-clamp'(lab, b, sum) {
    const t = tcps(sum)[0]!;
    expect(t.bytesReceived, describeStep(t)).toBeGreaterThan(10_000_000);
    const syn = steps(sum, 'syn')[0] as Syn;
    expect(syn.at).toBe('s/to-r2');
    // c sent MSS 8960; r1 rewrote it, so s received 1460. s's own SYN-ACK left with 8960.
    const fromC = syn.syns.filter((x) => !x.synAck && x.src === b.addrs.c);
    expect(fromC.length).toBeGreaterThan(0);
    for (const x of fromC) expect(x.mss).toBe(1460);
    for (const x of syn.syns.filter((x) => x.synAck)) expect(x.mss).toBe(8960);
    // No PTB was needed.
    expect(await routeGet(lab, b.ns.c!, b.addrs.s!)).not.toMatch(/\bmtu\b/);
    expect(await nstat(lab, b.ns.r1!, 'IcmpOutDestUnreachs')).toBe(0);
  },

  async 'bridge-restart'(lab, b, sum) {
    const [before, after, toHost] = pings(sum);
    passed(before!);
    blackHoled(after!); // the other guest: gone
    blackHoled(toHost!); // the hypervisor's own address on the new vmbr0: gone too
    expect(steps(sum, 'change')).toHaveLength(1);
    // The guests' ports are up with no master; the new vmbr0 has no ports.
    const r = await lab.exec(b.ns.hv!, ['ip', '-j', 'link', 'show'], { check: true });
    const links = JSON.parse(r.stdout) as { ifname: string; master?: string; flags: string[] }[];
    for (const port of ['veth101i0', 'veth102i0', 'tap100i0']) {
      const l = links.find((x) => x.ifname === port);
      expect(l, port).toBeDefined();
      expect(l!.master, port).toBeUndefined();
      expect(l!.flags, port).toContain('UP');
    }
    expect(links.filter((x) => x.master === 'vmbr0')).toEqual([]);
  },

  async 'decap-rp-filter'(lab, b, sum) {
    blackHoled(ping(sum, 56));
    const t = tcps(sum)[0]!;
    expect(t.ok, describeStep(t)).toBe(false); // nothing connects
    expect(t.bytesReceived).toBe(0);
    // The realserver's kernel counts the drops itself; the load balancer did wrap them (its vx0 sent them).
    expect(await nstat(lab, b.ns.rs!, 'TcpExtIPReversePathFilter')).toBeGreaterThan(2);
    // Loose mode on the tunnel is the fix: then the client is answered (directly, out of eth0).
    await lab.sysctl(b.ns.rs!, 'net.ipv4.conf.vx0.rp_filter', 2);
    const r = await lab.exec(b.ns.c!, ['ping', '-c', '1', '-W', '1', b.addrs.vip!]);
    expect(r.code, r.stdout).toBe(0);
  },
};

kernelDescribe(
  'scenarios: the network does what SCENARIOS.md says',
  () => {
    let lab: NetLab | undefined;
    beforeAll(async () => {
      await reapStale();
    });
    afterEach(async () => {
      const l = lab;
      lab = undefined;
      if (!l) return;
      await l.teardown();
      expect((await listNetns()).filter((n) => n.startsWith(`${l.prefix}-`))).toEqual([]);
    });

    it('has a check for every scenario', () => {
      expect(Object.keys(CHECKS).sort()).toEqual(SCENARIOS.map((s) => s.name).sort());
    });

    for (const sc of SCENARIOS) {
      it(`${sc.number} ${sc.name}`, async () => {
        lab = await NetLab.create(`scnl${sc.number}`);
        const built = await sc.build(lab);
        for (const ns of Object.values(built.ns)) expect(lab.netns).toContain(ns);
        const sum = await sc.traffic(lab, built);
        console.log(`${sc.name} (${sum.ms} ms):\n  ${sum.steps.map(describeStep).join('\n  ')}`);
        expect(sum.scenario).toBe(sc.name);
        await CHECKS[sc.name]!(lab, built, sum);
      });
    }

    it('stops between steps when its signal is aborted', async () => {
      lab = await NetLab.create('scnlabort');
      const sc = scenario('router-bottleneck')!;
      const built = await sc.build(lab);
      const ac = new AbortController();
      ac.abort();
      const t0 = Date.now();
      await expect(sc.traffic(lab, built, { signal: ac.signal })).rejects.toThrow(/interrupted/);
      expect(Date.now() - t0).toBeLessThan(500);
    });
  },
  { requires: [needLabTools, needCommands('openssl', 'curl', 'tcpdump', 'nstat')] },
);
