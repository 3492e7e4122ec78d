// The `live --json` line of an event: a contract other tools parse
// (docs/json-contract.md). Keep field names and order stable.

import type { EventFlags, Flow, PmtuEvent } from './events.js';
import type { DropReasons, IfaceNames, NetnsNames } from './names.js';

export interface Namers {
  netns: NetnsNames;
  ifaces: IfaceNames;
  reasons: DropReasons;
  /** Unix epoch milliseconds at kernel monotonic time 0. */
  epochOffsetMs: number;
}

const PROTO_NAMES: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 58: 'icmpv6', 132: 'sctp' };

export function protoName(proto: number): string | number {
  return PROTO_NAMES[proto] ?? proto;
}

const FLAG_NAMES: [keyof EventFlags, string][] = [
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

/** Kernel monotonic ns → Unix epoch ms, microsecond precision. */
export function epochMs(tsNs: bigint, epochOffsetMs: number): number {
  // In whole microseconds first: adding doubles at millisecond scale would round the last digit.
  const us = Number(tsNs / 1000n) + Math.round(epochOffsetMs * 1000);
  return us / 1000;
}

function inner(f: Flow): InnerJson {
  return { src: f.src, dst: f.dst, sport: f.sport, dport: f.dport, proto: protoName(f.proto), len: f.len };
}

export function eventJson(ev: PmtuEvent, n: Namers): EventJson {
  const out: Omit<EventJson, 'flags'> & { flags?: string[] } = {
    type: 'event',
    kind: ev.kind,
    ts: epochMs(ev.tsNs, n.epochOffsetMs),
    netns: n.netns.name(ev.netnsInode),
    iface: n.ifaces.name(ev.netnsInode, ev.ifindex, ev.ifname),
    dir: ev.dir,
  };
  if (ev.outer) {
    out.src = ev.outer.src;
    out.dst = ev.outer.dst;
    out.sport = ev.outer.sport;
    out.dport = ev.outer.dport;
    out.proto = protoName(ev.outer.proto);
  } else if (ev.kind === 'ptb-sent' && ev.inner) {
    out.dst = ev.inner.src; // a generated PTB goes back to the sender it quotes
  }
  if (ev.mtu) out.mtu = ev.mtu;
  if (ev.len) out.len = ev.len;
  if (ev.kind === 'syn' || ev.kind === 'retransmit') out.mss = ev.mss;
  if (ev.kind === 'drop') out.reason = n.reasons.name(ev.reason);
  if (ev.mtuIfindex && (ev.mtuIfindex !== ev.ifindex || ev.mtuNetnsInode !== ev.netnsInode)) {
    out.mtuIface = n.ifaces.name(ev.mtuNetnsInode, ev.mtuIfindex, ev.mtuIfname);
    if (ev.mtuNetnsInode !== ev.netnsInode) out.mtuNetns = n.netns.name(ev.mtuNetnsInode);
  }
  if (ev.vlan) out.vlan = ev.vlan;
  if (ev.inner) out.inner = inner(ev.inner);
  const flags: string[] = [];
  for (const [key, name] of FLAG_NAMES) if (ev.flags[key]) flags.push(name);
  out.flags = flags; // last, as in the contract (assigned, not spread: a spread copy is a slow path in V8)
  return out as EventJson;
}
