// What `pmtu-watch audit` reads (one snapshot of every namespace's network
// configuration) and what it concludes (findings). The rules are a pure
// function from the first to the second (rules.ts).

import type { AddressInfo, LinkInfo, RouteEntry } from '../../native/index.js';

export type { AddressInfo, LinkInfo, RouteEntry };

import type { NetnsInfoJson } from '../contract/netns.js';

export interface NetnsConfig {
  /** The namespace's inode: its identity. */
  inode: number;
  /** Its stable name, as events have it: `host`, an `ip netns` name, `docker:web-1`, `pid:1234`; it decides how fix commands are spelled. */
  label: string;
  /** Who holds it. */
  info: NetnsInfoJson;
  /** Audited (in the scope asked for) or only read to resolve a veth peer. */
  inScope: boolean;
  links: LinkInfo[];
  addresses: AddressInfo[];
  routes: RouteEntry[];
  /** nsid (as this namespace numbers the other) → the other's inode. */
  peers: Map<number, number>;
  /** net.ipv4.conf.{all,<ifname>}.rp_filter; absent: not read or no IPv4. */
  rpFilter: Map<string, number>;
}

export interface AuditSnapshot {
  namespaces: NetnsConfig[];
  /** Namespaces that could not be read (they vanished, or no permission), one line each. */
  problems: string[];
}

/**
 * Tunnels out of which decapsulated IPv4 packets come: rp_filter applies there.
 * Not sit and ip6tnl (ipip60): what they carry is IPv6, which has no rp_filter.
 */
export const DECAP_KINDS: ReadonlySet<string> = new Set(['ipip', 'gre', 'gretap', 'erspan']);

export const SEVERITIES = ['info', 'warning', 'error'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Rule =
  | 'veth-mtu-mismatch'
  | 'bridge-port-mtu'
  | 'stacked-above-parent'
  | 'tunnel-overhead'
  | 'rp-filter-multihomed'
  | 'route-mtu-above-device'
  | 'route-advmss-above-device'
  | 'mss-exceeds-chain'
  | 'bridge-above-uplink'
  | 'tunnel-below-underlay'
  | 'port-without-bridge'
  | 'differs-from-baseline'
  | 'rp-filter-decap';

export interface Place {
  netns: string;
  device: string;
}

export interface Finding {
  rule: Rule;
  severity: Severity;
  /** Where it is: the namespace and device to change. */
  netns: string;
  device: string;
  /** Other devices involved (the veth's other end, the bridge, the underlay). */
  related: Place[];
  /** One sentence: what is wrong and what it does to packets. */
  summary: string;
  /** The numbers the summary is made of (MTUs, overheads, MSS). */
  numbers: Record<string, number>;
  /** Commands that fix it, the preferred first. */
  fix: string[];
  /** A caveat on the fix (e.g. the security cost of loose rp_filter). */
  note?: string;
}

/** Per route: the MSS a local SYN advertises, against the smallest MTU on the device chain under it. */
export interface RouteMss {
  netns: string;
  family: 4 | 6;
  /** 'default' or PREFIX/LEN. */
  dst: string;
  gateway: string;
  device: string;
  /** The MTU the route sends with: its mtu metric, or the device's. */
  mtu: number;
  /** advmss metric, or mtu − 40 (IPv4) / − 60 (IPv6). */
  mss: number;
  /** Smallest MTU on the local chain (device, veth peer, parent, bridge ports, tunnel underlay − overhead). */
  chainMtu: number;
  /** Where that smallest MTU is. */
  chainAt: Place;
  /** Encapsulation taken off that device's MTU (a tunnel's underlay), 0 when none. */
  chainOverhead: number;
}

export interface AuditResult {
  /** Labels of the namespaces audited. */
  scope: string[];
  findings: Finding[];
  routes: RouteMss[];
  problems: string[];
}
