// Runs `pmtu-watch live --json` as a user would (the built bin, a child
// process) while a test drives traffic, and hands back the JSON lines.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import type { NetLab } from '../../src/lab/netlab.js';
import { waitFor } from '../../src/lab/traffic.js';

export const BIN = fileURLToPath(new URL('../../bin/pmtu-watch.js', import.meta.url));

const run = promisify(execFile);

export type JsonLine = Record<string, unknown> & { type: string };
export type EventLine = JsonLine & {
  type: 'event';
  kind: string;
  netns: string;
  iface: string;
  dir: string | null;
  src?: string;
  dst?: string;
  mtu?: number;
  len?: number;
  mss?: number;
  reason?: string;
  mtuIface?: string;
  flags?: string[];
  inner?: { src: string; dst: string; sport: number; dport: number; proto: string; len: number };
};

export interface LiveRun {
  lines: JsonLine[];
  /** Wall-clock time (epoch ms) each line reached the test. */
  arrivals: number[];
  stderr: string;
  code: number | null;
}

/** True once our filter sits on the interface's ingress inside the namespace at `path` (a container's /proc/PID/ns/net). */
export async function hookedAt(path: string, ifname: string): Promise<boolean> {
  const r = await run('nsenter', [`--net=${path}`, 'tc', 'filter', 'show', 'dev', ifname, 'ingress']).catch(() => ({ stdout: '' }));
  return r.stdout.includes('pmtu_tc_ingress');
}

/** `live --json --all-netns` running in the background, its lines gathered as they come; stop() ends it with SIGINT. */
export interface BackgroundLive {
  child: ChildProcess;
  lines: JsonLine[];
  /** Wall-clock time (epoch ms) each line reached the test. */
  arrivals: number[];
  stderr: () => string;
  stop(): Promise<void>;
}

export function startLive(args: string[] = [], maxSeconds = 150): BackgroundLive {
  const child = spawn(process.execPath, [BIN, 'live', '--json', '--all-netns', '--duration', String(maxSeconds), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: JsonLine[] = [];
  const arrivals: number[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    if (!l.trim()) return;
    lines.push(JSON.parse(l) as JsonLine);
    arrivals.push(Date.now());
  });
  const exited = once(child, 'exit');
  return {
    child,
    lines,
    arrivals,
    stderr: () => stderr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
    },
  };
}

/** True once our filter sits on the interface's clsact ingress inside ns. */
export async function observerAttached(lab: NetLab, ns: string, ifname: string): Promise<boolean> {
  const r = await lab.exec(ns, ['tc', 'filter', 'show', 'dev', ifname, 'ingress']);
  return r.stdout.includes('pmtu_tc_ingress');
}

/**
 * Starts live --json with args, waits until it has attached to readyOn (a
 * namespace and interface), runs drive(), then stops it with SIGINT after
 * settleMs and returns everything it printed. Bounded: the observer also gets
 * --duration, so it ends even if the test is torn down mid-way.
 */
export async function runLive(
  lab: NetLab,
  args: string[],
  readyOn: { ns: string; ifname: string },
  drive: () => Promise<void>,
  { settleMs = 700, maxSeconds = 40 } = {},
): Promise<LiveRun> {
  const child = spawn(process.execPath, [BIN, 'live', '--json', '--duration', String(maxSeconds), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: JsonLine[] = [];
  const arrivals: number[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout }).on('line', (l) => {
    if (l.trim() === '') return;
    lines.push(JSON.parse(l) as JsonLine);
    arrivals.push(Date.now());
  });
  const exited = once(child, 'exit');
  try {
    await waitFor(() => observerAttached(lab, readyOn.ns, readyOn.ifname), 15_000);
    await drive();
    await new Promise((r) => setTimeout(r, settleMs));
  } finally {
    if (child.exitCode === null) child.kill('SIGINT');
  }
  const [code] = (await exited) as [number | null];
  return { lines, arrivals, stderr, code };
}

export type VerdictLine = JsonLine & {
  type: 'verdict';
  ts: number;
  verdict: string;
  cause: string | null;
  flow: { src: string; dst: string; sport: number; dport: number; proto: string };
  where: { netns: string | null; iface: string | null; hop: string | null; next?: { netns: string; iface: string } };
  mtu: number | null;
  bounds?: { largestOk: number | null; smallestLost: number | null } | null;
  fix: string | null;
  notes: string[];
};

export function verdicts(run: Pick<LiveRun, 'lines'>): VerdictLine[] {
  return run.lines.filter((l): l is VerdictLine => l.type === 'verdict');
}

/** How long after the kernel saw its evidence each verdict line reached the reader, in ms. */
export function verdictLatencies(run: LiveRun): number[] {
  return run.lines.flatMap((l, i) => (l.type === 'verdict' ? [run.arrivals[i]! - (l.ts as number)] : []));
}

export function events(run: Pick<LiveRun, 'lines'>): EventLine[] {
  return run.lines.filter((l): l is EventLine => l.type === 'event');
}

/** The last stats line's kernel traffic counters (flows the kernel saw: healthy ones make no verdict line). */
export function trafficFlows(run: Pick<LiveRun, 'lines'>): number {
  const stats = run.lines.filter((l) => l.type === 'stats');
  const last = stats.at(-1) as { traffic?: { flows: number } } | undefined;
  return last?.traffic?.flows ?? 0;
}
