// The field failures of SCENARIOS.md, each one a namespace topology that
// reproduces it on this machine, the bounded traffic that shows it, and the
// verdict pmtu-watch must give. `pmtu-watch lab` builds and drives them; the
// kernel tests assert what the network does (test/lab) and the verdicts
// (test/observer).
//
//   build(lab)                    → Built: the typed topology, namespaces by role
//                                   (c, r1, hv, ...), addresses, what to try by hand
//   traffic(lab, built, {signal}) → DriveSummary: what each step of traffic saw
//   drive(lab, built, {signal})   → the same traffic, for callers that only need
//                                   it to happen (test harnesses typed () => Promise<void>)
//   expected                      → the verdict, cause, place (role + interface) and MTU

import type { VerdictCode } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import type { NetLab } from './netlab.js';
import { tlsDownload, type TlsResult } from './tls.js';
import {
  bridgePort,
  encapRealServer,
  guestBridge,
  restartBridge,
  nestedContainers,
  routedPath,
  vxlanOverlay,
  type BridgePort,
  type EncapRealServer,
  type GuestBridge,
  type NestedContainers,
  type RoutedPath,
  type VxlanOverlay,
} from './topologies.js';
import { captureSyns, pingDf, tcpTransfer, type SynSeen } from './traffic.js';

/** Scenario 1: two healthy paths side by side. */
export interface HealthyPaths {
  kind: 'healthy';
  /** c — r1 — r2 — s, every link at 9000 (198.18.1-3). */
  jumbo: RoutedPath;
  /** stdc — stdr1 — stdr2 — stds, every link at 1500 (198.18.4-6). */
  standard: RoutedPath;
}

/** What a builder made, by kind. */
export type Topology = RoutedPath | BridgePort | NestedContainers | VxlanOverlay | HealthyPaths | GuestBridge | EncapRealServer;

/** What a scenario built: the topology, its namespaces by role, and where to look. */
export interface Built<T extends Topology = Topology> {
  topology: T;
  /** Role (c, r1, hv, ...) → full namespace name. */
  ns: Record<string, string>;
  /** An interface the observer must have attached to before traffic starts. */
  readyOn: { role: string; ifname: string };
  /**
   * Where a packet capture shows the failure (`lab demo --pcap`, and the
   * captures analyze is tested on): one or two interfaces; readyOn when absent.
   */
  captureAt?: { role: string; ifname: string }[];
  /** Lines a user can try by hand (`lab up` prints them). */
  tryThis: string[];
  /** Name → address, for people and drive(). */
  addrs: Record<string, string>;
  /**
   * Namespaces standing for hosts beyond the one pmtu-watch runs on (the
   * internet, a remote data centre), by role: built and driven, never watched.
   */
  elsewhere?: Record<string, string>;
}

export interface Expected {
  /** The verdict of the flow that shows the failure. */
  verdict: VerdictCode;
  cause?: string | null;
  /** Role (a key of Built.ns) and interface where it broke; hop: the address that reported the MTU. */
  where?: { role: string; iface: string; hop?: string };
  mtu?: number;
  /** Only the flows of this protocol count. */
  proto?: string;
  /** A note the verdict must carry. */
  note?: string;
}

/**
 * What a scenario that is no MTU failure expects (seed 002): guest ports left
 * without their bridge, each a `link` event (master: was `bridge`, now none)
 * and a warning that the guest is cut off.
 */
export interface ExpectedCutOff {
  cutOff: { role: string; ifaces: string[]; bridge: string };
}

export function isCutOff(e: Expected | ExpectedCutOff | 'all-ok'): e is ExpectedCutOff {
  return typeof e === 'object' && 'cutOff' in e;
}

/** One step of traffic, and what it saw. Roles are keys of Built.ns. */
export type DriveStep =
  | {
      kind: 'ping';
      from: string;
      to: string;
      size: number;
      transmitted: number;
      received: number;
      errors: number;
      /** A router's "fragmentation needed" / "packet too big" reached the sender. */
      fragNeeded: boolean;
      /** The MTU ping reported (from that error or from the sender's cached route). */
      pmtu?: number;
    }
  | {
      kind: 'tcp';
      sender: string;
      receiver: string;
      /** The server address the client connected to. */
      to: string;
      seconds: number;
      bytesSent: number;
      bytesReceived: number;
      retransmits: number;
      ok: boolean;
      error?: string;
    }
  | ({
      kind: 'tls';
      server: string;
      client: string;
      to: string;
      maxSeconds: number;
    } & TlsResult)
  | {
      kind: 'syn';
      /** Where the SYNs were captured (role/interface). */
      at: string;
      syns: SynSeen[];
    }
  | {
      kind: 'change';
      /** Role where it was made. */
      at: string;
      /** What was done, as a person says it. */
      what: string;
    };

export interface DriveSummary {
  scenario: string;
  steps: DriveStep[];
  ms: number;
}

export interface DriveOptions {
  /** Stops between steps (each step is itself bounded to a few seconds). */
  signal?: AbortSignal;
  /** Called as each step completes (a demo prints them). */
  onStep?: (step: DriveStep) => void;
}

export interface Scenario {
  number: number;
  name: string;
  title: string;
  /** What it builds, for `lab list`. */
  description: string;
  build(lab: NetLab): Promise<Built>;
  /** Bounded traffic that shows the failure (a few seconds), and what it saw. */
  traffic(lab: NetLab, b: Built, opts?: DriveOptions): Promise<DriveSummary>;
  /** traffic() without its summary. */
  drive(lab: NetLab, b: Built, opts?: DriveOptions): Promise<void>;
  /** Healthy scenarios expect nothing but `ok`; seed 002's, guest ports cut off. */
  expected: Expected | ExpectedCutOff | 'all-ok';
  /** What this kernel or this lab does not express of the field report, if anything. */
  limits?: string;
}

function topo<K extends Topology['kind']>(b: Built, kind: K): Extract<Topology, { kind: K }> {
  if (b.topology.kind !== kind) throw new PmtuError('PMTU_ERR_LAB', `expected a ${kind} topology, got ${b.topology.kind}`);
  return b.topology as Extract<Topology, { kind: K }>;
}

/** Runs a scenario's steps in order, recording each, and stops between them when asked. */
class Steps {
  readonly steps: DriveStep[] = [];
  private readonly t0 = Date.now();

  constructor(
    private readonly lab: NetLab,
    private readonly b: Built,
    private readonly name: string,
    private readonly opts: DriveOptions,
  ) {}

  private record(step: DriveStep): void {
    this.steps.push(step);
    this.opts.onStep?.(step);
  }

  private ns(role: string): string {
    const ns = this.b.ns[role] ?? this.b.elsewhere?.[role];
    if (!ns) throw new PmtuError('PMTU_ERR_LAB', `no namespace with role ${role}`);
    return ns;
  }

  private check(): void {
    if (this.opts.signal?.aborted) throw new PmtuError('PMTU_ERR_LAB', `${this.name}: traffic interrupted`);
  }

  async ping(from: string, to: string, size: number, count = 2): Promise<void> {
    this.check();
    const r = await pingDf(this.lab, this.ns(from), to, { size, count });
    const step: DriveStep = { kind: 'ping', from, to, size, transmitted: r.transmitted, received: r.received, errors: r.errors, fragNeeded: r.fragNeeded };
    if (r.pmtu !== undefined) step.pmtu = r.pmtu;
    this.record(step);
  }

  /** iperf3 for `seconds`: the client in `client` connects to `to`; `download`: the server sends. */
  async tcp(client: string, server: string, to: string, seconds: number, download = false): Promise<void> {
    this.check();
    const r = await tcpTransfer(this.lab, { serverNs: this.ns(server), clientNs: this.ns(client), serverAddr: to, seconds, reverse: download });
    this.record({
      kind: 'tcp',
      sender: download ? server : client,
      receiver: download ? client : server,
      to,
      seconds,
      bytesSent: r.bytesSent,
      bytesReceived: r.bytesReceived,
      retransmits: r.retransmits,
      ok: r.ok,
      ...(r.error ? { error: r.error } : {}),
    });
  }

  /** The same, with the SYNs captured on `at` (role/ifname). */
  async tcpSyns(client: string, server: string, to: string, seconds: number, at: { role: string; ifname: string }): Promise<void> {
    this.check();
    const { syns } = await captureSyns(this.lab, this.ns(at.role), at.ifname, () => this.tcp(client, server, to, seconds));
    this.record({ kind: 'syn', at: `${at.role}/${at.ifname}`, syns });
  }

  async tls(server: string, client: string, to: string, maxSeconds = 3): Promise<void> {
    this.check();
    const r = await tlsDownload(this.lab, { serverNs: this.ns(server), serverAddr: to, clientNs: this.ns(client), maxSeconds });
    this.record({ kind: 'tls', server, client, to, maxSeconds, ...r });
  }

  /** A change to the network while the guests run (a bridge restarted). */
  async change(at: string, what: string, fn: () => Promise<void>): Promise<void> {
    this.check();
    await fn();
    this.record({ kind: 'change', at, what });
  }

  done(): DriveSummary {
    return { scenario: this.name, steps: this.steps, ms: Date.now() - this.t0 };
  }
}

async function run(lab: NetLab, b: Built, name: string, opts: DriveOptions | undefined, fn: (s: Steps) => Promise<void>): Promise<DriveSummary> {
  const s = new Steps(lab, b, name, opts ?? {});
  await fn(s);
  return s.done();
}

function kb(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** One line a person reads about a step. */
export function describeStep(s: DriveStep): string {
  switch (s.kind) {
    case 'ping': {
      const what = `ping -M do -s ${s.size} ${s.from} -> ${s.to}: ${s.received}/${s.transmitted} replies`;
      if (s.fragNeeded) return `${what}, "too big" from a router, mtu ${s.pmtu ?? '?'}`;
      if (s.pmtu !== undefined) return `${what}, local "message too long", mtu ${s.pmtu} (learned earlier)`;
      if (s.received === 0) return `${what}, and no error at all (black hole)`;
      return what;
    }
    case 'tcp':
      return `TCP ${s.sender} -> ${s.receiver} (iperf3 ${s.seconds} s): ${kb(s.bytesSent)} sent, ${kb(s.bytesReceived)} received, ${s.retransmits} retransmissions${s.error ? ` (${s.error})` : ''}`;
    case 'tls':
      return `TLS ${s.server} -> ${s.client} (curl -k against openssl s_server, ${s.certs} certificates, ${kb(s.pemBytes)} of PEM): ${
        s.stalled ? `stalled, curl gave up after ${s.maxSeconds} s` : s.curlExit === 0 ? `HTTP ${s.httpCode} in ${s.ms} ms` : `curl exit ${s.curlExit}`
      }`;
    case 'change':
      return `${s.at}: ${s.what}`;
    case 'syn':
      return `SYNs at ${s.at}: ${s.syns.length ? s.syns.map((x) => `${x.synAck ? 'SYN-ACK' : 'SYN'} ${x.src} mss ${x.mss ?? 'none'}`).join(', ') : 'none captured'}`;
  }
}

function routed(path: RoutedPath): Pick<Built<RoutedPath>, 'topology' | 'ns' | 'readyOn' | 'addrs'> {
  const ns: Record<string, string> = { c: path.ns.c, r1: path.ns.r1, r2: path.ns.r2, s: path.ns.s, ...(path.ns.m ? { m: path.ns.m } : {}) };
  return {
    topology: path,
    ns,
    readyOn: { role: 'c', ifname: path.client.ifname },
    addrs: { c: path.client.v4, s: path.server.v4, ...(path.client.v6 ? { c6: path.client.v6, s6: path.server.v6! } : {}) },
  };
}

const ping = (ns: string, dst: string, size: number) => `ip netns exec ${ns} ping -M do -s ${size} -c 3 ${dst}`;

function define(spec: Omit<Scenario, 'drive'>): Scenario {
  return {
    ...spec,
    async drive(lab, b, opts) {
      await spec.traffic(lab, b, opts);
    },
  };
}

const SPECS: Omit<Scenario, 'drive'>[] = [
  {
    number: 1,
    name: 'healthy',
    title: 'Healthy paths: 9000 everywhere, and 1500 everywhere',
    description:
      'Two routed paths side by side: c — r1 — r2 — s with every link at MTU 9000, and stdc — stdr1 — stdr2 — stds with every link at 1500. ' +
      'Jumbo pings, full-size pings, TCP transfers and a TLS download all pass. Nothing alarming may be reported.',
    async build(lab) {
      const jumbo = await routedPath(lab, { bottleneckMtu: 9000, ipv6: false });
      const standard = await routedPath(lab, { hostMtu: 1500, bottleneckMtu: 1500, ipv6: false, id: 'std', firstNet: 4 });
      const ns = { c: jumbo.ns.c, r1: jumbo.ns.r1, r2: jumbo.ns.r2, s: jumbo.ns.s, stdc: standard.ns.c, stdr1: standard.ns.r1, stdr2: standard.ns.r2, stds: standard.ns.s };
      return {
        topology: { kind: 'healthy', jumbo, standard },
        ns,
        readyOn: { role: 'c', ifname: jumbo.client.ifname },
        addrs: { c: jumbo.client.v4, s: jumbo.server.v4, stdc: standard.client.v4, stds: standard.server.v4 },
        tryThis: [ping(ns.c, jumbo.server.v4, 8972), ping(ns.stdc, standard.server.v4, 1472)],
      };
    },
    traffic(lab, b, opts) {
      const t = topo(b, 'healthy');
      return run(lab, b, 'healthy', opts, async (s) => {
        await s.ping('c', t.jumbo.server.v4, 8972);
        await s.tcp('c', 's', t.jumbo.server.v4, 1);
        await s.ping('stdc', t.standard.server.v4, 1472);
        await s.tcp('stdc', 'stds', t.standard.server.v4, 1);
        await s.tls('stds', 'stdc', t.standard.server.v4);
      });
    },
    expected: 'all-ok',
  },
  {
    number: 2,
    name: 'router-bottleneck',
    title: 'Router bottleneck, PTB delivered',
    description:
      'c and s at MTU 9000, the r1 — r2 link at 1500 (both ends). r1 sends "fragmentation needed, mtu 1500" for c\'s large packets; c learns ' +
      'it and the transfer works after the first large packets are lost.',
    async build(lab) {
      const p = await routedPath(lab, { ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [ping(b.ns.c!, p.server.v4, 4000), `ip netns exec ${b.ns.c} ip route get ${p.server.v4}`] };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'router-bottleneck', opts, async (s) => {
        // TCP first: it must meet the bottleneck itself, before a ping teaches c the MTU.
        await s.tcp('c', 's', p.server.v4, 1);
        await s.ping('c', p.server.v4, 4000);
      });
    },
    expected: { verdict: 'ptb-honored', cause: null, where: { role: 'r1', iface: 'to-r2', hop: '198.18.1.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 3,
    name: 'rp-filter',
    title: 'PTB eaten by strict rp_filter (seed 001, its SVI half)',
    description:
      'Seed 001\'s second half (an Arista SVI at 1500 between 9000 hosts, its PTB sent from the switch\'s management address): ' +
      's is a TLS server at MTU 9000 behind c — r1 — r2 — s (9000/1500/9000). r2, the router next to s, sources its "fragmentation needed" ' +
      'from a management address (198.19.0.1) that s routes out of another interface (mgmt0); s has rp_filter=1 and drops it. Small pings ' +
      "work; s's large packets (its certificate chain) never get through and the client's TLS download hangs.",
    async build(lab) {
      const p = await routedPath(lab, { ptbSource: 'mgmt', mgmtSide: 'server', rpFilterOnServer: true, ipv6: false });
      const b = routed(p);
      return {
        ...b,
        readyOn: { role: 's', ifname: p.server.ifname },
        tryThis: [
          ping(b.ns.s!, p.client.v4, 4000),
          `ip netns exec ${b.ns.s} nstat -az TcpExtIPReversePathFilter`,
          `ip netns exec ${b.ns.s} ip route get 198.19.0.1`,
        ],
      };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'rp-filter', opts, async (s) => {
        await s.ping('s', p.client.v4, 1000);
        await s.ping('s', p.client.v4, 4000);
        await s.tls('s', 'c', p.server.v4);
      });
    },
    expected: { verdict: 'ptb-dropped', cause: 'rp_filter', where: { role: 's', iface: 'to-r2', hop: '198.19.0.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 4,
    name: 'firewall',
    title: 'PTB eaten by a firewall',
    description: "c — r1 — r2 — s (9000/1500/9000); c's nftables drops incoming ICMP type 3 code 4 and ICMPv6 type 2. Large uploads from c stall.",
    async build(lab) {
      const p = await routedPath(lab, { dropPtbOnClient: true, ipv6: false });
      const b = routed(p);
      return { ...b, tryThis: [ping(b.ns.c!, p.server.v4, 4000), `ip netns exec ${b.ns.c} nft list ruleset`] };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'firewall', opts, async (s) => {
        await s.tcp('c', 's', p.server.v4, 2);
        await s.ping('c', p.server.v4, 4000);
      });
    },
    expected: { verdict: 'ptb-dropped', cause: 'firewall', where: { role: 'c', iface: 'to-r1', hop: '198.18.1.1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 5,
    name: 'silent-blackhole',
    title: 'Silent black hole: the router sends no PTB',
    description:
      "c — r1 — r2 — s (9000/1500/9000); r1's firewall drops its own ICMP errors, so too-big packets vanish with no PTB. Large transfers stall; only retransmissions are seen.",
    async build(lab) {
      const p = await routedPath(lab, { blockIcmpOnRouter: true, ipv6: false });
      const b = routed(p);
      return {
        ...b,
        // Either side of r1, which drops them: what c sends and what reaches s.
        captureAt: [
          { role: 'c', ifname: p.client.ifname },
          { role: 's', ifname: p.server.ifname },
        ],
        tryThis: [ping(b.ns.c!, p.server.v4, 4000), `ip netns exec ${b.ns.r1} nft list ruleset`],
      };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'silent-blackhole', opts, async (s) => {
        await s.tcp('c', 's', p.server.v4, 2);
        await s.ping('c', p.server.v4, 4000);
      });
    },
    expected: { verdict: 'silent-blackhole', where: { role: 'r1', iface: 'to-r2' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 6,
    name: 'bridge-port',
    title: 'Bridge port at 1500 under a 9000 bridge (seed 000)',
    description:
      'A hypervisor namespace hv with bridge br0 at 9000; guest g2 is plugged into port p-g2 stuck at 1500 while the guests themselves use 9000. ' +
      'Jumbo frames g1 → g2 are dropped at layer 2 with no ICMP.',
    async build(lab) {
      const br = await bridgePort(lab, { ipv6: false });
      return {
        topology: br,
        ns: { hv: br.ns.hv, g1: br.ns.g1, g2: br.ns.g2 },
        addrs: { g1: br.guests.g1.v4, g2: br.guests.g2.v4 },
        readyOn: { role: 'hv', ifname: br.ports.g2.ifname },
        // Both guests, either side of the bridge whose port drops the frames.
        captureAt: [
          { role: 'g1', ifname: br.guests.g1.ifname },
          { role: 'g2', ifname: br.guests.g2.ifname },
        ],
        tryThis: [ping(br.ns.g1, br.guests.g2.v4, 8000), `ip -n ${br.ns.hv} link show master br0`],
      };
    },
    traffic(lab, b, opts) {
      const br = topo(b, 'bridge-port');
      return run(lab, b, 'bridge-port', opts, async (s) => {
        await s.ping('g1', br.guests.g2.v4, 8000);
        await s.ping('g1', br.guests.g2.v4, 1472);
        await s.tcp('g1', 'g2', br.guests.g2.v4, 1);
      });
    },
    expected: { verdict: 'local-bottleneck', cause: 'layer2', where: { role: 'hv', iface: 'p-g2' }, mtu: 1500 },
  },
  {
    number: 7,
    name: 'nested-containers',
    title: "Nested containers: inner 1500, the pod's 1450, a PTB the sender never heeds (seed 003)",
    description:
      "Docker-in-Docker on a flannel node, with the seed's numbers: the node h's uplink at 1500, the pod d's veth pair at 1450/1450, and inside the pod " +
      'docker0, the inner veth pair and the build container i at 1500, so i advertises MSS 1460. h routes the server\'s 1500-byte segments onto the ' +
      "pod's 1450 link: it drops them and sends \"fragmentation needed, mtu 1450\" to the server, an anycast address whose front end hands ICMP to another " +
      'server. The sender never sends smaller: downloads into i stall.',
    async build(lab) {
      const n = await nestedContainers(lab);
      return {
        topology: n,
        ns: { h: n.ns.h, d: n.ns.d, i: n.ns.i },
        elsewhere: { s: n.ns.s, s2: n.ns.s2, edge: n.ns.edge },
        readyOn: { role: 'h', ifname: n.outer.host.ifname },
        // The node's uplink: its PTBs leave there, and the server's segments keep arriving.
        captureAt: [{ role: 'h', ifname: n.uplink.ifname }],
        addrs: { s: n.server.v4, i: n.inner.v4 },
        tryThis: [
          `ip netns exec ${n.ns.i} iperf3 -c ${n.server.v4} -R -t 3   # after: ip netns exec ${n.ns.s} iperf3 -s -1`,
          ping(n.ns.s, n.inner.v4, 1472),
          `ip netns exec ${n.ns.h} nstat -az IcmpOutDestUnreachs; ip -n ${n.ns.s} route get ${n.inner.v4}`,
        ],
      };
    },
    traffic(lab, b, opts) {
      const n = topo(b, 'nested-containers');
      return run(lab, b, 'nested-containers', opts, async (s) => {
        // The download first: a DF ping from i would teach i the 1450 (d sends it a PTB) and i would advertise MSS 1410.
        await s.tcp('i', 's', n.server.v4, 2, true);
        await s.tls('s', 'i', n.server.v4);
        await s.ping('s', n.inner.v4, 1472);
        await s.ping('s', n.inner.v4, 1422);
      });
    },
    expected: { verdict: 'ptb-not-honored', where: { role: 'h', iface: 'veth-d' }, mtu: 1450, proto: 'tcp' },
    limits:
      'The seed does not say why the PTB was lost upstream; this lab loses it the way anycast and ECMP front ends do, and the node sees what the seed\'s ' +
      'node would: its own PTBs, and the same segments again. The seed ran a real Docker engine inside the pod: test/netns/dind.kernel.test.ts does, ' +
      'where audit names the routed step (bridge-above-uplink).',
  },
  {
    number: 8,
    name: 'overlay',
    title: 'VXLAN overlay without its 50 bytes',
    description:
      'Two nodes n1, n2 joined by an underlay at 1500, a VXLAN device on each (DF set on the outer header) left at MTU 1500 instead of 1450, pods ' +
      'p1, p2 behind them at 1500. A full-size pod packet becomes a 1550-byte UDP packet the node cannot send: dropped on the node, whose ' +
      '"fragmentation needed" goes to the node itself, never to the pod. Small pings work; cross-node TCP and TLS stall.',
    async build(lab) {
      const o = await vxlanOverlay(lab);
      return {
        topology: o,
        ns: { ...o.ns },
        readyOn: { role: 'n1', ifname: o.underlay.a.ifname },
        // Both pods, either side of the nodes that cannot send the VXLAN packets.
        captureAt: [
          { role: 'p1', ifname: o.pods.p1.ifname },
          { role: 'p2', ifname: o.pods.p2.ifname },
        ],
        addrs: { p1: o.pods.p1.v4, p2: o.pods.p2.v4 },
        tryThis: [ping(o.ns.p1, o.pods.p2.v4, 1472), ping(o.ns.p1, o.pods.p2.v4, 1422), `ip -n ${o.ns.n1} -d link show vxlan0`, `ip netns exec ${o.ns.n1} nstat -az IpFragFails`],
      };
    },
    traffic(lab, b, opts) {
      const o = topo(b, 'vxlan-overlay');
      return run(lab, b, 'overlay', opts, async (s) => {
        await s.ping('p1', o.pods.p2.v4, 1000);
        await s.ping('p1', o.pods.p2.v4, 1472);
        await s.tcp('p1', 'p2', o.pods.p2.v4, 2);
        await s.tls('p2', 'p1', o.pods.p2.v4);
      });
    },
    expected: { verdict: 'local-bottleneck', cause: 'tunnel-overhead', where: { role: 'n1', iface: 'eth0' }, mtu: 1500, proto: 'udp' },
    limits:
      "No seed's: flannel and Calico overlays left at 1500, a common case. Seed 001's own Calico problem is the opposite, a pod MTU too low (1450 under a 9000 underlay), " +
      'which fails at once with EMSGSIZE and is no black hole; its SVI half is scenario 3. ' +
      "With the kernel's default (df unset) the outer packet would be fragmented and everything would work, so the lab sets DF on the outer header.",
  },
  {
    number: 9,
    name: 'ipv6',
    title: 'IPv6: the bottleneck with ICMPv6 Packet Too Big',
    description: 'c — r1 — r2 — s over IPv6 (9000/1500/9000): routers never fragment IPv6; r1 sends Packet Too Big and c adapts.',
    async build(lab) {
      const p = await routedPath(lab, {});
      const b = routed(p);
      return { ...b, tryThis: [`ip netns exec ${b.ns.c} ping -6 -M do -s 4000 -c 3 ${p.server.v6}`, `ip netns exec ${b.ns.c} ip -6 route get ${p.server.v6}`] };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'ipv6', opts, async (s) => {
        // TCP first: once c has learned the MTU, nothing else needs a PTB.
        await s.tcp('c', 's', p.server.v6!, 1);
        await s.ping('c', p.server.v6!, 4000);
      });
    },
    expected: { verdict: 'ptb-honored', where: { role: 'r1', iface: 'to-c', hop: '2001:db8:1::1' }, mtu: 1500, proto: 'tcp' },
  },
  {
    number: 10,
    name: 'mss-clamp',
    title: 'MSS clamping on the path (seed 004)',
    description:
      'c — r1 — r2 — s (9000/1500/9000) with r1 clamping the MSS of forwarded SYNs to fit 1500: c and s both send MSS 8960, each receives 1460, ' +
      'and the transfer works with no PTB. pmtu-watch notes the MSS each end sent and what the other received.',
    async build(lab) {
      const p = await routedPath(lab, { clampMssOnRouter: true, ipv6: false });
      const b = routed(p);
      return {
        ...b,
        // Both ends: what each sent and what reached the other.
        captureAt: [
          { role: 'c', ifname: p.client.ifname },
          { role: 's', ifname: p.server.ifname },
        ],
        tryThis: [`ip netns exec ${b.ns.r1} nft list ruleset`, `ip netns exec ${b.ns.s} tcpdump -lnni to-r2 'tcp[tcpflags] & tcp-syn != 0'`],
      };
    },
    traffic(lab, b, opts) {
      const p = topo(b, 'routed-path');
      return run(lab, b, 'mss-clamp', opts, async (s) => {
        await s.tcpSyns('c', 's', p.server.v4, 1, { role: 's', ifname: p.server.ifname });
      });
    },
    expected: { verdict: 'ok', proto: 'tcp', note: 'MSS rewritten on the path' },
  },
  {
    number: 11,
    name: 'bridge-restart',
    title: 'A bridge restarted under running guests (seed 002)',
    description:
      'A Proxmox-style hypervisor hv with vmbr0 (198.18.60.1) and three guest ports: two containers (veth101i0, veth102i0) and a VM\'s tap (tap100i0). ' +
      '`ifdown vmbr0 && ifup vmbr0` with legacy ifupdown deletes the bridge and makes it anew without the guests\' ports: they stay up with no master, ' +
      'and the guests lose the network entirely. No MTU failure, the same question: where do the packets go?',
    async build(lab) {
      const g = await guestBridge(lab);
      return {
        topology: g,
        ns: { ...g.ns },
        readyOn: { role: 'hv', ifname: g.ports.ct101.ifname },
        addrs: { hv: g.bridge.v4, ct101: g.guests.ct101.v4, ct102: g.guests.ct102.v4 },
        tryThis: [
          `ip netns exec ${g.ns.ct101} ping -c 3 ${g.guests.ct102.v4}`,
          `ip -n ${g.ns.hv} link del vmbr0; ip -n ${g.ns.hv} link add vmbr0 type bridge; ip -n ${g.ns.hv} link set vmbr0 up   # ifdown/ifup`,
          `ip -n ${g.ns.hv} link show master vmbr0`,
        ],
      };
    },
    traffic(lab, b, opts) {
      const g = topo(b, 'guest-bridge');
      return run(lab, b, 'bridge-restart', opts, async (s) => {
        await s.ping('ct101', g.guests.ct102.v4, 56);
        // The observer watches hv's link notifications from the scan that attached it: a moment for that scan to finish.
        await new Promise((r) => setTimeout(r, 100));
        await s.change('hv', 'vmbr0 restarted as legacy ifdown/ifup does: deleted, made anew, its guest ports not put back', () => restartBridge(lab, g));
        await s.ping('ct101', g.guests.ct102.v4, 56);
        await s.ping('ct101', g.bridge.v4, 56);
      });
    },
    expected: { cutOff: { role: 'hv', ifaces: ['tap100i0', 'veth101i0', 'veth102i0'], bridge: 'vmbr0' } },
    limits: "The VM's tap has no VM behind it (no QEMU here): its port is down and carries nothing, but leaves the bridge all the same.",
  },
  {
    number: 12,
    name: 'decap-rp-filter',
    title: 'A realserver behind an encapsulating load balancer, strict rp_filter on its tunnel (seed 004)',
    description:
      'c — lb — rs: the load balancer lb wraps the client\'s packets to the service address (on rs) in a tunnel, as IPVS does in tunnel mode; rs unwraps them ' +
      'on vx0 and answers out of eth0. With strict rp_filter on vx0 (the larger of all and vx0 counts), every client packet is dropped after ' +
      'decapsulation: nothing connects, not even a ping.',
    async build(lab) {
      const r = await encapRealServer(lab);
      return {
        topology: r,
        ns: { ...r.ns },
        readyOn: { role: 'rs', ifname: 'vx0' },
        addrs: { c: r.client.v4, vip: r.vip },
        tryThis: [
          `ip netns exec ${r.ns.c} ping -c 3 ${r.vip}`,
          `ip netns exec ${r.ns.rs} nstat -az TcpExtIPReversePathFilter`,
          `ip netns exec ${r.ns.rs} sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.vx0.rp_filter`,
        ],
      };
    },
    traffic(lab, b, opts) {
      const r = topo(b, 'encap-realserver');
      return run(lab, b, 'decap-rp-filter', opts, async (s) => {
        await s.ping('c', r.vip, 56);
        await s.tcp('c', 'rs', r.vip, 1);
      });
    },
    expected: { verdict: 'silent-blackhole', cause: 'rp_filter', where: { role: 'rs', iface: 'vx0' }, proto: 'tcp' },
    limits:
      'This kernel has no ipip module: VXLAN stands in for IPIP (both hand out the unwrapped packet on the tunnel device, where rp_filter looks). ' +
      'The tunnel overhead against the MSS (20 bytes of IPIP) is tested with real IPIP frames sent from a raw socket.',
  },
];

/** The scenarios of SCENARIOS.md, in its order. */
export const SCENARIOS: readonly Scenario[] = SPECS.map(define);

export function scenario(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name || String(s.number) === name);
}

/** What a scenario expects, as a person reads it. */
export function expectedText(e: Expected | ExpectedCutOff | 'all-ok'): string {
  if (e === 'all-ok') return 'every flow ok';
  if (isCutOff(e)) return `${e.cutOff.ifaces.join(', ')} at ${e.cutOff.role} left ${e.cutOff.bridge}, each guest cut off`;
  const where = e.where ? ` at ${e.where.role}/${e.where.iface}${e.where.hop ? ` hop ${e.where.hop}` : ''}` : '';
  return [
    `${e.verdict}${e.cause ? ` (${e.cause})` : ''}${where}`,
    e.mtu !== undefined ? `mtu ${e.mtu}` : '',
    e.proto ? `for a ${e.proto} flow` : '',
    e.note ? `noting "${e.note}"` : '',
  ]
    .filter(Boolean)
    .join(', ');
}

/** The parts of a verdict line that expectations are about. */
export interface VerdictLike {
  verdict: string;
  cause: string | null;
  flow: { proto: string | number };
  where: { netns: string | null; iface: string | null; hop: string | null };
  mtu: number | null;
  notes: string[];
}

/**
 * Whether the final verdicts of a run show what the scenario expects: for a
 * healthy one, flows seen (`flowsSeen`: the kernel's count, since healthy
 * flows make no verdict lines) and no verdict but `ok`; otherwise the verdict
 * that matches (role names resolved through `ns`), if any.
 */
export function meetsExpected<V extends VerdictLike>(
  verdicts: readonly V[],
  e: Expected | ExpectedCutOff | 'all-ok',
  ns: Record<string, string>,
  flowsSeen = 0,
): { ok: boolean; match?: V } {
  if (isCutOff(e)) return { ok: false };
  if (e === 'all-ok') return { ok: (verdicts.length > 0 || flowsSeen > 0) && verdicts.every((v) => v.verdict === 'ok') };
  const match = verdicts.find(
    (v) =>
      v.verdict === e.verdict &&
      (e.proto === undefined || v.flow.proto === e.proto) &&
      (e.cause === undefined || v.cause === e.cause) &&
      (e.mtu === undefined || v.mtu === e.mtu) &&
      (e.note === undefined || v.notes.some((n) => n.includes(e.note!))) &&
      (e.where === undefined ||
        (v.where.netns === ns[e.where.role] && v.where.iface === e.where.iface && (e.where.hop === undefined || v.where.hop === e.where.hop))),
  );
  return match ? { ok: true, match } : { ok: false };
}

/** The parts of a link event and the warnings that ExpectedCutOff is about. */
export interface LinkLike {
  netns: string;
  iface: string;
  changes: string[];
  master: string;
  was?: { master?: string };
}

/** Whether each port expected left its bridge (a link event) and its guest was said to be cut off (a warning naming it). */
export function meetsCutOff(links: readonly LinkLike[], warnings: readonly string[], e: ExpectedCutOff, ns: Record<string, string>): { ok: boolean; missing: string[] } {
  const { role, ifaces, bridge } = e.cutOff;
  const missing = ifaces.filter(
    (iface) =>
      !links.some((l) => l.netns === ns[role] && l.iface === iface && l.changes.includes('master') && l.master === '' && l.was?.master === bridge) ||
      !warnings.some((w) => w.includes(`guest port ${iface} `) && w.includes('cut off')),
  );
  return { ok: missing.length === 0, missing };
}

/** Where to capture a scenario's packets (one or two interfaces). */
export function capturePoints(b: Pick<Built, 'readyOn' | 'captureAt'>): { role: string; ifname: string }[] {
  return b.captureAt ?? [b.readyOn];
}
