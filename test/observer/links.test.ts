// Link changes between two looks at the watched interfaces: what a user
// sees when an upgrade resets a port's MTU (seed 000) or a bridge restart
// leaves guest ports without their bridge (seed 002).

import { describe, expect, it } from 'vitest';

import { guestCutOff, linkChanges, type LinkState } from '../../src/observer/links.js';

const PVE = 4026531840;
const CT = 4026532254;

function link(name: string, ifindex: number, more: Partial<LinkState> = {}): LinkState {
  return { netns: 'host', netnsInode: PVE, ifindex, name, kind: name.startsWith('tap') ? 'tun' : name.startsWith('vmbr') ? 'bridge' : 'veth', mtu: 9000, up: true, master: 'vmbr0', ...more };
}

describe('linkChanges', () => {
  const before = [link('vmbr0', 4, { master: '' }), link('tap100i1', 13), link('tap100i2', 14), link('eth0', 2, { netns: 'docker:web-1', netnsInode: CT, master: '', mtu: 1500 })];

  it('nothing changed: nothing said', () => {
    expect(linkChanges(before, before.map((l) => ({ ...l })), 5)).toEqual([]);
  });

  it('an MTU reset, a port that left its bridge, one taken down, one added, one removed', () => {
    const now = [link('vmbr0', 4, { master: '' }), link('tap100i1', 13, { mtu: 1500 }), link('tap100i2', 14, { master: '', up: false }), link('tap101i0', 15, { mtu: 1500 }), before[3]!];
    const gone = now.filter((l) => l.name !== 'vmbr0');
    expect(linkChanges(before, gone, 7)).toEqual([
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'tap100i1', changes: ['mtu'], mtu: 1500, master: 'vmbr0', up: true, was: { mtu: 9000 } },
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'tap100i2', changes: ['master', 'down'], mtu: 9000, master: '', up: false, was: { master: 'vmbr0' } },
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'tap101i0', changes: ['added'], mtu: 1500, master: 'vmbr0', up: true },
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'vmbr0', changes: ['removed'], mtu: 9000, master: '', up: true },
    ]);
  });

  it("a namespace that appears or goes away (a container started or stopped) is no link news", () => {
    const started = [...before, link('eth0', 2, { netns: 'docker:web-2', netnsInode: 4026532300, master: '' })];
    expect(linkChanges(before, started, 1)).toEqual([]);
    expect(linkChanges(before, before.slice(0, 3), 1)).toEqual([]); // web-1 stopped
  });
});

describe('guestCutOff', () => {
  const bridge = link('vmbr0', 4, { master: '' });
  it("a guest's port out of its bridge while a bridge is there: one line, how to put it back, where Proxmox keeps its bridge", () => {
    const now = [bridge, link('tap102i0', 10, { master: '' })];
    const [change] = linkChanges([bridge, link('tap102i0', 10)], now, 1);
    expect(guestCutOff(change!, now)).toBe(
      'guest port tap102i0 left vmbr0: its guest is cut off (its frames go nowhere). Put it back: ip link set tap102i0 master vmbr0; lasting: ifreload -a (ifupdown2); its bridge is in /etc/pve/qemu-server/102.conf (net0: bridge=)',
    );
  });

  it('not for a port that joined a bridge, an uplink that left one, or when no bridge is left', () => {
    const joined = linkChanges([bridge, link('tap102i0', 10, { master: '' })], [bridge, link('tap102i0', 10)], 1);
    expect(guestCutOff(joined[0]!, [bridge, link('tap102i0', 10)])).toBeUndefined();
    const uplink = [bridge, link('eno1', 2, { master: '', kind: '' })];
    expect(guestCutOff(linkChanges([bridge, link('eno1', 2, { kind: '' })], uplink, 1)[0]!, uplink)).toBeUndefined();
    const noBridge = [link('tap102i0', 10, { master: '' })];
    expect(guestCutOff(linkChanges([bridge, link('tap102i0', 10)], noBridge, 1).find((c) => c.iface === 'tap102i0')!, noBridge)).toBeUndefined();
  });
});
