// The event lines that leave the process: `live --json`, captures, the feed
// (docs/json-contract.md). Field names and order are a contract other tools
// parse: add fields, never rename or remove one.

import type { EventFlags, PmtuEvent } from '../observer/events.js';

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
];

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
  kind: PmtuEvent['kind'];
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
  reason?: string;
  mtuIface?: string;
  mtuNetns?: string;
  vlan?: number;
  inner?: InnerJson;
  flags: string[];
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
}

/** What the correlator consumes: the kernel's event lines plus the route lookups a session adds. */
export type CorrelatorEvent = EventJson | RouteEventJson;
