// A spoofed PTB flood from a namespace: frag-needed and Packet Too Big at
// the highest rate a raw socket gives, for seconds, each quoting a random
// flow, with now and then a genuine one about a flow the victim really sent.
// What `pmtu-watch live --serve` must do: no verdict for the spoofed ones
// (counted as unmatched), the verdict for the real one, every event seen or
// counted as lost, BPF map memory unchanged, the process's memory flat, and
// /metrics answering throughout.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { pingDf, waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, observerAttached } from '../helpers/live.js';

const V4 = { victim: '198.18.50.1', attacker: '198.18.50.2' };
const V6 = { victim: '2001:db8:50::1', attacker: '2001:db8:50::2' };
const FLOOD_SECONDS = 4;
const FLOOD_MAX_PACKETS = 2_000_000;
/** One genuine PTB (about the victim's own ping) every this many spoofed ones. */
const GENUINE_EVERY = 2000;

/**
 * The flood, bounded in count and time. Packets are made up front (20000
 * distinct quoted flows, far more than the correlator keeps aside) and sent
 * in a loop: Python makes them too slowly to send as it makes them.
 */
const FLOOD_PY = String.raw`
import json, random, socket, struct, sys, time
victim4, attacker4, victim6, attacker6 = sys.argv[1:5]
seconds, max_packets, genuine_every = float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
rnd = random.Random(7)
a4 = socket.inet_aton
def csum(b):
    if len(b) % 2: b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def ip4(src, dst, proto, payload, df=False):
    h = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(payload), rnd.randrange(65536), 0x4000 if df else 0, 64, proto, 0, a4(src), a4(dst))
    return h + payload
def frag_needed(router, mtu, quoted):
    icmp = struct.pack('!BBHHH', 3, 4, 0, 0, mtu) + quoted
    icmp = icmp[:2] + struct.pack('!H', csum(icmp)) + icmp[4:]
    return ip4(router, victim4, 1, icmp)
def rand4():
    return '%d.%d.%d.%d' % (rnd.randrange(1, 224), rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255))
def spoofed4():
    proto = rnd.choice([6, 17])
    inner = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 1500, 0, 0x4000, 64, proto, 0, a4(rnd.choice([victim4, rand4()])), a4(rand4()))
    return frag_needed('198.19.%d.%d' % (rnd.randrange(256), rnd.randrange(1, 255)), rnd.randrange(68, 1500), inner + struct.pack('!HHI', rnd.randrange(1, 65536), rnd.randrange(1, 65536), 0))
def spoofed6():
    inner = struct.pack('!IHBB', 0x60000000, 1460, 6, 64) + socket.inet_pton(socket.AF_INET6, victim6) + socket.inet_pton(socket.AF_INET6, '2001:db8:%x::%x' % (rnd.randrange(65536), rnd.randrange(1, 65536)))
    return struct.pack('!BBHI', 2, 0, 0, rnd.randrange(1280, 1500)) + inner + struct.pack('!HHI', rnd.randrange(1, 65536), 443, 0)
# The victim's own ping (DF, 1428 bytes) as a router would quote it.
genuine = frag_needed(attacker4, 1300, struct.pack('!BBHHHBBH4s4s', 0x45, 0, 1428, 0, 0x4000, 64, 1, 0, a4(victim4), a4(attacker4)) + struct.pack('!BBHHH', 8, 0, 0, 1, 1))
pool = [(4, spoofed4()) if rnd.random() < 0.7 else (6, spoofed6()) for _ in range(20000)]
s4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s4.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
sent = {'v4': 0, 'v6': 0, 'genuine': 0, 'dropped': 0}
start = time.monotonic()
n = 0
while n < max_packets and time.monotonic() - start < seconds:
    for _ in range(500):
        if n % genuine_every == 0:
            pkt, fam, key = genuine, 4, 'genuine'
        else:
            fam, pkt = pool[n % len(pool)]
            key = 'v4' if fam == 4 else 'v6'
        try:
            if fam == 4: s4.sendto(pkt, (victim4, 0))
            else: s6.sendto(pkt, (victim6, 0))
            sent[key] += 1
        except (BlockingIOError, OSError):
            sent['dropped'] += 1
        n += 1
sent['seconds'] = round(time.monotonic() - start, 3)
print(json.dumps(sent))
`;

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

/** Bytes the kernel holds for the BPF maps the process has open (their fdinfo's memlock). */
function bpfMapBytes(pid: number): number {
  let total = 0;
  let maps = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf-map') continue;
    const m = /^memlock:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
    total += m ? Number(m[1]) : 0;
    maps++;
  }
  if (maps === 0) throw new Error(`pid ${pid} holds no BPF map`);
  return total;
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

kernelDescribe(
  'a spoofed PTB flood',
  () => {
    const labs = useLabs();

    it(`held for ${FLOOD_SECONDS} s: no verdict for spoofed flows (unmatched), the genuine one judged, nothing lost uncounted, memory bounded, /metrics answering`, async () => {
      const lab: NetLab = await labs.create('flood');
      const v = await lab.addNs('v');
      const x = await lab.addNs('x');
      await lab.veth(v, 'eth0', x, 'eth0', { mtuA: 1500, mtuB: 1500 });
      await lab.addr(v, 'eth0', `${V4.victim}/24`);
      await lab.addr(x, 'eth0', `${V4.attacker}/24`);
      await lab.addr(v, 'eth0', `${V6.victim}/64`);
      await lab.addr(x, 'eth0', `${V6.attacker}/64`);

      const child = spawn(process.execPath, [BIN, 'live', '--netns', v, '--serve', '127.0.0.1:0', '--duration', '90'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = once(child, 'exit');
      const rss: number[] = [];
      const scrapes: { ok: boolean; ms: number }[] = [];
      let sent: { v4: number; v6: number; genuine: number; dropped: number; seconds: number };
      let metricsUrl = '';
      let mapBytes: { before: number; after: number };
      const scrape = async () => {
        const t0 = Date.now();
        try {
          const text = await (await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) })).text();
          scrapes.push({ ok: true, ms: Date.now() - t0 });
          return text;
        } catch {
          scrapes.push({ ok: false, ms: Date.now() - t0 });
          return '';
        }
      };
      try {
        const feed = await waitFor(() => /feed on (ws:\/\/\S+\/feed)/.exec(stderr)?.[1], 15_000);
        metricsUrl = feed.replace('ws://', 'http://').replace('/feed', '/metrics');
        await waitFor(() => observerAttached(lab, v, 'eth0'), 10_000);
        // The victim's own flow: DF pings larger than 1280 bytes, seen leaving.
        await pingDf(lab, v, V4.attacker, { size: 1400, count: 2 });
        await waitFor(async () => metric(await scrape(), 'pmtu_events_total', '{kind="size"}') >= 1, 10_000);
        mapBytes = { before: bpfMapBytes(child.pid!), after: 0 };
        const baseline = rssKiB(child.pid!);

        const flood = lab.spawn(x, ['python3', '-c', FLOOD_PY, V4.victim, V4.attacker, V6.victim, V6.attacker, String(FLOOD_SECONDS), String(FLOOD_MAX_PACKETS), String(GENUINE_EVERY)]);
        let flooding = true;
        void flood.exited.then(() => (flooding = false));
        while (flooding) {
          rss.push(rssKiB(child.pid!));
          await scrape();
          await new Promise((r) => setTimeout(r, 200));
        }
        const out = await flood.exited;
        expect(out.code, out.stderr).toBe(0);
        sent = JSON.parse(out.stdout) as typeof sent;

        // Let the observer drain, then read what it says.
        let last = -1;
        await waitFor(async () => {
          const n = metric(await scrape(), 'pmtu_events_total', '{kind="ptb"}');
          const settled = n === last;
          last = n;
          return settled;
        }, 30_000, 500);
        mapBytes.after = bpfMapBytes(child.pid!);
        const text = await scrape();
        const ptbs = metric(text, 'pmtu_events_total', '{kind="ptb"}');
        const lost = metric(text, 'pmtu_lost_events', '{where="ringbuf"}') + metric(text, 'pmtu_lost_events', '{where="queue"}');
        const unmatched = metric(text, 'pmtu_unmatched_icmp_errors');
        const flows = metric(text, 'pmtu_flows');
        const total = sent.v4 + sent.v6 + sent.genuine;
        const peak = Math.max(...rss);
        const firstHalf = Math.max(...rss.slice(0, Math.ceil(rss.length / 2)));
        console.log(
          `[flood] ${total} PTBs in ${sent.seconds} s (${Math.round(total / sent.seconds)}/s; ${sent.v4} v4, ${sent.v6} v6, ${sent.genuine} genuine, ${sent.dropped} refused by the sender's socket): ` +
            `${ptbs} PTB events, ${lost} lost and counted, ${unmatched} unmatched, ${flows} flows; RSS ${baseline} KiB before, peak ${peak} KiB; ` +
            `BPF maps ${mapBytes.before} bytes before, ${mapBytes.after} after; ${scrapes.length} /metrics scrapes, slowest ${Math.max(...scrapes.map((s) => s.ms))} ms`,
        );

        expect(total).toBeGreaterThan(50_000); // a flood, not a trickle
        // Everything that arrived was seen or counted as lost (other namespaces' events may share the loss counters).
        expect(ptbs + lost).toBeGreaterThanOrEqual(total);
        expect(ptbs).toBeLessThanOrEqual(total);
        // Spoofed PTBs make no flows and no verdicts: they are the unmatched ones.
        expect(unmatched).toBeGreaterThanOrEqual(ptbs - sent.genuine);
        expect(flows).toBeLessThanOrEqual(3);
        expect(mapBytes.after).toBe(mapBytes.before);
        // Bounded: well under what a leak of every spoofed PTB would take, and not growing while the flood went on.
        expect(peak).toBeLessThan(baseline + 256 * 1024);
        expect(peak).toBeLessThan(firstHalf + 64 * 1024);
        expect(scrapes.every((s) => s.ok)).toBe(true);
      } finally {
        child.kill('SIGINT');
      }
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      // What a person watching saw: the genuine PTB's verdict, about the victim's ping, and nothing about any spoofed flow.
      const verdictLines = stdout.split('\n').filter((l) => /^\d\d:\d\d:\d\d\.\d{3} [A-Z-]+ /.test(l));
      expect(verdictLines.length).toBeGreaterThan(0);
      for (const l of verdictLines) expect(l).toContain(`${V4.victim} -> ${V4.attacker}`);
      expect(verdictLines[0]).toMatch(/PTB-(HONORED|DROPPED)/);
      expect(stderr).toMatch(/\d+ unmatched ICMP errors/);
    }, 120_000);
  },
  { requires: [needBtf, needLabTools, needCommands('python3'), needAddon] },
);
