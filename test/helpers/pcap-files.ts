// Builds pcap and pcapng byte streams as tcpdump, dumpcap and others write
// them (either byte order), and the link headers in front of an IP packet
// (packets.ts builds those): Ethernet with any tags, Linux cooked SLL and
// SLL2, BSD loopback. For src/capture/foreign.ts's tests.

export type Endian = 'le' | 'be';

function u16(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(2);
  if (e === 'le') b.writeUInt16LE(v);
  else b.writeUInt16BE(v);
  return b;
}

function u32(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(4);
  if (e === 'le') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

function u64(v: bigint, e: Endian): Buffer {
  const b = Buffer.alloc(8);
  if (e === 'le') b.writeBigUInt64LE(BigInt.asUintN(64, v));
  else b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return b;
}

const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

// --- classic pcap ----------------------------------------------------------

export interface PcapRecord {
  /** Seconds and the fraction (microseconds, or nanoseconds in a nano file). */
  sec: number;
  frac: number;
  data: Buffer;
  /** Default: data.length. */
  origLen?: number;
}

export interface PcapOptions {
  linkType: number;
  endian?: Endian;
  nano?: boolean;
  snaplen?: number;
}

export function pcapHeader(o: PcapOptions): Buffer {
  const e = o.endian ?? 'le';
  return Buffer.concat([
    u32(o.nano ? 0xa1b23c4d : 0xa1b2c3d4, e),
    u16(2, e),
    u16(4, e),
    u32(0, e), // thiszone
    u32(0, e), // sigfigs
    u32(o.snaplen ?? 262144, e),
    u32(o.linkType, e),
  ]);
}

export function pcapRecord(r: PcapRecord, endian: Endian = 'le'): Buffer {
  return Buffer.concat([u32(r.sec, endian), u32(r.frac, endian), u32(r.data.length, endian), u32(r.origLen ?? r.data.length, endian), r.data]);
}

export function pcap(o: PcapOptions, records: PcapRecord[]): Buffer {
  return Buffer.concat([pcapHeader(o), ...records.map((r) => pcapRecord(r, o.endian ?? 'le'))]);
}

// --- pcapng ----------------------------------------------------------------

export type Option = [code: number, value: Buffer];

export function options(opts: Option[], e: Endian): Buffer {
  if (opts.length === 0) return Buffer.alloc(0);
  return Buffer.concat([...opts.flatMap(([code, v]) => [u16(code, e), u16(v.length, e), v, pad4(v.length)]), Buffer.alloc(4)]);
}

export function block(type: number, body: Buffer, e: Endian): Buffer {
  const len = 12 + body.length + pad4(body.length).length;
  return Buffer.concat([u32(type, e), u32(len, e), body, pad4(body.length), u32(len, e)]);
}

export function shb(e: Endian = 'le', opts: Option[] = []): Buffer {
  return block(0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d, e), u16(1, e), u16(0, e), u64(-1n, e), options(opts, e)]), e);
}

export interface IdbOptions {
  linkType: number;
  name?: string;
  /** if_tsresol's byte: n for 10^-n, 0x80 | n for 2^-n. Absent: microseconds. */
  tsresol?: number;
  /** if_tsoffset, seconds. */
  tsoffset?: bigint;
  snaplen?: number;
}

export function idb(o: IdbOptions, e: Endian = 'le'): Buffer {
  const opts: Option[] = [];
  if (o.name !== undefined) opts.push([2, Buffer.from(o.name)]);
  if (o.tsresol !== undefined) opts.push([9, Buffer.from([o.tsresol])]);
  if (o.tsoffset !== undefined) opts.push([14, u64(o.tsoffset, e)]);
  return block(1, Buffer.concat([u16(o.linkType, e), u16(0, e), u32(o.snaplen ?? 262144, e), options(opts, e)]), e);
}

export interface EpbOptions {
  ifId?: number;
  /** The timestamp in the interface's units. */
  ts: bigint;
  data: Buffer;
  origLen?: number;
  /** epb_flags: 1 inbound, 2 outbound. */
  flags?: number;
  comment?: string;
}

export function epb(o: EpbOptions, e: Endian = 'le'): Buffer {
  const opts: Option[] = [];
  if (o.comment !== undefined) opts.push([1, Buffer.from(o.comment)]);
  if (o.flags !== undefined) opts.push([2, u32(o.flags, e)]);
  return block(
    6,
    Buffer.concat([
      u32(o.ifId ?? 0, e),
      u32(Number(o.ts >> 32n), e),
      u32(Number(o.ts & 0xffffffffn), e),
      u32(o.data.length, e),
      u32(o.origLen ?? o.data.length, e),
      o.data,
      pad4(o.data.length),
      options(opts, e),
    ]),
    e,
  );
}

/** The obsolete Packet Block (type 2): a 16-bit interface id and drop count, pack_flags for the direction. */
export function pb(o: EpbOptions, e: Endian = 'le'): Buffer {
  const opts: Option[] = o.flags !== undefined ? [[2, u32(o.flags, e)]] : [];
  return block(
    2,
    Buffer.concat([
      u16(o.ifId ?? 0, e),
      u16(0, e),
      u32(Number(o.ts >> 32n), e),
      u32(Number(o.ts & 0xffffffffn), e),
      u32(o.data.length, e),
      u32(o.origLen ?? o.data.length, e),
      o.data,
      pad4(o.data.length),
      options(opts, e),
    ]),
    e,
  );
}

/** Simple Packet Block: the original length and the data, on interface 0, no timestamp. */
export function spb(data: Buffer, origLen = data.length, e: Endian = 'le'): Buffer {
  return block(3, Buffer.concat([u32(origLen, e), data]), e);
}

/** An Interface Statistics Block (type 5), which readers skip. */
export function isb(ifId: number, e: Endian = 'le'): Buffer {
  return block(5, Buffer.concat([u32(ifId, e), u32(0, e), u32(0, e)]), e);
}

// --- link headers ----------------------------------------------------------

const SRC_MAC = Buffer.from([0x02, 0, 0, 0, 0, 1]);
const DST_MAC = Buffer.from([0x02, 0, 0, 0, 0, 2]);

function etherType(packet: Buffer): number {
  return packet[0]! >> 4 === 6 ? 0x86dd : 0x0800;
}

/** Ethernet with the given tags, outermost first: [tpid, vid] (0x8100, 0x88a8, 0x9100). */
export function ethernet(packet: Buffer, tags: [tpid: number, vid: number][] = [], type = etherType(packet)): Buffer {
  const parts: Buffer[] = [DST_MAC, SRC_MAC];
  for (const [tpid, vid] of tags) parts.push(u16(tpid, 'be'), u16(vid & 0xfff, 'be'));
  parts.push(u16(type, 'be'), packet);
  return Buffer.concat(parts);
}

/** An ARP request frame: not IP. */
export function arpFrame(): Buffer {
  const arp = Buffer.from('0001080006040001020000000001c6120001000000000000c6120002', 'hex');
  return Buffer.concat([Buffer.alloc(6, 0xff), SRC_MAC, u16(0x0806, 'be'), arp]);
}

/** Linux cooked v1 (16 bytes): packet type, ARPHRD_ETHER, the source address, the protocol. */
export function sll(packet: Buffer, pkttype: number, type = etherType(packet)): Buffer {
  return Buffer.concat([u16(pkttype, 'be'), u16(1, 'be'), u16(6, 'be'), SRC_MAC, Buffer.alloc(2), u16(type, 'be'), packet]);
}

/** Linux cooked v2 (20 bytes): protocol, reserved, ifindex, ARPHRD_ETHER, packet type, address length, address. */
export function sll2(packet: Buffer, pkttype: number, ifindex: number, type = etherType(packet)): Buffer {
  return Buffer.concat([u16(type, 'be'), Buffer.alloc(2), u32(ifindex, 'be'), u16(1, 'be'), Buffer.from([pkttype, 6]), SRC_MAC, Buffer.alloc(2), packet]);
}

/** BSD loopback: the address family, in the writer's byte order (NULL) or network order (LOOP: pass 'be'). */
export function nullLink(packet: Buffer, af: number, e: Endian = 'le'): Buffer {
  return Buffer.concat([u32(af, e), packet]);
}
