// Real captures read back (src/capture/foreign.ts): two namespaces joined by
// a veth pair, tcpdump on one end writing pcap (microseconds, nanoseconds,
// -i any as LINUX_SLL2 and as LINUX_SLL) and dumpcap writing pcapng (one
// interface, and two), while pings of known sizes and a bounded iperf3
// transfer cross it. tcpdump runs with --immediate-mode: without it packets
// wait up to a second in the kernel's ring block, and a SIGTERM in that second
// leaves them out of the file. The reader must give those packets with their sizes,
// directions, interface names and times. Addresses: 198.18.0.0/15, 2001:db8::/32.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, expect, it } from 'vitest';

import { ForeignCaptureReader, type ForeignPacket, type ReadStats } from '../../src/capture/foreign.js';
import type { NetLab, Spawned } from '../../src/lab/netlab.js';
import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needCommands } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

const A4 = '198.18.0.1';
const B4 = '198.18.0.2';
const A6 = '2001:db8::1';
const B6 = '2001:db8::2';
const PING4 = 1000; // ICMP payload: IP length 1028, an Ethernet frame of 1042
const PING6 = 500; // IPv6 length 548, a frame of 562

const dir = mkdtempSync(join(tmpdir(), 'pmtu-foreign-kernel-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(file: string): { packets: ForeignPacket[]; stats: ReadStats } {
  const r = ForeignCaptureReader.open(file);
  try {
    return { packets: [...r], stats: r.stats };
  } finally {
    r.close();
  }
}

interface Echo {
  v: 4 | 6;
  request: boolean;
  src: string;
  ipLen: number;
  p: ForeignPacket;
}

/** The ICMP and ICMPv6 echoes among the packets. */
function echoes(packets: ForeignPacket[]): Echo[] {
  const out: Echo[] = [];
  for (const p of packets) {
    const l3 = p.l3;
    if (p.l3Proto === 4 && l3[9] === 1) {
      const ihl = (l3[0]! & 0xf) * 4;
      const type = l3[ihl]!;
      if (type === 8 || type === 0) out.push({ v: 4, request: type === 8, src: [...l3.subarray(12, 16)].join('.'), ipLen: l3.readUInt16BE(2), p });
    } else if (p.l3Proto === 6 && l3[6] === 58) {
      const type = l3[40]!;
      if (type === 128 || type === 129) out.push({ v: 6, request: type === 128, src: l3[23] === 1 ? A6 : B6, ipLen: 40 + l3.readUInt16BE(4), p });
    }
  }
  return out;
}

/** Every IP packet's own length agrees with the record's, less the link header (none here is cut by a snaplen). */
function lengthsAgree(packets: ForeignPacket[]): void {
  for (const p of packets) {
    const ipLen = p.l3Proto === 4 ? p.l3.readUInt16BE(2) : 40 + p.l3.readUInt16BE(4);
    expect(p.origLen - p.l3Offset).toBeGreaterThanOrEqual(ipLen); // an Ethernet frame may be padded to 60
    expect(p.capLen).toBe(p.origLen);
  }
}

async function started(lab: NetLab, ns: string, argv: string[], ready: RegExp): Promise<Spawned> {
  const s = lab.spawn(ns, ['timeout', '60', ...argv]);
  let gone = false;
  void s.exited.then(() => (gone = true));
  await waitFor(() => {
    if (gone) throw new Error(`${argv[0]} exited early: ${s.output().stderr.trim()}`);
    return ready.test(s.output().stderr);
  }, 10_000);
  return s;
}

kernelDescribe(
  'reading real tcpdump and dumpcap captures',
  () => {
    const labs = useLabs();

    it('pcap (us, ns), -i any (SLL2, SLL) and pcapng (one and two interfaces) give the pings and the transfer', async () => {
      const lab = await labs.create('pcap');
      const a = await lab.addNs('a');
      const b = await lab.addNs('b');
      await lab.veth(a, 'va', b, 'vb');
      await lab.addr(a, 'va', `${A4}/24`);
      await lab.addr(b, 'vb', `${B4}/24`);
      await lab.addr(a, 'va', `${A6}/64`);
      await lab.addr(b, 'vb', `${B6}/64`);
      const ifindex = (JSON.parse((await lab.ip(a, ['-j', 'link', 'show', 'va'])).stdout) as { ifindex: number }[])[0]!.ifindex;

      const f = (name: string) => join(dir, name);
      // Only the lab's traffic: IPv6 neighbour discovery and MLD stay out of the counts below anyway.
      const filter = ['ip', 'or', 'ip6'];
      const dumps = [
        await started(lab, a, ['tcpdump', '--immediate-mode', '-U', '-i', 'va', '-w', f('va.pcap'), ...filter], /listening on va, link-type EN10MB/),
        await started(lab, a, ['tcpdump', '--immediate-mode', '-U', '-i', 'va', '--time-stamp-precision=nano', '-w', f('va-nano.pcap'), ...filter], /listening on va/),
        await started(lab, a, ['tcpdump', '--immediate-mode', '-U', '-i', 'any', '-w', f('any.pcap'), ...filter], /listening on any, link-type LINUX_SLL2/),
        await started(lab, a, ['tcpdump', '--immediate-mode', '-U', '-i', 'any', '-y', 'LINUX_SLL', '-w', f('any-sll.pcap'), ...filter], /link-type LINUX_SLL /),
        await started(lab, a, ['dumpcap', '-q', '-i', 'va', '-f', 'ip or ip6', '-w', f('va.pcapng')], /File: /),
        await started(lab, a, ['dumpcap', '-q', '-i', 'va', '-i', 'lo', '-f', 'ip or ip6', '-w', f('two.pcapng')], /File: /),
      ];

      const t0 = Date.now();
      await lab.exec(a, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', String(PING4), B4], { check: true });
      await lab.exec(a, ['ping', '-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', String(PING6), B6], { check: true });
      await lab.exec(a, ['ping', '-c', '1', '-W', '2', '127.0.0.1'], { check: true }); // on lo: two.pcapng's second interface
      const server = lab.spawn(b, ['timeout', '20', 'iperf3', '-s', '-1', '-p', '5201']);
      await waitFor(async () => (await lab.exec(b, ['ss', '-Hltn', 'sport = :5201'])).stdout.trim() !== '', 5000);
      const client = await lab.exec(a, ['iperf3', '-c', B4, '-p', '5201', '-n', '256K', '--connect-timeout', '3000'], { timeoutMs: 15_000 });
      expect(client.code, client.stderr).toBe(0);
      await server.exited;
      const t1 = Date.now();
      await new Promise((r) => setTimeout(r, 300)); // the last packets into each capture's buffer
      for (const d of dumps) await d.stop(5000);

      // tcpdump -i va: Ethernet, microseconds, no direction in a pcap.
      const va = read(f('va.pcap'));
      expect(va.stats).toMatchObject({ format: 'pcap', damage: null });
      const e = echoes(va.packets);
      expect(e.filter((x) => x.v === 4).map((x) => [x.request, x.src, x.ipLen, x.p.origLen])).toEqual(
        [1, 2, 3].flatMap(() => [
          [true, A4, PING4 + 28, PING4 + 42],
          [false, B4, PING4 + 28, PING4 + 42],
        ]),
      );
      expect(e.filter((x) => x.v === 6).map((x) => [x.request, x.ipLen, x.p.origLen])).toEqual(
        [1, 2, 3].flatMap(() => [
          [true, PING6 + 48, PING6 + 62],
          [false, PING6 + 48, PING6 + 62],
        ]),
      );
      expect(va.packets.every((p) => p.iface === 'va' && p.linkType === 1 && p.dir === null && p.l3Offset === 14)).toBe(true);
      expect(va.packets.every((p) => p.tsUs >= (t0 - 1000) * 1000 && p.tsUs <= (t1 + 1000) * 1000)).toBe(true);
      lengthsAgree(va.packets);
      const tcp = va.packets.filter((p) => p.l3Proto === 4 && p.l3[9] === 6);
      const syns = tcp.filter((p) => (p.l3[(p.l3[0]! & 0xf) * 4 + 13]! & 0x02) !== 0);
      expect(syns.length).toBe(4); // control and data connection, SYN and SYN-ACK each
      // Captured on the sending host, TCP data comes as GSO packets far above the MTU (47850
      // bytes here): what the wire carried is their segments, not them.
      const bytes = tcp.reduce((n, p) => n + p.l3.readUInt16BE(2), 0);
      // Every packet tcpdump wrote is read; the whole transfer only when it dropped none (a loaded machine's ring fills).
      const said = dumps[0]!.output().stderr;
      const captured = /(\d+) packets? captured/.exec(said)?.[1];
      const dropped = Number(/(\d+) packets? dropped by kernel/.exec(said)?.[1] ?? 0);
      expect(captured, said).toBeDefined();
      expect(va.packets.length).toBe(Number(captured));
      if (dropped === 0) expect(bytes).toBeGreaterThan(256 * 1024);
      else console.log(`tcpdump -i va dropped ${dropped} packets in the kernel: ${bytes} bytes of TCP kept`);

      // Nanoseconds: the same packets at the same times, with a finer fraction.
      const nano = read(f('va-nano.pcap'));
      expect(echoes(nano.packets).map((x) => [x.v, x.request, x.ipLen])).toEqual(e.map((x) => [x.v, x.request, x.ipLen]));
      echoes(nano.packets).forEach((x, i) => expect(Math.abs(x.p.tsUs - e[i]!.p.tsUs)).toBeLessThan(1000)); // each socket takes its own time
      expect(nano.packets.some((p) => p.tsUs !== Math.floor(p.tsUs))).toBe(true);

      // -i any: cooked v2 by default, with the direction and va's ifindex; v1 with -y.
      for (const [file, linkType, offset] of [
        ['any.pcap', 276, 20],
        ['any-sll.pcap', 113, 16],
      ] as const) {
        const any = read(f(file));
        const ae = echoes(any.packets).filter((x) => x.v === 4 && x.src !== '127.0.0.1');
        expect(ae.map((x) => [x.request, x.p.dir, x.p.origLen - x.p.l3Offset]), file).toEqual(
          [1, 2, 3].flatMap(() => [
            [true, 'egress', PING4 + 28],
            [false, 'ingress', PING4 + 28],
          ]),
        );
        expect(ae.every((x) => x.p.linkType === linkType && x.p.l3Offset === offset && x.p.iface === file.replace('.pcap', '')), file).toBe(true);
        if (linkType === 276) expect(ae.every((x) => x.p.sllIfIndex === ifindex)).toBe(true);
        // The ping to 127.0.0.1 crossed lo: there, both ways look outgoing and incoming once each.
        expect(echoes(any.packets).filter((x) => x.src === '127.0.0.1').length, file).toBeGreaterThanOrEqual(2);
      }

      // dumpcap: pcapng, the interface by its name (dumpcap 4.0 on Linux writes no epb_flags: no direction).
      const ng = read(f('va.pcapng'));
      expect(ng.stats).toMatchObject({ format: 'pcapng', damage: null, sections: 1 });
      const ne = echoes(ng.packets);
      expect(ne.map((x) => [x.v, x.request, x.p.origLen])).toEqual(e.map((x) => [x.v, x.request, x.p.origLen]));
      expect(ng.packets.every((p) => p.iface === 'va' && p.ifIndex === 0 && p.linkType === 1)).toBe(true);
      ne.forEach((x, i) => expect(Math.abs(x.p.tsUs - e[i]!.p.tsUs)).toBeLessThan(1000));

      const two = read(f('two.pcapng'));
      const byIface = new Map<string, number>();
      for (const p of two.packets) byIface.set(`${p.iface}#${p.ifIndex}`, (byIface.get(`${p.iface}#${p.ifIndex}`) ?? 0) + 1);
      expect([...byIface.keys()].sort()).toEqual(['lo#1', 'va#0']);
      expect(echoes(two.packets.filter((p) => p.iface === 'lo')).map((x) => x.request)).toEqual([true, false]);
      expect(echoes(two.packets.filter((p) => p.iface === 'va')).length).toBe(12);
    });
  },
  { requires: [needCommands('ip', 'ping', 'tcpdump', 'dumpcap', 'iperf3', 'ss', 'timeout')] },
);
