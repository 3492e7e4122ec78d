// Reads captures other tools made (tcpdump, tshark, dumpcap, Wireshark):
// classic pcap and pcapng, packet by packet, in bounded memory. (Our own
// format is reader.ts; pcapng.ts writes pcapng for `export`.)
//
//   pcap     both byte orders, microsecond (a1b2c3d4) and nanosecond (a1b23c4d)
//   pcapng   sections of either byte order one after another; interface
//            descriptions with if_name, if_tsresol (10^-n and 2^-n) and
//            if_tsoffset; enhanced, simple and obsolete packet blocks (with
//            epb_flags / pack_flags for the direction); other blocks skipped
//   links    EN10MB (1), LINUX_SLL (113), LINUX_SLL2 (276), RAW (101),
//            IPV4 (228), IPV6 (229), NULL (0), LOOP (108); VLAN and QinQ tags
//            (0x8100, 0x88a8, 0x9100) stripped
//
// The file is read through chunks of CHUNK bytes (a fresh buffer per chunk,
// so a packet's `l3` view stays valid after the reader moves on; keeping one
// keeps its 1 MiB chunk alive, so copy what you keep many of). A record is at
// most MAX_RECORD bytes. Frames that are not IP (ARP, LLDP, STP...) are
// counted and skipped. A file damaged part way (cut off, a bad block length,
// garbage after good records) yields the packets before the damage, and
// `stats.damage` says where and what; a file that is no pcap at all throws
// from open().

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename } from 'node:path';

import { PmtuError } from '../errors.js';
import { MAGIC as PMTUCAP_MAGIC } from './format.js';

export const LINKTYPE = {
  NULL: 0,
  EN10MB: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Names of link types a user may meet, for the error that says which one this is. */
const LINKTYPE_NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'EN10MB',
  6: 'IEEE802_5',
  9: 'PPP',
  10: 'FDDI',
  50: 'PPP_HDLC',
  51: 'PPP_ETHER',
  101: 'RAW',
  104: 'C_HDLC',
  105: 'IEEE802_11',
  108: 'LOOP',
  113: 'LINUX_SLL',
  119: 'PRISM_HEADER',
  127: 'IEEE802_11_RADIOTAP',
  187: 'BLUETOOTH_HCI_H4',
  189: 'USB_LINUX',
  192: 'PPI',
  195: 'IEEE802_15_4_WITHFCS',
  201: 'BLUETOOTH_HCI_H4_WITH_PHDR',
  209: 'IPMB_LINUX',
  215: 'IEEE802_15_4_NOFCS',
  220: 'USB_LINUX_MMAPPED',
  228: 'IPV4',
  229: 'IPV6',
  239: 'NFLOG',
  249: 'USBPCAP',
  253: 'NETLINK',
  276: 'LINUX_SLL2',
};

export function linkTypeName(linkType: number): string {
  return LINKTYPE_NAMES[linkType] ?? `link type ${linkType}`;
}

export function isSupportedLinkType(linkType: number): boolean {
  return (
    linkType === LINKTYPE.EN10MB ||
    linkType === LINKTYPE.LINUX_SLL ||
    linkType === LINKTYPE.LINUX_SLL2 ||
    linkType === LINKTYPE.RAW ||
    linkType === LINKTYPE.IPV4 ||
    linkType === LINKTYPE.IPV6 ||
    linkType === LINKTYPE.NULL ||
    linkType === LINKTYPE.LOOP
  );
}

export type Direction = 'ingress' | 'egress' | null;

/** One IP packet of a capture. */
export interface ForeignPacket {
  /** Epoch microseconds (a fraction below 1 us from finer resolutions; SPBs, which have none, carry the previous packet's). */
  tsUs: number;
  /** The pcapng interface's if_name; else the file's base name without .pcap/.pcapng/.cap. */
  iface: string;
  /** The interface's number in the file: pcapng IDBs counted from 0 across all sections; 0 in a pcap. */
  ifIndex: number;
  /** The kernel's ifindex from a LINUX_SLL2 header (`tcpdump -i any`), else 0. */
  sllIfIndex: number;
  /** The outermost VLAN tag's id (802.1Q, 802.1ad, 0x9100), 0 when untagged. */
  vlan: number;
  linkType: number;
  /** pcapng epb_flags inbound/outbound, else the SLL/SLL2 packet type (4 outgoing; 0-3 incoming), else null. */
  dir: Direction;
  /** From the IP header on (the link header and VLAN tags stripped); may end with link padding or an FCS: trust the IP length. */
  l3: Buffer;
  l3Proto: 4 | 6;
  /** The frame's length on the wire, link header included (the record's original length). */
  origLen: number;
  /** The frame's bytes in the file (capLen < origLen when the snaplen cut it). */
  capLen: number;
  /** Bytes of link header and tags before l3: the IP packet's original length is origLen - l3Offset. */
  l3Offset: number;
}

export interface ReadStats {
  format: 'pcap' | 'pcapng';
  /** IP packets yielded. */
  packets: number;
  /** Frames that are not IPv4/IPv6 (ARP, LLDP, STP, 802.3 LLC, MPLS...), skipped. */
  nonIp: number;
  /** Frames cut off before the end of their link header, skipped. */
  short: number;
  /** Packets on interfaces whose link type this reader does not know, skipped, by link type. */
  unsupported: Map<number, number>;
  /** pcapng blocks skipped (statistics, name resolution, decryption secrets, custom, unknown). */
  blocksSkipped: number;
  /** pcapng sections (Section Header Blocks); 1 for a pcap. */
  sections: number;
  /** Bytes consumed so far; the file's size. */
  offset: number;
  size: number;
  /** Where the file is damaged (cut off, a bad length, garbage): the packets before it were read. null when it read to its end. */
  damage: PmtuError | null;
  /** Whether the end of the file (or the damage) was reached. */
  done: boolean;
}

export interface OpenOptions {
  /** Bytes per read (default CHUNK); small values exercise the refill path in tests. */
  chunkSize?: number;
  /** Called after each chunk is read: bytes read so far, the file's size. */
  onProgress?: (read: number, size: number) => void;
  /** The name used in messages and as the default iface (default: the path). */
  name?: string;
}

export const CHUNK = 1024 * 1024;
/** Largest record (pcap record or pcapng block) accepted: a bound on memory, far above any snaplen. */
export const MAX_RECORD = 16 * 1024 * 1024;
/** libpcap's largest snaplen; a pcap record longer than this and the file's snaplen is damage. */
const MAX_SNAPLEN = 262144;
const MAX_TAGS = 8;

const BLOCK_SHB = 0x0a0d0d0a;
const BLOCK_IDB = 0x00000001;
const BLOCK_PB = 0x00000002;
const BLOCK_SPB = 0x00000003;
const BLOCK_EPB = 0x00000006;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

/** Random access to the bytes, read into caller-given buffers. */
interface Source {
  readInto(buf: Buffer, off: number, len: number, pos: number): number;
  size: number;
  close(): void;
}

function fileSource(path: string, name: string): Source {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new PmtuError('PMTU_ERR_CAPTURE', `cannot open ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'is the path right?');
  }
  let size: number;
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new PmtuError('PMTU_ERR_CAPTURE', `${name} is a directory, not a capture`);
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    readInto(buf, off, len, pos) {
      let got = 0;
      try {
        while (got < len) {
          const n = readSync(fd, buf, off + got, len - got, pos + got);
          if (n === 0) break;
          got += n;
        }
      } catch (e) {
        throw new PmtuError('PMTU_ERR_CAPTURE', `cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      return got;
    },
    size,
    close: () => closeSync(fd),
  };
}

function bufferSource(data: Buffer): Source {
  return {
    readInto(buf, off, len, pos) {
      const end = Math.min(data.length, pos + len);
      if (end <= pos) return 0;
      data.copy(buf, off, pos, end);
      return end - pos;
    },
    size: data.length,
    close: () => {},
  };
}

/** How a packet's timestamp units turn into epoch microseconds, per interface. */
interface Clock {
  /** units = hi * 2^32 + lo; us = units / div (div >= 1) or units * mul. */
  div: number;
  mul: number;
  /** if_tsoffset, in microseconds. */
  offsetUs: number;
}

interface Iface {
  name: string;
  index: number;
  linkType: number;
  snaplen: number;
  clock: Clock;
}

function clockFor(tsresol: number, offsetS: number): Clock {
  const offsetUs = offsetS * 1e6;
  if (tsresol & 0x80) {
    // 2^-n seconds: us = units * 1e6 / 2^n.
    return { div: 0, mul: 1e6 / 2 ** (tsresol & 0x7f), offsetUs };
  }
  const n = tsresol;
  if (n >= 6) return { div: 10 ** (n - 6), mul: 0, offsetUs };
  return { div: 0, mul: 10 ** (6 - n), offsetUs };
}

const TWO32 = 4294967296;

/** Epoch microseconds of a 64-bit timestamp in the interface's units, exact to the microsecond for 10^-n up to 10^-12. */
function toUs(c: Clock, hi: number, lo: number): number {
  if (c.div === 1) return hi * TWO32 + lo + c.offsetUs;
  if (c.div > 1) {
    if (c.div <= 1e6) {
      // units / div without losing the low bits of a nanosecond count (> 2^53).
      const qh = Math.floor(hi / c.div);
      const rest = (hi - qh * c.div) * TWO32 + lo; // < div * 2^32 <= 2^52: exact
      const q = Math.floor(rest / c.div);
      return qh * TWO32 + q + (rest - q * c.div) / c.div + c.offsetUs;
    }
    return (hi * TWO32 + lo) / c.div + c.offsetUs;
  }
  return (hi * TWO32 + lo) * c.mul + c.offsetUs;
}

function hex(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/** The base name a capture's interfaces get when the file does not name them. */
export function fileIfaceName(path: string): string {
  return basename(path).replace(/\.(pcapng|pcap|cap)$/i, '') || basename(path);
}

/**
 * A pcap or pcapng file, read packet by packet:
 *
 *   const r = ForeignCaptureReader.open('a.pcap');
 *   try { for (const p of r) ...; } finally { r.close(); }
 *   if (r.stats.damage) console.error(oneLine(r.stats.damage));
 *
 * `next()` is the same without the iterator. open() throws PmtuError
 * (PMTU_ERR_CAPTURE) for what is no pcap or pcapng, or a pcap of a link type
 * this reader does not know.
 */
export class ForeignCaptureReader implements Iterable<ForeignPacket> {
  readonly stats: ReadStats;
  private readonly baseName: string;
  private readonly chunkSize: number;
  private readonly onProgress: ((read: number, size: number) => void) | undefined;

  /** The chunk: file bytes [bufPos, bufPos + bufLen) are buf[0, bufLen). */
  private buf: Buffer = Buffer.alloc(0);
  private bufPos = 0;
  private bufLen = 0;
  /** File offset of the next record. */
  private pos = 0;

  private le = true;
  private nano = false;
  /** pcapng: the current section's interfaces; pcap: the one. */
  private ifaces: Iface[] = [];
  private ifCount = 0;
  private lastTsUs = 0;
  private firstTsUs = Infinity;

  private constructor(
    private readonly src: Source,
    readonly name: string,
    opts: OpenOptions,
  ) {
    this.baseName = fileIfaceName(name);
    this.chunkSize = Math.max(64, opts.chunkSize ?? CHUNK);
    this.onProgress = opts.onProgress;
    this.stats = {
      format: 'pcap',
      packets: 0,
      nonIp: 0,
      short: 0,
      unsupported: new Map(),
      blocksSkipped: 0,
      sections: 0,
      offset: 0,
      size: src.size,
      damage: null,
      done: false,
    };
    try {
      this.readFileHeader();
    } catch (e) {
      src.close();
      throw e;
    }
  }

  static open(path: string, opts: OpenOptions = {}): ForeignCaptureReader {
    const name = opts.name ?? path;
    return new ForeignCaptureReader(fileSource(path, name), name, opts);
  }

  /** A capture in memory (tests); read through chunks all the same. */
  static fromBuffer(data: Buffer, name = 'capture.pcap', opts: OpenOptions = {}): ForeignCaptureReader {
    return new ForeignCaptureReader(bufferSource(data), opts.name ?? name, opts);
  }

  close(): void {
    this.src.close();
  }

  *[Symbol.iterator](): Iterator<ForeignPacket> {
    for (let p = this.next(); p !== null; p = this.next()) yield p;
  }

  /** When the file's first record was captured (epoch us), whatever it held (ARP too); Infinity before one is read. */
  get firstRecordUs(): number {
    return this.firstTsUs;
  }

  /** The interfaces the file described so far (pcapng: of the current section). */
  interfaces(): readonly { name: string; index: number; linkType: number; snaplen: number }[] {
    return this.ifaces.map(({ name, index, linkType, snaplen }) => ({ name, index, linkType, snaplen }));
  }

  // --- bytes ---------------------------------------------------------------

  /** Makes file bytes [pos, pos + n) available in buf; false when the file ends first. */
  private ensure(pos: number, n: number): boolean {
    if (pos >= this.bufPos && pos + n <= this.bufPos + this.bufLen) return true;
    if (pos + n > this.src.size) return false;
    // A fresh buffer: views handed out into the old one stay valid.
    const keepFrom = pos >= this.bufPos && pos < this.bufPos + this.bufLen ? pos : -1;
    const kept = keepFrom < 0 ? 0 : this.bufPos + this.bufLen - keepFrom;
    const size = Math.max(this.chunkSize, n);
    const next = Buffer.allocUnsafe(size);
    if (kept) this.buf.copy(next, 0, keepFrom - this.bufPos, this.bufLen);
    const want = Math.min(size, this.src.size - pos) - kept;
    const got = this.src.readInto(next, kept, want, pos + kept);
    this.buf = next;
    this.bufPos = pos;
    this.bufLen = kept + got;
    this.onProgress?.(pos + this.bufLen, this.src.size);
    return this.bufLen >= n;
  }

  private at(pos: number): number {
    return pos - this.bufPos;
  }

  private u16(o: number): number {
    const b = this.buf;
    return this.le ? b[o]! | (b[o + 1]! << 8) : (b[o]! << 8) | b[o + 1]!;
  }

  private u32(o: number): number {
    const b = this.buf;
    return this.le
      ? (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0
      : ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }

  private error(what: string, hint = ''): PmtuError {
    return new PmtuError('PMTU_ERR_CAPTURE', `${this.name}: ${what}`, hint);
  }

  /** Stops reading at pos: the packets before it stand. */
  private damaged(pos: number, what: string): null {
    const n = this.stats.packets;
    this.stats.damage = this.error(
      `damaged at byte ${pos} of ${this.src.size}: ${what}`,
      n ? `the ${plural(n, 'packet')} before it were read` : 'no packet could be read before it',
    );
    return this.finish();
  }

  private finish(): null {
    this.stats.done = true;
    this.stats.offset = this.pos;
    if (this.stats.packets === 0 && this.stats.damage === null && this.stats.unsupported.size) {
      const types = [...this.stats.unsupported.keys()].map((t) => `${linkTypeName(t)} (${t})`).join(', ');
      this.stats.damage = this.error(`no packet of a link type pmtu-watch reads: ${types}`, 'capture on an Ethernet, cooked (-i any) or raw-IP interface');
    }
    return null;
  }

  // --- the file header -----------------------------------------------------

  private readFileHeader(): void {
    const size = this.src.size;
    if (size === 0) throw this.error('empty file, not a capture', 'pmtu-watch analyze reads pcap and pcapng files (tcpdump -w, tshark -w, Wireshark)');
    const n = Math.min(size, 24);
    this.ensure(0, n);
    const head = this.buf.subarray(0, n);
    if (head.length >= 4 && PMTUCAP_MAGIC.subarray(0, Math.min(head.length, PMTUCAP_MAGIC.length)).equals(head.subarray(0, Math.min(head.length, PMTUCAP_MAGIC.length)))) {
      throw this.error('is a pmtu-watch capture, not a pcap', 'read it with pmtu-watch report or pmtu-watch replay (export --pcapng turns it into pcapng)');
    }
    if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) throw this.error('is gzip-compressed', 'gunzip it first (or: zcat FILE > FILE.pcap)');
    if (head.length >= 4 && head.readUInt32LE(0) === BLOCK_SHB) {
      this.stats.format = 'pcapng';
      if (head.length < 12) throw this.error(`cut off inside its first block (${size} bytes)`, 'nothing was captured; capture again');
      const bom = head.readUInt32LE(8);
      if (bom !== BYTE_ORDER_MAGIC && head.readUInt32BE(8) !== BYTE_ORDER_MAGIC) {
        throw this.error(`starts like pcapng but its byte-order magic is ${hex(head.subarray(8, 12))}`, 'not a pcapng file, or damaged at its start');
      }
      return; // next() reads the SHB as any other block
    }
    if (head.length >= 4) {
      const m = head.readUInt32LE(0);
      const mbe = head.readUInt32BE(0);
      for (const [magic, nano] of [
        [0xa1b2c3d4, false],
        [0xa1b23c4d, true],
      ] as const) {
        if (m === magic || mbe === magic) {
          this.le = m === magic;
          this.nano = nano;
          this.pcapHeader(head);
          return;
        }
      }
      if (m === 0xa1b2cd34 || mbe === 0xa1b2cd34) throw this.error('is a pcap with Alexey Kuznetzov\'s modified record header, which pmtu-watch does not read', 'convert it: editcap -F pcap FILE OUT.pcap');
    }
    throw this.error(
      `not a pcap or pcapng file (it starts with ${hex(head.subarray(0, Math.min(8, head.length)))})`,
      'pmtu-watch analyze reads pcap and pcapng files (tcpdump -w, tshark -w, Wireshark); for pmtu-watch captures use report or replay',
    );
  }

  private pcapHeader(head: Buffer): void {
    if (head.length < 24) throw this.error(`cut off inside its pcap file header (${head.length} of 24 bytes)`, 'nothing was captured; capture again');
    const major = this.u16(4);
    if (major !== 2) throw this.error(`pcap version ${major}.${this.u16(6)}; this reader reads 2.4`);
    const snaplen = this.u32(16);
    const linkType = this.u32(20) & 0xffff; // the upper bits carry the FCS length
    if (!isSupportedLinkType(linkType)) {
      throw this.error(`its link type is ${linkTypeName(linkType)} (${linkType}), not one pmtu-watch reads`, 'capture on an Ethernet, cooked (-i any) or raw-IP interface');
    }
    this.stats.sections = 1;
    this.ifaces = [{ name: this.baseName, index: 0, linkType, snaplen, clock: { div: 1, mul: 0, offsetUs: 0 } }];
    this.ifCount = 1;
    this.pos = 24;
  }

  // --- records -------------------------------------------------------------

  /** The next IP packet, or null at the end of the file or at damage (see stats). */
  next(): ForeignPacket | null {
    if (this.stats.done) return null;
    return this.stats.format === 'pcap' ? this.nextPcap() : this.nextPcapng();
  }

  private nextPcap(): ForeignPacket | null {
    const iface = this.ifaces[0]!;
    const maxLen = Math.min(Math.max(iface.snaplen, MAX_SNAPLEN), MAX_RECORD); // a garbage snaplen allocates no gigabytes
    for (;;) {
      const pos = this.pos;
      if (pos >= this.src.size) return this.finish();
      if (!this.ensure(pos, 16)) return this.damaged(pos, `the last record is cut off inside its header (${this.src.size - pos} of 16 bytes)`);
      const o = this.at(pos);
      const sec = this.u32(o);
      const frac = this.u32(o + 4);
      const capLen = this.u32(o + 8);
      const origLen = this.u32(o + 12);
      if (capLen > maxLen) return this.damaged(pos, `a record's captured length is ${capLen}, more than the snaplen ${iface.snaplen} allows (garbage, or not a record boundary)`);
      // A fraction out of range is no timestamp: garbage where a record should start.
      if (frac >= (this.nano ? 1e9 : 1e6)) return this.damaged(pos, `a record's timestamp fraction ${frac} is out of range (garbage, or not a record boundary)`);
      if (!this.ensure(pos, 16 + capLen)) {
        return this.damaged(pos, `the last record is cut off (${this.src.size - pos - 16} of its ${capLen} bytes)`);
      }
      this.pos = pos + 16 + capLen;
      this.stats.offset = this.pos;
      const tsUs = this.nano ? sec * 1e6 + frac / 1000 : sec * 1e6 + frac;
      this.lastTsUs = tsUs;
      if (this.firstTsUs === Infinity) this.firstTsUs = tsUs;
      const p = this.frame(iface, this.at(pos) + 16, capLen, origLen, tsUs, null); // at(pos) again: ensure() may have moved the chunk
      if (p) return p;
    }
  }

  private nextPcapng(): ForeignPacket | null {
    for (;;) {
      const pos = this.pos;
      if (pos >= this.src.size) return this.finish();
      if (!this.ensure(pos, 8)) return this.damaged(pos, `the last block is cut off inside its header (${this.src.size - pos} of 8 bytes)`);
      let o = this.at(pos);
      const type = this.buf.readUInt32LE(o); // SHB's type reads the same either way
      if (type === BLOCK_SHB) {
        if (!this.ensure(pos, 12)) return this.damaged(pos, 'a section header block is cut off');
        o = this.at(pos);
        const bom = this.buf.readUInt32LE(o + 8);
        if (bom === BYTE_ORDER_MAGIC) this.le = true;
        else if (this.buf.readUInt32BE(o + 8) === BYTE_ORDER_MAGIC) this.le = false;
        else return this.damaged(pos, `a section header block with byte-order magic ${hex(this.buf.subarray(o + 8, o + 12))}`);
      }
      const len = this.u32(o + 4);
      const blockType = this.le ? type : this.u32(o);
      if (len < 12 || len % 4 !== 0 || len > MAX_RECORD) {
        return this.damaged(pos, `block type 0x${blockType.toString(16)} has length ${len} (${len < 12 ? 'under 12' : len % 4 ? 'not a multiple of 4' : `over ${MAX_RECORD}`}): garbage, or not a block boundary`);
      }
      if (!this.ensure(pos, len)) {
        return this.damaged(pos, `the last block (type 0x${blockType.toString(16)}, ${len} bytes) is cut off after ${this.src.size - pos} bytes`);
      }
      o = this.at(pos);
      const trailer = this.u32(o + len - 4);
      if (trailer !== len) return this.damaged(pos, `block type 0x${blockType.toString(16)} says length ${len} at its start and ${trailer} at its end`);
      this.pos = pos + len;
      this.stats.offset = this.pos;
      const body = o + 8;
      const bodyLen = len - 12;
      switch (blockType) {
        case BLOCK_SHB: {
          if (bodyLen < 16) return this.damaged(pos, `a section header block of ${len} bytes (at least 28)`);
          const major = this.u16(body + 4);
          if (major !== 1) return this.damaged(pos, `a section of pcapng version ${major}.${this.u16(body + 6)}; this reader reads 1.x`);
          this.stats.sections++;
          this.ifaces = [];
          break;
        }
        case BLOCK_IDB: {
          if (bodyLen < 8) return this.damaged(pos, `an interface description block of ${len} bytes (at least 20)`);
          if (this.stats.sections === 0) return this.damaged(pos, 'an interface description before any section header');
          this.ifaces.push(this.idb(body, bodyLen));
          break;
        }
        case BLOCK_EPB:
        case BLOCK_PB: {
          const epb = blockType === BLOCK_EPB;
          if (bodyLen < 20) return this.damaged(pos, `a packet block of ${len} bytes (at least 32)`);
          const id = epb ? this.u32(body) : this.u16(body);
          const iface = this.ifaces[id];
          if (!iface) return this.damaged(pos, `a packet on interface ${id}, which its section did not describe (${plural(this.ifaces.length, 'interface')})`);
          const capLen = this.u32(body + 12);
          const origLen = this.u32(body + 16);
          if (capLen > bodyLen - 20) return this.damaged(pos, `a packet block says ${capLen} captured bytes, its block holds ${bodyLen - 20}`);
          const tsUs = toUs(iface.clock, this.u32(body + 4), this.u32(body + 8));
          this.lastTsUs = tsUs;
          if (this.firstTsUs === Infinity) this.firstTsUs = tsUs;
          const dir = this.flagsDirection(body + 20 + ((capLen + 3) & ~3), body + bodyLen);
          const p = this.frame(iface, body + 20, capLen, origLen, tsUs, dir);
          if (p) return p;
          break;
        }
        case BLOCK_SPB: {
          if (bodyLen < 4) return this.damaged(pos, `a simple packet block of ${len} bytes (at least 16)`);
          const iface = this.ifaces[0];
          if (!iface) return this.damaged(pos, 'a simple packet block in a section that described no interface');
          const origLen = this.u32(body);
          let capLen = Math.min(origLen, bodyLen - 4);
          if (iface.snaplen) capLen = Math.min(capLen, iface.snaplen);
          const p = this.frame(iface, body + 4, capLen, origLen, this.lastTsUs, null);
          if (p) return p;
          break;
        }
        default:
          if (this.stats.sections === 0) return this.damaged(pos, `a block of type 0x${blockType.toString(16)} before any section header`);
          this.stats.blocksSkipped++;
      }
    }
  }

  /** An Interface Description Block's body: link type, snaplen, if_name, if_tsresol, if_tsoffset. */
  private idb(body: number, bodyLen: number): Iface {
    const linkType = this.u16(body);
    const snaplen = this.u32(body + 4);
    let name = this.baseName;
    let tsresol = 6;
    let offsetS = 0;
    const end = body + bodyLen;
    for (let o = body + 8; o + 4 <= end; ) {
      const code = this.u16(o);
      const len = this.u16(o + 2);
      const v = o + 4;
      if (code === 0 || v + len > end) break; // opt_endofopt, or an option past the block: the rest is not options
      if (code === 2 && len > 0) {
        const s = this.buf.toString('utf8', v, v + len).replace(/\0+$/, '');
        if (s) name = s;
      } else if (code === 9 && len >= 1) {
        tsresol = this.buf[v]!;
      } else if (code === 14 && len >= 8) {
        const hi = this.u32(this.le ? v + 4 : v);
        const lo = this.u32(this.le ? v : v + 4);
        offsetS = (hi | 0) * TWO32 + lo; // int64 seconds
      }
      o = v + ((len + 3) & ~3);
    }
    const index = this.ifCount++;
    return { name, index, linkType, snaplen, clock: clockFor(tsresol, offsetS) };
  }

  /** The direction in an EPB's (or PB's) options: epb_flags bits 0-1, 1 inbound, 2 outbound. */
  private flagsDirection(from: number, end: number): Direction {
    for (let o = from; o + 4 <= end; ) {
      const code = this.u16(o);
      const len = this.u16(o + 2);
      if (code === 0 || o + 4 + len > end) break;
      if (code === 2 && len === 4) {
        const d = this.u32(o + 4) & 3;
        return d === 1 ? 'ingress' : d === 2 ? 'egress' : null;
      }
      o += 4 + ((len + 3) & ~3);
    }
    return null;
  }

  // --- link layers ---------------------------------------------------------

  /** The IP packet in a frame at buf[o, o + capLen), or null (counted) when it is none. */
  private frame(iface: Iface, o: number, capLen: number, origLen: number, tsUs: number, flagDir: Direction): ForeignPacket | null {
    const b = this.buf;
    const lt = iface.linkType;
    let off = 0; // from o
    let type = 0; // an EtherType, or 4/6 decided by the link layer (RAW, NULL)
    let proto: 4 | 6 | 0 = 0;
    let dir = flagDir;
    let sllIf = 0;
    switch (lt) {
      case LINKTYPE.EN10MB:
        if (capLen < 14) return this.short();
        type = (b[o + 12]! << 8) | b[o + 13]!;
        off = 14;
        break;
      case LINKTYPE.LINUX_SLL:
        if (capLen < 16) return this.short();
        if (dir === null) dir = sllDirection((b[o]! << 8) | b[o + 1]!);
        type = (b[o + 14]! << 8) | b[o + 15]!;
        off = 16;
        break;
      case LINKTYPE.LINUX_SLL2:
        if (capLen < 20) return this.short();
        if (dir === null) dir = sllDirection(b[o + 10]!);
        sllIf = ((b[o + 4]! << 24) | (b[o + 5]! << 16) | (b[o + 6]! << 8) | b[o + 7]!) >>> 0;
        type = (b[o]! << 8) | b[o + 1]!;
        off = 20;
        break;
      case LINKTYPE.RAW:
        if (capLen < 1) return this.short();
        proto = ipVersion(b[o]!);
        break;
      case LINKTYPE.IPV4:
        if (capLen < 1) return this.short();
        proto = 4;
        break;
      case LINKTYPE.IPV6:
        if (capLen < 1) return this.short();
        proto = 6;
        break;
      case LINKTYPE.NULL:
      case LINKTYPE.LOOP: {
        if (capLen < 5) return this.short();
        // The address family: host byte order of the writer (NULL), network order (LOOP).
        let af = lt === LINKTYPE.LOOP ? b.readUInt32BE(o) : b.readUInt32LE(o);
        if (lt === LINKTYPE.NULL && af > 0xffff) af = b.readUInt32BE(o);
        proto = af === 2 ? 4 : af === 10 || af === 24 || af === 28 || af === 30 ? 6 : 0;
        off = 4;
        break;
      }
      default: {
        const n = this.stats.unsupported.get(lt) ?? 0;
        this.stats.unsupported.set(lt, n + 1);
        return null;
      }
    }
    let vlan = 0;
    if (type !== 0) {
      // VLAN tags (802.1Q, 802.1ad, and the old QinQ 0x9100), outermost first.
      for (let tags = 0; (type === 0x8100 || type === 0x88a8 || type === 0x9100) && tags < MAX_TAGS; tags++) {
        if (capLen < off + 4) return this.short();
        if (tags === 0) vlan = ((b[o + off]! << 8) | b[o + off + 1]!) & 0xfff;
        type = (b[o + off + 2]! << 8) | b[o + off + 3]!;
        off += 4;
      }
      proto = type === ETH_IPV4 ? 4 : type === ETH_IPV6 ? 6 : 0;
    }
    if (proto === 0) {
      this.stats.nonIp++;
      return null;
    }
    if (capLen <= off) return this.short();
    this.stats.packets++;
    return {
      tsUs,
      iface: iface.name,
      ifIndex: iface.index,
      sllIfIndex: sllIf,
      vlan,
      linkType: lt,
      dir,
      l3: b.subarray(o + off, o + capLen),
      l3Proto: proto,
      origLen,
      capLen,
      l3Offset: off,
    };
  }

  private short(): null {
    this.stats.short++;
    return null;
  }
}

function ipVersion(first: number): 4 | 6 | 0 {
  const v = first >> 4;
  return v === 4 ? 4 : v === 6 ? 6 : 0;
}

/** Linux's packet types (PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4). */
function sllDirection(pkttype: number): Direction {
  return pkttype === 4 ? 'egress' : pkttype <= 3 ? 'ingress' : null;
}

/** One line about how reading went, for the CLI (stderr): counts of what was skipped, and the damage. */
export function describeRead(r: { name: string; stats: ReadStats }): string {
  const s = r.stats;
  const bits = [`${plural(s.packets, 'IP packet')}`];
  if (s.nonIp) bits.push(`${s.nonIp} not IP`);
  if (s.short) bits.push(`${s.short} cut off before the IP header`);
  for (const [lt, n] of s.unsupported) bits.push(`${n} on ${linkTypeName(lt)} (${lt}) interfaces, skipped`);
  return `${r.name}: ${s.format}, ${bits.join(', ')}${s.damage ? `; ${s.damage.message.replace(`${r.name}: `, '')}` : ''}`;
}
