// Captures other tools made (tcpdump, tshark, dumpcap, Wireshark) as a
// session's source: `pmtu-watch analyze`. Every packet goes through the tc
// program's rules (packet/tc-rules.ts); what the kernel learns from its
// sockets and its flow table, a capture shows in the packets themselves:
//
//   syn         a SYN or SYN-ACK and its MSS (every one: the kernel's
//               every-flow mode; the hook's MTU is unknown, 0)
//   ptb         ICMP frag-needed / ICMPv6 Packet Too Big, the flow it quotes
//               as `inner` (ptb-sent for an IPv6 one leaving, as at tc)
//   size        a flow's largest DF packet per direction, when it grows from
//               sizeMin on (one segment's size: a TCP packet larger than the
//               MSS the other end advertised is GSO, flag `gso`)
//   retransmit  from TCP sequence numbers: a data segment whose range was
//               sent already in that direction; `timeouts` how many times in
//               a row the same segment (its first sequence number) went out
//               (the RTO backing off), reset by new data; from sizeMin on as
//               the kernel reports them, and any later resend of a segment
//               that was (a sender falling back to 536/576 bytes)
//   route       learned: true once, after a PTB quoting a flow, its sender
//               resends the quoted segment (its TCP sequence number; without
//               one, any resent data) in DF packets no larger than the PTB's
//               MTU where it had sent larger, or the receiver acknowledges
//               the quoted segment (it got through: GSO on the sending host
//               hides the segments' size; `mtu` is then the PTB's): how a
//               capture shows "honored"; again when a larger packet within
//               the MTU follows (`mtu` the largest)
//
// The capture point is the `netns` of every event (the pcapng interface's
// name, else the file's base name; `file:iface` when two files name theirs
// alike), `iface` the interface's own name. State is per capture point and
// flow, as the kernel's flow table is per namespace: a bounded table (LRU,
// evictions counted as flowTableFull). Several files are read at once,
// merged in time order packet by packet (bounded memory whatever their size).
// In a cooked capture (`tcpdump -i any`) a forwarded packet is seen twice,
// arriving and leaving: the second sighting of a segment on another side is
// no retransmission.
//
// With two capture points or more, a flow's packets are also followed from
// one point to the next (sources/crossing.ts):
//
//   lost        packets of a flow direction seen at `netns` that never reached
//               the point downstream (`lost.netns`) within a second, while it
//               saw the flow's other packets that way; what got through too

import { statSync } from 'node:fs';
import { setImmediate as yieldNow } from 'node:timers/promises';

import { describeRead, fileIfaceName, ForeignCaptureReader, LINKTYPE, type ForeignPacket, type ReadStats } from '../capture/foreign.js';
import { protoName, type EventJson, type FlowStateJson, type MssSeenJson, type RouteEventJson } from '../contract/event.js';
import type { HookTrafficJson, ObserverLosses, TrafficJson } from '../contract/stats.js';
import { FLAG_NAMES } from '../contract/event.js';
import { ipv6 as ipv6Text } from '../observer/decode.js';
import { encapJson, inner } from '../observer/json.js';
import type { EventFlags } from '../observer/events.js';
import { PmtuError } from '../errors.js';
import { addrRange, describe, ptbKind, readPacket, type RawFlow, type Wire } from '../packet/tc-rules.js';
import type { Session } from '../session.js';
import { Crossings, KEY_FIN, KEY_REPLY, KEY_REQUEST, KEY_SYN, MAX_AWAITED, packetKey, type Crossing, type CrossingHost } from './crossing.js';
import type { Source } from './source.js';

export interface PcapSourceOptions {
  /** Sizes and retransmissions are reported from this IP length on (live's --size-min; default 1280). */
  sizeMin?: number;
  /** Flows kept per source (all capture points together); default 65536, the kernel's table. */
  maxFlows?: number;
  /** PTBs waited on for their sender to shrink (route learned); default 4096. */
  maxPtbWatches?: number;
  /** Packets awaited at once at other capture points (sources/crossing.ts); default 65536. */
  maxAwaited?: number;
  /** Bytes read of all files, their total size (a progress display; open() only). */
  onProgress?: (read: number, size: number) => void;
}

/** A file that could not be opened. */
export interface OpenFailure {
  file: string;
  error: PmtuError;
}

/** The smallest path MTU the kernel takes from a PTB (IPv4 min_pmtu's default; IPv6's minimum link MTU). */
const MIN_PMTU = { 4: 552, 6: 1280 } as const;
/** Packets between two looks at the stop signal and the output's reader. */
const BATCH = 4096;
/** Events after which a batch ends early (a PTB flood's lines should not pile up in memory). */
const BATCH_EVENTS = 256;
/** The session hears the capture's time at least this often (settled text waits 250 ms of it). */
const TICK_MS = 125;
/** Without an MSS seen, a TCP packet with more payload than a 9000-byte MTU allows is GSO of unknown segment size. */
const MAX_SEGMENT_PAYLOAD = 8960;
/** Segments remembered per direction in a cooked capture, to tell a forwarded packet's second sighting from a resend. */
const SIGHTINGS = 8;
/** Capture time between two looks for packets awaited too long at other points. */
const EXPIRE_EVERY_MS = 10;
/** A GSO packet is followed as its segments up to this many of them. */
const MAX_SEGMENTS = 64;

const NO_LOSSES: ObserverLosses = { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 };

/** A capture point: one interface of one file. */
interface Point {
  /** In flow keys. */
  id: number;
  netns: string;
  iface: string;
  /** A cooked capture (SLL, SLL2: `-i any`) sees a forwarded packet twice. */
  cooked: boolean;
  traffic: HookTrafficJson;
  /** Its file: whether it was capturing at a time. */
  input: Input;
}

/** What one capture point knows of one flow; direction 0 is from its first packet's source. */
interface FlowRec {
  key: string;
  point: Point;
  proto: number;
  /** Addresses as the flow key has them (latin1 of their bytes), for telling directions. */
  aRaw: string;
  aPort: number;
  addr: [string, string];
  port: [number, number];
  since: number;
  /** The SYN's sender's direction, -1 when no SYN was seen. */
  initiator: number;
  /** MssSeen of the SYN and the SYN-ACK. */
  syn: MssSeenJson | undefined;
  synAck: MssSeenJson | undefined;
  /** The MSS the sender of each direction advertised (0: none seen). */
  mss: [number, number];
  /** Largest DF packet (one segment's size) per direction. */
  largest: [number, number];
  /** The sequence number after the highest sent, per direction (valid with hasSeq). */
  next: [number, number];
  hasSeq: [boolean, boolean];
  /** Routers between each direction's sender and this point, from its first packet's TTL (-1: none seen yet). */
  hops: [number, number];
  /** The last segment resent (its first sequence number) and how many times in a row. */
  rtxSeq: [number, number];
  rtxCount: [number, number];
  /** Whether that segment was resent at sizeMin or more (its smaller resends are reported too). */
  rtxLarge: [boolean, boolean];
  /** Cooked captures: recent segments' first sequence numbers and the side they were seen on. */
  sightings: [number[], number[]] | undefined;
  /** The flow across capture points (several of them), and its direction of this record's direction 0. */
  cross: Crossing | undefined;
  flip: number;
  /** Whether the latest single segment per direction was a full one (the MSS less options): GSO is cut so. */
  fullSeg: [boolean, boolean];
  /** Second chance in the LRU table. */
  used: boolean;
}

/** A PTB waited on: its sender resending smaller. */
interface PtbWatch {
  ts: number;
  /** The PTB's advertised MTU, and what the kernel applies of it. */
  expected: number;
  limit: number;
  /** The quoted segment's first sequence number, when the quote reaches it. */
  seq: number | undefined;
  /** The quoted packet's length was above the MTU (a router may rewrite it). */
  quotedLarger: boolean;
  inner: RouteEventJson['inner'];
  /** Largest packet seen within the MTU after it, 0 before the route is learned. */
  learned: number;
}

interface Input {
  reader: ForeignCaptureReader;
  /** The next packet, null at its end. */
  head: ForeignPacket | null;
  /** Name prefix when its interface names collide with another file's. */
  prefix: string;
  /** Capture points by the file's interface number. */
  points: Map<number, Point>;
  /** Its first record's time and its latest IP packet's (epoch us). */
  firstUs: number;
  lastUs: number;
}

const u16 = (b: Buffer, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Buffer, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
/** Routers a packet crossed, from its TTL or hop limit: down from the next initial value senders use (32, 64, 128, 255). */
function hopsFrom(ttl: number): number {
  return (ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255) - ttl;
}

/** a before b in sequence space (RFC 1982). */
const before = (a: number, b: number) => ((a - b) | 0) < 0;

function addrText(b: Buffer, at: number, n: number): string {
  return n === 4 ? `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}` : ipv6Text(b, at);
}

function flagList(f: EventFlags): string[] {
  const out: string[] = [];
  for (const [key, name] of FLAG_NAMES) if (f[key]) out.push(name);
  return out;
}

const DF_ONLY = Object.freeze(['df']) as unknown as string[];
const DF_GSO = Object.freeze(['df', 'gso']) as unknown as string[];
const GSO_ONLY = Object.freeze(['gso']) as unknown as string[];
const NO_FLAGS = Object.freeze([]) as unknown as string[];
const sizeFlags = (df: boolean, gso: boolean) => (df ? (gso ? DF_GSO : DF_ONLY) : gso ? GSO_ONLY : NO_FLAGS);

export class PcapSource implements Source {
  readonly capturePoints = true;
  readonly live = false;
  private session: Session | undefined;
  private readonly inputs: Input[];
  private readonly sizeMin: number;
  private readonly maxFlows: number;
  private readonly maxWatches: number;
  private readonly flows = new Map<string, FlowRec>();
  private readonly watches = new Map<string, PtbWatch>();
  private readonly points: Point[] = [];
  private readonly names = new Set<string>();
  private evicted = 0;
  private at = 0;
  private lastTick = -Infinity;
  private emitted = 0;
  private packetsRead = 0;
  private readonly totals = { flows: 0, syns: 0, synAcks: 0, ptbs: 0 };
  /** Flows followed across capture points, from the second point on. */
  private crossings: Crossings | undefined;
  private readonly crossing = new Map<string, Crossing>();
  private readonly maxAwaited: number;
  private expiredAt = -Infinity;

  /** Readers of the files, read together in time order (the source closes them). */
  constructor(readers: readonly ForeignCaptureReader[], opts: PcapSourceOptions = {}) {
    this.sizeMin = opts.sizeMin ?? 1280;
    this.maxFlows = opts.maxFlows ?? 65536;
    this.maxWatches = opts.maxPtbWatches ?? 4096;
    this.maxAwaited = opts.maxAwaited ?? MAX_AWAITED;
    this.inputs = readers.map((reader) => ({ reader, head: null, prefix: '', points: new Map(), firstUs: Infinity, lastUs: -Infinity }));
    // Each file's first packet: by then its interfaces are (nearly always all) described, so names that collide are known.
    for (const input of this.inputs) {
      input.head = input.reader.next();
      // Capturing from its first record on: a quiet capture's first may be an ARP request, its first IP packet seconds later.
      if (input.head) input.firstUs = Math.min(input.reader.firstRecordUs, input.head.tsUs);
    }
    this.prefixes();
    // Each file's first capture point from the start: a packet lost before that point's first IP packet was still awaited there.
    for (const input of this.inputs) if (input.head) this.pointOf(input, input.head);
    // Several points from the first packet on (a pcapng's later interfaces start it when they come).
    if (this.inputs.length > 1 || this.inputs.some((x) => x.reader.interfaces().length > 1)) this.crossings = new Crossings(this.crossingHost(), this.sizeMin, this.maxAwaited);
  }

  /**
   * Opens the files; those that cannot be opened (missing, not a capture)
   * are in `failures`, the source reads the others. Reading a file that is
   * damaged part way stops at the damage (its reader's stats say where).
   */
  static open(files: readonly string[], opts: PcapSourceOptions = {}): { source: PcapSource; failures: OpenFailure[] } {
    const readers: ForeignCaptureReader[] = [];
    const failures: OpenFailure[] = [];
    // Progress over all files from the first read on (a reader reads its first chunk as it opens).
    const read: number[] = [];
    const sizes = files.map((f) => {
      try {
        return statSync(f).size;
      } catch {
        return 0;
      }
    });
    const total = sizes.reduce((a, b) => a + b, 0);
    const onProgress = opts.onProgress;
    const progress = (i: number) => (r: number) => {
      read[i] = r;
      let sum = 0;
      for (const x of read) sum += x ?? 0;
      onProgress!(sum, total);
    };
    files.forEach((file, i) => {
      try {
        readers.push(ForeignCaptureReader.open(file, onProgress ? { onProgress: progress(i) } : {}));
      } catch (e) {
        if (!(e instanceof PmtuError)) throw e;
        failures.push({ file, error: e });
      }
    });
    return { source: new PcapSource(readers, opts), failures };
  }

  /** The files as read so far: name and the reader's stats (damage included). */
  files(): { name: string; stats: ReadStats }[] {
    return this.inputs.map((x) => ({ name: x.reader.name, stats: x.reader.stats }));
  }

  /** One line per file about how reading went (describeRead), and packets not followed across capture points. */
  describeStop(): string {
    const files = this.inputs.map((x) => describeRead(x.reader)).join('; ');
    const n = this.crossings?.unjudged ?? 0;
    return n ? `${files}; ${n} packets not followed to the other capture points (more than ${this.maxAwaited} awaited at once)` : files;
  }

  /** Whether packets are followed from one capture point to another (several files, or a pcapng's interfaces). */
  get followsPoints(): boolean {
    return this.crossings !== undefined;
  }

  /** Packets not followed to the other capture points: more than maxAwaited were awaited at once. */
  get unfollowed(): number {
    return this.crossings?.unjudged ?? 0;
  }

  /** IP packets read from all files. */
  get packets(): number {
    return this.packetsRead;
  }

  private prefixes(): void {
    if (this.inputs.length < 2) return;
    const owners = new Map<string, number>();
    let clash = false;
    this.inputs.forEach((x, i) => {
      for (const { name } of x.reader.interfaces()) {
        const o = owners.get(name);
        if (o !== undefined && o !== i) clash = true;
        owners.set(name, i);
      }
    });
    if (!clash) return;
    const bases = this.inputs.map((x) => fileIfaceName(x.reader.name));
    const unique = new Set(bases).size === bases.length;
    this.inputs.forEach((x, i) => {
      const names = x.reader.interfaces().map((f) => f.name);
      if (names.some((n) => this.inputs.some((y, j) => j !== i && y.reader.interfaces().some((f) => f.name === n)))) x.prefix = unique ? bases[i]! : x.reader.name;
    });
  }

  private pointOf(input: Input, p: ForeignPacket): Point {
    let point = input.points.get(p.ifIndex);
    if (point) return point;
    let netns = input.prefix ? `${input.prefix}:${p.iface}` : p.iface;
    // An interface a later block of one file names like another file's: told apart all the same.
    if (this.names.has(netns) && !input.prefix) netns = `${fileIfaceName(input.reader.name)}:${p.iface}`;
    for (let n = 2; this.names.has(netns); n++) netns = `${netns}#${n}`;
    this.names.add(netns);
    point = {
      id: this.points.length,
      netns,
      iface: p.iface,
      cooked: p.linkType === LINKTYPE.LINUX_SLL || p.linkType === LINKTYPE.LINUX_SLL2,
      traffic: { netns, iface: p.iface, flows: 0, syns: 0, synAcks: 0, ptbs: 0 },
      input,
    };
    this.points.push(point);
    input.points.set(p.ifIndex, point);
    if (this.points.length === 2 && !this.crossings) this.crossings = new Crossings(this.crossingHost(), this.sizeMin, this.maxAwaited);
    return point;
  }

  /** What the crossings ask of the capture points and the flow table. */
  private crossingHost(): CrossingHost {
    return {
      points: () => this.points.length,
      point: (id) => this.points[id]!,
      capturing: (id, from, to) => {
        const input = this.points[id]!.input;
        return input.firstUs <= from * 1000 && (input.head !== null || input.lastUs >= to * 1000);
      },
      state: (id, x, d) => {
        const rec = this.flows.get(`${id}|${x.key}`);
        return rec ? this.state(rec, d ^ rec.flip) : undefined;
      },
      // Taken before the time moves on (see packet()): the tick comes after.
      emit: (ev) => {
        this.emitted++;
        this.need().take(ev);
      },
    };
  }

  attach(session: Session): void {
    this.session = session;
  }

  /** Everything at once, synchronously (tests, the bench). */
  playAll(): void {
    while (this.step(Infinity, Infinity)) {}
    this.finish();
  }

  async run(stop: Promise<void>): Promise<void> {
    let stopped = false;
    void stop.then(() => (stopped = true));
    while (!stopped && this.step(BATCH, BATCH_EVENTS)) {
      // Unpaced, a file can wait for a slow reader instead of making it drop lines.
      const ready = this.session?.ready();
      if (ready) await Promise.race([ready, stop]);
      else await yieldNow();
    }
    this.finish();
  }

  private finish(): void {
    const s = this.need();
    if (this.crossings) {
      this.crossings.expire(this.at);
      this.crossings.finish(this.at);
    }
    s.tick(this.at);
    s.recordedStats(s.stats());
  }

  private need(): Session {
    if (!this.session) throw new Error('PcapSource: no session attached');
    return this.session;
  }

  /** Up to `packets` packets (or until `events` events); false once every file is read. */
  private step(packets: number, events: number): boolean {
    const inputs = this.inputs;
    const stopAt = this.emitted + events;
    for (let n = 0; n < packets && this.emitted < stopAt; n++) {
      // The earliest head: a k-way merge over few files, linear.
      let pick: Input | undefined;
      for (let i = 0; i < inputs.length; i++) {
        const x = inputs[i]!;
        if (x.head && (!pick || x.head.tsUs < pick.head!.tsUs)) pick = x;
      }
      if (!pick) return false;
      const p = pick.head!;
      pick.head = pick.reader.next();
      pick.lastUs = p.tsUs;
      this.packetsRead++;
      this.packet(this.pointOf(pick, p), p);
    }
    return true;
  }

  private packet(point: Point, p: ForeignPacket): void {
    const w = readPacket(p.l3, p.l3Proto, p.origLen - p.l3Offset);
    if (!w) return;
    const ts = Math.floor(p.tsUs) / 1000;
    if (ts > this.at) this.at = ts;
    // Before the tick: a loss it tells of refines a verdict that would settle at this tick.
    if (this.crossings && this.at - this.expiredAt >= EXPIRE_EVERY_MS) {
      this.expiredAt = this.at;
      this.crossings.expire(this.at);
    }
    if (this.at - this.lastTick >= TICK_MS) {
      this.lastTick = this.at;
      this.need().tick(this.at);
    }
    if (w.ptb) this.ptb(point, p, w, ts);
    else if (w.proto === 6 && w.l4 >= 0 && w.l4 + 20 <= p.l3.length) this.tcp(point, p, w, ts);
    else this.other(point, p, w, ts);
  }

  // --- the flow table --------------------------------------------------------

  /** The flow key of the addresses and ports at a point, and whether src is its first endpoint. */
  private static key(point: Point, proto: number, src: string, sport: number, dst: string, dport: number): string {
    return src < dst || (src === dst && sport <= dport) ? `${point.id}|${proto}|${src}|${sport}|${dst}|${dport}` : `${point.id}|${proto}|${dst}|${dport}|${src}|${sport}`;
  }

  private lookup(key: string): FlowRec | undefined {
    const rec = this.flows.get(key);
    if (rec) rec.used = true;
    return rec;
  }

  private create(key: string, point: Point, w: Wire, buf: Buffer, srcRaw: string, ts: number, srcFirst: boolean): FlowRec {
    if (this.flows.size >= this.maxFlows) this.evict();
    const a = addrRange(w);
    const rec: FlowRec = {
      key,
      point,
      proto: w.proto,
      aRaw: srcRaw,
      aPort: w.sport,
      addr: [addrText(buf, a.src, a.n), addrText(buf, a.dst, a.n)],
      port: [w.sport, w.dport],
      since: ts,
      initiator: -1,
      syn: undefined,
      synAck: undefined,
      mss: [0, 0],
      largest: [0, 0],
      next: [0, 0],
      hasSeq: [false, false],
      hops: [-1, -1],
      rtxSeq: [0, 0],
      rtxCount: [0, 0],
      rtxLarge: [false, false],
      sightings: point.cooked ? [[], []] : undefined,
      cross: undefined,
      flip: srcFirst ? 0 : 1,
      fullSeg: [false, false],
      used: false,
    };
    this.flows.set(key, rec);
    point.traffic.flows++;
    this.totals.flows++;
    return rec;
  }

  /** Second chance: the oldest flow not used since it last came round goes. */
  private evict(): void {
    for (const [key, rec] of this.flows) {
      this.flows.delete(key);
      if (rec.used) {
        rec.used = false;
        this.flows.set(key, rec);
        continue;
      }
      this.evicted++;
      const x = rec.cross;
      if (x && --x.refs === 0) {
        this.crossing.delete(x.key);
        this.crossings!.release(x, this.at);
      }
      return;
    }
  }

  /** The flow across capture points that a point's record is of (undefined: the point is not followed). */
  private crossOf(rec: FlowRec, ts: number): Crossing | undefined {
    if (!Crossings.follows(rec.point.id)) return undefined;
    const key = rec.key.slice(rec.key.indexOf('|') + 1);
    let x = this.crossing.get(key);
    if (!x) {
      const f = rec.flip;
      x = this.crossings!.make(key, rec.proto, [rec.addr[f]!, rec.addr[1 - f]!], [rec.port[f]!, rec.port[1 - f]!], ts);
      this.crossing.set(key, x);
    }
    x.refs++;
    rec.cross = x;
    return x;
  }

  /** The flow of a wire's packet at a point (made when new) and the packet's direction in it. */
  private flowOf(point: Point, w: Wire, buf: Buffer, ts: number): { rec: FlowRec; d: number } {
    const a = addrRange(w);
    const src = buf.toString('latin1', a.src, a.src + a.n);
    const dst = buf.toString('latin1', a.dst, a.dst + a.n);
    const key = PcapSource.key(point, w.proto, src, w.sport, dst, w.dport);
    const rec = this.lookup(key) ?? this.create(key, point, w, buf, src, ts, src < dst || (src === dst && w.sport <= w.dport));
    const d = rec.aRaw === src && rec.aPort === w.sport ? 0 : 1;
    if (rec.hops[d]! < 0) rec.hops[d] = hopsFrom(buf[w.ip + (w.family === 4 ? 8 : 7)]!);
    return { rec, d };
  }

  /**
   * A packet's direction at its capture point: the file's word (pcapng
   * flags, a cooked capture's packet type), else the TTLs': one that left
   * its sender's host with no router since, where the other way's packets
   * crossed routers, is leaving this host (egress), the other way arriving.
   */
  private static dirOf(rec: FlowRec, d: number, p: ForeignPacket): EventJson['dir'] {
    if (p.dir !== null) return p.dir;
    const mine = rec.hops[d]!;
    const theirs = rec.hops[1 - d]!;
    if (mine < 0 || theirs < 0 || (mine > 0) === (theirs > 0)) return null;
    return mine === 0 ? 'egress' : 'ingress';
  }

  /** The flow state an event of direction d of rec carries (the kernel's, as a capture point knows it). */
  private state(rec: FlowRec, d: number): FlowStateJson {
    const out: FlowStateJson = { known: true, since: rec.since, initiator: rec.initiator < 0 ? null : rec.initiator === d ? 'src' : 'dst' };
    // The SYN's and SYN-ACK's MSS, whichever way the subject goes (as the kernel keeps them).
    if (rec.syn) out.syn = rec.syn;
    if (rec.synAck) out.synAck = rec.synAck;
    out.largest = { fwd: rec.largest[d]!, rev: rec.largest[1 - d]! };
    return out;
  }

  // --- events ----------------------------------------------------------------

  private emit(ev: EventJson | RouteEventJson, snap?: Buffer): void {
    this.emitted++;
    const s = this.need();
    s.tick(this.at);
    s.take(ev, snap);
  }

  /** An event's first fields; `flags` is set last, where the contract has it (eventJson's order). */
  private base(kind: EventJson['kind'], ts: number, point: Point, p: ForeignPacket): EventJson {
    return { type: 'event', kind, ts, netns: point.netns, iface: PcapSource.ifaceOf(point, p), dir: p.dir } as EventJson;
  }

  /**
   * The interface a packet crossed: a cooked capture of every interface
   * (`tcpdump -i any`, SLL2) names it by the kernel's ifindex, which is all
   * the file says of it; else the capture point's own interface.
   */
  private static ifaceOf(point: Point, p: ForeignPacket): string {
    return p.sllIfIndex ? `if${p.sllIfIndex}` : point.iface;
  }

  /** The packet's VLAN id, where the contract has it: after len/mss/timeouts, before inner and encap. */
  private static tagged(ev: EventJson, p: ForeignPacket): void {
    if (p.vlan) ev.vlan = p.vlan;
  }

  private ptb(point: Point, p: ForeignPacket, w: Wire, ts: number): void {
    const buf = p.l3;
    const kind = ptbKind(p.dir, w.family);
    const r = describe(buf, w, kind);
    point.traffic.ptbs++;
    this.totals.ptbs++;
    const ev = this.base(kind, ts, point, p);
    if (r.outer) {
      ev.src = r.outer.src;
      ev.dst = r.outer.dst;
      ev.sport = r.outer.sport;
      ev.dport = r.outer.dport;
      ev.proto = protoName(r.outer.proto);
    }
    if (r.ptbMtu) ev.mtu = r.ptbMtu;
    if (r.len) ev.len = r.len;
    PcapSource.tagged(ev, p);
    const q = r.inner;
    if (q) ev.inner = inner(q);
    if (r.encap) ev.encap = encapJson(r.encap);
    // The quoted flow as this capture point saw it.
    const raw = r.parsed.inner;
    const quoted = q && raw.family ? this.quotedFlow(point, raw) : undefined;
    ev.flow = quoted ? this.state(quoted.rec, quoted.d) : { known: false };
    ev.flags = flagList(r.flags);
    if (q && raw.proto === 6 && !r.flags.quoteMismatch && r.ptbMtu) {
      const l4 = r.parsed.innerL4;
      const seq = l4 >= 0 && l4 + 8 <= r.snap.length ? u32(r.snap, l4 + 4) : undefined;
      this.watch(q.src, q.sport, q.dst, q.dport, {
        ts,
        expected: r.ptbMtu,
        limit: Math.max(r.ptbMtu, MIN_PMTU[q.family]),
        seq,
        quotedLarger: q.len > r.ptbMtu,
        inner: { src: q.src, dst: q.dst, sport: q.sport, dport: q.dport, proto: 'tcp' },
        learned: 0,
      });
    }
    this.emit(ev, r.snap);
  }

  private quotedFlow(point: Point, f: RawFlow): { rec: FlowRec; d: number } | undefined {
    const n = f.family === 4 ? 4 : 16;
    const src = f.saddr.toString('latin1', 0, n);
    const dst = f.daddr.toString('latin1', 0, n);
    const rec = this.lookup(PcapSource.key(point, f.proto, src, f.sport, dst, f.dport));
    if (!rec) return undefined;
    return { rec, d: rec.aRaw === src && rec.aPort === f.sport ? 0 : 1 };
  }

  private watch(src: string, sport: number, dst: string, dport: number, w: PtbWatch): void {
    const key = `${src}|${sport}|${dst}|${dport}`;
    const prior = this.watches.get(key);
    // A later PTB of the same MTU keeps the first one's time: "after the PTB" is after the first.
    if (prior && prior.expected === w.expected) return;
    if (prior) this.watches.delete(key);
    else if (this.watches.size >= this.maxWatches) this.watches.delete(this.watches.keys().next().value!);
    this.watches.set(key, w);
  }

  private tcp(point: Point, p: ForeignPacket, w: Wire, ts: number): void {
    const buf = p.l3;
    const t = w.l4;
    const flags = buf[t + 13]!;
    const seq = u32(buf, t + 4);
    const tcpHdr = (buf[t + 12]! >> 4) * 4;
    const hdr = t - w.ip + tcpHdr;
    const payload = Math.max(0, w.l3Len - hdr);
    const { rec, d } = this.flowOf(point, w, buf, ts);
    const x = this.crossings && (rec.cross ?? this.crossOf(rec, ts));

    if (w.syn) {
      if (x) this.crossings!.packet(x, d ^ rec.flip, point.id, ts, packetKey(seq, 0, KEY_SYN, d ^ rec.flip), w.l3Len, w.df);
      this.syn(point, p, w, ts, rec, d, seq);
      return;
    }
    if (this.watches.size && flags & 0x10) this.acked(point, rec, d, ts, u32(buf, t + 8));
    if (payload === 0) {
      // A FIN is known again by its sequence number; a pure ACK only says the point sees that way.
      if (x && flags & 0x01) this.crossings!.packet(x, d ^ rec.flip, point.id, ts, packetKey(seq, 0, KEY_FIN, d ^ rec.flip), w.l3Len, w.df);
      else if (x) this.crossings!.seen(x, d ^ rec.flip, point.id);
      return;
    }

    // One segment's size: more payload than the other end's MSS allows is GSO (a capture on the
    // sending host) or GRO (on the receiving one). The MSS counts no TCP options (RFC 6691): a
    // segment carries MSS less those. The other end's SYN as it left shows what the sender got
    // only where no router stands between the sender and this point and could have clamped it
    // on the way: farther from the sender than from the other end, the smaller of the two MSS
    // this point saw bounds the sender's segments (a clamp rewrites both ways, and a sender also
    // caps its segments by its own MTU, which its own SYN tells).
    const mss = rec.hops[d]! > rec.hops[1 - d]! && rec.mss[d] ? Math.min(rec.mss[d]!, rec.mss[1 - d]! || Infinity) : rec.mss[1 - d]!;
    const segData = mss ? Math.max(1, mss - (tcpHdr - 20)) : MAX_SEGMENT_PAYLOAD;
    const gso = payload > segData;
    const segPayload = gso ? (mss ? segData : 0) : payload; // 0: GSO of a segment size not known
    const segLen = segPayload ? hdr + segPayload : 0;
    const df = w.df;
    const largestBefore = rec.largest[d]!;

    // Sequence numbers: resent, or new data.
    const end = (seq + payload) >>> 0;
    let resent = false;
    let again = false;
    if (!rec.hasSeq[d]) {
      rec.hasSeq[d] = true;
      rec.next[d] = end;
    } else if (before(seq, rec.next[d]!)) {
      resent = !(payload <= 1 && ((rec.next[d]! - seq) | 0) === 1); // a keepalive probe resends one byte, or none
      if (resent && rec.sightings && this.secondSighting(rec.sightings[d]!, seq, p)) {
        resent = false;
        again = true; // the same packet, forwarded: not a sighting of its own
      }
      if (before(rec.next[d]!, end)) rec.next[d] = end;
    } else {
      rec.next[d] = end;
      rec.rtxCount[d] = 0; // new data: the timer backed off no more
    }
    if (rec.sightings && !again) this.sighted(rec.sightings[d]!, seq, p);
    if (x) this.follow(x, rec, d, point, ts, seq, payload, hdr, segData, gso, mss > 0, w.df, (flags & 0x01) !== 0);

    if (df && segLen && segLen > largestBefore) {
      rec.largest[d] = segLen;
      if (segLen >= this.sizeMin) this.size(point, p, w, ts, rec, d, segLen, gso);
    }
    if (resent && segLen) this.retransmit(point, p, w, ts, rec, d, seq, segLen, gso, mss);
    if (this.watches.size && df && segLen) this.shrunk(point, rec, d, ts, seq, payload, segLen, resent, largestBefore);
  }

  /**
   * A data segment for the other capture points: as it is, or a GSO packet as
   * the segments it becomes when the latest single segment was a full one
   * (sources/crossing.ts says why); its range either way, for a merged
   * packet's (GRO) sake.
   */
  private follow(x: Crossing, rec: FlowRec, d: number, point: Point, ts: number, seq: number, payload: number, hdr: number, segData: number, gso: boolean, mssKnown: boolean, df: boolean, fin: boolean): void {
    const c = this.crossings!;
    const xd = d ^ rec.flip;
    const end = (seq + payload) >>> 0;
    if (!gso) {
      rec.fullSeg[d] = mssKnown && payload === segData;
      c.packet(x, xd, point.id, ts, packetKey(seq, payload, fin ? KEY_FIN : 0, xd), hdr + payload, df, seq, end);
      return;
    }
    c.range(x, xd, point.id, ts, seq, end);
    if (!mssKnown || !rec.fullSeg[d] || payload > segData * MAX_SEGMENTS) return;
    for (let o = 0; o < payload; o += segData) {
      const n = Math.min(segData, payload - o);
      const at = (seq + o) >>> 0;
      c.packet(x, xd, point.id, ts, packetKey(at, n, fin && o + n >= payload ? KEY_FIN : 0, xd), hdr + n, df, at, (at + n) >>> 0, false);
    }
  }

  /** A cooked capture's sighting of a segment on a side (direction and interface). */
  private static side(p: ForeignPacket): number {
    return p.sllIfIndex * 4 + (p.dir === 'egress' ? 1 : p.dir === 'ingress' ? 2 : 0);
  }

  private sighted(ring: number[], seq: number, p: ForeignPacket): void {
    if (ring.length >= SIGHTINGS * 2) ring.splice(0, 2);
    ring.push(seq, PcapSource.side(p));
  }

  /** Whether a segment seen again is the same packet on another side (forwarded), not a resend; forgets the sighting. */
  private secondSighting(ring: number[], seq: number, p: ForeignPacket): boolean {
    const side = PcapSource.side(p);
    for (let i = ring.length - 2; i >= 0; i -= 2) {
      if (ring[i] !== seq) continue;
      if (ring[i + 1] === side) return false;
      ring.splice(i, 2);
      return true;
    }
    return false;
  }

  private syn(point: Point, p: ForeignPacket, w: Wire, ts: number, rec: FlowRec, d: number, seq: number): void {
    const r = describe(p.l3, w, 'syn');
    const synAck = w.ack;
    const iface = PcapSource.ifaceOf(point, p);
    if (r.mss) rec.mss[d] = r.mss;
    if (!synAck) rec.initiator = d;
    rec.hasSeq[d] = true;
    rec.next[d] = (seq + 1) >>> 0;
    const seen = synAck ? rec.synAck : rec.syn;
    if (seen) {
      seen.last = r.mss;
      seen.lastIface = iface;
    } else if (synAck) rec.synAck = { first: r.mss, firstIface: iface, last: r.mss, lastIface: iface };
    else rec.syn = { first: r.mss, firstIface: iface, last: r.mss, lastIface: iface };
    if (synAck) {
      point.traffic.synAcks++;
      this.totals.synAcks++;
    } else {
      point.traffic.syns++;
      this.totals.syns++;
    }
    const ev = this.own('syn', ts, point, p, rec, d);
    if (r.len) ev.len = r.len;
    ev.mss = r.mss;
    PcapSource.tagged(ev, p);
    if (r.encap) ev.encap = encapJson(r.encap);
    ev.flow = this.state(rec, d);
    ev.flags = flagList(r.flags);
    this.emit(ev, r.snap);
  }

  /** An event about the packet's own flow, in direction d: its endpoints from the flow. */
  private own(kind: EventJson['kind'], ts: number, point: Point, p: ForeignPacket, rec: FlowRec, d: number): EventJson {
    const ev = this.base(kind, ts, point, p);
    ev.dir = PcapSource.dirOf(rec, d, p);
    ev.src = rec.addr[d];
    ev.dst = rec.addr[1 - d];
    ev.sport = rec.port[d];
    ev.dport = rec.port[1 - d];
    ev.proto = protoName(rec.proto);
    return ev;
  }

  /** The tunnel around the packet's own flow, when it is inside one. */
  private encapOf(p: ForeignPacket, w: Wire): EventJson['encap'] {
    if (w.ip === w.l3) return undefined;
    const e = describe(p.l3, w, 'size').encap;
    return e ? encapJson(e) : undefined;
  }

  private size(point: Point, p: ForeignPacket, w: Wire, ts: number, rec: FlowRec, d: number, len: number, gso: boolean): void {
    const ev = this.own('size', ts, point, p, rec, d);
    ev.len = len;
    PcapSource.tagged(ev, p);
    const encap = this.encapOf(p, w);
    if (encap) ev.encap = encap;
    ev.flow = this.state(rec, d);
    ev.flags = sizeFlags(w.df, gso);
    this.emit(ev);
  }

  private retransmit(point: Point, p: ForeignPacket, w: Wire, ts: number, rec: FlowRec, d: number, seq: number, len: number, gso: boolean, mss: number): void {
    const again = rec.rtxCount[d]! > 0 && rec.rtxSeq[d] === seq;
    rec.rtxCount[d] = again ? rec.rtxCount[d]! + 1 : 1;
    rec.rtxSeq[d] = seq;
    const large = len >= this.sizeMin;
    const report = large || (again && rec.rtxLarge[d]!);
    rec.rtxLarge[d] = large || (again && rec.rtxLarge[d]!);
    if (!report) return;
    const ev = this.own('retransmit', ts, point, p, rec, d);
    ev.len = len;
    ev.mss = mss;
    ev.timeouts = rec.rtxCount[d]!;
    PcapSource.tagged(ev, p);
    const encap = this.encapOf(p, w);
    if (encap) ev.encap = encap;
    ev.flow = this.state(rec, d);
    ev.flags = sizeFlags(w.df, gso);
    this.emit(ev);
  }

  /** The PTB watch of the flow's direction d (its sender's), if one is waiting. */
  private watchOf(rec: FlowRec, d: number): PtbWatch | undefined {
    return this.watches.get(`${rec.addr[d]}|${rec.port[d]}|${rec.addr[1 - d]}|${rec.port[1 - d]}`);
  }

  /**
   * After a PTB about this flow: its sender resending the quoted segment
   * (without a quoted sequence number: any resent data) within the MTU is the
   * route learned; a larger packet within it later says more of the MTU.
   */
  private shrunk(point: Point, rec: FlowRec, d: number, ts: number, seq: number, payload: number, len: number, resent: boolean, largestBefore: number): void {
    const w = this.watchOf(rec, d);
    if (!w || ts < w.ts || len > w.limit || len <= w.learned) return;
    if (!w.learned) {
      const covers = w.seq !== undefined ? !before(seq + payload, w.seq + 1) && !before(w.seq, seq) : resent;
      const larger = w.seq !== undefined || w.quotedLarger || largestBefore > w.limit;
      if (!covers || !larger) return;
    }
    this.learned(point, w, ts, len);
  }

  /**
   * The receiver acknowledging the quoted segment after the PTB: it got
   * through the hop that could not take it, so the sender sent it smaller,
   * whatever the capture shows of its packets (GSO on the sending host hides
   * their segment size). The route is learned at the PTB's MTU.
   */
  private acked(point: Point, rec: FlowRec, d: number, ts: number, ack: number): void {
    const w = this.watchOf(rec, 1 - d);
    if (!w || w.learned || w.seq === undefined || ts < w.ts || !before(w.seq, ack)) return;
    this.learned(point, w, ts, w.limit);
  }

  private learned(point: Point, w: PtbWatch, ts: number, mtu: number): void {
    w.learned = mtu;
    const route: RouteEventJson = { type: 'event', kind: 'route', ts, netns: point.netns, dst: w.inner.dst, inner: w.inner, mtu, expected: w.expected, learned: true, from: 'capture' };
    this.emit(route);
  }

  /** Any other packet: a DF one's size, when it grows. */
  private other(point: Point, p: ForeignPacket, w: Wire, ts: number): void {
    const { rec, d } = this.flowOf(point, w, p.l3, ts);
    if (this.crossings) this.followOther(point, p.l3, w, ts, rec, d);
    if (!w.df || w.l3Len <= rec.largest[d]!) return;
    rec.largest[d] = w.l3Len;
    if (w.l3Len >= this.sizeMin) this.size(point, p, w, ts, rec, d, w.l3Len, false);
  }

  /** A packet that is not TCP, for the other capture points: an ICMP echo, IPv4 UDP by its IP ID; others only say the point sees that way. */
  private followOther(point: Point, b: Buffer, w: Wire, ts: number, rec: FlowRec, d: number): void {
    const x = rec.cross ?? this.crossOf(rec, ts);
    if (!x) return;
    const xd = d ^ rec.flip;
    const t = w.l4;
    let k = -1;
    if (t >= 0 && t + 8 <= b.length) {
      if ((w.proto === 1 && w.family === 4) || (w.proto === 58 && w.family === 6)) {
        const request = w.proto === 1 ? 8 : 128;
        const type = b[t]!;
        if (type === request || type === request + (w.proto === 1 ? -8 : 1)) k = packetKey(((u16(b, t + 4) << 16) | u16(b, t + 6)) >>> 0, w.l3Len, type === request ? KEY_REQUEST : KEY_REPLY, xd);
      } else if (w.proto === 17 && w.family === 4) {
        const id = u16(b, w.ip + 4);
        if (id && !(u16(b, w.ip + 6) & 0x3fff)) k = packetKey(id, w.l3Len, 0, xd);
      }
    }
    if (k >= 0) this.crossings!.packet(x, xd, point.id, ts, k, w.l3Len, w.df);
    else this.crossings!.seen(x, xd, point.id);
  }

  // --- what the session asks -------------------------------------------------

  now(): number {
    return this.at;
  }

  /** Capture points seen. */
  interfaces(): number {
    return this.points.length;
  }

  /** Flows the table let go of to make room (flowTableFull); nothing else is lost: a file waits for its reader. */
  losses(): ObserverLosses {
    return { ...NO_LOSSES, flowTableFull: this.evicted };
  }

  traffic(): TrafficJson {
    return { ...this.totals, byHook: this.points.map((p) => ({ ...p.traffic })) };
  }

  close(): void {
    for (const x of this.inputs) x.reader.close();
  }
}
