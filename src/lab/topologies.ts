// Builders for the scenarios of SCENARIOS.md. Each returns a plain, typed
// description of what it built (namespace and interface names, addresses,
// MTUs) so tests and `pmtu-watch lab` can name the places a verdict must name.
//
// Address plan (documentation/benchmark ranges only):
//   198.18.<n>.0/24 and 2001:db8:<n>::/64 per link, 198.19.0.0/24 and
//   2001:db8:ff::/64 for management addresses. Namespaces are private to the
//   lab, so two builders in one lab may reuse addresses; give them different
//   `id`s so their namespace names differ (and, when one observer watches
//   both, different `firstNet`s so their flows differ too).
//   routedPath: 198.18.1-3 (firstNet 1 by default); bridgePort: 198.18.10;
//   nestedContainers: 198.18.40-42; vxlanOverlay: 198.18.50-53.

import { LabError, type NetLab } from './netlab.js';

/** One end of a link as built. Addresses are without prefix length. */
export interface End {
  ns: string;
  ifname: string;
  mtu: number;
  v4?: string;
  v6?: string;
}

export interface Wire {
  a: End;
  b: End;
  v4Subnet?: string;
  v6Subnet?: string;
}

/** An end to build: addresses with prefix length (CIDR). */
export interface EndSpec {
  ns: string;
  ifname: string;
  mtu: number;
  v4?: string;
  v6?: string;
}

/** A host as a user would address it. */
export interface Host {
  ns: string;
  ifname: string;
  v4: string;
  v6?: string;
}

function plain(cidr: string): string {
  return cidr.split('/')[0]!;
}

function subnetOf(cidr: string | undefined): string | undefined {
  if (!cidr) return undefined;
  const [addr, len] = cidr.split('/');
  if (!addr || !len) return undefined;
  if (addr.includes(':')) {
    // Only /64 and /128 are used here.
    if (len === '64') return `${addr.split(':').slice(0, 3).join(':')}::/64`;
    return cidr;
  }
  const n = Number(len);
  const ip = addr.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
  const net = (ip & mask) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${n}`;
}

/** A veth pair between two namespaces, each end with its MTU and addresses, both up. */
export async function wire(lab: NetLab, a: EndSpec, b: EndSpec): Promise<Wire> {
  await lab.veth(a.ns, a.ifname, b.ns, b.ifname, { mtuA: a.mtu, mtuB: b.mtu });
  for (const e of [a, b]) {
    if (e.v4) await lab.addr(e.ns, e.ifname, e.v4);
    if (e.v6) await lab.addr(e.ns, e.ifname, e.v6);
  }
  const end = (e: EndSpec): End => ({
    ns: e.ns,
    ifname: e.ifname,
    mtu: e.mtu,
    ...(e.v4 ? { v4: plain(e.v4) } : {}),
    ...(e.v6 ? { v6: plain(e.v6) } : {}),
  });
  const w: Wire = { a: end(a), b: end(b) };
  const s4 = subnetOf(a.v4 ?? b.v4);
  const s6 = subnetOf(a.v6 ?? b.v6);
  if (s4) w.v4Subnet = s4;
  if (s6) w.v6Subnet = s6;
  return w;
}

/** Table name used by the nftables helpers below (one table per helper). */
export const NFT_BLOCK_PTB_OUT = 'pmtu_lab_block_ptb_out';
export const NFT_DROP_PTB_IN = 'pmtu_lab_drop_ptb_in';

/**
 * Make `ns` drop the "fragmentation needed" (ICMP 3/4) and ICMPv6 Packet Too
 * Big it generates itself: a router that drops oversize packets silently.
 */
export async function blockPtbOutput(lab: NetLab, ns: string): Promise<void> {
  await lab.nft(
    ns,
    `table inet ${NFT_BLOCK_PTB_OUT} {
  chain output {
    type filter hook output priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}
`,
  );
}

/** A host firewall that drops incoming ICMP 3/4 and ICMPv6 Packet Too Big (scenario 4). */
export async function dropPtbInput(lab: NetLab, ns: string): Promise<void> {
  await lab.nft(
    ns,
    `table inet ${NFT_DROP_PTB_IN} {
  chain input {
    type filter hook input priority 0; policy accept;
    icmp type destination-unreachable icmp code frag-needed drop
    icmpv6 type packet-too-big drop
  }
}
`,
  );
}

export const NFT_CLAMP_MSS = 'pmtu_lab_clamp_mss';

/**
 * Clamp the MSS of forwarded SYNs (both directions) to fit `mtu`: what
 * operators deploy around a PMTUD black hole (scenario 10, seed 004).
 * Returns the MSS values used.
 */
export async function clampMss(lab: NetLab, ns: string, mtu: number): Promise<{ v4: number; v6: number }> {
  const v4 = mtu - 40;
  const v6 = mtu - 60;
  await lab.nft(
    ns,
    `table inet ${NFT_CLAMP_MSS} {
  chain forward {
    type filter hook forward priority mangle; policy accept;
    meta nfproto ipv4 tcp flags syn tcp option maxseg size > ${v4} tcp option maxseg size set ${v4}
    meta nfproto ipv6 tcp flags syn tcp option maxseg size > ${v6} tcp option maxseg size set ${v6}
  }
}
`,
  );
  return { v4, v6 };
}

/** Strict reverse-path filtering on `ifname` (and "all", since the kernel uses the maximum). */
export async function strictRpFilter(lab: NetLab, ns: string, ifname: string): Promise<void> {
  await lab.sysctls(ns, { 'net.ipv4.conf.all.rp_filter': 1, [`net/ipv4/conf/${ifname}/rp_filter`]: 1 });
}

// ---------------------------------------------------------------------------
// Scenarios 2, 3, 4, 5, 9, 10 (and 1 with bottleneckMtu = hostMtu): c — r1 — r2 — s

export interface RoutedPathOptions {
  /** MTU of c, s and their routers' ends of those links. Default 9000. */
  hostMtu?: number;
  /** MTU of the r1–r2 link (both ends). Default 1500. */
  bottleneckMtu?: number;
  /** Dual-stack when true (default); IPv4 only otherwise. */
  ipv6?: boolean;
  /**
   * 'mgmt': a router sources its PTBs from a management address on its
   * loopback (198.19.0.1, 2001:db8:ff::1) that the host next to it routes out
   * of another interface (mgmt0, to a namespace m). Which router and host:
   * see mgmtSide.
   */
  ptbSource?: 'mgmt';
  /**
   * With ptbSource 'mgmt': 'client' (default) — r1, for c→s traffic, and c is
   * multi-homed; 'server' — r2, for s→c traffic (s sending, e.g. a TLS
   * server's certificate), and s is multi-homed.
   */
  mgmtSide?: 'client' | 'server';
  /** Strict rp_filter on c (needs ptbSource 'mgmt', mgmtSide 'client' to matter): c drops r1's IPv4 PTB. */
  rpFilterOnClient?: boolean;
  /** Strict rp_filter on s (needs ptbSource 'mgmt', mgmtSide 'server' to matter): s drops r2's IPv4 PTB. */
  rpFilterOnServer?: boolean;
  /** r1 drops the ICMP errors it generates: a silent black hole. */
  blockIcmpOnRouter?: boolean;
  /** c's firewall drops incoming ICMP 3/4 and ICMPv6 PTB (scenario 4). */
  dropPtbOnClient?: boolean;
  /** r1 clamps the MSS of forwarded SYNs to fit the bottleneck (scenario 10). */
  clampMssOnRouter?: boolean;
  /** Distinguishes the namespaces of two builders in one lab ('' by default). */
  id?: string;
  /**
   * Third octet (and IPv6 group) of the c–r1 subnet; r1–r2 and r2–s take the
   * next two. Default 1: 198.18.1.0/24, 198.18.2.0/24, 198.18.3.0/24.
   */
  firstNet?: number;
}

export interface RoutedPath {
  kind: 'routed-path';
  /** Full namespace names. */
  ns: { c: string; r1: string; r2: string; s: string; m?: string };
  links: { cR1: Wire; r1R2: Wire; r2S: Wire };
  client: Host;
  server: Host;
  hostMtu: number;
  bottleneckMtu: number;
  ipv6: boolean;
  /** Who generates the PTB for c→s traffic, from which address, out of which interface. */
  ptb: { ns: string; ifname: string; v4: string; v6?: string };
  /** Who generates the PTB for s→c traffic (r2 towards s). */
  serverPtb: { ns: string; ifname: string; v4: string; v6?: string };
  /** Present with ptbSource 'mgmt'. */
  mgmt?: {
    side: 'client' | 'server';
    router: { ns: string; ifname: 'lo'; v4: string; v6?: string };
    /** The multi-homed host's link to the management network (namespace m), where it routes the management subnet. */
    link: Wire;
  };
  rpFilterOnClient: boolean;
  rpFilterOnServer: boolean;
  blockIcmpOnRouter: boolean;
  dropPtbOnClient: boolean;
  /** With clampMssOnRouter: where, and the MSS SYNs leave r1 with at most. */
  mssClamp?: { ns: string; v4: number; v6: number };
}

function nsShort(id: string | undefined, short: string): string {
  if (id !== undefined && id !== '' && !/^[a-z0-9]{1,6}$/.test(id)) throw new LabError(`bad topology id ${JSON.stringify(id)}`);
  return id ? `${id}${short}` : short;
}

export async function routedPath(lab: NetLab, opts: RoutedPathOptions = {}): Promise<RoutedPath> {
  const hostMtu = opts.hostMtu ?? 9000;
  const bottleneckMtu = opts.bottleneckMtu ?? 1500;
  const v6 = opts.ipv6 ?? true;
  const mgmt = opts.ptbSource === 'mgmt';
  const side = opts.mgmtSide ?? 'client';
  const n = opts.firstNet ?? 1;
  if (!Number.isInteger(n) || n < 1 || n > 252) throw new LabError(`bad firstNet ${n}`, 'use 1..252 (three /24s from there)');
  if (side !== 'client' && side !== 'server') throw new LabError(`bad mgmtSide ${JSON.stringify(side)}`, "use 'client' or 'server'");
  // 198.18.<net>.<host>/24 and 2001:db8:<net>::<host>/64 (<net> written the same in both).
  const a4 = (net: number, h: number) => `198.18.${net}.${h}`;
  const a6 = (net: number, h: number) => `2001:db8:${net}::${h}`;
  const p4 = (net: number) => `198.18.${net}.0/24`;
  const p6 = (net: number) => `2001:db8:${net}::/64`;
  const [n1, n2, n3] = [n, n + 1, n + 2];

  const c = await lab.addNs(nsShort(opts.id, 'c'));
  const r1 = await lab.addNs(nsShort(opts.id, 'r1'), { forward: true });
  const r2 = await lab.addNs(nsShort(opts.id, 'r2'), { forward: true });
  const s = await lab.addNs(nsShort(opts.id, 's'));

  const six = (cidr: string): string | undefined => (v6 ? cidr : undefined);
  const spec = (ns: string, ifname: string, mtu: number, v4: string, v6cidr: string): EndSpec => {
    const e: EndSpec = { ns, ifname, mtu, v4 };
    const x = six(v6cidr);
    if (x) e.v6 = x;
    return e;
  };

  const cR1 = await wire(
    lab,
    spec(c, 'to-r1', hostMtu, `${a4(n1, 2)}/24`, `${a6(n1, 2)}/64`),
    spec(r1, 'to-c', hostMtu, `${a4(n1, 1)}/24`, `${a6(n1, 1)}/64`),
  );
  const r1R2 = await wire(
    lab,
    spec(r1, 'to-r2', bottleneckMtu, `${a4(n2, 1)}/24`, `${a6(n2, 1)}/64`),
    spec(r2, 'to-r1', bottleneckMtu, `${a4(n2, 2)}/24`, `${a6(n2, 2)}/64`),
  );
  const r2S = await wire(
    lab,
    spec(r2, 'to-s', hostMtu, `${a4(n3, 1)}/24`, `${a6(n3, 1)}/64`),
    spec(s, 'to-r2', hostMtu, `${a4(n3, 2)}/24`, `${a6(n3, 2)}/64`),
  );

  // Only the lab's ranges are routed: anything else is unreachable at once.
  await lab.route(c, ['add', '198.18.0.0/15', 'via', a4(n1, 1)]);
  await lab.route(r1, ['add', p4(n3), 'via', a4(n2, 2)]);
  await lab.route(r2, ['add', p4(n1), 'via', a4(n2, 1)]);
  await lab.route(s, ['add', '198.18.0.0/15', 'via', a4(n3, 1)]);
  if (v6) {
    await lab.route(c, ['add', '2001:db8::/32', 'via', a6(n1, 1)]);
    await lab.route(r1, ['add', p6(n3), 'via', a6(n2, 2)]);
    await lab.route(r2, ['add', p6(n1), 'via', a6(n2, 1)]);
    await lab.route(s, ['add', '2001:db8::/32', 'via', a6(n3, 1)]);
  }

  const path: RoutedPath = {
    kind: 'routed-path',
    ns: { c, r1, r2, s },
    links: { cR1, r1R2, r2S },
    client: host(cR1.a),
    server: host(r2S.b),
    hostMtu,
    bottleneckMtu,
    ipv6: v6,
    ptb: { ns: r1, ifname: 'to-c', v4: cR1.b.v4!, ...(v6 ? { v6: cR1.b.v6! } : {}) },
    serverPtb: { ns: r2, ifname: 'to-s', v4: r2S.a.v4!, ...(v6 ? { v6: r2S.a.v6! } : {}) },
    rpFilterOnClient: opts.rpFilterOnClient ?? false,
    rpFilterOnServer: opts.rpFilterOnServer ?? false,
    blockIcmpOnRouter: opts.blockIcmpOnRouter ?? false,
    dropPtbOnClient: opts.dropPtbOnClient ?? false,
  };

  if (mgmt) {
    // The router next to the multi-homed host gets a management address, and
    // its route back to that host's subnet is sourced from it: the errors it
    // sends there (fragmentation needed) carry this source.
    const [router, toHost, hostNs, hostSubnet] = side === 'client' ? [r1, 'to-c', c, n1] : [r2, 'to-s', s, n3];
    await lab.addr(router, 'lo', '198.19.0.1/32');
    await lab.route(router, ['replace', p4(hostSubnet), 'dev', toHost, 'src', '198.19.0.1']);
    // The host is multi-homed: the management subnet is reached through
    // mgmt0, a link to a management network namespace m (dummy devices are
    // not available on every kernel; this one has none).
    const m = await lab.addNs(nsShort(opts.id, 'm'));
    const hostM = await wire(
      lab,
      spec(hostNs, 'mgmt0', 1500, '198.19.0.2/24', '2001:db8:ff::2/64'),
      spec(m, side === 'client' ? 'to-c' : 'to-s', 1500, '198.19.0.3/24', '2001:db8:ff::3/64'),
    );
    if (v6) {
      await lab.addr(router, 'lo', '2001:db8:ff::1/128');
      // metric 1 beats the kernel's connected route (256) for the same prefix.
      await lab.route(router, ['add', p6(hostSubnet), 'dev', toHost, 'src', '2001:db8:ff::1', 'metric', '1']);
    }
    path.ns.m = m;
    const source = { ns: router, ifname: toHost, v4: '198.19.0.1', ...(v6 ? { v6: '2001:db8:ff::1' } : {}) };
    path.mgmt = {
      side,
      router: { ns: router, ifname: 'lo', v4: '198.19.0.1', ...(v6 ? { v6: '2001:db8:ff::1' } : {}) },
      link: hostM,
    };
    if (side === 'client') path.ptb = source;
    else path.serverPtb = source;
  }
  if (path.rpFilterOnClient) await strictRpFilter(lab, c, 'to-r1');
  if (path.rpFilterOnServer) await strictRpFilter(lab, s, 'to-r2');
  if (path.blockIcmpOnRouter) await blockPtbOutput(lab, r1);
  if (path.dropPtbOnClient) await dropPtbInput(lab, c);
  if (opts.clampMssOnRouter) path.mssClamp = { ns: r1, ...(await clampMss(lab, r1, bottleneckMtu)) };
  return path;
}

function host(e: End): Host {
  return { ns: e.ns, ifname: e.ifname, v4: e.v4!, ...(e.v6 ? { v6: e.v6 } : {}) };
}

// ---------------------------------------------------------------------------
// Scenario 6: a bridge at 9000 with one port stuck at 1500

export interface BridgePortOptions {
  /** MTU of the bridge, g1's port and both guests' own interfaces. Default 9000. */
  bridgeMtu?: number;
  /** MTU of g2's bridge-side port. Default 1500. */
  portMtu?: number;
  /** Dual-stack when true (default). */
  ipv6?: boolean;
  /**
   * Keep br_netfilter's bridge-nf-call-* on in the hypervisor namespace (its
   * default where the module is loaded). Default false: plain layer-2
   * forwarding, the same on hosts with and without br_netfilter.
   */
  brNetfilter?: boolean;
  id?: string;
}

export interface BridgePort {
  kind: 'bridge-port';
  ns: { hv: string; g1: string; g2: string };
  bridge: { ns: string; ifname: string; mtu: number };
  /** The bridge's ports in the hypervisor namespace. */
  ports: { g1: End; g2: End };
  /** The guests' own interfaces (both at bridgeMtu). */
  guests: { g1: Host & { mtu: number }; g2: Host & { mtu: number } };
  bridgeMtu: number;
  portMtu: number;
  ipv6: boolean;
}

export async function bridgePort(lab: NetLab, opts: BridgePortOptions = {}): Promise<BridgePort> {
  const bridgeMtu = opts.bridgeMtu ?? 9000;
  const portMtu = opts.portMtu ?? 1500;
  const v6 = opts.ipv6 ?? true;

  const hv = await lab.addNs(nsShort(opts.id, 'hv'));
  const g1 = await lab.addNs(nsShort(opts.id, 'g1'));
  const g2 = await lab.addNs(nsShort(opts.id, 'g2'));
  if (!opts.brNetfilter) await disableBrNetfilter(lab, hv);

  await lab.bridge(hv, 'br0', bridgeMtu);
  const w1 = await wire(
    lab,
    { ns: g1, ifname: 'eth0', mtu: bridgeMtu, v4: '198.18.10.1/24', ...(v6 ? { v6: '2001:db8:10::1/64' } : {}) },
    { ns: hv, ifname: 'p-g1', mtu: bridgeMtu },
  );
  const w2 = await wire(
    lab,
    { ns: g2, ifname: 'eth0', mtu: bridgeMtu, v4: '198.18.10.2/24', ...(v6 ? { v6: '2001:db8:10::2/64' } : {}) },
    { ns: hv, ifname: 'p-g2', mtu: portMtu },
  );
  await lab.enslave(hv, 'p-g1', 'br0');
  await lab.enslave(hv, 'p-g2', 'br0');
  // Enslaving a smaller port lowers the bridge's MTU; pin it, as an admin did.
  await lab.linkSet(hv, 'br0', { mtu: bridgeMtu });

  return {
    kind: 'bridge-port',
    ns: { hv, g1, g2 },
    bridge: { ns: hv, ifname: 'br0', mtu: bridgeMtu },
    ports: { g1: w1.b, g2: w2.b },
    guests: { g1: { ...host(w1.a), mtu: bridgeMtu }, g2: { ...host(w2.a), mtu: bridgeMtu } },
    bridgeMtu,
    portMtu,
    ipv6: v6,
  };
}

// ---------------------------------------------------------------------------
// Scenario 11: a bridge restarted under running guests (seed 002, Proxmox)
//
//   ct101 eth0 ═ veth101i0 ┐
//   .60.101                ├─ vmbr0 (hv, 198.18.60.1)    tap100i0 (a VM's port: no VM behind it here)
//   ct102 eth0 ═ veth102i0 ┘
//   .60.102
//
// Legacy ifupdown's `ifdown vmbr0 && ifup vmbr0` deletes the bridge and makes
// it anew with only its configured bridge-ports (the uplink, none here): the
// guests' ports are left up with no master, and the guests lose the network
// entirely. restartBridge() does just that, as `ifdown`/`ifup` would.

export interface GuestBridge {
  kind: 'guest-bridge';
  ns: { hv: string; ct101: string; ct102: string };
  bridge: { ns: string; ifname: 'vmbr0'; mtu: number; v4: string };
  /** The guests' ports on vmbr0 in hv: two containers' veths and a VM's tap. */
  ports: { ct101: End; ct102: End; vm100: { ns: string; ifname: 'tap100i0' } };
  guests: { ct101: Host; ct102: Host };
}

export async function guestBridge(lab: NetLab, opts: { id?: string; mtu?: number } = {}): Promise<GuestBridge> {
  const mtu = opts.mtu ?? 1500;
  const hv = await lab.addNs(nsShort(opts.id, 'hv'));
  const ct101 = await lab.addNs(nsShort(opts.id, 'ct101'));
  const ct102 = await lab.addNs(nsShort(opts.id, 'ct102'));
  await disableBrNetfilter(lab, hv);
  await lab.bridge(hv, 'vmbr0', mtu);
  await lab.addr(hv, 'vmbr0', '198.18.60.1/24');
  const w1 = await wire(lab, { ns: ct101, ifname: 'eth0', mtu, v4: '198.18.60.101/24' }, { ns: hv, ifname: 'veth101i0', mtu });
  const w2 = await wire(lab, { ns: ct102, ifname: 'eth0', mtu, v4: '198.18.60.102/24' }, { ns: hv, ifname: 'veth102i0', mtu });
  await lab.ip(hv, ['tuntap', 'add', 'dev', 'tap100i0', 'mode', 'tap']);
  for (const port of ['veth101i0', 'veth102i0', 'tap100i0']) await lab.enslave(hv, port, 'vmbr0');
  await lab.linkSet(hv, 'vmbr0', { mtu });
  return {
    kind: 'guest-bridge',
    ns: { hv, ct101, ct102 },
    bridge: { ns: hv, ifname: 'vmbr0', mtu, v4: '198.18.60.1' },
    ports: { ct101: w1.b, ct102: w2.b, vm100: { ns: hv, ifname: 'tap100i0' } },
    guests: { ct101: host(w1.a), ct102: host(w2.a) },
  };
}

/** `ifdown vmbr0 && ifup vmbr0` with legacy ifupdown: the bridge deleted and made anew, its guests' ports not put back. */
export async function restartBridge(lab: NetLab, g: GuestBridge): Promise<void> {
  const { ns, ifname, mtu, v4 } = g.bridge;
  await lab.ip(ns, ['link', 'del', ifname]);
  await lab.bridge(ns, ifname, mtu);
  await lab.addr(ns, ifname, `${v4}/24`);
}

// ---------------------------------------------------------------------------
// Scenario 12: a realserver behind an encapsulating load balancer (seed 004)
//
//   c ──────── lb ═══ underlay (eth0, .70) ═══ rs      VIP 198.18.73.1 on rs's lo
//   .72.10     .72.1     vx0 .71.1 ⇄ vx0 .71.2
//
// IPVS in tunnel mode wraps each client packet in IPIP to the realserver,
// which unwraps it on ipip0 and answers the client directly, out of its
// uplink. This kernel has no ipip module; VXLAN unwraps the same way (the
// client's packet comes out of vx0), so it stands in. rs routes the client
// back through eth0, as realservers do, so strict rp_filter on vx0 (the
// larger of all and vx0) drops every client packet: nothing connects.

export interface EncapRealServer {
  kind: 'encap-realserver';
  ns: { c: string; lb: string; rs: string };
  client: Host;
  /** The service address, on the realserver's loopback. */
  vip: string;
  tunnel: { ns: string; ifname: 'vx0'; kind: 'vxlan' };
}

export async function encapRealServer(lab: NetLab, opts: { id?: string; strict?: boolean } = {}): Promise<EncapRealServer> {
  const c = await lab.addNs(nsShort(opts.id, 'c'));
  const lb = await lab.addNs(nsShort(opts.id, 'lb'), { forward: true });
  const rs = await lab.addNs(nsShort(opts.id, 'rs'));
  const cLb = await wire(lab, { ns: c, ifname: 'eth0', mtu: 1500, v4: '198.18.72.10/24' }, { ns: lb, ifname: 'to-c', mtu: 1500, v4: '198.18.72.1/24' });
  await wire(lab, { ns: lb, ifname: 'eth0', mtu: 1500, v4: '198.18.70.1/24' }, { ns: rs, ifname: 'eth0', mtu: 1500, v4: '198.18.70.2/24' });
  for (const [ns, local, remote, inner] of [
    [lb, '198.18.70.1', '198.18.70.2', '198.18.71.1/24'],
    [rs, '198.18.70.2', '198.18.70.1', '198.18.71.2/24'],
  ] as const) {
    await lab.ip(ns, ['link', 'add', 'vx0', 'type', 'vxlan', 'id', '7', 'local', local, 'remote', remote, 'dstport', '4789', 'dev', 'eth0']);
    await lab.addr(ns, 'vx0', inner);
    await lab.linkSet(ns, 'vx0', { up: true });
  }
  const vip = '198.18.73.1';
  await lab.addr(rs, 'lo', `${vip}/32`);
  await lab.route(c, ['add', '198.18.0.0/15', 'via', '198.18.72.1']);
  await lab.route(lb, ['add', `${vip}/32`, 'via', '198.18.71.2', 'dev', 'vx0']);
  await lab.route(rs, ['add', '198.18.72.0/24', 'via', '198.18.70.1', 'dev', 'eth0']);
  if (opts.strict ?? true) await lab.sysctls(rs, { 'net.ipv4.conf.all.rp_filter': 1, 'net.ipv4.conf.vx0.rp_filter': 1 });
  return { kind: 'encap-realserver', ns: { c, lb, rs }, client: host(cLb.a), vip, tunnel: { ns: rs, ifname: 'vx0', kind: 'vxlan' } };
}

async function disableBrNetfilter(lab: NetLab, ns: string): Promise<void> {
  // The sysctls exist only where br_netfilter is loaded; then they are per namespace.
  const probe = await lab.exec(ns, ['sysctl', '-n', 'net.bridge.bridge-nf-call-iptables']);
  if (probe.code !== 0) return;
  await lab.sysctls(ns, {
    'net.bridge.bridge-nf-call-iptables': 0,
    'net.bridge.bridge-nf-call-ip6tables': 0,
    'net.bridge.bridge-nf-call-arptables': 0,
  });
}

// ---------------------------------------------------------------------------
// Scenario 7: nested containers (seed 003, Docker-in-Docker on a flannel node)
//
//                 ┌── s   (the server: TCP to the anycast address lands here)
//   edge ─────────┤        lo 198.18.44.1/32
//   .40.2         └── s2  (another server with the same address: ICMP lands here)
//     │
//   to-edge 1500 (.40.1)
//   h ══════ veth-d 1450 ═ eth0 1450 ══ d ── docker0 1500 ── veth-i 1500 ═ eth0 1500 i
//            .41.1          .41.2           .42.1                          .42.2
//
// The seed's own numbers: the node h's uplink at 1500, the pod's veth pair
// equal at 1450/1450 (flannel's MTU), and inside the pod d, the dind engine's
// docker0, its veth pair and the build container i all at 1500: equal pairs
// at both levels. The mismatch is a routed step: i advertises MSS 1460, the
// server sends 1500-byte segments, and h, routing them onto veth-d (1450),
// drops each one and sends the server "fragmentation needed, mtu 1450".
//
// That alone works (verified: the server caches 1450 and the download runs).
// The field stall needs the PTB to be lost on its way upstream, and what h
// sees is a sender that never sends smaller. Here the server is an anycast
// address behind an edge router that hands ICMP errors to another server
// (nftables marks them, a rule routes the mark to s2) — what an ECMP or
// anycast front end that hashes ICMP apart from its flow does (RFC 7690).
// s2 has no socket for the quoted flow and discards the PTB. edge, s and s2
// stand for the internet: the lab does not watch them (Built.elsewhere), as
// pmtu-watch on the node would not.
//
// hostSideMtu 1500 keeps the earlier variant (h's end of the pod's pair left
// at 1500: a layer-2 drop, no PTB anywhere), which audit's veth rule tests.

export interface NestedContainersOptions {
  /** MTU of d's eth0: the outer (overlay) MTU the dind container got. Default 1450. */
  outerMtu?: number;
  /** MTU of h's end of the h–d veth pair. Default: outerMtu (equal, as in the seed). */
  hostSideMtu?: number;
  /** MTU of d's inner bridge, its port and the inner container. Default 1500. */
  innerMtu?: number;
  id?: string;
}

export interface NestedContainers {
  kind: 'nested-containers';
  ns: { s: string; s2: string; edge: string; h: string; d: string; i: string };
  /** The outside peer the inner container downloads from: the anycast address, on s's lo. */
  server: Host;
  /** The inner container. */
  inner: Host & { mtu: number };
  /** The h–d veth pair: h's end (veth-d) and d's end (eth0). */
  outer: { host: End; dind: End };
  /** h's uplink towards edge (the node's ens18). */
  uplink: End;
  /** The dind container's inner bridge and the inner container's port on it. */
  innerBridge: { ns: string; ifname: string; mtu: number; port: End };
  /** The MSS the inner container advertises, and what d's eth0 can carry. */
  mss: { advertised: number; fits: number };
}

const ANYCAST = '198.18.44.1';

export async function nestedContainers(lab: NetLab, opts: NestedContainersOptions = {}): Promise<NestedContainers> {
  const outerMtu = opts.outerMtu ?? 1450;
  const hostSideMtu = opts.hostSideMtu ?? outerMtu;
  const innerMtu = opts.innerMtu ?? 1500;
  const s = await lab.addNs(nsShort(opts.id, 's'));
  const s2 = await lab.addNs(nsShort(opts.id, 's2'));
  const edge = await lab.addNs(nsShort(opts.id, 'edge'), { forward: true });
  const h = await lab.addNs(nsShort(opts.id, 'h'), { forward: true });
  const d = await lab.addNs(nsShort(opts.id, 'd'), { forward: true });
  const i = await lab.addNs(nsShort(opts.id, 'i'));
  const hEdge = await wire(lab, { ns: h, ifname: 'to-edge', mtu: 1500, v4: '198.18.40.1/24' }, { ns: edge, ifname: 'to-h', mtu: 1500, v4: '198.18.40.2/24' });
  await wire(lab, { ns: edge, ifname: 'to-s', mtu: 1500, v4: '198.18.43.1/24' }, { ns: s, ifname: 'eth0', mtu: 1500, v4: '198.18.43.2/24' });
  await wire(lab, { ns: edge, ifname: 'to-s2', mtu: 1500, v4: '198.18.45.1/24' }, { ns: s2, ifname: 'eth0', mtu: 1500, v4: '198.18.45.2/24' });
  const hD = await wire(lab, { ns: h, ifname: 'veth-d', mtu: hostSideMtu, v4: '198.18.41.1/24' }, { ns: d, ifname: 'eth0', mtu: outerMtu, v4: '198.18.41.2/24' });
  await lab.bridge(d, 'docker0', innerMtu);
  await lab.addr(d, 'docker0', '198.18.42.1/24');
  const dI = await wire(lab, { ns: d, ifname: 'veth-i', mtu: innerMtu }, { ns: i, ifname: 'eth0', mtu: innerMtu, v4: '198.18.42.2/24' });
  await lab.enslave(d, 'veth-i', 'docker0');
  await lab.linkSet(d, 'docker0', { mtu: innerMtu, up: true });
  for (const server of [s, s2]) {
    await lab.addr(server, 'lo', `${ANYCAST}/32`);
    await lab.route(server, ['add', '198.18.0.0/15', 'via', server === s ? '198.18.43.1' : '198.18.45.1', 'src', ANYCAST]);
  }
  await lab.route(edge, ['add', `${ANYCAST}/32`, 'via', '198.18.43.2']);
  await lab.route(edge, ['add', `${ANYCAST}/32`, 'via', '198.18.45.2', 'table', '100']);
  await lab.route(edge, ['add', '198.18.41.0/24', 'via', '198.18.40.1']);
  await lab.route(edge, ['add', '198.18.42.0/24', 'via', '198.18.40.1']);
  await lab.ip(edge, ['rule', 'add', 'fwmark', '1', 'lookup', '100']);
  await lab.nft(
    edge,
    'table ip pmtu_lab_anycast {\n' +
      '  chain pre { type filter hook prerouting priority mangle; icmp type destination-unreachable meta mark set 1; }\n' +
      '}\n',
  );
  await lab.route(h, ['add', `${ANYCAST}/32`, 'via', '198.18.40.2']);
  await lab.route(h, ['add', '198.18.42.0/24', 'via', '198.18.41.2']);
  // Containers route by default through their eth0 (no further than h: h has no default route).
  await lab.route(d, ['add', 'default', 'via', '198.18.41.1']);
  await lab.route(i, ['add', 'default', 'via', '198.18.42.1']);
  return {
    kind: 'nested-containers',
    ns: { s, s2, edge, h, d, i },
    server: { ns: s, ifname: 'lo', v4: ANYCAST },
    inner: { ...host(dI.b), mtu: innerMtu },
    outer: { host: hD.a, dind: hD.b },
    uplink: hEdge.a,
    innerBridge: { ns: d, ifname: 'docker0', mtu: innerMtu, port: dI.a },
    mss: { advertised: innerMtu - 40, fits: outerMtu - 40 },
  };
}

// ---------------------------------------------------------------------------
// Scenario 8: VXLAN overlay without its 50 bytes (seed 001)
//
//   p1 ── cali0 n1 eth0 ═══ underlay 1500 ═══ eth0 n2 cali0 ── p2
//   .52.2  .52.1  .50.1                        .50.2  .53.1     .53.2
//                 vxlan0 .51.1 (MTU 1500) ←VNI 42→ vxlan0 .51.2
//
// Pods p1, p2 at 1500 behind nodes n1, n2; the nodes route pod subnets over
// vxlan0, whose MTU was left at 1500 instead of 1500 − 50. A full-size pod
// packet fits vxlan0, and its encapsulation is 1550 bytes on a 1500 underlay.
//
// What this kernel (6.18) does with it, verified by hand (ping -M do -s 1472
// p1 → p2, and 2-second iperf3 p1 → p2):
//   df set (this builder's default) or inherit: a black hole. n1 drops the
//     outer packet (ip_fragment refuses, IpFragFails +1 per packet) and sends
//     its "fragmentation needed" to the outer source — itself. It also caches
//     mtu 1450 towards p2 on its vxlan route, but a router forwarding ignores
//     learned PMTUs (ip_forward_use_pmtu=0), so p1 is never told: DF pings 0/3
//     with no error, iperf3 ≈ 80 kB sent and 0 received.
//   df unset (the kernel's default for a new vxlan device): n1 fragments the
//     outer packet (two fragments each, reassembled by n2): everything works,
//     ≈ 350 MB in 2 s.
//   vxlan bound to the underlay (`dev eth0`): the kernel caps the device at
//     underlay − 50 = 1450 even when asked for 1500, so n1 sends p1 "mtu 1450"
//     and the pods adapt. Hence the device here is not bound.

export interface VxlanOverlayOptions {
  /** Underlay (node-to-node) MTU. Default 1500. */
  underlayMtu?: number;
  /** The VXLAN devices' MTU. Default 1500 (should be underlayMtu − 50). */
  vxlanMtu?: number;
  /** Pods' MTU, and their nodes' ends. Default 1500. */
  podMtu?: number;
  /** The outer header's DF bit (`ip link ... type vxlan df`). Default 'set'. */
  df?: 'set' | 'unset' | 'inherit';
  id?: string;
}

export interface VxlanTunnel {
  ns: string;
  ifname: 'vxlan0';
  mtu: number;
  v4: string;
  vni: number;
  dstport: number;
  df: 'set' | 'unset' | 'inherit';
  /** Outer IPv4 + UDP + VXLAN + inner Ethernet. */
  overhead: 50;
  /** The underlay device that carries it (not bound to it: see above). */
  underlay: End;
}

export interface VxlanOverlay {
  kind: 'vxlan-overlay';
  ns: { n1: string; n2: string; p1: string; p2: string };
  underlay: Wire;
  tunnels: { n1: VxlanTunnel; n2: VxlanTunnel };
  pods: { p1: Host & { mtu: number }; p2: Host & { mtu: number } };
  /** The nodes' ends of the pod links. */
  nodePorts: { n1: End; n2: End };
}

export async function vxlanOverlay(lab: NetLab, opts: VxlanOverlayOptions = {}): Promise<VxlanOverlay> {
  const underlayMtu = opts.underlayMtu ?? 1500;
  const vxlanMtu = opts.vxlanMtu ?? 1500;
  const podMtu = opts.podMtu ?? 1500;
  const df = opts.df ?? 'set';
  if (!['set', 'unset', 'inherit'].includes(df)) throw new LabError(`bad vxlan df ${JSON.stringify(df)}`, "use 'set', 'unset' or 'inherit'");
  const n1 = await lab.addNs(nsShort(opts.id, 'n1'), { forward: true });
  const n2 = await lab.addNs(nsShort(opts.id, 'n2'), { forward: true });
  const p1 = await lab.addNs(nsShort(opts.id, 'p1'));
  const p2 = await lab.addNs(nsShort(opts.id, 'p2'));
  const underlay = await wire(
    lab,
    { ns: n1, ifname: 'eth0', mtu: underlayMtu, v4: '198.18.50.1/24' },
    { ns: n2, ifname: 'eth0', mtu: underlayMtu, v4: '198.18.50.2/24' },
  );
  const tunnel = async (ns: string, local: End, remote: End, cidr: string): Promise<VxlanTunnel> => {
    await lab.ip(ns, ['link', 'add', 'vxlan0', 'type', 'vxlan', 'id', '42', 'local', local.v4!, 'remote', remote.v4!, 'dstport', '4789', 'df', df]);
    await lab.linkSet(ns, 'vxlan0', { mtu: vxlanMtu, up: true });
    await lab.addr(ns, 'vxlan0', cidr);
    return { ns, ifname: 'vxlan0', mtu: vxlanMtu, v4: cidr.split('/')[0]!, vni: 42, dstport: 4789, df, overhead: 50, underlay: local };
  };
  const t1 = await tunnel(n1, underlay.a, underlay.b, '198.18.51.1/24');
  const t2 = await tunnel(n2, underlay.b, underlay.a, '198.18.51.2/24');
  const w1 = await wire(lab, { ns: n1, ifname: 'cali0', mtu: podMtu, v4: '198.18.52.1/24' }, { ns: p1, ifname: 'eth0', mtu: podMtu, v4: '198.18.52.2/24' });
  const w2 = await wire(lab, { ns: n2, ifname: 'cali0', mtu: podMtu, v4: '198.18.53.1/24' }, { ns: p2, ifname: 'eth0', mtu: podMtu, v4: '198.18.53.2/24' });
  await lab.route(n1, ['add', '198.18.53.0/24', 'via', '198.18.51.2']);
  await lab.route(n2, ['add', '198.18.52.0/24', 'via', '198.18.51.1']);
  await lab.route(p1, ['add', '198.18.0.0/15', 'via', '198.18.52.1']);
  await lab.route(p2, ['add', '198.18.0.0/15', 'via', '198.18.53.1']);
  return {
    kind: 'vxlan-overlay',
    ns: { n1, n2, p1, p2 },
    underlay,
    tunnels: { n1: t1, n2: t2 },
    pods: { p1: { ...host(w1.b), mtu: podMtu }, p2: { ...host(w2.b), mtu: podMtu } },
    nodePorts: { n1: w1.a, n2: w2.a },
  };
}
