// `live` reports link changes on the interfaces it watches, as they happen
// to a hypervisor (seeds 000 and 002): a port's MTU reset, a bridge restarted
// under a running guest (its port left with no master), a port down and up,
// a flap (down and up within milliseconds), a port removed, and changes in a
// namespace created after it started. They come from rtnetlink notifications
// in each watched namespace: each as a `link` event within milliseconds.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { expect, it } from 'vitest';

import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { observerAttached, startLive, type JsonLine } from '../helpers/live.js';

const run = promisify(execFile);

type LinkLine = JsonLine & { kind: 'link'; ts: number; netns: string; iface: string; changes: string[]; mtu: number; master: string; up: boolean; was?: { mtu?: number; master?: string } };

/** What a notification may take, from the command's start to the line reaching the test (a 500 ms look took up to 500). */
const FAST_MS = 300;

kernelDescribe(
  'link events',
  () => {
    const labs = useLabs();

    it('an MTU reset, a bridge restart that leaves the guest port without its bridge, down/up, a flap, removal, a namespace that came later: each a link event within milliseconds', async () => {
      const lab = await labs.create('links');
      const hv = await lab.addNs('hv');
      const guest = await lab.addNs('ct101');
      await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '9000', 'type', 'bridge'], { check: true });
      await lab.veth(hv, 'veth101i0', guest, 'eth0', { mtuA: 9000, mtuB: 9000 });
      await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'master', 'vmbr0'], { check: true });
      await lab.exec(hv, ['ip', 'link', 'set', 'vmbr0', 'up'], { check: true });
      const live = startLive([], 60);
      const isLink = (l: JsonLine): l is LinkLine => l.type === 'event' && l.kind === 'link';
      const links = (ns = hv) => live.lines.filter((l): l is LinkLine => isLink(l) && l.netns === ns);
      /** Runs a change and waits for the event it must give: ms from the command's start to the line's arrival, and to live's receipt stamp. */
      const took: Record<string, { line: number; received: number }> = {};
      const change = async (what: string, ns: string, argv: string[], ok: (l: LinkLine) => boolean, within = 3000) => {
        const from = live.lines.length;
        const t0 = Date.now();
        await lab.exec(ns, argv, { check: true });
        const found = () => live.lines.findIndex((l, i) => i >= from && isLink(l) && ok(l));
        await waitFor(() => found() >= 0, within, 5).catch(() => {
          throw new Error(`no link event for ${what}: ${JSON.stringify(live.lines.slice(from).filter(isLink))}`);
        });
        const i = found();
        took[what] = { line: live.arrivals[i]! - t0, received: Math.round((live.lines[i] as LinkLine).ts - t0) };
        return live.lines.slice(from).filter(isLink);
      };
      let late = '';
      try {
        await waitFor(() => observerAttached(lab, hv, 'veth101i0'), 15_000);

        await change('mtu', hv, ['ip', 'link', 'set', 'veth101i0', 'mtu', '1500'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('mtu') && l.mtu === 1500 && l.was?.mtu === 9000); // the upgrade (seed 000)

        // ifdown/ifup of the bridge with legacy ifupdown (seed 002): the bridge goes, comes back, its port stays out.
        await change('master', hv, ['ip', 'link', 'del', 'vmbr0'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('master') && l.master === '' && l.was?.master === 'vmbr0');
        await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '9000', 'type', 'bridge'], { check: true });
        await lab.exec(hv, ['ip', 'link', 'set', 'vmbr0', 'up'], { check: true });

        await change('down', hv, ['ip', 'link', 'set', 'veth101i0', 'down'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('down') && !l.up);
        await change('up', hv, ['ip', 'link', 'set', 'veth101i0', 'up'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('up'));

        // A flap: down and up back to back, well inside what one 500 ms look would have seen as nothing.
        const flap = await change('flap', hv, ['sh', '-c', 'ip link set veth101i0 down && ip link set veth101i0 up'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('up'));
        expect(flap.filter((l) => l.iface === 'veth101i0').map((l) => l.changes)).toEqual([['down'], ['up']]);

        // A namespace made after live started is watched too, and let go when it is deleted (our socket must not keep it alive).
        late = await lab.addNs('late');
        await lab.veth(late, 'eth0', hv, 'vlate', { mtuA: 9000, mtuB: 9000 });
        await waitFor(() => observerAttached(lab, late, 'eth0'), 15_000);
        await change('late', late, ['ip', 'link', 'set', 'eth0', 'mtu', '1400'], (l) => l.netns === late && l.iface === 'eth0' && l.changes.includes('mtu') && l.mtu === 1400);
        const t0 = Date.now();
        await run('ip', ['netns', 'del', late]);
        await waitFor(() => links().some((l) => l.iface === 'vlate' && l.changes.includes('removed')), 3000, 5).catch(() => {
          throw new Error(`${late} deleted, its veth peer in ${hv} still there: ${JSON.stringify(links().filter((l) => l.iface === 'vlate'))}`);
        });
        const letGo = Date.now() - t0;
        console.log(`a deleted namespace let go (its veth peer removed) after ${letGo} ms`);
        expect(letGo).toBeLessThan(1500); // within a rescan (500 ms) and the kernel's namespace cleanup

        await change('removed', hv, ['ip', 'link', 'del', 'veth101i0'], (l) => l.netns === hv && l.iface === 'veth101i0' && l.changes.includes('removed'));
      } finally {
        await live.stop();
      }
      console.log(`link events, ms from the command's start to the JSON line (and to live's receipt): ${Object.entries(took).map(([k, v]) => `${k} ${v.line} (${v.received})`).join(', ')}`);
      for (const { line } of Object.values(took)) expect(line).toBeLessThan(FAST_MS);
      expect(live.child.exitCode).toBe(0);
      expect(live.stderr().split('\n').filter((l) => /error/i.test(l) && !/leftover/.test(l))).toEqual([]);
      // The guest cut off by the restart is said once, with the way back.
      expect(live.stderr().split('\n').filter((l) => l.includes('guest port veth101i0'))).toEqual([
        expect.stringContaining(`guest port veth101i0 in ${hv} left vmbr0: its guest is cut off (its frames go nowhere). Put it back: ip netns exec ${hv} ip link set veth101i0 master vmbr0`),
      ]);
    });
  },
  { requires: [needAddon, needBtf] },
);
