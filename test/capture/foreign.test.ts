// Reading other tools' captures (src/capture/foreign.ts): each link type, tags,
// directions, timestamp resolutions, byte orders, sections, damage, and files
// that are no pcap. Every stream is read three ways: from memory in one chunk,
// through 64-byte chunks (every record crosses a refill), and from a file.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { describeRead, ForeignCaptureReader, LINKTYPE, type ForeignPacket, type ReadStats } from '../../src/capture/foreign.js';
import { preamble } from '../../src/capture/format.js';
import { oneLine, PmtuError } from '../../src/errors.js';
import { icmpFragNeeded, ipv4, ipv6, PROTO, tcp, udp } from '../helpers/packets.js';
import { arpFrame, epb, ethernet, idb, isb, nullLink, pb, pcap, pcapHeader, pcapRecord, block, shb, sll, sll2, spb } from '../helpers/pcap-files.js';

const dir = mkdtempSync(join(tmpdir(), 'pmtu-foreign-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const A4 = '198.18.0.1';
const B4 = '198.18.0.2';
const A6 = '2001:db8::1';
const B6 = '2001:db8::2';

function tcp4(payload = 100): Buffer {
  return ipv4({ src: A4, dst: B4, proto: PROTO.tcp, df: true, payload: tcp({ src: A4, dst: B4, sport: 40000, dport: 443, ack: true, payload: Buffer.alloc(payload, 0x61) }) });
}

function udp6(payload = 50): Buffer {
  return ipv6({ src: A6, dst: B6, next: PROTO.udp, payload: udp({ src: A6, dst: B6, sport: 5000, dport: 5001, payload: Buffer.alloc(payload) }) });
}

interface Read {
  packets: (Omit<ForeignPacket, 'l3'> & { l3: Buffer })[];
  stats: ReadStats;
}

function readWith(make: () => ForeignCaptureReader): Read {
  const r = make();
  try {
    // Copies: the check that a view stays valid after later refills is below.
    const packets = [...r];
    return { packets, stats: r.stats };
  } finally {
    r.close();
  }
}

let fileNo = 0;
/** Reads `bytes` three ways and checks the three agree; returns one. */
function read(bytes: Buffer, name = 'cap.pcap'): Read {
  const whole = readWith(() => ForeignCaptureReader.fromBuffer(bytes, name));
  const chunked = readWith(() => ForeignCaptureReader.fromBuffer(bytes, name, { chunkSize: 64 }));
  const path = join(dir, `${fileNo++}-${name}`);
  writeFileSync(path, bytes);
  const fromFile = readWith(() => ForeignCaptureReader.open(path, { name }));
  for (const other of [chunked, fromFile]) {
    expect(other.packets.map(plain)).toEqual(whole.packets.map(plain));
    expect({ ...other.stats, damage: other.stats.damage?.message }).toEqual({ ...whole.stats, damage: whole.stats.damage?.message });
  }
  return whole;
}

function plain(p: ForeignPacket) {
  return { ...p, l3: p.l3.toString('hex') };
}

describe('pcap', () => {
  it('Ethernet, microseconds: packets with their time, sizes and the file name as iface; ARP skipped', () => {
    const p = tcp4();
    const bytes = pcap({ linkType: LINKTYPE.EN10MB }, [
      { sec: 1_700_000_000, frac: 123456, data: ethernet(p) },
      { sec: 1_700_000_001, frac: 5, data: arpFrame() },
      { sec: 1_700_000_002, frac: 999999, data: ethernet(udp6()) },
    ]);
    const { packets, stats } = read(bytes, 'router1.pcap');
    expect(packets).toHaveLength(2);
    expect(packets[0]).toMatchObject({ tsUs: 1_700_000_000_123_456, iface: 'router1', ifIndex: 0, linkType: 1, dir: null, l3Proto: 4, origLen: p.length + 14, capLen: p.length + 14, l3Offset: 14 });
    expect(packets[0]!.l3.equals(p)).toBe(true);
    expect(packets[1]).toMatchObject({ tsUs: 1_700_000_002_999_999, l3Proto: 6 });
    expect(stats).toMatchObject({ format: 'pcap', packets: 2, nonIp: 1, damage: null, done: true, sections: 1, offset: bytes.length, size: bytes.length });
  });

  it('nanosecond pcap: the time keeps its sub-microsecond part', () => {
    const bytes = pcap({ linkType: LINKTYPE.RAW, nano: true }, [{ sec: 1_700_000_000, frac: 123_456_789, data: tcp4() }]);
    const { packets } = read(bytes);
    expect(packets[0]!.tsUs).toBeCloseTo(1_700_000_000_123_456.789, 0);
    expect(Math.floor(packets[0]!.tsUs)).toBe(1_700_000_000_123_456);
  });

  it('big-endian pcap (a SPARC or PowerPC tcpdump) reads the same', () => {
    const recs = [{ sec: 1_600_000_000, frac: 42, data: ethernet(tcp4()) }];
    const le = read(pcap({ linkType: LINKTYPE.EN10MB }, recs));
    const be = read(pcap({ linkType: LINKTYPE.EN10MB, endian: 'be' }, recs));
    expect(be.packets.map(plain)).toEqual(le.packets.map(plain));
    expect(be.packets[0]!.tsUs).toBe(1_600_000_000_000_042);
  });

  it('VLAN and QinQ tags (0x8100, 0x88a8 + 0x8100, 0x9100 + 0x8100) are stripped, the outermost id kept', () => {
    const p = tcp4();
    const bytes = pcap({ linkType: LINKTYPE.EN10MB }, [
      { sec: 1, frac: 0, data: ethernet(p, [[0x8100, 100]]) },
      { sec: 2, frac: 0, data: ethernet(p, [[0x88a8, 10], [0x8100, 100]]) },
      { sec: 3, frac: 0, data: ethernet(udp6(), [[0x9100, 10], [0x8100, 20]]) },
      { sec: 4, frac: 0, data: ethernet(Buffer.alloc(40), [[0x8100, 5]], 0x88cc) }, // LLDP in a VLAN
    ]);
    const { packets, stats } = read(bytes);
    expect(packets.map((x) => [x.l3Proto, x.l3Offset])).toEqual([
      [4, 18],
      [4, 22],
      [6, 22],
    ]);
    expect(packets[1]!.l3.equals(p)).toBe(true);
    expect(packets.map((x) => x.vlan)).toEqual([100, 10, 10]);
    expect(stats.nonIp).toBe(1);
  });

  it('LINUX_SLL: packet type 4 is egress, 0-3 ingress', () => {
    const p = tcp4();
    const bytes = pcap({ linkType: LINKTYPE.LINUX_SLL }, [0, 1, 2, 3, 4].map((t) => ({ sec: 10, frac: t, data: sll(p, t) })));
    const { packets } = read(bytes);
    expect(packets.map((x) => x.dir)).toEqual(['ingress', 'ingress', 'ingress', 'ingress', 'egress']);
    expect(packets.every((x) => x.l3.equals(p) && x.l3Offset === 16 && x.sllIfIndex === 0)).toBe(true);
  });

  it('LINUX_SLL with a VLAN tag libpcap put back', () => {
    const p = tcp4();
    const tagged = Buffer.concat([Buffer.from([0, 100, 0x08, 0x00]), p]); // TCI 100, then IPv4
    const { packets } = read(pcap({ linkType: LINKTYPE.LINUX_SLL }, [{ sec: 1, frac: 0, data: sll(tagged, 0, 0x8100) }]));
    expect(packets[0]).toMatchObject({ l3Proto: 4, l3Offset: 20, dir: 'ingress', vlan: 100 });
    expect(packets[0]!.l3.equals(p)).toBe(true);
  });

  it('LINUX_SLL2 (tcpdump -i any): direction and the kernel ifindex', () => {
    const bytes = pcap({ linkType: LINKTYPE.LINUX_SLL2 }, [
      { sec: 1, frac: 0, data: sll2(tcp4(), 4, 7) },
      { sec: 1, frac: 1, data: sll2(udp6(), 0, 9) },
      { sec: 1, frac: 2, data: sll2(arpFrame().subarray(14), 1, 7, 0x0806) },
    ]);
    const { packets, stats } = read(bytes);
    expect(packets.map((x) => [x.dir, x.sllIfIndex, x.l3Proto, x.l3Offset])).toEqual([
      ['egress', 7, 4, 20],
      ['ingress', 9, 6, 20],
    ]);
    expect(stats.nonIp).toBe(1);
  });

  it('RAW, IPV4 and IPV6 link types', () => {
    const p4 = tcp4();
    const p6 = udp6();
    const raw = read(pcap({ linkType: LINKTYPE.RAW }, [{ sec: 1, frac: 0, data: p4 }, { sec: 1, frac: 1, data: p6 }, { sec: 1, frac: 2, data: Buffer.from([0x00, 1, 2]) }]));
    expect(raw.packets.map((x) => [x.l3Proto, x.l3Offset, x.origLen])).toEqual([
      [4, 0, p4.length],
      [6, 0, p6.length],
    ]);
    expect(raw.stats.nonIp).toBe(1);
    expect(read(pcap({ linkType: LINKTYPE.IPV4 }, [{ sec: 1, frac: 0, data: p4 }])).packets[0]!.l3Proto).toBe(4);
    expect(read(pcap({ linkType: LINKTYPE.IPV6 }, [{ sec: 1, frac: 0, data: p6 }])).packets[0]!.l3Proto).toBe(6);
  });

  it('NULL (either byte order, BSD AF_INET6 values) and LOOP', () => {
    const p4 = tcp4();
    const p6 = udp6();
    const nul = read(pcap({ linkType: LINKTYPE.NULL }, [
      { sec: 1, frac: 0, data: nullLink(p4, 2) },
      { sec: 1, frac: 0, data: nullLink(p6, 30, 'be') }, // macOS AF_INET6, written big-endian
      { sec: 1, frac: 0, data: nullLink(p6, 24) },
      { sec: 1, frac: 0, data: nullLink(p4, 7) }, // some other family
    ]));
    expect(nul.packets.map((x) => [x.l3Proto, x.l3Offset])).toEqual([
      [4, 4],
      [6, 4],
      [6, 4],
    ]);
    expect(nul.stats.nonIp).toBe(1);
    const loop = read(pcap({ linkType: LINKTYPE.LOOP }, [{ sec: 1, frac: 0, data: nullLink(p6, 28, 'be') }]));
    expect(loop.packets[0]!.l3.equals(p6)).toBe(true);
  });

  it('a snaplen shorter than the headers: capLen < origLen, l3 what was kept', () => {
    const big = ipv4({ src: A4, dst: B4, proto: PROTO.icmp, payload: icmpFragNeeded(1400, tcp4(1400).subarray(0, 28)) });
    const frame = ethernet(tcp4(1400));
    const bytes = pcap({ linkType: LINKTYPE.EN10MB, snaplen: 54 }, [
      { sec: 1, frac: 0, data: frame.subarray(0, 54), origLen: frame.length },
      { sec: 1, frac: 1, data: ethernet(big).subarray(0, 30), origLen: big.length + 14 }, // IP header cut too
      { sec: 1, frac: 2, data: frame.subarray(0, 12), origLen: frame.length }, // not even the EtherType
    ]);
    const { packets, stats } = read(bytes);
    expect(packets.map((x) => [x.capLen, x.origLen, x.l3.length, x.origLen - x.l3Offset])).toEqual([
      [54, frame.length, 40, 1440],
      [30, big.length + 14, 16, big.length],
    ]);
    expect(stats.short).toBe(1);
  });

  it('a view stays valid after the reader has moved on through many chunks', () => {
    const recs = Array.from({ length: 200 }, (_, i) => ({ sec: 1, frac: i, data: ethernet(tcp4(i)) }));
    const r = ForeignCaptureReader.fromBuffer(pcap({ linkType: LINKTYPE.EN10MB }, recs), 'x.pcap', { chunkSize: 256 });
    const kept = [...r];
    expect(kept.map((p) => p.l3.equals(tcp4(Number(p.tsUs % 1e6))))).toEqual(recs.map(() => true));
  });

  it('progress: called per chunk with bytes read and the size', () => {
    const bytes = pcap({ linkType: LINKTYPE.RAW }, Array.from({ length: 100 }, (_, i) => ({ sec: 1, frac: i, data: tcp4() })));
    const calls: [number, number][] = [];
    const r = ForeignCaptureReader.fromBuffer(bytes, 'x.pcap', { chunkSize: 1000, onProgress: (a, b) => calls.push([a, b]) });
    expect([...r]).toHaveLength(100);
    expect(calls.length).toBeGreaterThan(10);
    expect(calls.at(-1)).toEqual([bytes.length, bytes.length]);
    expect(calls.every(([a], i) => i === 0 || a >= calls[i - 1]![0])).toBe(true);
  });
});

describe('pcapng', () => {
  it('interfaces by if_name, epb_flags directions, default microseconds', () => {
    const bytes = Buffer.concat([
      shb(),
      idb({ linkType: LINKTYPE.EN10MB, name: 'eth0' }),
      idb({ linkType: LINKTYPE.RAW }), // no name: the file's
      epb({ ifId: 0, ts: 1_700_000_000_000_001n, data: ethernet(tcp4()), flags: 1 }),
      epb({ ifId: 1, ts: 1_700_000_000_000_002n, data: udp6(), flags: 2, comment: 'hello' }),
      epb({ ifId: 0, ts: 1_700_000_000_000_003n, data: ethernet(tcp4()) }),
    ]);
    const { packets, stats } = read(bytes, 'two.pcapng');
    expect(packets.map((x) => [x.iface, x.ifIndex, x.dir, x.tsUs, x.l3Proto])).toEqual([
      ['eth0', 0, 'ingress', 1_700_000_000_000_001, 4],
      ['two', 1, 'egress', 1_700_000_000_000_002, 6],
      ['eth0', 0, null, 1_700_000_000_000_003, 4],
    ]);
    expect(stats).toMatchObject({ format: 'pcapng', sections: 1, packets: 3, damage: null });
  });

  it('if_tsresol 10^-9 and 2^-20, and if_tsoffset', () => {
    const ns = 1_700_000_000_123_456_789n;
    const bytes = Buffer.concat([
      shb(),
      idb({ linkType: LINKTYPE.RAW, name: 'ns', tsresol: 9 }),
      idb({ linkType: LINKTYPE.RAW, name: 'bin', tsresol: 0x80 | 20 }),
      idb({ linkType: LINKTYPE.RAW, name: 'ms+off', tsresol: 3, tsoffset: 1_000_000_000n }),
      epb({ ifId: 0, ts: ns, data: tcp4() }),
      epb({ ifId: 1, ts: (1_700_000_000n << 20n) + (1n << 19n), data: tcp4() }), // + half a second
      epb({ ifId: 2, ts: 700_000_000_250n, data: tcp4() }),
    ]);
    const { packets } = read(bytes);
    expect(Math.floor(packets[0]!.tsUs)).toBe(1_700_000_000_123_456);
    expect(packets[0]!.tsUs - 1_700_000_000_123_456).toBeCloseTo(0.789, 0);
    expect(packets[1]!.tsUs).toBe(1_700_000_000_500_000);
    expect(packets[2]!.tsUs).toBe(1_700_000_000_250_000);
  });

  it('big-endian sections, several sections of either byte order, interfaces numbered across them', () => {
    const bytes = Buffer.concat([
      shb('be'),
      idb({ linkType: LINKTYPE.LINUX_SLL2, name: 'any', tsresol: 9 }, 'be'),
      epb({ ts: 1_000_000_000_000_000_000n, data: sll2(tcp4(), 4, 3), flags: 0 }, 'be'),
      shb('le'),
      idb({ linkType: LINKTYPE.EN10MB, name: 'veth1' }),
      epb({ ts: 2_000_000_000_000_000n, data: ethernet(tcp4()), flags: 1 }),
      shb('be'),
      idb({ linkType: LINKTYPE.RAW, name: 'tun0' }, 'be'),
      epb({ ts: 3_000_000_000_000_000n, data: udp6() }, 'be'),
    ]);
    const { packets, stats } = read(bytes);
    expect(packets.map((x) => [x.iface, x.ifIndex, x.dir, x.tsUs, x.sllIfIndex])).toEqual([
      ['any', 0, 'egress', 1_000_000_000_000_000, 3],
      ['veth1', 1, 'ingress', 2_000_000_000_000_000, 0],
      ['tun0', 2, null, 3_000_000_000_000_000, 0],
    ]);
    expect(stats.sections).toBe(3);
  });

  it('unknown, statistics and custom blocks are skipped; SPB and the obsolete PB read', () => {
    const bytes = Buffer.concat([
      shb(),
      idb({ linkType: LINKTYPE.EN10MB, name: 'eth0', snaplen: 60 }),
      block(0x0000000a, Buffer.from('secrets!'), 'le'), // decryption secrets
      epb({ ts: 5_000_000n, data: ethernet(tcp4()) }),
      block(0x40000bad, Buffer.from('custom block', 'utf8'), 'le'),
      block(0x12345678, Buffer.alloc(20), 'le'),
      spb(ethernet(tcp4()).subarray(0, 60), ethernet(tcp4()).length),
      pb({ ts: 7_000_000n, data: ethernet(udp6()), flags: 2 }),
      isb(0),
    ]);
    const { packets, stats } = read(bytes);
    expect(packets.map((x) => [x.tsUs, x.capLen, x.dir])).toEqual([
      [5_000_000, 154, null],
      [5_000_000, 60, null], // an SPB has no time: the previous packet's
      [7_000_000, 112, 'egress'],
    ]);
    expect(stats.blocksSkipped).toBe(4);
  });

  it('an interface of an unknown link type: its packets are skipped and counted; alone, it is the error', () => {
    const mixed = Buffer.concat([
      shb(),
      idb({ linkType: 220, name: 'usbmon0' }),
      idb({ linkType: LINKTYPE.RAW, name: 'ip' }),
      epb({ ifId: 0, ts: 1n, data: Buffer.alloc(64) }),
      epb({ ifId: 1, ts: 2n, data: tcp4() }),
    ]);
    const m = read(mixed);
    expect(m.packets).toHaveLength(1);
    expect(m.stats.unsupported).toEqual(new Map([[220, 1]]));
    expect(m.stats.damage).toBeNull();
    expect(describeRead({ name: 'm', stats: m.stats })).toBe('m: pcapng, 1 IP packet, 1 on USB_LINUX_MMAPPED (220) interfaces, skipped');

    const only = read(Buffer.concat([shb(), idb({ linkType: 127, name: 'wlan0mon' }), epb({ ts: 1n, data: Buffer.alloc(64) })]), 'wifi.pcapng');
    expect(only.packets).toHaveLength(0);
    expect(oneLine(only.stats.damage)).toBe(
      'pmtu-watch: wifi.pcapng: no packet of a link type pmtu-watch reads: IEEE802_11_RADIOTAP (127) (capture on an Ethernet, cooked (-i any) or raw-IP interface)',
    );
  });
});

describe('damage', () => {
  const recs = [1, 2, 3].map((i) => ({ sec: i, frac: 0, data: ethernet(tcp4()) }));
  const good = pcap({ linkType: LINKTYPE.EN10MB }, recs);

  it('pcap: a truncated last record gives the records before it, then one line', () => {
    const cut = good.subarray(0, good.length - 30);
    const { packets, stats } = read(cut, 'cut.pcap');
    expect(packets).toHaveLength(2);
    expect(stats.damage).toBeInstanceOf(PmtuError);
    expect(stats.damage!.code).toBe('PMTU_ERR_CAPTURE');
    const at = 24 + 2 * (16 + recs[0]!.data.length);
    expect(oneLine(stats.damage)).toBe(`pmtu-watch: cut.pcap: damaged at byte ${at} of ${cut.length}: the last record is cut off (${recs[0]!.data.length - 30} of its ${recs[0]!.data.length} bytes) (the 2 packets before it were read)`);
  });

  it('pcap: cut inside a record header', () => {
    const { packets, stats } = read(good.subarray(0, 24 + 16 + recs[0]!.data.length + 7));
    expect(packets).toHaveLength(1);
    expect(stats.damage!.message).toContain('the last record is cut off inside its header (7 of 16 bytes)');
  });

  it('pcap: garbage after valid records', () => {
    const bytes = Buffer.concat([good, Buffer.from('this is not a pcap record, it is text someone appended to the file')]);
    const { packets, stats } = read(bytes);
    expect(packets).toHaveLength(3);
    expect(stats.damage!.message).toMatch(new RegExp(`damaged at byte ${good.length} of ${bytes.length}: a record's (captured length|timestamp fraction)`));
  });

  it('pcap: a header only reads as zero packets, no damage', () => {
    const { packets, stats } = read(pcapHeader({ linkType: LINKTYPE.EN10MB }));
    expect(packets).toHaveLength(0);
    expect(stats).toMatchObject({ damage: null, done: true });
  });

  const ng = Buffer.concat([shb(), idb({ linkType: LINKTYPE.EN10MB, name: 'eth0' }), epb({ ts: 1n, data: ethernet(tcp4()) }), epb({ ts: 2n, data: ethernet(tcp4()) })]);
  const lastAt = ng.length - epb({ ts: 2n, data: ethernet(tcp4()) }).length;

  it('pcapng: a truncated last block', () => {
    const { packets, stats } = read(ng.subarray(0, ng.length - 5));
    expect(packets).toHaveLength(1);
    expect(stats.damage!.message).toContain(`damaged at byte ${lastAt} of ${ng.length - 5}: the last block (type 0x6, ${ng.length - lastAt} bytes) is cut off after ${ng.length - lastAt - 5} bytes`);
  });

  it('pcapng: a bad block length (not a multiple of 4; start and end differ)', () => {
    const odd = Buffer.from(ng);
    odd.writeUInt32LE(99, lastAt + 4);
    const a = read(odd);
    expect(a.packets).toHaveLength(1);
    expect(a.stats.damage!.message).toContain(`damaged at byte ${lastAt} of ${ng.length}: block type 0x6 has length 99 (not a multiple of 4)`);

    const differ = Buffer.from(ng);
    differ.writeUInt32LE(0x1234, ng.length - 4);
    const b = read(differ);
    expect(b.packets).toHaveLength(1);
    expect(b.stats.damage!.message).toContain(`block type 0x6 says length ${ng.length - lastAt} at its start and 4660 at its end`);

    const huge = Buffer.from(ng);
    huge.writeUInt32LE(0x7ffffff0, lastAt + 4);
    expect(read(huge).stats.damage!.message).toContain('has length 2147483632 (over 16777216)');
  });

  it('pcapng: garbage after valid blocks', () => {
    const bytes = Buffer.concat([ng, Buffer.from('\n\n--- appended log output ---\n')]);
    const { packets, stats } = read(bytes);
    expect(packets).toHaveLength(2);
    expect(stats.damage!.message).toContain(`damaged at byte ${ng.length} of ${bytes.length}`);
  });

  it('pcapng: a packet on an interface the section never described', () => {
    const bytes = Buffer.concat([shb(), idb({ linkType: LINKTYPE.RAW }), epb({ ifId: 3, ts: 1n, data: tcp4() })]);
    expect(read(bytes).stats.damage!.message).toContain('a packet on interface 3, which its section did not describe (1 interface)');
  });
});

describe('files that are no pcap', () => {
  function openError(bytes: Buffer, name: string): string {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    try {
      ForeignCaptureReader.open(path, { name }).close();
    } catch (e) {
      expect(e).toBeInstanceOf(PmtuError);
      expect((e as PmtuError).code).toBe('PMTU_ERR_CAPTURE');
      return oneLine(e);
    }
    throw new Error('opened');
  }

  it('an empty file', () => {
    expect(openError(Buffer.alloc(0), 'empty.pcap')).toBe('pmtu-watch: empty.pcap: empty file, not a capture (pmtu-watch analyze reads pcap and pcapng files (tcpdump -w, tshark -w, Wireshark))');
  });

  it('a pmtu-watch capture: use report or replay', () => {
    expect(openError(Buffer.concat([preamble(), Buffer.alloc(40)]), 'run.pmtucap')).toBe(
      'pmtu-watch: run.pmtucap: is a pmtu-watch capture, not a pcap (read it with pmtu-watch report or pmtu-watch replay (export --pcapng turns it into pcapng))',
    );
  });

  it('text, gzip, a cut-off file header, an unknown link type', () => {
    expect(openError(Buffer.from('GET / HTTP/1.1\r\n'), 'req.txt')).toBe(
      'pmtu-watch: req.txt: not a pcap or pcapng file (it starts with 47 45 54 20 2f 20 48 54) (pmtu-watch analyze reads pcap and pcapng files (tcpdump -w, tshark -w, Wireshark); for pmtu-watch captures use report or replay)',
    );
    expect(openError(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), 'a.pcap.gz')).toContain('is gzip-compressed (gunzip it first');
    expect(openError(pcapHeader({ linkType: 1 }).subarray(0, 10), 'short.pcap')).toContain('cut off inside its pcap file header (10 of 24 bytes)');
    expect(openError(pcapHeader({ linkType: 127 }), 'wifi.pcap')).toBe(
      'pmtu-watch: wifi.pcap: its link type is IEEE802_11_RADIOTAP (127), not one pmtu-watch reads (capture on an Ethernet, cooked (-i any) or raw-IP interface)',
    );
    expect(openError(Buffer.concat([pcapRecord({ sec: 0, frac: 0, data: Buffer.alloc(8) })]), 'records.pcap')).toContain('not a pcap or pcapng file');
  });

  it('a missing file and a directory', () => {
    expect(() => ForeignCaptureReader.open(join(dir, 'nope.pcap'))).toThrow(/cannot open .*nope\.pcap: ENOENT/);
    expect(() => ForeignCaptureReader.open(dir)).toThrow(/is a directory, not a capture/);
  });
});
