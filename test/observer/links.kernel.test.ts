// `live` reports link changes on the interfaces it watches, as they happen
// to a hypervisor (seeds 000 and 002): a port's MTU reset, a bridge restarted
// under a running guest (its port left with no master), a port down and up,
// a port removed. Each comes as a `link` event within a second.

import { expect, it } from 'vitest';

import { waitFor } from '../../src/lab/traffic.js';
import { kernelDescribe, needAddon, needBtf } from '../helpers/kernel.js';
import { useLabs } from '../helpers/labs.js';
import { observerAttached, startLive, type JsonLine } from '../helpers/live.js';

type LinkLine = JsonLine & { kind: 'link'; netns: string; iface: string; changes: string[]; mtu: number; master: string; up: boolean; was?: { mtu?: number; master?: string } };

kernelDescribe(
  'link events',
  () => {
    const labs = useLabs();

    it('an MTU reset, a bridge restart that leaves the guest port without its bridge, down/up and removal: each a link event within 1 s', async () => {
      const lab = await labs.create('links');
      const hv = await lab.addNs('hv');
      const guest = await lab.addNs('ct101');
      await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '9000', 'type', 'bridge'], { check: true });
      await lab.veth(hv, 'veth101i0', guest, 'eth0', { mtuA: 9000, mtuB: 9000 });
      await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'master', 'vmbr0'], { check: true });
      await lab.exec(hv, ['ip', 'link', 'set', 'vmbr0', 'up'], { check: true });
      const live = startLive([], 60);
      const links = () => live.lines.filter((l): l is LinkLine => l.type === 'event' && l.kind === 'link' && l.netns === hv);
      const within = async (what: string, ok: (l: LinkLine) => boolean) => {
        const t0 = Date.now();
        await waitFor(() => links().some(ok), 3000, 20).catch(() => {
          throw new Error(`no link event for ${what}: ${JSON.stringify(links())}`);
        });
        return Date.now() - t0;
      };
      const took: Record<string, number> = {};
      try {
        await waitFor(() => observerAttached(lab, hv, 'veth101i0'), 15_000);
        await new Promise((r) => setTimeout(r, 600)); // a look with everything in place

        await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'mtu', '1500'], { check: true }); // the upgrade (seed 000)
        took.mtu = await within('the MTU reset', (l) => l.iface === 'veth101i0' && l.changes.includes('mtu') && l.mtu === 1500 && l.was?.mtu === 9000);

        // ifdown/ifup of the bridge with legacy ifupdown (seed 002): the bridge goes, comes back, its port stays out.
        await lab.exec(hv, ['ip', 'link', 'del', 'vmbr0'], { check: true });
        await lab.exec(hv, ['ip', 'link', 'add', 'vmbr0', 'mtu', '9000', 'type', 'bridge'], { check: true });
        await lab.exec(hv, ['ip', 'link', 'set', 'vmbr0', 'up'], { check: true });
        took.master = await within('the port left without its bridge', (l) => l.iface === 'veth101i0' && l.changes.includes('master') && l.master === '' && l.was?.master === 'vmbr0');

        await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'down'], { check: true });
        took.down = await within('down', (l) => l.iface === 'veth101i0' && l.changes.includes('down') && !l.up);
        await lab.exec(hv, ['ip', 'link', 'set', 'veth101i0', 'up'], { check: true });
        took.up = await within('up', (l) => l.iface === 'veth101i0' && l.changes.includes('up'));

        await lab.exec(hv, ['ip', 'link', 'del', 'veth101i0'], { check: true });
        took.removed = await within('removal', (l) => l.iface === 'veth101i0' && l.changes.includes('removed'));
      } finally {
        await live.stop();
      }
      console.log(`link events after the change, ms: ${JSON.stringify(took)}`);
      for (const ms of Object.values(took)) expect(ms).toBeLessThan(1000);
      expect(live.stderr().split('\n').filter((l) => /error/i.test(l) && !/leftover/.test(l))).toEqual([]);
      // The guest cut off by the restart is said once, with the way back.
      expect(live.stderr().split('\n').filter((l) => l.includes('guest port veth101i0'))).toEqual([
        expect.stringContaining(`guest port veth101i0 in ${hv} left vmbr0: its guest is cut off (its frames go nowhere). Put it back: ip netns exec ${hv} ip link set veth101i0 master vmbr0`),
      ]);
    });
  },
  { requires: [needAddon, needBtf] },
);
