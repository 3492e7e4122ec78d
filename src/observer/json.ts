// A decoded kernel event as its `live --json` line (the shape is in
// contract/event.ts): names for its numbers, epoch time for its clock.

import { FLAG_NAMES, protoName, type EncapJson, type EventJson, type FlowStateJson, type InnerJson, type MssSeenJson } from '../contract/event.js';
import { EVENT_FLAGS, RecordEvent } from './decode.js';
import type { Encap, EventFlags, Flow, FlowState, MssSeen, PmtuEvent } from './events.js';
import type { NetnsInfoJson } from '../contract/netns.js';
import type { DropReasons, IfaceNames, NetnsNames } from './names.js';

export interface Namers {
  netns: NetnsNames;
  ifaces: IfaceNames;
  reasons: DropReasons;
  /** Unix epoch milliseconds at kernel monotonic time 0. */
  epochOffsetMs: number;
}

/** Kernel monotonic ns → Unix epoch ms, microsecond precision. */
export function epochMs(tsNs: bigint, epochOffsetMs: number): number {
  // In whole microseconds first: adding doubles at millisecond scale would round the last digit.
  return epochMsOfUs(Number(tsNs / 1000n), epochOffsetMs);
}

/** Whole microseconds (tsNs / 1000) → Unix epoch ms: the arithmetic of epochMs, for a decoder that divided already. */
export function epochMsOfUs(us: number, epochOffsetMs: number): number {
  return (us + Math.round(epochOffsetMs * 1000)) / 1000;
}

function flagList(f: Readonly<EventFlags>): readonly string[] {
  const flags: string[] = [];
  for (const [key, name] of FLAG_NAMES) if (f[key]) flags.push(name);
  return Object.freeze(flags);
}

/**
 * The flags' names per flags byte, made once and shared (frozen, like the
 * unknown flow state) instead of one array per event.
 */
const FLAG_LISTS: readonly (readonly string[])[] = EVENT_FLAGS.map(flagList);

/** A quoted flow as event lines carry it (`inner`). */
export function inner(f: Flow): InnerJson {
  return { src: f.src, dst: f.dst, sport: f.sport, dport: f.dport, proto: protoName(f.proto), len: f.len };
}

/** A tunnel as event lines carry it (`encap`). */
export function encapJson(e: Encap): EncapJson {
  const out: EncapJson = { type: e.type, src: e.src, dst: e.dst, overhead: e.overhead };
  if (e.id) out.id = e.id;
  if (e.dport) {
    out.sport = e.sport;
    out.dport = e.dport;
  }
  if (e.quoted) out.quoted = true;
  return out;
}

const UNKNOWN_FLOW_JSON: FlowStateJson = Object.freeze({ known: false });

function mssSeen(m: MssSeen, netnsInode: number, n: Namers): MssSeenJson {
  return { first: m.first, firstIface: n.ifaces.name(netnsInode, m.firstIfindex, ''), last: m.last, lastIface: n.ifaces.name(netnsInode, m.lastIfindex, '') };
}

function flowStateJson(ev: PmtuEvent, netnsInode: number, n: Namers): FlowStateJson {
  // A RecordEvent says whether it is known without decoding its state.
  if (ev instanceof RecordEvent ? !ev.known : !ev.state.known) return UNKNOWN_FLOW_JSON;
  const s = ev.state;
  const out: FlowStateJson = { known: true, since: epochMs(s.firstNs, n.epochOffsetMs), initiator: s.initiator };
  if (s.syn) out.syn = mssSeen(s.syn, netnsInode, n);
  if (s.synAck) out.synAck = mssSeen(s.synAck, netnsInode, n);
  out.largest = { fwd: s.largest[0], rev: s.largest[1] };
  if (s.minMtu) out.minMtu = { mtu: s.minMtu, iface: n.ifaces.name(netnsInode, s.minMtuIfindex, '') };
  return out;
}

/**
 * The line of a PTB with its packet and its quote and nothing more (nearly
 * every line of a PTB flood), made in one literal with eventJson's fields in
 * eventJson's order: the general path adds fields one by one, and the object
 * grows each time. Undefined for any other PTB.
 */
function ptbLine(ev: RecordEvent, n: Namers, memo: NetnsMemo | undefined): EventJson | undefined {
  const outer = ev.outer;
  const quoted = ev.inner;
  const mtu = ev.mtu;
  const len = ev.len;
  if (!outer || !quoted || !mtu || !len || ev.vlan || ev.encapped || (ev.mtuIfindex && (ev.mtuIfindex !== ev.ifindex || ev.mtuNetnsInode !== ev.netnsInode))) return undefined;
  if (netnsInfo(n, ev.netnsInode, memo)) return undefined; // a container's: the line has its netnsInfo
  return {
    type: 'event',
    kind: 'ptb',
    ts: epochMsOfUs(ev.tsUs, n.epochOffsetMs),
    netns: netnsName(n, ev.netnsInode, memo),
    iface: n.ifaces.name(ev.netnsInode, ev.ifindex, ev.ifname),
    dir: ev.dir,
    src: outer.src,
    dst: outer.dst,
    sport: outer.sport,
    dport: outer.dport,
    proto: protoName(outer.proto),
    mtu,
    len,
    inner: inner(quoted),
    flow: flowStateJson(ev, ev.netnsInode, n),
    flags: FLAG_LISTS[ev.flagBits] as string[],
  };
}

/**
 * The namespace name of the last inode named, for the events of one batch
 * (handed to eventJson by whoever names a batch): a batch names the same
 * namespace over and over, and one that has no name (a container's) would
 * otherwise cost a clock read and a new "netns:INODE" string per event.
 * Names are then looked up once per run of events from one namespace.
 */
export interface NetnsMemo {
  inode: number;
  name: string;
  info: NetnsInfoJson | undefined;
}

export function newNetnsMemo(): NetnsMemo {
  return { inode: -1, name: '', info: undefined };
}

function remember(n: Namers, inode: number, memo: NetnsMemo): void {
  if (memo.inode !== inode) {
    memo.name = n.netns.name(inode);
    memo.info = n.netns.info(inode);
    memo.inode = inode;
  }
}

function netnsName(n: Namers, inode: number, memo: NetnsMemo | undefined): string {
  if (!memo) return n.netns.name(inode);
  remember(n, inode, memo);
  return memo.name;
}

/** Who holds a container's or a process's namespace (undefined for the host's and named ones). */
function netnsInfo(n: Namers, inode: number, memo: NetnsMemo | undefined): NetnsInfoJson | undefined {
  if (!memo) return n.netns.info(inode);
  remember(n, inode, memo);
  return memo.info;
}

export function eventJson(ev: PmtuEvent, n: Namers, memo?: NetnsMemo): EventJson {
  const record = ev instanceof RecordEvent ? ev : undefined;
  if (record && ev.kind === 'ptb') {
    const line = ptbLine(record, n, memo);
    if (line) return line;
  }
  const out: Omit<EventJson, 'flags'> & { flags?: readonly string[] } = {
    type: 'event',
    kind: ev.kind,
    ts: record ? epochMsOfUs(record.tsUs, n.epochOffsetMs) : epochMs(ev.tsNs, n.epochOffsetMs),
    netns: netnsName(n, ev.netnsInode, memo),
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
  if (ev.kind === 'retransmit') out.timeouts = ev.timeouts;
  if (ev.kind === 'drop') out.reason = n.reasons.name(ev.reason);
  if (ev.mtuIfindex && (ev.mtuIfindex !== ev.ifindex || ev.mtuNetnsInode !== ev.netnsInode)) {
    out.mtuIface = n.ifaces.name(ev.mtuNetnsInode, ev.mtuIfindex, ev.mtuIfname);
    if (ev.mtuNetnsInode !== ev.netnsInode) out.mtuNetns = netnsName(n, ev.mtuNetnsInode, memo);
  }
  if (ev.vlan) out.vlan = ev.vlan;
  if (ev.inner) out.inner = inner(ev.inner);
  if (ev.encap) out.encap = encapJson(ev.encap);
  out.flow = flowStateJson(ev, ev.netnsInode, n);
  const info = netnsInfo(n, ev.netnsInode, memo);
  if (info) out.netnsInfo = info;
  // Last, as in the contract (assigned, not spread: a spread copy is a slow path in V8).
  out.flags = record ? FLAG_LISTS[record.flagBits]! : flagList(ev.flags);
  return out as EventJson;
}
