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
import { ptbFlood, victimAndAttacker, type FloodResult } from '../helpers/flood.js';
import { BIN, observerAttached } from '../helpers/live.js';

const FLOOD_SECONDS = 4;
const FLOOD_MAX_PACKETS = 2_000_000;
/** One genuine PTB (about the victim's own ping) every this many spoofed ones. */
const GENUINE_EVERY = 2000;

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

    // From outside: only the victim is watched. From a local raw socket: the attacker's namespace is
    // watched too, so every forged PTB also leaves a watched interface from a socket of this host.
    for (const from of ['outside', 'a local raw socket'] as const) {
      it(`from ${from}, held for ${FLOOD_SECONDS} s: no verdict for spoofed flows (unmatched), the genuine one judged, nothing lost uncounted, memory bounded, /metrics answering`, async () => {
        const lab: NetLab = await labs.create('flood');
        const { victim: v, attacker: x, addrs } = await victimAndAttacker(lab);
        const watched = from === 'outside' ? ['--netns', v] : ['--netns', v, '--netns', x];

        const child = spawn(process.execPath, [BIN, 'live', ...watched, '--serve', '127.0.0.1:0', '--duration', '90'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = once(child, 'exit');
        const rss: number[] = [];
        const scrapes: { ok: boolean; ms: number }[] = [];
        let sent: FloodResult;
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
          await pingDf(lab, v, addrs.attacker4, { size: 1400, count: 2 });
          // A healthy flow makes no event: the kernel counts it (and the genuine PTB will find it in its flow table).
          await waitFor(async () => metric(await scrape(), 'pmtu_kernel_flows_total', `{netns="${v}",iface="eth0"}`) >= 1, 10_000);
          mapBytes = { before: bpfMapBytes(child.pid!), after: 0 };
          const baseline = rssKiB(child.pid!);

          let flooding = true;
          const flood = ptbFlood(lab, x, { ...addrs, seconds: FLOOD_SECONDS, maxPackets: FLOOD_MAX_PACKETS, genuineEvery: GENUINE_EVERY }).finally(() => (flooding = false));
          while (flooding) {
            rss.push(rssKiB(child.pid!));
            await scrape();
            await new Promise((r) => setTimeout(r, 200));
          }
          sent = await flood;

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
          // Each PTB crosses one watched hook, or two when the attacker's namespace is watched too.
          const crossings = from === 'outside' ? 1 : 2;
          expect(ptbs).toBeLessThanOrEqual(total * crossings);
          // Spoofed PTBs make no flows and no verdicts: they are the unmatched ones.
          expect(unmatched).toBeGreaterThanOrEqual(ptbs - sent.genuine * crossings);
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
        for (const l of verdictLines) expect(l).toContain(`${addrs.victim4} -> ${addrs.attacker4}`);
        expect(verdictLines[0]).toMatch(/PTB-(HONORED|DROPPED)/);
        expect(stderr).toMatch(/\d+ unmatched ICMP errors/);
      }, 120_000);
    }
  },
  { requires: [needBtf, needLabTools, needCommands('python3'), needAddon] },
);
