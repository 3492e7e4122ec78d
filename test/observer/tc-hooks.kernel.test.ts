// The observer never changes an interface's tc setup for good: other tools'
// filters on the same clsact survive attach and detach, a clsact it found
// stays, one it made goes (unless someone else put a filter on it meanwhile),
// and a killed `live` (SIGINT, SIGTERM) detaches too.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { once } from 'node:events';

import { expect, it } from 'vitest';

import type { NetLab } from '../../src/lab/netlab.js';
import { waitFor } from '../../src/lab/traffic.js';
import { openObserver } from '../../src/observer/index.js';
import { kernelDescribe, needAddon, needBtf, needCommands } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { BIN, observerAttached } from '../helpers/live.js';

const MARKER_DIR = '/run/pmtu-watch/clsact';

kernelDescribe(
  'tc setup is left as it was found',
  () => {
    const labs = useLabs();
    let lab: NetLab | undefined;

    async function oneLink(tag: string) {
      lab = await labs.create(tag);
      const a = await lab.addNs('a');
      const b = await lab.addNs('b');
      await lab.veth(a, 'eth0', b, 'eth0', { mtuA: 1500, mtuB: 1500 });
      await lab.linkSet(a, 'eth0', { up: true });
      return a;
    }
    const tc = (ns: string, ...args: string[]) => lab!.exec(ns, ['tc', ...args], { check: true });
    const filters = async (ns: string, dir: 'ingress' | 'egress') => (await tc(ns, 'filter', 'show', 'dev', 'eth0', dir)).stdout;
    const qdiscs = async (ns: string) => (await tc(ns, 'qdisc', 'show', 'dev', 'eth0')).stdout;
    /**
     * The clsact marker (native/tc.cc) of a namespace's eth0, if there is one.
     * Namespace inodes are soon used again: the marker names the ifindex and the interface too.
     */
    const eth0Marker = (inode: number, ifindex: number) => {
      const name = `${inode}-${ifindex}-eth0`;
      return existsSync(`${MARKER_DIR}/${name}`) ? [name] : [];
    };
    const eth0Ifindex = async (ns: string) => Number((await lab!.exec(ns, ['cat', '/sys/class/net/eth0/ifindex'], { check: true })).stdout.trim());
    const markers = async (ns: string) => eth0Marker(statSync(`/run/netns/${ns}`).ino, await eth0Ifindex(ns));

    it('keeps a clsact it found, and the filters on it, also one holding our first priority', async () => {
      const ns = await oneLink('tcfound');
      await tc(ns, 'qdisc', 'add', 'dev', 'eth0', 'clsact');
      await tc(ns, 'filter', 'add', 'dev', 'eth0', 'ingress', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'classid', '1:1');
      await tc(ns, 'filter', 'add', 'dev', 'eth0', 'egress', 'prio', '10', 'u32', 'match', 'u32', '0', '0', 'classid', '1:2');
      const before = { ingress: await filters(ns, 'ingress'), egress: await filters(ns, 'egress') };

      const obs = openObserver({ netns: [ns], noSignalHandlers: true });
      expect(obs.attachments().map((a) => a.ifname)).toEqual(['eth0']);
      expect(await filters(ns, 'ingress')).toContain('pmtu_tc_ingress');
      expect(await filters(ns, 'egress')).toContain('pmtu_tc_egress');
      obs.close();
      obs.close(); // idempotent

      expect(await qdiscs(ns)).toContain('clsact');
      expect(await filters(ns, 'ingress')).toBe(before.ingress);
      expect(await filters(ns, 'egress')).toBe(before.egress);
    });

    it('removes a clsact it made, but not once another tool has put a filter on it', async () => {
      const ns = await oneLink('tcmade');
      const first = openObserver({ netns: [ns], noSignalHandlers: true });
      expect(await qdiscs(ns)).toContain('clsact');
      first.close();
      expect(await qdiscs(ns)).not.toContain('clsact');

      const second = openObserver({ netns: [ns], noSignalHandlers: true });
      await tc(ns, 'filter', 'add', 'dev', 'eth0', 'ingress', 'prio', '7', 'u32', 'match', 'u32', '0', '0', 'classid', '1:7');
      second.close();
      expect(await qdiscs(ns)).toContain('clsact');
      const left = await filters(ns, 'ingress');
      expect(left).toContain('pref 7 u32');
      expect(left).not.toContain('pmtu_tc');
    });

    it('two observers on one interface: the clsact the first made goes with the last to leave, whichever that is', async () => {
      const ns = await oneLink('tctwo');
      const first = openObserver({ netns: [ns], noSignalHandlers: true });
      const second = openObserver({ netns: [ns], noSignalHandlers: true });
      expect((await filters(ns, 'ingress')).match(/handle 0x504d/g)).toHaveLength(2);
      first.close(); // the one that made the clsact leaves first
      expect(await qdiscs(ns)).toContain('clsact');
      expect((await filters(ns, 'ingress')).match(/handle 0x504d/g)).toHaveLength(1);
      second.close();
      expect(await qdiscs(ns)).not.toContain('clsact');
      expect(await markers(ns)).toEqual([]);
      // A clsact another tool made stays, even empty, after both kinds of exit.
      await tc(ns, 'qdisc', 'add', 'dev', 'eth0', 'clsact');
      const third = openObserver({ netns: [ns], noSignalHandlers: true });
      third.close();
      expect(await qdiscs(ns)).toContain('clsact');
      expect(await filters(ns, 'ingress')).toBe('');
    });

    it('a namespace deleted while watched leaves no clsact marker behind', async () => {
      const ns = await oneLink('tcgone');
      const obs = openObserver({ netns: [ns], noSignalHandlers: true, rescanMs: 0 });
      expect(await markers(ns)).toHaveLength(1);
      const inode = statSync(`/run/netns/${ns}`).ino;
      const ifindex = await eth0Ifindex(ns);
      await lab!.exec(ns, ['true']); // the namespace is alive until here
      execFileSync('ip', ['netns', 'del', ns]);
      obs.close();
      expect(eth0Marker(inode, ifindex)).toEqual([]);
    });

    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      it(`detaches when live gets ${signal}`, async () => {
        const ns = await oneLink(`tc${signal.toLowerCase()}`);
        const child = spawn(process.execPath, [BIN, 'live', '--json', '--netns', ns, '--duration', '30'], { stdio: 'ignore' });
        const exited = once(child, 'exit');
        try {
          await waitFor(() => observerAttached(lab!, ns, 'eth0'), 15_000);
        } finally {
          child.kill(signal);
        }
        const [code, sig] = (await exited) as [number | null, string | null];
        expect(code === 0 || sig === signal).toBe(true);
        expect(await filters(ns, 'ingress')).not.toContain('pmtu_tc');
        expect(await qdiscs(ns)).not.toContain('clsact');
      });
    }
  },
  { requires: [needBtf, needCommands('ip', 'tc'), needAddon] },
);
