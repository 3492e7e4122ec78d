// The event lines that leave the process: `live --json`, captures, the feed
// (docs/json-contract.md). Field names and order are a contract other tools
// parse: add fields, never rename or remove one.

import type { EncapType, EventFlags, PmtuEvent } from '../observer/events.js';
import type { NetnsInfoJson } from './netns.js';

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };

/** An IP protocol number as the contract names it (the number itself when it has no name here). */
export function protoName(proto: number): string | number {
  return PROTO_NAMES[proto] ?? proto;
}

/** The decoded event's flags and their names in `flags`, in the contract's order. */
export const FLAG_NAMES: readonly (readonly [keyof EventFlags, string])[] = [
  ['df', 'df'],
  ['gso', 'gso'],
  ['icmpError', 'icmp-error'],
  ['oversize', 'oversize'],
  ['synAck', 'synack'],
  ['innerTruncated', 'inner-truncated'],
  ['local', 'local'],
  ['quoteMismatch', 'quote-mismatch'],
];

/** The tunnel types by their kernel value less one (bpf/events.h enum pmtu_encap_type). */
export const ENCAP_TYPE_NAMES: readonly EncapType[] = ['ipip', 'sit', 'ip6ip6', 'ip4ip6', 'gre', 'gretap', 'vxlan', 'geneve'];

/**
 * The tunnel around an event's subject flow (0.4 on): its own tunnel (the
 * event's src, dst, ports and len are the packet inside it), or, `quoted`,
 * the tunnel packet an ICMP error quotes (its `inner` is the flow inside).
 */
export interface EncapJson {
  type: EncapType;
  /** The tunnel's endpoints. */
  src: string;
  dst: string;
  /** Bytes of tunnel headers before the inner IP header: the wire carries len + overhead. */
  overhead: number;
  /** VXLAN / Geneve VNI, GRE key (absent when none). */
  id?: number;
  /** A UDP tunnel's own ports (VXLAN, Geneve; absent for the others). */
  sport?: number;
  dport?: number;
  /** Present (true) when the tunnel is the one an ICMP error quotes. */
  quoted?: true;
}

export interface InnerJson {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: string | number;
  len: number;
}

export interface EventJson {
  type: 'event';
  /** The kernel's kinds, and `lost` (0.4 on): what analyze sees between two capture points. */
  kind: PmtuEvent['kind'] | 'lost';
  ts: number;
  netns: string;
  iface: string;
  dir: PmtuEvent['dir'];
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: string | number;
  mtu?: number;
  len?: number;
  mss?: number;
  /** retransmit: retransmission timeouts in a row so far (0.2 on). */
  timeouts?: number;
  reason?: string;
  mtuIface?: string;
  mtuNetns?: string;
  vlan?: number;
  inner?: InnerJson;
  encap?: EncapJson;
  /** kind `lost`: the capture point downstream they never reached, and what passed (0.4 on). */
  lost?: LostJson;
  /** The kernel's flow table's state of the subject flow in this namespace (events from 0.2 on). */
  flow?: FlowStateJson;
  /** Who holds the namespace, when it is a container's or a process's (0.3 on): kind, name, id, pod, pid. */
  netnsInfo?: NetnsInfoJson;
  flags: string[];
}

/**
 * A `lost` event's account of one flow direction between two capture points
 * (analyze, 0.4 on): packets the event's point (`netns`) saw that never reached
 * this one within a second, while it saw the flow's other packets that way.
 * Counts are of the flow direction so far; they only grow.
 */
export interface LostJson {
  /** The capture point downstream. */
  netns: string;
  iface: string;
  /** Packets lost between the two, their smallest and largest IP length, how many of them DF. */
  count: number;
  smallest: number;
  largest: number;
  df: number;
  /** Packets of the flow direction seen at both, and the largest of them (0: none). */
  passed: number;
  passedLargest: number;
}

/** A SYN's (or SYN-ACK's) MSS where first and where last seen in the namespace: they differ when a hop rewrote it. */
export interface MssSeenJson {
  first: number;
  firstIface: string;
  last: number;
  lastIface: string;
}

/**
 * What the kernel knew of the event's subject flow (the packet's own, or the
 * one an ICMP error quotes) in the event's namespace when the event happened.
 * `fwd` is the subject's src -> dst, `rev` the other way.
 */
export interface FlowStateJson {
  /** False: no hook in this namespace saw the flow (or the table forgot it); nothing else is said. */
  known: boolean;
  /** When the namespace first saw the flow (Unix epoch ms). */
  since?: number;
  /** Who sent the SYN: the subject's src or dst; null when no SYN was seen. */
  initiator?: 'src' | 'dst' | null;
  syn?: MssSeenJson;
  synAck?: MssSeenJson;
  /** Largest DF packet per direction (bytes, one segment's size), 0 when none. */
  largest?: { fwd: number; rev: number };
  /** Smallest MTU of the hooks the flow crossed here. */
  minMtu?: { mtu: number; iface: string };
}

/** After a PTB reached a host: did its kernel cache the MTU for that destination? */
export interface RouteEventJson {
  type: 'event';
  kind: 'route';
  ts: number;
  netns: string;
  /** The destination looked up (the flow's far end). */
  dst: string;
  /** The flow the PTB quoted. */
  inner: { src: string; dst: string; sport: number; dport: number; proto: string | number };
  /** The cached path MTU, 0 when the route has none. */
  mtu: number;
  /** The PTB's advertised MTU this lookup checks against. */
  expected: number;
  learned: boolean;
  /**
   * How it is known (0.4 on): absent, the sender's kernel was asked (rtnetlink, after the PTB);
   * `capture`, a capture showed the sender resending within the PTB's MTU, or the segment acknowledged.
   */
  from?: 'capture';
}

/**
 * An interface being watched changed (0.3 on): its MTU (old -> new), its
 * master (left or joined a bridge), down or up, or it was added or removed in
 * a namespace being watched. From the observer's look at the links.
 */
export interface LinkEventJson {
  type: 'event';
  kind: 'link';
  ts: number;
  netns: string;
  iface: string;
  /** What changed: `mtu`, `master`, `up`, `down`, `name`, `added`, `removed`. */
  changes: string[];
  /** The MTU now (for `removed`: the last one). */
  mtu: number;
  /** The bridge (or bond) it is in now, '' when none. */
  master: string;
  up: boolean;
  /** The values before, for what changed. */
  was?: { mtu?: number; master?: string };
}

/** What the correlator consumes: the kernel's event lines plus the route lookups a session adds. */
export type CorrelatorEvent = EventJson | RouteEventJson;

/** What a session carries to its sinks and captures: those, and link changes. */
export type StreamEvent = CorrelatorEvent | LinkEventJson;
