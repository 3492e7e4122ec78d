// probe beside tracepath (iputils-tracepath) and nmap's path-mtu script on
// the lab's scenarios, each tool on a topology of its own (a path MTU one
// tool's probes taught the kernel would answer the next tool's from the
// cache). Prints the table the README shows.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { afterAll, expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { scenario } from '../../src/lab/scenarios.js';
import type { RoutedPath } from '../../src/lab/topologies.js';
import { kernelDescribe, needAddon, needBtf, needCommands, needLabTools } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { runProbe } from './run.js';

const run = promisify(execFile);

interface Case {
  name: string;
  from: 'c' | 's';
  to: (p: RoutedPath) => string;
  pathMtu: number;
  /** What a right answer names besides the MTU: the hop that reported it, or the PTB's fate on this host, or where it is lost. */
  place: string;
  /** probe's words for it. */
  probeRight: (j: NonNullable<Awaited<ReturnType<typeof runProbe>>['json']>) => boolean;
}

const CASES: Case[] = [
  { name: 'router-bottleneck', from: 'c', to: (p) => p.server.v4, pathMtu: 1500, place: '198.18.1.1', probeRight: (j) => j.ptb?.from === '198.18.1.1' && j.ptb.fate === 'delivered' },
  { name: 'rp-filter', from: 's', to: (p) => p.client.v4, pathMtu: 1500, place: '198.19.0.1', probeRight: (j) => j.ptb?.from === '198.19.0.1' && j.ptb.fate === 'rp_filter' },
  { name: 'firewall', from: 'c', to: (p) => p.server.v4, pathMtu: 1500, place: '198.18.1.1', probeRight: (j) => j.ptb?.from === '198.18.1.1' && j.ptb.fate === 'firewall' },
  { name: 'silent-blackhole', from: 'c', to: (p) => p.server.v4, pathMtu: 1500, place: '198.18.1.1', probeRight: (j) => j.ptb === null && j.blackhole?.after === '198.18.1.1' },
  { name: 'ipv6', from: 'c', to: (p) => p.server.v6!, pathMtu: 1500, place: '2001:db8:1::1', probeRight: (j) => j.ptb?.from === '2001:db8:1::1' && j.ptb.fate === 'delivered' },
];

/** A tool's output, bounded: what it printed until it ended or was stopped. */
async function tool(lab: NetLab, ns: string, argv: string[], seconds: number): Promise<{ out: string; ms: number; timedOut: boolean }> {
  const t0 = Date.now();
  try {
    const r = await run('ip', ['netns', 'exec', ns, 'timeout', String(seconds), 'stdbuf', '-oL', ...argv], { timeout: (seconds + 5) * 1000 });
    return { out: r.stdout, ms: Date.now() - t0, timedOut: false };
  } catch (e) {
    const err = e as { stdout?: string; code?: number };
    return { out: err.stdout ?? '', ms: Date.now() - t0, timedOut: err.code === 124 };
  }
}

/** tracepath's answer: the pmtu it ends with, the hop that reported a smaller one, and whether hops went unanswered. */
export function readTracepath(out: string): { pmtu: number | null; reportedBy: string | null; noReply: boolean; reached: boolean } {
  const resume = /Resume: pmtu (\d+)/.exec(out) ?? /Too many hops: pmtu (\d+)/.exec(out);
  const all = [...out.matchAll(/^\s*\d+\??:\s+(\S+).*pmtu (\d+)/gm)];
  const first = all.length ? Number(all[0]![2]) : null;
  const smaller = all.find((m) => first !== null && Number(m[2]) < first);
  const last = all.length ? Number(all[all.length - 1]![2]) : null;
  return { pmtu: resume ? Number(resume[1]) : last, reportedBy: smaller ? smaller[1]! : null, noReply: /no reply/.test(out), reached: /reached/.test(out) };
}

/** nmap's path-mtu: `PMTU == N` or `A <= PMTU < B`; null when the script said nothing (it runs for IPv4 only). */
export function readNmap(out: string): { text: string | null; low: number; high: number } | null {
  const m = /path-mtu: (.*)/.exec(out);
  if (!m) return null;
  const text = m[1]!.trim();
  const eq = /PMTU == (\d+)/.exec(text);
  if (eq) return { text, low: Number(eq[1]), high: Number(eq[1]) + 1 };
  const range = /(\d+) <= PMTU < (\d+)/.exec(text);
  return range ? { text, low: Number(range[1]), high: Number(range[2]) } : { text, low: 0, high: 0 };
}

const rows: string[] = [];

kernelDescribe(
  'probe beside tracepath and nmap',
  () => {
    const labs = useLabs();
    afterAll(() => {
      console.log(
        ['| scenario | tracepath | nmap `--script path-mtu` | `pmtu-watch probe` |', '|---|---|---|---|', ...rows].join('\n'),
      );
    });

    for (const c of CASES) {
      it(
        c.name,
        async () => {
          const sc = scenario(c.name)!;
          const fresh = async (tag: string) => {
            const lab = await labs.create(`${tag}${CASES.indexOf(c)}`);
            const built = await sc.build(lab);
            const p = built.topology as RoutedPath;
            return { lab, ns: built.ns[c.from]!, dst: c.to(p) };
          };
          const six = c.name === 'ipv6';

          const t = await fresh('sbst');
          const tp = await tool(t.lab, t.ns, ['tracepath', '-n', ...(six ? ['-6'] : []), '-m', '5', t.dst], 20);
          const tr = readTracepath(tp.out);
          const tpMtu = tr.pmtu === c.pathMtu;
          const tpPlace = tr.reportedBy === c.place;
          const tpCell = `${tr.pmtu !== null ? `pmtu ${tr.pmtu}` : 'no pmtu'}${tr.reportedBy ? ` (from ${tr.reportedBy})` : ''}${tr.noReply ? ', "no reply"' : ''}${tp.timedOut ? ', stopped at 20 s' : ''}`;

          const n = await fresh('sbsn');
          const nm = await tool(n.lab, n.ns, ['nmap', '-n', '-Pn', ...(six ? ['-6'] : []), '-p', '80', '--script', 'path-mtu', '--host-timeout', '20s', n.dst], 25);
          const nr = readNmap(nm.out);
          // It names no hop and no PTB: at best the MTU, or a range that holds it.
          const nmMtu = nr !== null && nr.low <= c.pathMtu && c.pathMtu < nr.high;
          const nmCell = nr ? nr.text : six ? 'nothing (the script is IPv4 only)' : 'nothing';

          const p = await fresh('sbsp');
          const pr = await runProbe(['--netns', p.ns, '--json', p.dst]);
          const j = pr.json!;
          const prMtu = j.pathMtu === c.pathMtu;
          const prPlace = c.probeRight(j);
          const prCell = `path MTU ${j.pathMtu}, ${j.ptb ? `PTB from ${j.ptb.from} ${j.ptb.fate}${j.ptb.iface && j.ptb.fate !== 'delivered' ? ` on ${j.ptb.iface}` : ''}` : 'no PTB'}${j.blackhole ? `, lost after ${j.blackhole.after}` : ''}: ${j.verdict}${j.cause ? ` (${j.cause})` : ''}`;

          const mark = (mtu: boolean, place: boolean) => `MTU ${mtu ? '✓' : '✗'} where/why ${place ? '✓' : '✗'}:`;
          rows.push(
            `| ${c.name} | ${mark(tpMtu, tpPlace)} ${tpCell} | ${mark(nmMtu, false)} ${nmCell} | ${mark(prMtu, prPlace)} ${prCell} (${(pr.ms / 1000).toFixed(1)} s) |`,
          );
          console.log(`${c.name}: tracepath ${(tp.ms / 1000).toFixed(1)} s: ${tpCell}\n${tp.out}\nnmap ${(nm.ms / 1000).toFixed(1)} s: ${nmCell}\nprobe ${(pr.ms / 1000).toFixed(1)} s: ${prCell}`);
          expect(prMtu && prPlace, JSON.stringify(j)).toBe(true);
          expect(pr.ms).toBeLessThan(20_000);
        },
        150_000,
      );
    }
  },
  { requires: [needBtf, needLabTools, needAddon, needCommands('tracepath', 'nmap', 'stdbuf')] },
);
