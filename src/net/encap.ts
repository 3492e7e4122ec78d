// Header and tunnel arithmetic, in one place for the correlator (what a
// packet seen in a tunnel needs on the wire, what MSS fits) and audit (what a
// tunnel device adds to its underlay): one table of overheads.

import type { EncapType } from '../observer/events.js';

export type Family = 4 | 6;

/** IP + TCP headers without options: what an MSS leaves out of an MTU. */
export const TCP_IP_HEADERS: Readonly<Record<Family, number>> = { 4: 40, 6: 60 };

/** An IP header without options (IPv4) or extension headers (IPv6). */
export function ipHeader(family: Family): number {
  return family === 4 ? 20 : 40;
}

/** The MSS whose segments just fit an MTU (no tunnel). */
export function mssFor(mtu: number, family: Family): number {
  return mtu - TCP_IP_HEADERS[family];
}

/** Bytes a segment of `mss` takes on a link, inside `overhead` bytes of tunnel headers (0: none). */
export function segmentOnWire(mss: number, family: Family, overhead = 0): number {
  return mss + TCP_IP_HEADERS[family] + overhead;
}

/** The largest MSS whose segments fit `mtu` inside `overhead` bytes of tunnel headers. */
export function mssThrough(mtu: number, family: Family, overhead: number): number {
  return mtu - overhead - TCP_IP_HEADERS[family];
}

/** How a person names each tunnel. */
export const ENCAP_NAMES: Readonly<Record<EncapType, string>> = {
  ipip: 'IPIP',
  sit: 'IPv6-in-IPv4 (sit)',
  ip6ip6: 'IP6IP6',
  ip4ip6: 'IPv4-in-IPv6',
  gre: 'GRE',
  gretap: 'GRETAP',
  vxlan: 'VXLAN',
  geneve: 'Geneve',
};

/**
 * What each tunnel puts between its own IP header and the inner IP header
 * when nothing optional is configured: GRE's 4 bytes (a checksum, key or
 * sequence number adds 4 each), VXLAN's and Geneve's UDP header, their own
 * 8 bytes (Geneve options come on top) and the inner Ethernet header.
 */
const AFTER_IP: Readonly<Record<EncapType, number>> = {
  ipip: 0,
  sit: 0,
  ip6ip6: 0,
  ip4ip6: 0,
  gre: 4,
  gretap: 4 + 14,
  vxlan: 8 + 8 + 14,
  geneve: 8 + 8 + 14,
};

/** The tunnel's own IP version, where its type says it. */
const OUTER_FAMILY: Partial<Record<EncapType, Family>> = { ipip: 4, sit: 4, ip6ip6: 6, ip4ip6: 6 };

/** A tunnel's bytes in front of the inner IP header: its IP header, its own headers, `extra` (options). */
export function encapOverhead(type: EncapType, outerFamily: Family = OUTER_FAMILY[type] ?? 4, extra = 0): number {
  return ipHeader(outerFamily) + AFTER_IP[type] + extra;
}

/** The UDP destination ports tunnels are known by: bpf/common.bpf.h is_tunnel_port(). */
export const UDP_TUNNEL_PORTS: Readonly<Record<number, EncapType>> = { 4789: 'vxlan', 8472: 'vxlan', 6081: 'geneve' };

/** The tunnel a UDP flow is by its ports (events before 0.4 carried no `encap`). */
export function udpTunnel(sport: number, dport: number): EncapType | undefined {
  return UDP_TUNNEL_PORTS[dport] ?? UDP_TUNNEL_PORTS[sport];
}

/** The IP protocol of a tunnel's own packets (UDP for VXLAN and Geneve). */
export function tunnelProto(type: EncapType): number {
  switch (type) {
    case 'ipip':
    case 'ip4ip6':
      return 4;
    case 'sit':
    case 'ip6ip6':
      return 41;
    case 'gre':
    case 'gretap':
      return 47;
    default:
      return 17;
  }
}

/**
 * The tunnel a flow is by its protocol (IPIP, sit, ip6ip6, ip4ip6, GRE) or
 * its UDP ports (VXLAN, Geneve): for flows of tunnels' own packets, which
 * events name as such when they carry no `encap` (before 0.4, or the tunnel's
 * own flow the correlator makes of a drop inside a tunnel).
 */
export function tunnelOfFlow(proto: string | number, family: Family, sport: number, dport: number): EncapType | undefined {
  if (proto === 'udp' || proto === 17) return udpTunnel(sport, dport);
  if (proto === 4) return family === 4 ? 'ipip' : 'ip4ip6';
  if (proto === 41) return family === 4 ? 'sit' : 'ip6ip6';
  if (proto === 47) return 'gre';
  return undefined;
}

// ---------------------------------------------------------------------------
// Tunnel devices (audit): what a device of a kind adds to every packet.

/** The parts of a link audit reads that say what a tunnel device adds (audit/types.ts LinkInfo fits). */
export interface TunnelDevice {
  kind: string;
  tunnel?: { remote: string; local: string; greOutputFlags: number; encapLimit: number; flags: number } | undefined;
}

export interface TunnelCost {
  /** Bytes the encapsulation adds to every inner packet. */
  overhead: number;
  /** E.g. "VXLAN over IPv4". */
  what: string;
  outerFamily: Family;
}

const GRE_CSUM = 0x8000;
const GRE_KEY = 0x2000;
const GRE_SEQ = 0x1000;
const IP6_TNL_F_IGN_ENCAP_LIMIT = 0x1;

function deviceFamily(link: TunnelDevice): Family {
  const t = link.tunnel;
  if (t && (t.remote.includes(':') || t.local.includes(':'))) return 6;
  if (t && (t.remote || t.local)) return 4;
  return link.kind.startsWith('ip6') ? 6 : 4;
}

/**
 * What a tunnel device adds to each packet, counting only what is always
 * there (VXLAN and Geneve options, a GRE key, sequence or checksum, the IPv6
 * encapsulation-limit option are added when configured).
 */
export function tunnelCost(link: TunnelDevice): TunnelCost | undefined {
  const family = deviceFamily(link);
  const v = family === 4 ? 'IPv4' : 'IPv6';
  const t = link.tunnel;
  const greOptions = t ? [GRE_CSUM, GRE_KEY, GRE_SEQ].filter((f) => (t.greOutputFlags & f) !== 0).length * 4 : 0;
  // ip6tnl and ip6gre insert an 8-byte destination option unless the limit is off.
  const encapLimit = t && t.encapLimit !== 0 && (t.flags & IP6_TNL_F_IGN_ENCAP_LIMIT) === 0 ? 8 : 0;
  switch (link.kind) {
    case 'vxlan':
      return { overhead: encapOverhead('vxlan', family), what: `VXLAN over ${v}`, outerFamily: family };
    case 'geneve':
      return { overhead: encapOverhead('geneve', family), what: `Geneve over ${v}`, outerFamily: family };
    case 'gre':
      return { overhead: encapOverhead('gre', 4, greOptions), what: 'GRE over IPv4', outerFamily: 4 };
    case 'gretap':
      return { overhead: encapOverhead('gretap', 4, greOptions), what: 'GRETAP over IPv4', outerFamily: 4 };
    case 'ip6gre':
      return { overhead: encapOverhead('gre', 6, greOptions + encapLimit), what: 'GRE over IPv6', outerFamily: 6 };
    case 'ip6gretap':
      return { overhead: encapOverhead('gretap', 6, greOptions + encapLimit), what: 'GRETAP over IPv6', outerFamily: 6 };
    case 'ipip':
      return { overhead: encapOverhead('ipip'), what: 'IPIP', outerFamily: 4 };
    case 'sit':
      return { overhead: encapOverhead('sit'), what: 'IPv6 in IPv4 (sit)', outerFamily: 4 };
    case 'ip6tnl':
      return { overhead: encapOverhead('ip6ip6', 6, encapLimit), what: 'IP in IPv6 (ip6tnl)', outerFamily: 6 };
    case 'wireguard':
      // Its endpoints are not on rtnetlink (wireguard's own genetlink): count IPv4.
      // IP + UDP + its 16-byte message header + 16-byte authentication tag.
      return { overhead: ipHeader(4) + 8 + 32, what: 'WireGuard over IPv4', outerFamily: 4 };
    default:
      return undefined;
  }
}
