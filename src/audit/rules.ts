// The audit rules: a pure function from a configuration snapshot to
// findings. Each rule names a misconfiguration that drops large packets
// before any traffic shows it (SCENARIOS 3, 6, 7, 8), with the numbers and
// the command that fixes it.

import { ipv4ConfKey } from '../net/sysctl.js';
import { inNetns } from '../contract/netns.js';
import { TCP_IP_HEADERS, tunnelCost } from '../net/encap.js';
import { guestConfig, isGuestPort } from '../net/guest-ports.js';
import {
  DECAP_KINDS,
  type AuditResult,
  type AuditSnapshot,
  type Finding,
  type LinkInfo,
  type NetnsConfig,
  type Place,
  type RouteEntry,
  type RouteMss,
  type Severity,
} from './types.js';

const RTN_UNICAST = 1;
const RT_TABLE_LOCAL = 255;
/** Devices stacked on a parent that carries their frames (same MTU budget, no encapsulation counted in it). */
const STACKED_KINDS = new Set(['vlan', 'macvlan', 'macvtap', 'ipvlan', 'ipvtap']);

interface Endpoint {
  ns: NetnsConfig;
  link: LinkInfo;
}

/** Lookups across every namespace of the snapshot. */
class Topology {
  private readonly byInode = new Map<number, NetnsConfig>();

  constructor(readonly snapshot: AuditSnapshot) {
    for (const ns of snapshot.namespaces) this.byInode.set(ns.inode, ns);
  }

  /** The device IFLA_LINK points at (a veth's peer, a vlan's parent), wherever it lives. */
  linked(ns: NetnsConfig, link: LinkInfo): Endpoint | undefined {
    if (!link.link) return undefined;
    const where = link.linkNetnsid >= 0 ? this.byInode.get(ns.peers.get(link.linkNetnsid) ?? -1) : ns;
    const other = where?.links.find((l) => l.ifindex === link.link);
    return where && other ? { ns: where, link: other } : undefined;
  }

  ports(ns: NetnsConfig, bridge: LinkInfo): LinkInfo[] {
    return ns.links.filter((l) => l.master === bridge.ifindex);
  }
}

function place(e: Endpoint): Place {
  return { netns: e.ns.label, device: e.link.name };
}

function isLoopback(link: LinkInfo): boolean {
  return link.name === 'lo' && link.kind === '';
}

// ---------------------------------------------------------------------------
// Fix commands, spelled for how the namespace is reached.

/** `ip ARGS` spelled for the namespace (`ip -n` for a named one, else entered the way its user enters it). */
export function ipCommand(ns: NetnsConfig, args: string): string {
  return ns.info.kind === 'named' ? `ip -n ${ns.label} ${args}` : inNetns(ns.label, `ip ${args}`);
}

export function sysctlCommand(ns: NetnsConfig, setting: string): string {
  return inNetns(ns.label, `sysctl -w ${setting}`);
}

function setMtu(e: Endpoint, mtu: number): string {
  return ipCommand(e.ns, `link set dev ${e.link.name} mtu ${mtu}`);
}

/** sysctl(8) writes a '.' inside an interface name as '/'. */
// ---------------------------------------------------------------------------
// Addresses and routes

function parseAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(text)) {
    const parts = text.split('.').map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return { family: 4, value: parts.reduce((v, p) => (v << 8n) | BigInt(p), 0n) };
  }
  if (!text.includes(':')) return undefined;
  const [head = '', tail, extra] = text.split('::');
  if (extra !== undefined) return undefined;
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (all.length !== 8 || all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return { family: 6, value: all.reduce((v, g) => (v << 16n) | BigInt(parseInt(g, 16)), 0n) };
}

function routeContains(route: RouteEntry, addr: { family: 4 | 6; value: bigint }): boolean {
  if (route.family !== addr.family) return false;
  if (route.dstLen === 0) return true;
  const dst = parseAddress(route.dst);
  if (!dst) return false;
  const bits = BigInt(addr.family === 4 ? 32 : 128);
  const shift = bits - BigInt(route.dstLen);
  return dst.value >> shift === addr.value >> shift;
}

/** Unicast routes outside the local table: where packets leave through a device. */
function forwardingRoutes(ns: NetnsConfig): RouteEntry[] {
  return ns.routes.filter((r) => r.type === RTN_UNICAST && r.table !== RT_TABLE_LOCAL && r.oif > 0);
}

/** The main table's longest-prefix (then lowest-metric) route to addr, or the default route of `family` when addr is undefined. */
function lookUp(ns: NetnsConfig, family: 4 | 6, addrText?: string): RouteEntry | undefined {
  const addr = addrText ? parseAddress(addrText) : undefined;
  const candidates = forwardingRoutes(ns).filter((r) => r.table === 254 && r.family === family && (addr ? routeContains(r, addr) : r.dstLen === 0));
  candidates.sort((a, b) => b.dstLen - a.dstLen || a.priority - b.priority);
  return candidates[0];
}

export function routeDst(r: RouteEntry): string {
  return r.dstLen === 0 ? 'default' : `${r.dst}/${r.dstLen}`;
}

function routeSpec(r: RouteEntry, dev: string): string {
  const parts = [routeDst(r)];
  if (r.gateway) parts.push('via', r.gateway);
  parts.push('dev', dev);
  if (r.table !== 254) parts.push('table', String(r.table));
  return parts.join(' ');
}

/** `ip [-6] route change SPEC ...`: the family option goes before the object. */
function routeChange(ns: NetnsConfig, r: RouteEntry, spec: string, metric: string): string {
  return ipCommand(ns, `${r.family === 6 ? '-6 ' : ''}route change ${spec} ${metric}`);
}

// ---------------------------------------------------------------------------
// Tunnels

interface Underlay extends Endpoint {
  /** How it was found: 'bound' to the device, 'route to ADDR', 'default route'. */
  via: string;
}

/** The device a tunnel's packets leave through: the one it is bound to, else the route to its remote, else the default route. */
function underlayOf(ns: NetnsConfig, link: LinkInfo, family: 4 | 6): Underlay | undefined {
  const bound = link.tunnel?.lower ? ns.links.find((l) => l.ifindex === link.tunnel!.lower) : undefined;
  if (bound) return { ns, link: bound, via: 'bound' };
  const remote = link.tunnel?.remote;
  const route = lookUp(ns, family, remote || undefined);
  const dev = route && ns.links.find((l) => l.ifindex === route.oif);
  if (!dev || dev.ifindex === link.ifindex) return undefined;
  return { ns, link: dev, via: remote ? `route to ${remote}` : 'default route' };
}

// ---------------------------------------------------------------------------
// The rules

type Emit = (f: Finding) => void;

function vethPairs(topo: Topology, ns: NetnsConfig, emit: Emit, seen: Set<string>): void {
  for (const link of ns.links) {
    if (link.kind !== 'veth') continue;
    const peer = topo.linked(ns, link);
    if (!peer || peer.link.mtu === link.mtu) continue;
    const key = [`${ns.inode}:${link.ifindex}`, `${peer.ns.inode}:${peer.link.ifindex}`].sort().join('-');
    if (seen.has(key)) continue;
    seen.add(key);
    const self = { ns, link };
    const [big, small] = link.mtu > peer.link.mtu ? [self, peer] : [peer, self];
    const lower = setMtu(big, small.link.mtu);
    const raise = setMtu(small, big.link.mtu);
    // A port stuck below its bridge (seed 000) is fixed by raising it, as bridge-port-mtu says.
    const bridge = small.link.master ? small.ns.links.find((l) => l.ifindex === small.link.master && l.kind === 'bridge') : undefined;
    const raiseFirst = bridge !== undefined && bridge.mtu >= big.link.mtu;
    emit({
      rule: 'veth-mtu-mismatch',
      severity: 'error',
      // Where the preferred fix applies.
      netns: (raiseFirst ? small : big).ns.label,
      device: (raiseFirst ? small : big).link.name,
      related: [place(raiseFirst ? big : small)],
      summary:
        `veth pair with unequal MTUs: ${big.ns.label}/${big.link.name} ${big.link.mtu} ↔ ${small.ns.label}/${small.link.name} ${small.link.mtu}; ` +
        `frames over ${small.link.mtu} bytes sent from ${big.link.name} are dropped at ${small.link.name}, with no ICMP`,
      numbers: { mtu: big.link.mtu, peerMtu: small.link.mtu },
      fix: raiseFirst ? [raise, lower] : [lower, raise],
      note: raiseFirst
        ? `${small.link.name} is a port of ${bridge.name} (MTU ${bridge.mtu})`
        : `the second only if everything behind ${small.link.name} carries ${big.link.mtu}`,
    });
  }
}

function bridgePorts(topo: Topology, ns: NetnsConfig, emit: Emit): void {
  for (const bridge of ns.links) {
    if (bridge.kind !== 'bridge') continue;
    const ports = topo.ports(ns, bridge);
    if (ports.length === 0) continue;
    const largest = ports.reduce<LinkInfo>((a, p) => (p.mtu > a.mtu ? p : a), bridge);
    for (const port of ports) {
      if (port.mtu >= largest.mtu) continue;
      const source = largest === bridge ? `the bridge's MTU ${bridge.mtu}` : `port ${largest.name} at ${largest.mtu}`;
      emit({
        rule: 'bridge-port-mtu',
        severity: 'error',
        netns: ns.label,
        device: port.name,
        related: [{ netns: ns.label, device: bridge.name }],
        summary:
          `bridge port below the bridge: ${bridge.name} carries frames up to ${largest.mtu} (${source}) but port ${port.name} is at ${port.mtu}; ` +
          `frames over ${port.mtu} bytes forwarded to ${port.name} are dropped, with no ICMP`,
        numbers: { bridgeMtu: bridge.mtu, largestMtu: largest.mtu, portMtu: port.mtu },
        fix: [setMtu({ ns, link: port }, largest.mtu)],
        note: `and the device behind ${port.name} (a guest's interface) at ${largest.mtu} too`,
      });
    }
  }
}

/**
 * A bridge whose guests send larger frames than the namespace's own way out
 * carries (seed 003: an inner Docker engine's docker0 at 1500 in a container
 * whose eth0 is 1450): the guests advertise an MSS that only Path MTU
 * Discovery saves, and a lost PTB stalls their downloads.
 */
function bridgeAboveUplink(topo: Topology, ns: NetnsConfig, emit: Emit): void {
  const out = lookUp(ns, 4) ?? lookUp(ns, 6);
  const dev = out && ns.links.find((l) => l.ifindex === out.oif);
  if (!out || !dev) return;
  for (const bridge of ns.links) {
    if (bridge.kind !== 'bridge' || !bridge.up || bridge.ifindex === dev.ifindex || dev.master === bridge.ifindex) continue;
    const ports = topo.ports(ns, bridge);
    if (ports.length === 0) continue;
    const carried = ports.reduce((m, p) => Math.max(m, p.mtu), bridge.mtu);
    const uplink = chainMin(topo, ns, dev).mtu;
    if (uplink >= carried) continue;
    const mss = carried - TCP_IP_HEADERS[out.family];
    emit({
      rule: 'bridge-above-uplink',
      severity: 'warning',
      netns: ns.label,
      device: bridge.name,
      related: [{ netns: ns.label, device: dev.name }],
      summary:
        `${bridge.name} carries frames up to ${carried} but this namespace's way out, ${dev.name}, carries ${uplink}: ` +
        `what sits behind ${bridge.name} advertises MSS ${mss}, so replies over ${uplink} bytes reach it only while Path MTU Discovery works; a lost PTB stalls them`,
      numbers: { bridgeMtu: carried, uplinkMtu: uplink },
      fix: [setMtu({ ns, link: bridge }, uplink), ...ports.filter((p) => p.mtu > uplink).map((p) => setMtu({ ns, link: p }, uplink))],
      note: `and the interfaces behind ${bridge.name} at ${uplink} too`,
    });
  }
}

function stackedDevices(topo: Topology, ns: NetnsConfig, emit: Emit): void {
  for (const link of ns.links) {
    if (!STACKED_KINDS.has(link.kind)) continue;
    const parent = topo.linked(ns, link);
    if (!parent || link.mtu <= parent.link.mtu) continue;
    emit({
      rule: 'stacked-above-parent',
      severity: 'error',
      netns: ns.label,
      device: link.name,
      related: [place(parent)],
      summary: `${link.kind} ${link.name} MTU ${link.mtu} is above its parent ${parent.ns.label}/${parent.link.name} MTU ${parent.link.mtu}: packets over ${parent.link.mtu} bytes are dropped by the parent`,
      numbers: { mtu: link.mtu, parentMtu: parent.link.mtu },
      fix: [setMtu({ ns, link }, parent.link.mtu)],
    });
  }
}

/** Each tunnel of a namespace whose underlay is known, with the largest MTU that underlay leaves it. */
function* tunnelsOver(ns: NetnsConfig) {
  for (const link of ns.links) {
    const cost = tunnelCost(link);
    if (!cost) continue;
    const under = underlayOf(ns, link, cost.outerFamily);
    if (under) yield { link, cost, under, fits: under.link.mtu - cost.overhead };
  }
}

function tunnels(ns: NetnsConfig, emit: Emit): void {
  for (const { link, cost, under, fits } of tunnelsOver(ns)) {
    if (link.mtu <= fits) continue;
    emit({
      rule: 'tunnel-overhead',
      severity: 'error',
      netns: ns.label,
      device: link.name,
      related: [place(under)],
      summary:
        `${link.kind} ${link.name} MTU ${link.mtu} + ${cost.overhead} bytes of ${cost.what} = ${link.mtu + cost.overhead} > ${under.link.name} MTU ${under.link.mtu} ` +
        `(its underlay, by ${under.via}): inner packets over ${fits} bytes are fragmented or, with DF, dropped`,
      numbers: { mtu: link.mtu, overhead: cost.overhead, underlayMtu: under.link.mtu, maxMtu: fits },
      fix: [setMtu({ ns, link }, fits), setMtu(under, link.mtu + cost.overhead)],
      note: `the second only if the network under ${under.link.name} carries ${link.mtu + cost.overhead}`,
    });
  }
}

/** An overlay this much below what its underlay could carry is worth saying (seed 001: Calico's 1450 under 9000). */
const ROOM_WORTH_SAYING = 500;

/**
 * An overlay set far below what its underlay allows (seed 001's first half:
 * Calico's default 1450 over a 9000 network): no black hole, but large pings
 * fail at once with EMSGSIZE and every flow runs at a fraction of the frame.
 */
function tunnelsBelowUnderlay(ns: NetnsConfig, emit: Emit): void {
  for (const { link, cost, under, fits } of tunnelsOver(ns)) {
    if (fits - link.mtu < ROOM_WORTH_SAYING) continue;
    // New MTUs reach only new pods: the pods' veths of this node, if they differ, are the ones made before and after a change.
    const pods = ns.links.filter((l) => l.kind === 'veth' && !l.master && l.up);
    const mtus = [...new Set(pods.map((l) => l.mtu))].sort((a, b) => a - b);
    const mixed = mtus.length > 1 ? `; this node's pod veths are at ${mtus.map((m) => `${m} (${pods.filter((l) => l.mtu === m).length})`).join(', ')}: pods made before and after a change` : '';
    emit({
      rule: 'tunnel-below-underlay',
      severity: 'info',
      netns: ns.label,
      device: link.name,
      related: [place(under)],
      summary:
        `${link.kind} ${link.name} MTU ${link.mtu} could be ${fits}: ${under.link.name} (its underlay, by ${under.via}) carries ${under.link.mtu}, less ${cost.overhead} bytes of ${cost.what}; ` +
        `what crosses it runs at ${link.mtu} and larger DF packets fail at once${mixed}`,
      numbers: { mtu: link.mtu, underlayMtu: under.link.mtu, maxMtu: fits },
      fix: [
        `set the CNI's MTU to ${fits}: Calico: kubectl patch installation default --type=merge -p '{"spec":{"calicoNetwork":{"mtu":${fits}}}}' (or FelixConfiguration vxlanMTU); flannel: its net-conf.json "MTU" (or leave it unset: flannel derives it from the underlay)`,
        setMtu({ ns, link }, fits),
      ],
      note: 'a CNI MTU reaches only pods made after the change: restart the pods for theirs',
    });
  }
}

/**
 * A guest's port that lost its bridge (seed 002: vmbr0 restarted with legacy
 * ifupdown): up, a tap or veth, no master, while a bridge exists beside it.
 * The guest's frames now go nowhere.
 */
function portsWithoutBridge(ns: NetnsConfig, emit: Emit): void {
  const bridges = ns.links.filter((l) => l.kind === 'bridge');
  if (!bridges.length) return;
  for (const port of ns.links) {
    if (!port.up || port.master || !isGuestPort(port.name, port.kind)) continue;
    const only = bridges.length === 1 ? bridges[0]!.name : undefined;
    const conf = guestConfig(port.name);
    emit({
      rule: 'port-without-bridge',
      severity: 'error',
      netns: ns.label,
      device: port.name,
      related: bridges.map((b) => ({ netns: ns.label, device: b.name })),
      summary: `guest port ${port.name} is up but in no bridge (${bridges.map((b) => b.name).join(', ')} ${bridges.length === 1 ? 'is' : 'are'} here): its guest's frames go nowhere, as after a bridge restarted under running guests`,
      numbers: { bridges: bridges.length },
      fix: [ipCommand(ns, `link set ${port.name} master ${only ?? 'BRIDGE'}`), 'ifreload -a (ifupdown2 keeps guest ports in their bridge when it reloads; legacy ifupdown ifdown/ifup drops them)'],
      note: only
        ? `the bridge it belongs to is in ${conf ? `${conf.file} (${conf.net}: bridge=)` : "the guest's config"}`
        : `which bridge: ${conf ? `${conf.file}, ${conf.net}: bridge=` : "the guest's config"}`,
    });
  }
}

/**
 * Strict rp_filter where decapsulated packets come out (seed 004: IPIP from
 * an IPVS load balancer to its realservers): a client's packet, unwrapped on
 * ipip0, has a source routed out of the uplink, not ipip0, and is dropped.
 * The effective mode is the larger of `all` and the interface's, so `all=1`
 * makes a 0 on ipip0 useless; 2 (loose) there is enough. IPv6 (ipip60)
 * has no rp_filter.
 */
function rpFilterDecap(ns: NetnsConfig, emit: Emit): void {
  const all = ns.rpFilter.get('all') ?? 0;
  for (const link of ns.links) {
    if (!DECAP_KINDS.has(link.kind) || !link.up) continue;
    const own = ns.rpFilter.get(link.name);
    if (own === undefined) continue; // not read: say nothing rather than guess
    if (Math.max(all, own) !== 1) continue;
    const dflt = ns.rpFilter.get('default');
    emit({
      rule: 'rp-filter-decap',
      severity: 'warning',
      netns: ns.label,
      device: link.name,
      related: [],
      summary:
        `strict rp_filter on ${link.kind} ${link.name} (all=${all}, ${link.name}=${own}; the larger counts): a packet decapsulated there comes from a client routed out of another ` +
        `interface and is dropped (IP_RPFILTER), so what a load balancer encapsulates to this host never arrives`,
      numbers: { rpFilterAll: all, rpFilter: own },
      fix: [sysctlCommand(ns, `${ipv4ConfKey(link.name, 'rp_filter')}=2`), ...(all === 1 ? [sysctlCommand(ns, `net.ipv4.conf.all.rp_filter=0`)] : [])],
      note:
        (all === 1 ? `with all=1 a 0 on ${link.name} is not enough: 2 (loose) on ${link.name} is, or all=0 (then each interface's own value counts). ` : '') +
        (dflt !== undefined ? `default=${dflt} is what interfaces made later inherit (Calico's cali*): keep it 1 there against spoofing from pods. ` : '') +
        'IPv6 (ipip60, ip6tnl) has no rp_filter',
    });
  }
}

function rpFilter(ns: NetnsConfig, emit: Emit): void {
  const v4Links = ns.links.filter((l) => l.up && !isLoopback(l) && ns.addresses.some((a) => a.family === 4 && a.ifindex === l.ifindex));
  if (v4Links.length < 2) return; // not multi-homed: every source routes back through the one interface
  const routes = forwardingRoutes(ns).filter((r) => r.family === 4);
  const all = ns.rpFilter.get('all') ?? 0;
  for (const link of v4Links) {
    const own = ns.rpFilter.get(link.name) ?? 0;
    // The effective mode is the larger of all and the interface: 1 strict, 2 loose.
    if (Math.max(all, own) !== 1) continue;
    // ICMP errors come from routers: only an interface with routes through a gateway receives them from afar.
    const viaGateway = routes.filter((r) => r.oif === link.ifindex && (r.gateway !== '' || r.dstLen === 0));
    const elsewhere = routes.filter((r) => r.oif !== link.ifindex && v4Links.some((l) => l.ifindex === r.oif));
    if (viaGateway.length === 0 || elsewhere.length === 0) continue;
    const shown = elsewhere.slice(0, 3).map((r) => `${routeDst(r)} via ${ns.links.find((l) => l.ifindex === r.oif)?.name ?? r.oif}`);
    const more = elsewhere.length > 3 ? ` and ${elsewhere.length - 3} more` : '';
    emit({
      rule: 'rp-filter-multihomed',
      severity: 'warning',
      netns: ns.label,
      device: link.name,
      related: [...new Set(elsewhere.map((r) => r.oif))].map((i) => ({ netns: ns.label, device: ns.links.find((l) => l.ifindex === i)?.name ?? String(i) })),
      summary:
        `strict rp_filter on ${link.name} (all=${all}, ${link.name}=${own}) in a multi-homed namespace: an ICMP "fragmentation needed" ` +
        `arriving on ${link.name} from an address routed elsewhere (${shown.join(', ')}${more}) is dropped, and PMTU discovery through ${link.name} black-holes`,
      numbers: { rpFilterAll: all, rpFilter: own },
      fix: [
        `make the routers behind ${link.name} source their ICMP errors from addresses routed back through ${link.name}, or clamp TCP MSS so that no PTB is needed`,
        sysctlCommand(ns, `${ipv4ConfKey(link.name, 'rp_filter')}=2`),
      ],
      note: 'loose rp_filter (2) weakens protection against spoofed source addresses: last resort',
    });
  }
}

function routeMetrics(ns: NetnsConfig, emit: Emit): void {
  for (const route of forwardingRoutes(ns)) {
    const dev = ns.links.find((l) => l.ifindex === route.oif);
    if (!dev) continue;
    const spec = routeSpec(route, dev.name);
    if (route.mtu > dev.mtu) {
      emit({
        rule: 'route-mtu-above-device',
        severity: 'error',
        netns: ns.label,
        device: dev.name,
        related: [],
        summary: `route ${spec} has mtu ${route.mtu} above ${dev.name}'s MTU ${dev.mtu}: packets up to ${route.mtu} bytes are built for it and dropped by the device`,
        numbers: { routeMtu: route.mtu, deviceMtu: dev.mtu },
        fix: [routeChange(ns, route, spec, `mtu ${dev.mtu}`)],
      });
    }
    const headers = TCP_IP_HEADERS[route.family];
    if (route.advmss > dev.mtu - headers) {
      emit({
        rule: 'route-advmss-above-device',
        severity: 'error',
        netns: ns.label,
        device: dev.name,
        related: [],
        summary:
          `route ${spec} has advmss ${route.advmss}: peers are told to send ${route.advmss + headers}-byte packets, ` +
          `over ${dev.name}'s MTU ${dev.mtu} (the largest MSS it carries is ${dev.mtu - headers})`,
        numbers: { advmss: route.advmss, deviceMtu: dev.mtu, maxMss: dev.mtu - headers },
        fix: [routeChange(ns, route, spec, `advmss ${dev.mtu - headers}`)],
      });
    }
  }
}

interface ChainMin {
  mtu: number;
  at: Endpoint;
  /** Encapsulation taken off the device's MTU at `at` (tunnels), 0 when none. */
  overhead: number;
}

/**
 * The smallest MTU a packet leaving through `link` meets on this host's side
 * of the wire: the device, a veth's other end, a vlan's parent, a bridge's
 * ports (any one of them may be the way out), a tunnel's underlay less the
 * encapsulation.
 */
function chainMin(topo: Topology, ns: NetnsConfig, link: LinkInfo, seen = new Set<string>()): ChainMin {
  let best: ChainMin = { mtu: link.mtu, at: { ns, link }, overhead: 0 };
  const key = `${ns.inode}:${link.ifindex}`;
  if (seen.has(key)) return best;
  seen.add(key);
  const consider = (c: ChainMin | undefined) => {
    if (c && c.mtu < best.mtu) best = c;
  };
  if (link.kind === 'veth') {
    const peer = topo.linked(ns, link);
    if (peer) consider({ mtu: peer.link.mtu, at: peer, overhead: 0 });
  } else if (STACKED_KINDS.has(link.kind)) {
    const parent = topo.linked(ns, link);
    if (parent) consider(chainMin(topo, parent.ns, parent.link, seen));
  } else if (link.kind === 'bridge') {
    for (const port of topo.ports(ns, link)) consider(chainMin(topo, ns, port, seen));
  } else {
    const cost = tunnelCost(link);
    const under = cost && underlayOf(ns, link, cost.outerFamily);
    if (cost && under) {
      const c = chainMin(topo, under.ns, under.link, seen);
      consider({ mtu: c.mtu - cost.overhead, at: c.at, overhead: c.overhead + cost.overhead });
    }
  }
  return best;
}

function routeMss(topo: Topology, ns: NetnsConfig): RouteMss[] {
  const out: RouteMss[] = [];
  for (const route of forwardingRoutes(ns)) {
    const dev = ns.links.find((l) => l.ifindex === route.oif);
    if (!dev || isLoopback(dev)) continue;
    if (route.family === 6 && /^(fe80|ff[0-9a-f]{2}):/i.test(route.dst)) continue; // link-local, multicast
    const mtu = route.mtu || dev.mtu;
    const mss = route.advmss || Math.max(mtu - TCP_IP_HEADERS[route.family], 256);
    const chain = chainMin(topo, ns, dev);
    out.push({
      netns: ns.label,
      family: route.family,
      dst: routeDst(route),
      gateway: route.gateway,
      device: dev.name,
      mtu,
      mss,
      chainMtu: chain.mtu,
      chainAt: place(chain.at),
      chainOverhead: chain.overhead,
    });
  }
  return out;
}

function mssOverChain(topo: Topology, ns: NetnsConfig, routes: RouteMss[], emit: Emit): void {
  // One finding per device and family: its routes share the chain.
  const groups = new Map<string, RouteMss[]>();
  for (const r of routes) {
    // A route's own metric above its own device is route-*-above-device.
    if (r.chainAt.netns === ns.label && r.chainAt.device === r.device) continue;
    if (r.mss + TCP_IP_HEADERS[r.family] <= r.chainMtu) continue;
    const key = `${r.device}/${r.family}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  for (const list of groups.values()) {
    const first = list[0]!;
    const headers = TCP_IP_HEADERS[first.family];
    const dev = ns.links.find((l) => l.name === first.device)!;
    const dsts = list.map((r) => r.dst);
    emit({
      rule: 'mss-exceeds-chain',
      severity: 'warning',
      netns: ns.label,
      device: first.device,
      related: [first.chainAt],
      summary:
        `IPv${first.family} SYNs through ${first.device} (routes ${dsts.slice(0, 4).join(', ')}${dsts.length > 4 ? ', ...' : ''}) advertise MSS ${first.mss}, ` +
        `but ${first.chainAt.netns}/${first.chainAt.device} on the way out carries ${first.chainMtu}` +
        ` (${first.chainOverhead ? `MTU ${first.chainMtu + first.chainOverhead} less ${first.chainOverhead} bytes of encapsulation; ` : ''}MSS ${first.chainMtu - headers}): ` +
        `peers' full-size segments are dropped there`,
      numbers: { mss: first.mss, chainMtu: first.chainMtu, maxMss: first.chainMtu - headers },
      fix: [setMtu({ ns, link: dev }, first.chainMtu)],
    });
  }
}

// ---------------------------------------------------------------------------
// Docker-in-Docker (seed 003): a finding on an inner engine's bridge is fixed
// for good by that engine's MTU, not by `ip link set` (its next container gets
// a fresh veth at the engine's MTU again).

/** The bridges a Docker engine makes: docker0, and br-<12 hex> for a user network. */
const DOCKER_BRIDGE = /^(docker0|br-[0-9a-f]{12})$/;

interface InnerEngine {
  ns: NetnsConfig;
  bridge: LinkInfo;
  /** The MTU the container's own way out carries (its default route's device chain). */
  uplinkMtu: number;
  uplink: string;
}

/**
 * The Docker engine running inside a container that a finding is about: one
 * of its places is an engine's bridge, or a port of one, in a namespace that
 * is a Docker container's, and the engine's network carries frames larger
 * than the container's way out.
 */
function innerEngine(topo: Topology, byLabel: Map<string, NetnsConfig>, f: Finding): InnerEngine | undefined {
  for (const p of [{ netns: f.netns, device: f.device }, ...f.related]) {
    const ns = byLabel.get(p.netns);
    if (!ns || ns.info.kind !== 'docker') continue;
    const link = ns.links.find((l) => l.name === p.device);
    if (!link) continue;
    const master = link.master ? ns.links.find((l) => l.ifindex === link.master) : undefined;
    const bridge = [link, master].find((l) => l?.kind === 'bridge' && DOCKER_BRIDGE.test(l.name));
    if (!bridge) continue;
    const out = lookUp(ns, 4) ?? lookUp(ns, 6);
    const dev = out && ns.links.find((l) => l.ifindex === out.oif);
    if (!dev || dev.ifindex === bridge.ifindex) continue;
    const uplinkMtu = chainMin(topo, ns, dev).mtu;
    const carried = topo.ports(ns, bridge).reduce((m, port) => Math.max(m, port.mtu), bridge.mtu);
    if (uplinkMtu < carried) return { ns, bridge, uplinkMtu, uplink: dev.name };
  }
  return undefined;
}

/** The lasting fixes, in the terms of whoever runs the inner engine: its daemon's flag or config, the CI runner's setting; or an MSS clamp where the container forwards. */
function innerEngineFixes(e: InnerEngine): string[] {
  const mtu = e.uplinkMtu;
  const engine =
    e.bridge.name === 'docker0'
      ? `dockerd --mtu ${mtu}, or "mtu": ${mtu} in its /etc/docker/daemon.json, or the CI runner's setting (GitLab's docker:dind service: command: ["--mtu=${mtu}"]; Drone's docker plugin: mtu: ${mtu})`
      : `its network made again with docker network create -o com.docker.network.driver.mtu=${mtu} (dockerd --mtu covers only docker0)`;
  return [
    `give the Docker engine inside ${e.ns.label} the MTU of its ${e.uplink} for ${e.bridge.name}: ${engine}; the containers it starts after that get ${mtu}`,
    inNetns(
      e.ns.label,
      `nft 'add table inet pmtu-clamp; add chain inet pmtu-clamp forward { type filter hook forward priority mangle; }; add rule inet pmtu-clamp forward tcp flags syn tcp option maxseg size set rt mtu'`,
    ),
  ];
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

export function severityAtLeast(s: Severity, min: Severity): boolean {
  return RANK[s] >= RANK[min];
}

/** Audits the namespaces of the snapshot marked inScope (the others only resolve veth peers). */
export function audit(snapshot: AuditSnapshot): AuditResult {
  const topo = new Topology(snapshot);
  const findings: Finding[] = [];
  const routes: RouteMss[] = [];
  const emit: Emit = (f) => findings.push(f);
  const seenPairs = new Set<string>();
  const scope = snapshot.namespaces.filter((ns) => ns.inScope);
  for (const ns of scope) {
    vethPairs(topo, ns, emit, seenPairs);
    bridgePorts(topo, ns, emit);
    bridgeAboveUplink(topo, ns, emit);
    stackedDevices(topo, ns, emit);
    tunnels(ns, emit);
    tunnelsBelowUnderlay(ns, emit);
    portsWithoutBridge(ns, emit);
    rpFilter(ns, emit);
    rpFilterDecap(ns, emit);
    routeMetrics(ns, emit);
    const mss = routeMss(topo, ns);
    mssOverChain(topo, ns, mss, emit);
    routes.push(...mss);
  }
  const byLabel = new Map(snapshot.namespaces.map((ns) => [ns.label, ns]));
  for (const f of findings) {
    const engine = innerEngine(topo, byLabel, f);
    if (!engine) continue;
    f.fix.push(...innerEngineFixes(engine));
    const lasting = `${engine.bridge.name} in ${engine.ns.label} is a Docker engine's bridge: \`ip link set\` lasts until that engine makes its next veth; its MTU (${engine.uplinkMtu}) or the MSS clamp lasts`;
    f.note = f.note ? `${f.note}; ${lasting}` : lasting;
  }
  // An MSS warning whose bottleneck is itself an error is cleared by that error's fix.
  for (const f of findings) {
    if (f.rule !== 'mss-exceeds-chain') continue;
    const places = [f.related[0]!, { netns: f.netns, device: f.device }];
    const cause = findings.find((e) => e.severity === 'error' && places.some((p) => e.netns === p.netns && e.device === p.device));
    if (cause) f.note = `the ${cause.rule} error at ${cause.netns}/${cause.device} is the cause: its fix clears this`;
  }
  findings.sort((a, b) => RANK[b.severity] - RANK[a.severity] || a.netns.localeCompare(b.netns) || a.device.localeCompare(b.device));
  return { scope: scope.map((ns) => ns.label), findings, routes, problems: [...snapshot.problems] };
}
