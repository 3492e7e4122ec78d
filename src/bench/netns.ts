// 7. Namespace discovery: what one look at the host costs with 1,000
// processes (every process's ns/net stat'ed, new namespaces identified), beside
// util-linux's `lsns -t net` doing the same job; and how soon namespaces that
// come and go are noticed at the observer's rescan interval.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';

import { NetnsDiscovery, hostSources } from '../netns/discovery.js';
import { median, notAvailable, type Figure, type Section } from './report.js';

/** The host is made to hold this many processes for the scan. */
export const PROCESSES = 1000;
/** Namespaces among them, each held only by its process (as containers leave theirs). */
const HELD = 20;
const SCANS = 30;
/** The observer's rescan interval (src/observer/index.ts). */
export const RESCAN_MS = 500;
/** Namespaces that come and go while a scanner looks. */
const CHURN = 12;
export const NOTICE_MAX_MS = 1000;

function processCount(): number {
  return hostSources.pids().length;
}

/** Starts `n` sleeping processes (held namespaces among them) in one process group; kill() ends them all. */
function holders(n: number): { child: ChildProcess; kill(): void } {
  const script = `for i in $(seq ${HELD}); do unshare -n sleep 120 & done; for i in $(seq ${Math.max(0, n - HELD)}); do sleep 120 & done; wait`;
  const child = spawn('sh', ['-c', script], { stdio: 'ignore', detached: true });
  return {
    child,
    kill() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone already
      }
    },
  };
}

async function until(done: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (done()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return done();
}

interface Notice {
  appearMs: number[];
  vanishMs: number[];
  missed: number;
}

/**
 * A scanner at the observer's interval while namespaces are made (unshare -n)
 * and ended at random moments: from each one's making to the first scan that
 * lists it, and from its end to the first scan that no longer does.
 */
async function noticing(): Promise<Notice> {
  const discovery = new NetnsDiscovery();
  const out: Notice = { appearMs: [], vanishMs: [], missed: 0 };
  const pending = new Map<number, { startedAt: number; inode?: number; endedAt?: number }>();
  const timer = setInterval(() => {
    const now = performance.now();
    const found = discovery.scan();
    const byPid = new Map(found.flatMap((e) => (e.info.pid !== undefined ? [[e.info.pid, e.inode] as const] : [])));
    const inodes = new Set(found.map((e) => e.inode));
    for (const [pid, p] of pending) {
      if (p.inode === undefined && byPid.has(pid)) {
        p.inode = byPid.get(pid)!;
        out.appearMs.push(now - p.startedAt);
      }
      if (p.endedAt !== undefined && p.inode !== undefined && !inodes.has(p.inode)) {
        out.vanishMs.push(now - p.endedAt);
        pending.delete(pid);
      }
    }
  }, RESCAN_MS);
  try {
    for (let i = 0; i < CHURN; i++) {
      await new Promise((r) => setTimeout(r, 100 + Math.random() * RESCAN_MS));
      const c = spawn('unshare', ['-n', 'sleep', '30'], { stdio: 'ignore' });
      const entry = { startedAt: performance.now() } as { startedAt: number; inode?: number; endedAt?: number };
      pending.set(c.pid!, entry);
      await until(() => entry.inode !== undefined, 3000);
      await new Promise((r) => setTimeout(r, Math.random() * RESCAN_MS));
      c.kill('SIGKILL');
      await new Promise((r) => c.once('exit', r));
      entry.endedAt = performance.now();
      if (entry.inode === undefined) {
        out.missed++;
        pending.delete(c.pid!);
      }
    }
    await until(() => pending.size === 0, 3000);
    out.missed += pending.size;
  } finally {
    clearInterval(timer);
  }
  return out;
}

export async function measureNetns(progress: (msg: string) => void): Promise<Section> {
  const section: Section = {
    id: 'netns',
    title: '7. Namespace discovery',
    how: `the host made to hold ${PROCESSES} processes (${HELD} of them in namespaces of their own); a scan = every /proc/PID/ns/net stat'ed, named and engine directories read, new namespaces identified; ${SCANS} scans, median; lsns -t net (util-linux) timed alike; then ${CHURN} namespaces made and ended while a scanner looks every ${RESCAN_MS} ms`,
    figures: [],
  };
  const f = section.figures;
  const have = processCount();
  const h = holders(Math.max(0, PROCESSES - have));
  try {
    progress(`netns: ${PROCESSES} processes`);
    await until(() => processCount() >= PROCESSES, 15_000);
    const count = processCount();
    const first = new NetnsDiscovery();
    let t = performance.now();
    const found = first.scan();
    const coldMs = performance.now() - t;
    const times: number[] = [];
    for (let i = 0; i < SCANS; i++) {
      t = performance.now();
      first.scan();
      times.push(performance.now() - t);
    }
    const warm = median(times);
    f.push({ id: 'netns.scan', label: `one scan, ${count} processes, ${found.length} namespaces`, value: warm, unit: 'ms', note: `the first (every namespace identified): ${coldMs.toFixed(1)} ms` });
    f.push({ id: 'netns.cpu', label: `  its CPU at one scan every ${RESCAN_MS} ms`, value: warm / RESCAN_MS, unit: 'percent', target: { text: '<= 2% of a core', pass: warm / RESCAN_MS <= 0.02 } });
    const lsnsTimes: number[] = [];
    for (let i = 0; i < 5; i++) {
      t = performance.now();
      const r = spawnSync('lsns', ['-t', 'net', '-n', '-o', 'NS,PID'], { encoding: 'utf8', timeout: 10_000 });
      if (r.status !== 0) break;
      lsnsTimes.push(performance.now() - t);
    }
    if (lsnsTimes.length) f.push({ id: 'netns.lsns', label: 'lsns -t net, the same host', value: median(lsnsTimes), unit: 'ms', peer: true, ratio: { value: warm / median(lsnsTimes), of: 'lsns', style: 'times' } });
    else f.push(notAvailable('netns.lsns', 'lsns -t net, the same host', 'ms', 'lsns did not run', true));
  } finally {
    h.kill();
  }
  progress('netns: namespaces coming and going');
  const n = await noticing();
  const label = `a new namespace noticed, scanning every ${RESCAN_MS} ms`;
  if (!n.appearMs.length) f.push(notAvailable('netns.appear', label, 'ms', 'none noticed'));
  else {
    const worst = Math.max(...n.appearMs);
    const fig: Figure = { id: 'netns.appear', label, value: median(n.appearMs), unit: 'ms', target: { text: `all < ${NOTICE_MAX_MS} ms`, pass: worst < NOTICE_MAX_MS && n.missed === 0 }, note: `${n.appearMs.length} namespaces, slowest ${worst.toFixed(0)} ms${n.missed ? `, ${n.missed} never noticed` : ''}` };
    f.push(fig);
  }
  if (n.vanishMs.length) f.push({ id: 'netns.vanish', label: '  one that ended, noticed gone', value: median(n.vanishMs), unit: 'ms', note: `slowest ${Math.max(...n.vanishMs).toFixed(0)} ms` });
  return section;
}
