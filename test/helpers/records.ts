// Builds struct pmtu_event records (bpf/events.h) byte by byte, at the
// offsets that header documents. Deliberately independent of
// src/observer/decode.ts: the numbers below come from the C struct, so a
// decoder that drifts from the header fails its tests.

/** sizeof(struct pmtu_event) */
export const RECORD_BYTES = 520;
/** PMTU_SNAP_LEN */
export const SNAP_BYTES = 256;

/** enum pmtu_kind */
export const KIND = { ptb: 1, ptbSent: 2, drop: 3, syn: 4, retransmit: 5, size: 6 } as const;
/** enum pmtu_dir */
export const DIR = { none: 0, ingress: 1, egress: 2 } as const;
/** enum pmtu_flags */
export const F = { df: 1, gso: 2, icmpErr: 4, oversize: 8, synack: 16, innerTrunc: 32, local: 64, quoteMismatch: 128 } as const;
/** enum pmtu_flow_flags */
export const FS = { known: 1, reported: 2, syn: 4, synack: 8, synFromOther: 16 } as const;
/** enum pmtu_encap_type */
export const ENCAP = { ipip: 1, sit: 2, ip6ip6: 3, ip4ip6: 4, gre: 5, gretap: 6, vxlan: 7, geneve: 8 } as const;

export interface FlowSpec {
  /** 4, 6, or 0 (absent). */
  family: number;
  /** Dotted IPv4, or IPv6 written out as all eight groups (no '::'). */
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  proto?: number;
  len?: number;
}

export interface RecordSpec {
  kind: number;
  dir?: number;
  flags?: number;
  icmpType?: number;
  icmpCode?: number;
  timeouts?: number;
  snapLen?: number;
  tsNs?: bigint;
  netns?: number;
  ifindex?: number;
  mtu?: number;
  len?: number;
  reason?: number;
  mss?: number;
  vlan?: number;
  mtuIfindex?: number;
  mtuNetns?: number;
  ifname?: string;
  mtuIfname?: string;
  outer?: FlowSpec;
  inner?: FlowSpec;
  state?: StateSpec;
  encap?: EncapSpec;
  snap?: Buffer;
}

/** struct pmtu_encap */
export interface EncapSpec {
  type: number;
  family: number;
  quoted?: boolean;
  overhead?: number;
  id?: number;
  sport?: number;
  dport?: number;
  src?: string;
  dst?: string;
}

// struct pmtu_encap: type @0, family @1, quoted @2, pad0 @3, overhead @4,
// pad1 @6, id @8, sport @12, dport @14, saddr[16] @16, daddr[16] @32; 48 bytes.
function writeEncap(buf: Buffer, o: number, e: EncapSpec): void {
  buf.writeUInt8(e.type, o);
  buf.writeUInt8(e.family, o + 1);
  buf.writeUInt8(e.quoted ? 1 : 0, o + 2);
  buf.writeUInt16LE(e.overhead ?? 0, o + 4);
  buf.writeUInt32LE(e.id ?? 0, o + 8);
  buf.writeUInt16LE(e.sport ?? 0, o + 12);
  buf.writeUInt16LE(e.dport ?? 0, o + 14);
  if (e.src) addrBytes(e.src).copy(buf, o + 16);
  if (e.dst) addrBytes(e.dst).copy(buf, o + 32);
}

/** struct pmtu_flow_state */
export interface StateSpec {
  firstNs?: bigint;
  lastNs?: bigint;
  /** [SYN, SYN-ACK] */
  mssFirst?: [number, number];
  mssLast?: [number, number];
  mssFirstIfindex?: [number, number];
  mssLastIfindex?: [number, number];
  largest?: [number, number];
  minMtu?: number;
  flags: number;
  minMtuIfindex?: number;
}

// struct pmtu_flow_state: first_ns @0, last_ns @8, mss_first[2] @16,
// mss_last[2] @20, mss_first_ifindex[2] @24, mss_last_ifindex[2] @32,
// largest[2] @40, min_mtu @44, flags @46, pad0 @47, min_mtu_ifindex @48,
// pad1 @52; 56 bytes.
function writeState(buf: Buffer, o: number, s: StateSpec): void {
  buf.writeBigUInt64LE(s.firstNs ?? 0n, o);
  buf.writeBigUInt64LE(s.lastNs ?? 0n, o + 8);
  for (let i = 0; i < 2; i++) {
    buf.writeUInt16LE(s.mssFirst?.[i] ?? 0, o + 16 + 2 * i);
    buf.writeUInt16LE(s.mssLast?.[i] ?? 0, o + 20 + 2 * i);
    buf.writeUInt32LE(s.mssFirstIfindex?.[i] ?? 0, o + 24 + 4 * i);
    buf.writeUInt32LE(s.mssLastIfindex?.[i] ?? 0, o + 32 + 4 * i);
    buf.writeUInt16LE(s.largest?.[i] ?? 0, o + 40 + 2 * i);
  }
  buf.writeUInt16LE(s.minMtu ?? 0, o + 44);
  buf.writeUInt8(s.flags, o + 46);
  buf.writeUInt32LE(s.minMtuIfindex ?? 0, o + 48);
}

/** Address bytes in network order, without going through any '::' logic. */
export function addrBytes(addr: string): Buffer {
  if (addr.includes('.')) {
    const parts = addr.split('.').map(Number);
    if (parts.length !== 4) throw new Error(`bad IPv4 fixture address ${addr}`);
    return Buffer.from(parts);
  }
  const groups = addr.split(':');
  if (groups.length !== 8) throw new Error(`IPv6 fixture addresses are written as 8 groups: ${addr}`);
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

// struct pmtu_flow: saddr[16] @0, daddr[16] @16, sport @32, dport @34,
// proto @36, family @37, len @38; 40 bytes.
function writeFlow(buf: Buffer, o: number, f: FlowSpec): void {
  if (f.src) addrBytes(f.src).copy(buf, o + 0);
  if (f.dst) addrBytes(f.dst).copy(buf, o + 16);
  buf.writeUInt16LE(f.sport ?? 0, o + 32);
  buf.writeUInt16LE(f.dport ?? 0, o + 34);
  buf.writeUInt8(f.proto ?? 0, o + 36);
  buf.writeUInt8(f.family, o + 37);
  buf.writeUInt16LE(f.len ?? 0, o + 38);
}

/** One 520-byte record, little-endian as on x86-64 and arm64. */
export function record(r: RecordSpec): Buffer {
  const b = Buffer.alloc(RECORD_BYTES);
  b.writeUInt8(r.kind, 0);
  b.writeUInt8(r.dir ?? 0, 1);
  b.writeUInt8(r.flags ?? 0, 2);
  b.writeUInt8(r.icmpType ?? 0, 3);
  b.writeUInt8(r.icmpCode ?? 0, 4);
  b.writeUInt8(r.timeouts ?? 0, 5);
  b.writeUInt16LE(r.snapLen ?? r.snap?.length ?? 0, 6);
  b.writeBigUInt64LE(r.tsNs ?? 0n, 8);
  b.writeUInt32LE(r.netns ?? 0, 16);
  b.writeUInt32LE(r.ifindex ?? 0, 20);
  b.writeUInt32LE(r.mtu ?? 0, 24);
  b.writeUInt32LE(r.len ?? 0, 28);
  b.writeUInt32LE(r.reason ?? 0, 32);
  b.writeUInt16LE(r.mss ?? 0, 36);
  b.writeUInt16LE(r.vlan ?? 0, 38);
  b.writeUInt32LE(r.mtuIfindex ?? 0, 40);
  b.writeUInt32LE(r.mtuNetns ?? 0, 44);
  b.write(r.ifname ?? '', 48, 16, 'latin1');
  b.write(r.mtuIfname ?? '', 64, 16, 'latin1');
  if (r.outer) writeFlow(b, 80, r.outer);
  if (r.inner) writeFlow(b, 120, r.inner);
  if (r.state) writeState(b, 160, r.state);
  if (r.encap) writeEncap(b, 216, r.encap);
  r.snap?.copy(b, 264, 0, Math.min(r.snap.length, SNAP_BYTES));
  return b;
}

/** Records back to back, as the addon hands them over. */
export function batch(...records: RecordSpec[]): Buffer {
  return Buffer.concat(records.map(record));
}

/** The observer's own namespace in the fake addon's tests (the initial one's inode). */
export const OWN_NETNS = 4026531840;

/** A router's frag-needed (MTU 1400) arriving on eth0, quoting 198.18.0.2:40000 -> 198.18.3.2:443. */
export const PTB_ON_ETH0: RecordSpec = {
  kind: KIND.ptb,
  dir: DIR.ingress,
  flags: F.df | F.icmpErr,
  tsNs: 1_000_000_000n,
  netns: OWN_NETNS,
  ifindex: 2,
  ifname: 'eth0',
  mtu: 1400,
  len: 576,
  outer: { family: 4, src: '198.18.1.1', dst: '198.18.0.2', proto: 1, len: 576 },
  inner: { family: 4, src: '198.18.0.2', dst: '198.18.3.2', sport: 40000, dport: 443, proto: 6, len: 1500 },
};

/** A 9000-byte frame dropped at layer 2 by a 1500-byte device (a bridge port). */
export const OVERSIZE_DROP: RecordSpec = {
  kind: KIND.drop,
  flags: F.oversize,
  tsNs: 1_000_500_000n,
  netns: OWN_NETNS,
  ifindex: 2,
  mtu: 1500,
  len: 9000,
  reason: 2,
  outer: { family: 4, src: '10.0.0.1', dst: '10.0.0.2', sport: 5201, dport: 40000, proto: 6, len: 9000 },
};
