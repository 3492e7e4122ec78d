// Builders for the scenarios of SCENARIOS.md. Each returns a plain, typed
// description of what it built (namespace and interface names, addresses,
// MTUs) so tests and `pmtu-watch lab` can name the places a verdict must name.
//
// Address plan (documentation/benchmark ranges only):
//   198.18.<n>.0/24 and 2001:db8:<n>::/64 per link, 198.19.0.0/24 and
//   2001:db8:ff::/64 for management addresses. Namespaces are private to the
//   lab, so two builders in one lab may reuse addresses; give them different
//   `id`s so their namespace names differ.

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
   * 'mgmt': r1 sources its PTBs from a management address on its loopback
   * (198.19.0.1, 2001:db8:ff::1) that c routes out of another interface.
   */
  ptbSource?: 'mgmt';
  /** Strict rp_filter on c (needs ptbSource 'mgmt' to matter): c drops r1's IPv4 PTB. */
  rpFilterOnClient?: boolean;
  /** r1 drops the ICMP errors it generates: a silent black hole. */
  blockIcmpOnRouter?: boolean;
  /** c's firewall drops incoming ICMP 3/4 and ICMPv6 PTB (scenario 4). */
  dropPtbOnClient?: boolean;
  /** r1 clamps the MSS of forwarded SYNs to fit the bottleneck (scenario 10). */
  clampMssOnRouter?: boolean;
  /** Distinguishes the namespaces of two builders in one lab ('' by default). */
  id?: string;
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
  /** Present with ptbSource 'mgmt'. */
  mgmt?: {
    router: { ns: string; ifname: 'lo'; v4: string; v6?: string };
    /** c's link to the management network (namespace m), where c routes the management subnet. */
    link: Wire;
  };
  rpFilterOnClient: boolean;
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
    spec(c, 'to-r1', hostMtu, '198.18.1.2/24', '2001:db8:1::2/64'),
    spec(r1, 'to-c', hostMtu, '198.18.1.1/24', '2001:db8:1::1/64'),
  );
  const r1R2 = await wire(
    lab,
    spec(r1, 'to-r2', bottleneckMtu, '198.18.2.1/24', '2001:db8:2::1/64'),
    spec(r2, 'to-r1', bottleneckMtu, '198.18.2.2/24', '2001:db8:2::2/64'),
  );
  const r2S = await wire(
    lab,
    spec(r2, 'to-s', hostMtu, '198.18.3.1/24', '2001:db8:3::1/64'),
    spec(s, 'to-r2', hostMtu, '198.18.3.2/24', '2001:db8:3::2/64'),
  );

  // Only the lab's ranges are routed: anything else is unreachable at once.
  await lab.route(c, ['add', '198.18.0.0/15', 'via', '198.18.1.1']);
  await lab.route(r1, ['add', '198.18.3.0/24', 'via', '198.18.2.2']);
  await lab.route(r2, ['add', '198.18.1.0/24', 'via', '198.18.2.1']);
  await lab.route(s, ['add', '198.18.0.0/15', 'via', '198.18.3.1']);
  if (v6) {
    await lab.route(c, ['add', '2001:db8::/32', 'via', '2001:db8:1::1']);
    await lab.route(r1, ['add', '2001:db8:3::/64', 'via', '2001:db8:2::2']);
    await lab.route(r2, ['add', '2001:db8:1::/64', 'via', '2001:db8:2::1']);
    await lab.route(s, ['add', '2001:db8::/32', 'via', '2001:db8:3::1']);
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
    rpFilterOnClient: opts.rpFilterOnClient ?? false,
    blockIcmpOnRouter: opts.blockIcmpOnRouter ?? false,
    dropPtbOnClient: opts.dropPtbOnClient ?? false,
  };

  if (mgmt) {
    // r1's management address, and its route back to c's subnet sourced from
    // it: errors r1 sends to c (fragmentation needed) carry this source.
    await lab.addr(r1, 'lo', '198.19.0.1/32');
    await lab.route(r1, ['replace', '198.18.1.0/24', 'dev', 'to-c', 'src', '198.19.0.1']);
    // c is multi-homed: the management subnet is reached through mgmt0, a
    // link to a management network namespace m (dummy devices are not
    // available on every kernel; this one has none).
    const m = await lab.addNs(nsShort(opts.id, 'm'));
    const cM = await wire(
      lab,
      spec(c, 'mgmt0', 1500, '198.19.0.2/24', '2001:db8:ff::2/64'),
      spec(m, 'to-c', 1500, '198.19.0.3/24', '2001:db8:ff::3/64'),
    );
    if (v6) {
      await lab.addr(r1, 'lo', '2001:db8:ff::1/128');
      // metric 1 beats the kernel's connected route (256) for the same prefix.
      await lab.route(r1, ['add', '2001:db8:1::/64', 'dev', 'to-c', 'src', '2001:db8:ff::1', 'metric', '1']);
    }
    path.ns.m = m;
    path.mgmt = {
      router: { ns: r1, ifname: 'lo', v4: '198.19.0.1', ...(v6 ? { v6: '2001:db8:ff::1' } : {}) },
      link: cM,
    };
    path.ptb = { ns: r1, ifname: 'to-c', v4: '198.19.0.1', ...(v6 ? { v6: '2001:db8:ff::1' } : {}) };
  }
  if (path.rpFilterOnClient) await strictRpFilter(lab, c, 'to-r1');
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
