// The addon's LinkMonitor on its own: a socket inside each watched namespace,
// one thread for all. A burst of changes while JavaScript is busy arrives
// whole and in order; one beyond what it may hold is said as an overrun of
// that namespace (nothing lost silently); stop() leaves no socket or thread.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { expect, it } from 'vitest';

import { waitFor } from '../../src/lab/traffic.js';
import { loadAddon } from '../../src/observer/addon.js';
import type { LinkBatch } from '../../native/index.js';
import { kernelDescribe, needAddon } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';

const sockets = () => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:');
  } catch {
    return false;
  }
}).length;
/** This process's thread names; a thread that ends between the listing and the read is left out. */
const threads = () =>
  readdirSync('/proc/self/task').flatMap((t) => {
    try {
      return [readFileSync(`/proc/self/task/${t}/comm`, 'utf8').trim()];
    } catch {
      return [];
    }
  });

/** 300 MTU changes of eth0 in one `ip -batch`, run synchronously: JavaScript takes no batch meanwhile. */
function burst(ns: string): void {
  const file = join(tmpdir(), `pmtu-link-burst-${process.pid}`);
  writeFileSync(file, Array.from({ length: 300 }, (_, i) => `link set eth0 mtu ${1300 + i}\n`).join(''));
  try {
    execFileSync('ip', ['-n', ns, '-batch', file]);
  } finally {
    rmSync(file, { force: true });
  }
}

kernelDescribe(
  'LinkMonitor (native)',
  () => {
    const labs = useLabs();

    it('a burst while JavaScript is busy arrives whole and in order; stop() leaves no socket and no thread', async () => {
      const lab = await labs.create('lmon');
      const ns = await lab.addNs('a');
      await lab.ip(ns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
      const { LinkMonitor, netnsInode } = loadAddon();
      const before = sockets();
      const monitor = new LinkMonitor();
      const batches: LinkBatch[] = [];
      monitor.start((b) => batches.push(b));
      const watched = monitor.add(`/run/netns/${ns}`);
      expect(watched.netnsInode).toBe(netnsInode(`/run/netns/${ns}`));
      try {
        burst(ns);
        const mtus = () => batches.flatMap((b) => b.notices.filter((n) => n.link.name === 'eth0').map((n) => n.link.mtu));
        await waitFor(() => mtus().at(-1) === 1599, 3000, 10);
        expect(mtus()).toEqual(Array.from({ length: 300 }, (_, i) => 1300 + i));
        expect(batches.flatMap((b) => b.overruns)).toEqual([]);
        expect(batches.every((b) => b.notices.every((n) => n.id === watched.id && n.type === 'new' && n.link.kind === 'veth'))).toBe(true);
        expect(monitor.counters()).toMatchObject({ notices: 300, overruns: 0, queueFull: 0, namespaces: 1 });
        expect(threads()).toContain('pmtu-links');
      } finally {
        monitor.stop();
      }
      monitor.stop(); // idempotent
      expect(sockets()).toBe(before);
      // Joined, the thread is gone; its /proc entry can outlive the join by a moment.
      await waitFor(() => !threads().includes('pmtu-links'), 2000, 10);
    });

    it('more than it may hold while JavaScript is behind: dropped, counted, and said as an overrun of that namespace', async () => {
      const lab = await labs.create('lmov');
      const ns = await lab.addNs('a');
      await lab.ip(ns, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
      const { LinkMonitor } = loadAddon();
      const monitor = new LinkMonitor({ maxQueuedBatches: 1, maxPendingNotices: 16 });
      const batches: LinkBatch[] = [];
      monitor.start((b) => batches.push(b));
      const watched = monitor.add(`/run/netns/${ns}`);
      try {
        burst(ns);
        // The thread may still be reading the socket when JavaScript takes the
        // first overrun, so a later batch can say another: every one names
        // this namespace, and together they count every notice dropped.
        const said = () => batches.flatMap((b) => b.overruns);
        const settled = () => {
          const { notices, queueFull, overruns } = monitor.counters();
          const count = said().reduce((sum, o) => sum + o.count, 0);
          return notices + queueFull === 300 && count > 0 && count === queueFull + overruns;
        };
        await waitFor(settled, 3000, 10);
        expect(new Set(said().map((o) => o.id))).toEqual(new Set([watched.id]));
        expect(monitor.counters().queueFull).toBeGreaterThan(0);
      } finally {
        monitor.stop();
      }
    });

    it('a namespace that is not there: PMTU_ERR_NETNS, and the monitor goes on', async () => {
      const { LinkMonitor } = loadAddon();
      const monitor = new LinkMonitor();
      monitor.start(() => undefined);
      try {
        expect(() => monitor.add('/run/netns/pmtu-no-such-namespace')).toThrow(expect.objectContaining({ code: 'PMTU_ERR_NETNS' }));
        expect(monitor.add(null).netnsInode).toBeGreaterThan(0);
      } finally {
        monitor.stop();
      }
    });
  },
  { requires: [needAddon] },
);
