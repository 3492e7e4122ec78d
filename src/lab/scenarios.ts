// The field failures of SCENARIOS.md, each one a namespace topology that
// reproduces it on this machine, the traffic that shows it, and the verdict
// pmtu-watch must give. `pmtu-watch lab` builds and drives them; the
// end-to-end tests assert the verdicts.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { VerdictCode } from '../correlate/types.js';
import type { NetLab } from './netlab.js';
import { bridgePort, routedPath, wire } from './topologies.js';
import { pingDf, tcpTransfer, waitFor } from './traffic.js';

/** What a scenario built: its namespaces by role, and where to look. */
export interface Built {
  /** Role (c, r1, hv, ...) → full namespace name. */
  ns: Record<string, string>;
  /** An interface the observer must have attached to before traffic starts. */
  readyOn: { role: string; ifname: string };
  /** Lines a user can try by hand (`lab up` prints them). */
  tryThis: string[];
  /** Anything drive() needs. */
  addrs: Record<string, string>;
}

export interface Expected {
  /** The verdict of the flow that shows the failure. */
  verdict: VerdictCode;
  cause?: string | null;
  /** Role and interface where it broke. */
  where?: { role: string; iface: string; hop?: string };
  mtu?: number;
  /** Only the flows of this protocol count. */
  proto?: string;
  /** A note the verdict must carry. */
  note?: string;
}

export interface Scenario {
  number: number;
  name: string;
  title: string;
  /** What it builds, for `lab list`. */
  description: string;
  build(lab: NetLab): Promise<Built>;
  /** Bounded traffic that shows the failure (a few seconds). */
  drive(lab: NetLab, b: Built): Promise<void>;
  /** Healthy scenarios expect nothing but `ok`. */
  expected: Expected | 'all-ok';
  /** What this kernel cannot express of the field report, if anything. */
  limits?: string;
}

function routed(path: Awaited<ReturnType<typeof routedPath>>): Pick<Built, 'ns' | 'readyOn' | 'addrs'> {
  const ns: Record<string, string> = { ...path.ns } as Record<string, string>;
  if (!path.ns.m) delete ns.m;
  return {
    ns,
    readyOn: { role: 'c', ifname: path.client.ifname },
    addrs: { c: path.client.v4, s: path.server.v4, ...(path.client.v6 ? { c6: path.client.v6, s6: path.server.v6! } : {}) },
  };
}

const pingHint = (b: { ns: Record<string, string>; addrs: Record<string, string> }, size: number) =>
  `ip netns exec ${b.ns.c} ping -M do -s ${size} -c 3 ${b.addrs.s}`;

/** A TLS server with a large certificate chain in `serverNs`; curl from `clientNs` must time out in a black hole. */
async function tlsDownload(lab: NetLab, serverNs: string, serverAddr: string, clientNs: string, maxSeconds: number): Promise<number | null> {
  const dir = mkdtempSync(join(tmpdir(), 'pmtu-tls-'));
  try {
    const certs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const key = join(dir, `k${i}.pem`);
      const cert = join(dir, `c${i}.pem`);
      await lab.exec(serverNs, ['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=pmtu-lab-${i}`, '-keyout', key, '-out', cert], { check: true, timeoutMs: 20_000 });
      certs.push(cert);
    }
    await lab.exec(serverNs, ['sh', '-c', `cat ${certs.slice(1).join(' ')} > ${join(dir, 'chain.pem')}`], { check: true });
    const server = lab.spawn(serverNs, ['timeout', String(maxSeconds + 5), 'openssl', 's_server', '-quiet', '-accept', '4433', '-cert', certs[0]!, '-key', join(dir, 'k0.pem'), '-cert_chain', join(dir, 'chain.pem'), '-www']);
    try {
      await waitFor(async () => (await lab.exec(serverNs, ['ss', '-ltnH', 'sport = :4433'])).stdout.includes('4433'), 5000);
      const curl = await lab.exec(clientNs, ['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(maxSeconds), `https://${serverAddr}:4433/`], { timeoutMs: (maxSeconds + 3) * 1000 });
      return curl.code;
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const SCENARIOS: readonly Scenario[] = [
  {
    number: 1,
    name: 'healthy',
    title: 'Healthy path, 9000 everywhere',
    description: 'c — r1 — r2 — s with every link at MTU 9000: jumbo pings and a TCP transfer pass. Nothing alarming may be reported.',
    async build(lab) {
      const p = await routedPath(lab, { bottleneckMtu: 9000, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [pingHint(b, 8972)] };
    },
    async drive(lab, b) {
      await pingDf(lab, b.ns.c!, b.addrs.s!, { size: 8972, count: 2 });
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s!, seconds: 1 });
    },
    expected: 'all-ok',
  },
  {
    number: 2,
    name: 'router-bottleneck',
    title: 'Router bottleneck, PTB delivered',
    description: 'c and s at MTU 9000, the r1 — r2 link at 1500. r1 sends "fragmentation needed"; c learns MTU 1500 and the transfer works after the first large packets are lost.',
    async build(lab) {
      const p = await routedPath(lab, { ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [pingHint(b, 4000), `ip netns exec ${b.ns.c} ip route get ${b.addrs.s}`] };
    },
    async drive(lab, b) {
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s!, seconds: 1 });
    },
    expected: { verdict: 'ptb-honored', cause: null, where: { role: 'r1', iface: 'to-r2', hop: '198.18.1.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 3,
    name: 'rp-filter',
    title: 'PTB eaten by strict rp_filter (seed 002)',
    description:
      'c is the TLS server here: it sends a large certificate chain towards s over c — r1 — r2 — s (9000/1500/9000). r1, next to c, sources its ' +
      '"fragmentation needed" from a management address (198.19.0.1) that c routes through another interface; c has rp_filter=1 and drops it. ' +
      'Small pings work; the TLS download hangs.',
    async build(lab) {
      const p = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [pingHint(b, 4000), `ip netns exec ${b.ns.c} nstat -az TcpExtIPReversePathFilter`] };
    },
    async drive(lab, b) {
      await pingDf(lab, b.ns.c!, b.addrs.s!, { size: 4000, count: 2 });
      await tlsDownload(lab, b.ns.c!, b.addrs.c!, b.ns.s!, 3);
    },
    expected: { verdict: 'ptb-dropped', cause: 'rp_filter', where: { role: 'c', iface: 'to-r1', hop: '198.19.0.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 4,
    name: 'firewall',
    title: 'PTB eaten by a firewall',
    description: "c — r1 — r2 — s (9000/1500/9000); c's nftables drops incoming ICMP type 3 code 4 and ICMPv6 type 2. Large uploads from c stall.",
    async build(lab) {
      const p = await routedPath(lab, { dropPtbOnClient: true, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [pingHint(b, 4000), `ip netns exec ${b.ns.c} nft list ruleset`] };
    },
    async drive(lab, b) {
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s!, seconds: 2 });
    },
    expected: { verdict: 'ptb-dropped', cause: 'firewall', where: { role: 'c', iface: 'to-r1', hop: '198.18.1.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 5,
    name: 'silent-blackhole',
    title: 'Silent black hole: the router sends no PTB',
    description: "c — r1 — r2 — s (9000/1500/9000); r1's firewall drops its own ICMP errors, so too-big packets vanish with no PTB. Large transfers stall; only retransmissions are seen.",
    async build(lab) {
      const p = await routedPath(lab, { blockIcmpOnRouter: true, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [pingHint(b, 4000), `ip netns exec ${b.ns.r1} nft list ruleset`] };
    },
    async drive(lab, b) {
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s!, seconds: 2 });
    },
    expected: { verdict: 'silent-blackhole', where: { role: 'r1', iface: 'to-r2' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 6,
    name: 'bridge-port',
    title: 'Bridge port at 1500 under a 9000 bridge (seed 000)',
    description: 'A hypervisor namespace hv with bridge br0 at 9000; guest g2 is plugged into port p-g2 stuck at 1500 while the guests themselves use 9000. Jumbo frames g1 → g2 are dropped at layer 2 with no ICMP.',
    async build(lab) {
      const br = await bridgePort(lab, { ipv6: false });
      const b = { ns: { hv: br.ns.hv, g1: br.ns.g1, g2: br.ns.g2 }, addrs: { g1: br.guests.g1.v4, g2: br.guests.g2.v4 } };
      return { ...b, readyOn: { role: 'hv', ifname: br.ports.g2.ifname }, tryThis: [`ip netns exec ${br.ns.g1} ping -M do -s 8000 -c 3 ${br.guests.g2.v4}`] };
    },
    async drive(lab, b) {
      await pingDf(lab, b.ns.g1!, b.addrs.g2!, { size: 8000, count: 2 });
    },
    expected: { verdict: 'local-bottleneck', cause: 'layer2', where: { role: 'hv', iface: 'p-g2' }, mtu: 1500 },
  },
  {
    number: 7,
    name: 'nested-containers',
    title: 'Nested containers: inner 1500, outer 1450 (seed 003)',
    description:
      'Docker-in-Docker: s — h (host, 1500) — d (the dind container) — inner container i. The veth between h and d is 1500 on the host side but 1450 ' +
      'on the dind side (the overlay MTU it inherited), while d\'s inner bridge and i stay at 1500 and advertise MSS 1460. Downloads from s to i stall: ' +
      'the unequal veth pair drops the full-size frames silently at layer 2.',
    async build(lab) {
      const s = await lab.addNs('s');
      const h = await lab.addNs('h', { forward: true });
      const d = await lab.addNs('d', { forward: true });
      const i = await lab.addNs('i');
      await wire(lab, { ns: s, ifname: 'eth0', mtu: 1500, v4: '198.18.40.2/24' }, { ns: h, ifname: 'to-s', mtu: 1500, v4: '198.18.40.1/24' });
      await wire(lab, { ns: h, ifname: 'veth-d', mtu: 1500, v4: '198.18.41.1/24' }, { ns: d, ifname: 'eth0', mtu: 1450, v4: '198.18.41.2/24' });
      await lab.bridge(d, 'docker0', 1500);
      await lab.addr(d, 'docker0', '198.18.42.1/24');
      await wire(lab, { ns: d, ifname: 'veth-i', mtu: 1500 }, { ns: i, ifname: 'eth0', mtu: 1500, v4: '198.18.42.2/24' });
      await lab.enslave(d, 'veth-i', 'docker0');
      await lab.linkSet(d, 'docker0', { up: true });
      await lab.route(s, ['add', '198.18.0.0/15', 'via', '198.18.40.1']);
      await lab.route(h, ['add', '198.18.42.0/24', 'via', '198.18.41.2']);
      await lab.route(d, ['add', '198.18.0.0/15', 'via', '198.18.41.1']);
      await lab.route(i, ['add', '198.18.0.0/15', 'via', '198.18.42.1']);
      return {
        ns: { s, h, d, i },
        readyOn: { role: 'h', ifname: 'veth-d' },
        addrs: { s: '198.18.40.2', i: '198.18.42.2' },
        tryThis: [`ip netns exec ${i} ping -M do -s 1472 -c 3 198.18.40.2`, `ip -n ${h} link show veth-d; ip -n ${d} link show eth0`],
      };
    },
    async drive(lab, b) {
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.i!, serverAddr: b.addrs.s!, seconds: 2, reverse: true });
    },
    expected: { verdict: 'local-bottleneck', cause: 'layer2', where: { role: 'd', iface: 'eth0' }, mtu: 1450, proto: 'tcp' },
  },
  {
    number: 8,
    name: 'overlay',
    title: 'Overlay without its 50 bytes (seed 001)',
    description:
      'Two nodes n1, n2 joined by an underlay at 1500, a VXLAN device on each left at MTU 1500 instead of 1450, pods p1, p2 behind them at 1500. ' +
      'A full-size packet from p1 becomes a 1550-byte VXLAN packet that n1 cannot send (DF set on the outer header): dropped on n1, the PTB ' +
      'goes to n1 itself, never to the pod. Small pings work, cross-node TLS times out.',
    async build(lab) {
      const n1 = await lab.addNs('n1', { forward: true });
      const n2 = await lab.addNs('n2', { forward: true });
      const p1 = await lab.addNs('p1');
      const p2 = await lab.addNs('p2');
      await wire(lab, { ns: n1, ifname: 'eth0', mtu: 1500, v4: '198.18.50.1/24' }, { ns: n2, ifname: 'eth0', mtu: 1500, v4: '198.18.50.2/24' });
      // Not bound to the underlay device: bound, the kernel itself caps its MTU at 1450.
      for (const [ns, local, remote, addr] of [
        [n1, '198.18.50.1', '198.18.50.2', '198.18.51.1/24'],
        [n2, '198.18.50.2', '198.18.50.1', '198.18.51.2/24'],
      ] as const) {
        await lab.ip(ns, ['link', 'add', 'vxlan0', 'mtu', '1500', 'type', 'vxlan', 'id', '42', 'local', local, 'remote', remote, 'dstport', '4789', 'df', 'set']);
        await lab.linkSet(ns, 'vxlan0', { up: true });
        await lab.addr(ns, 'vxlan0', addr);
      }
      await wire(lab, { ns: n1, ifname: 'cali0', mtu: 1500, v4: '198.18.52.1/24' }, { ns: p1, ifname: 'eth0', mtu: 1500, v4: '198.18.52.2/24' });
      await wire(lab, { ns: n2, ifname: 'cali0', mtu: 1500, v4: '198.18.53.1/24' }, { ns: p2, ifname: 'eth0', mtu: 1500, v4: '198.18.53.2/24' });
      await lab.route(n1, ['add', '198.18.53.0/24', 'via', '198.18.51.2']);
      await lab.route(n2, ['add', '198.18.52.0/24', 'via', '198.18.51.1']);
      await lab.route(p1, ['add', '198.18.0.0/15', 'via', '198.18.52.1']);
      await lab.route(p2, ['add', '198.18.0.0/15', 'via', '198.18.53.1']);
      return {
        ns: { n1, n2, p1, p2 },
        readyOn: { role: 'n1', ifname: 'eth0' },
        addrs: { p1: '198.18.52.2', p2: '198.18.53.2' },
        tryThis: [`ip netns exec ${p1} ping -M do -s 1472 -c 3 198.18.53.2`, `ip netns exec ${p1} ping -c 3 198.18.53.2`],
      };
    },
    async drive(lab, b) {
      await pingDf(lab, b.ns.p1!, b.addrs.p2!, { size: 1472, count: 2 });
      await tcpTransfer(lab, { serverNs: b.ns.p2!, clientNs: b.ns.p1!, serverAddr: b.addrs.p2!, seconds: 2 });
    },
    expected: { verdict: 'local-bottleneck', cause: 'tunnel-overhead', where: { role: 'n1', iface: 'eth0' }, mtu: 1500, proto: 'udp' },
    limits: 'The VLAN-SVI variant of seed 001 (an SVI at 1500 under 9000 hosts) is the router bottleneck of scenario 2 in another guise and is not built separately.',
  },
  {
    number: 9,
    name: 'ipv6',
    title: 'IPv6: the bottleneck with ICMPv6 Packet Too Big',
    description: 'c — r1 — r2 — s over IPv6 (9000/1500/9000): routers never fragment IPv6; r1 sends Packet Too Big and c adapts.',
    async build(lab) {
      const p = await routedPath(lab, {});
      const b = routed(p);
      return { ...b, tryThis: [`ip netns exec ${b.ns.c} ping -6 -M do -s 4000 -c 3 ${b.addrs.s6}`] };
    },
    async drive(lab, b) {
      // TCP first: once c has learned the MTU, nothing else needs a PTB.
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s6!, seconds: 1 });
      await pingDf(lab, b.ns.c!, b.addrs.s6!, { size: 4000, count: 2, ipv6: true });
    },
    expected: { verdict: 'ptb-honored', where: { role: 'r1', iface: 'to-c', hop: '2001:db8:1::1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 10,
    name: 'mss-clamp',
    title: 'MSS clamping on the path (seed 004)',
    description: 'c — r1 — r2 — s (9000/1500/9000) with r1 clamping the MSS of forwarded SYNs to fit 1500: it works, and pmtu-watch notes the MSS each end sent and what the other received.',
    async build(lab) {
      const p = await routedPath(lab, { clampMssOnRouter: true, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [`ip netns exec ${b.ns.r1} nft list ruleset`] };
    },
    async drive(lab, b) {
      await tcpTransfer(lab, { serverNs: b.ns.s!, clientNs: b.ns.c!, serverAddr: b.addrs.s!, seconds: 1 });
    },
    expected: { verdict: 'ok', proto: 'tcp', note: 'MSS rewritten on the path' },
  },
];

export function scenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name || String(s.number) === name);
}
