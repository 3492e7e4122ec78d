// Link changes on the watched interfaces: what a user sees when an upgrade
// resets a port's MTU (seed 000) or a bridge restart leaves guest ports
// without their bridge (seed 002), from rtnetlink's notifications (LinkTable)
// and, after notifications were lost, from two reads (linkChanges).

import type { PathLike } from 'node:fs';

import { afterEach, describe, expect, it, vi } from 'vitest';

import type { LinkEventJson } from '../../src/contract/event.js';
import { Observer, type ObserverOptions } from '../../src/observer/index.js';
import type { LinkInfo } from '../../native/index.js';
import { fakeAddon, fakeNameSources, link as fakeLink, nativeError, type FakeAddonOptions } from '../helpers/fake-addon.js';

import { BRIDGE_RETURN_MS, CUT_OFF_SETTLE_MS, guestCutOff, linkChanges, LinkTable, type LinkFacts, type LinkState } from '../../src/observer/links.js';

// Namespace files the tests say exist (a namespace that could not be watched is said only while it exists).
const netnsFiles = vi.hoisted(() => new Set<string>());
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return { ...fs, existsSync: (p: PathLike) => netnsFiles.has(String(p)) };
});

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

// What rtnetlink says of a link: a dump's entry or a notification's (RTM_NEWLINK carries the whole state).
function facts(name: string, ifindex: number, more: Partial<LinkFacts> = {}): LinkFacts {
  return { ifindex, name, kind: name.startsWith('tap') ? 'tun' : name.startsWith('vmbr') ? 'bridge' : name === 'lo' ? '' : 'veth', mtu: 9000, up: true, master: 0, ...more };
}

describe('LinkTable: link events from notifications', () => {
  const hv = () => new LinkTable('host', PVE, [facts('lo', 1, { mtu: 65536 }), facts('tap100i1', 13, { master: 4 }), facts('vmbr0', 4), facts('eno1', 2, { kind: '', master: 4 })], (n) => n !== 'lo');

  it('a flap (down and up in two notifications a millisecond apart) is two events, in order', () => {
    const t = hv();
    expect([t.apply('new', facts('tap100i1', 13, { master: 4, up: false }), 10), t.apply('new', facts('tap100i1', 13, { master: 4 }), 11)]).toEqual([
      { type: 'event', kind: 'link', ts: 10, netns: 'host', iface: 'tap100i1', changes: ['down'], mtu: 9000, master: 'vmbr0', up: false },
      { type: 'event', kind: 'link', ts: 11, netns: 'host', iface: 'tap100i1', changes: ['up'], mtu: 9000, master: 'vmbr0', up: true },
    ]);
  });

  it('an MTU reset says the MTU before; a notification that changes nothing reported (carrier, stats) says nothing', () => {
    const t = hv();
    expect(t.apply('new', facts('tap100i1', 13, { master: 4, mtu: 1500 }), 5)).toEqual({ type: 'event', kind: 'link', ts: 5, netns: 'host', iface: 'tap100i1', changes: ['mtu'], mtu: 1500, master: 'vmbr0', up: true, was: { mtu: 9000 } });
    expect(t.apply('new', facts('tap100i1', 13, { master: 4, mtu: 1500 }), 6)).toBeUndefined();
  });

  it('masters by name from the table; a link added, one removed; loopback is not watched', () => {
    const t = hv();
    expect(t.apply('new', facts('tap101i0', 15, { master: 4 }), 1)).toEqual({ type: 'event', kind: 'link', ts: 1, netns: 'host', iface: 'tap101i0', changes: ['added'], mtu: 9000, master: 'vmbr0', up: true });
    expect(t.apply('del', facts('tap100i1', 13, { master: 4 }), 2)).toEqual({ type: 'event', kind: 'link', ts: 2, netns: 'host', iface: 'tap100i1', changes: ['removed'], mtu: 9000, master: 'vmbr0', up: true });
    expect(t.apply('del', facts('tap100i1', 13), 3)).toBeUndefined(); // not known any more
    expect(t.apply('new', facts('lo', 1, { mtu: 1500 }), 4)).toBeUndefined();
    expect(t.apply('new', facts('tap102i0', 16, { master: 99 }), 5)?.master).toBe('if99'); // a master it has not heard of
  });

  it('a bridge renamed: its event says so, its ports follow without events of their own', () => {
    const t = hv();
    expect(t.apply('new', facts('vmbr9', 4), 1)?.changes).toEqual(['name']);
    expect(t.apply('new', facts('tap100i1', 13, { master: 4, mtu: 1400 }), 2)).toMatchObject({ changes: ['mtu'], master: 'vmbr9' });
    expect(t.states().find((l) => l.name === 'eno1')?.master).toBe('vmbr9');
  });

  it('after notifications were lost, the namespace read again: what differs from what the table knew', () => {
    const t = hv();
    const evs = t.resync([facts('lo', 1, { mtu: 65536 }), facts('tap100i1', 13, { mtu: 1500 }), facts('vmbr0', 4), facts('tap101i0', 15, { master: 4 })], 7);
    expect(evs).toEqual([
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'tap100i1', changes: ['mtu', 'master'], mtu: 1500, master: '', up: true, was: { mtu: 9000, master: 'vmbr0' } },
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'tap101i0', changes: ['added'], mtu: 9000, master: 'vmbr0', up: true },
      { type: 'event', kind: 'link', ts: 7, netns: 'host', iface: 'eno1', changes: ['removed'], mtu: 9000, master: 'vmbr0', up: true },
    ]);
    expect(t.resync(t.states().map((l) => ({ ...l, master: l.name === 'tap101i0' ? 4 : 0 })), 8)).toEqual([]);
  });
});

describe('LinkTable: a guest port cut off by a bridge restart, said once', () => {
  const CUT = "guest port tap100i1 left vmbr0: its guest is cut off (its frames go nowhere). Put it back: ip link set tap100i1 master vmbr0; lasting: ifreload -a (ifupdown2); its bridge is in /etc/pve/qemu-server/100.conf (net1: bridge=)";
  const hv = () => new LinkTable('host', PVE, [facts('tap100i1', 13, { master: 4 }), facts('vmbr0', 4)], () => true);

  it('ifdown/ifup (port out, bridge deleted, a new vmbr0): said when the new bridge is there', () => {
    const t = hv();
    t.apply('new', facts('tap100i1', 13), 1000);
    expect(t.cutOffs(1001)).toEqual({ warnings: [], recheckInMs: CUT_OFF_SETTLE_MS - 1 }); // the bridge may be on its way out
    t.apply('del', facts('vmbr0', 4), 1002);
    expect(t.cutOffs(1003)).toEqual({ warnings: [] }); // no bridge: waits for one, no timer needed
    t.apply('new', facts('vmbr0', 20), 1300);
    expect(t.cutOffs(1300)).toEqual({ warnings: [CUT] });
    expect(t.cutOffs(5000)).toEqual({ warnings: [] });
  });

  it('`nomaster` with the bridge staying: said once it has settled', () => {
    const t = hv();
    t.apply('new', facts('tap100i1', 13), 1000);
    expect(t.cutOffs(1000 + CUT_OFF_SETTLE_MS)).toEqual({ warnings: [CUT] });
  });

  it('not when the port is back in a bridge, removed, or no bridge comes back', () => {
    for (const after of [
      (t: LinkTable) => t.apply('new', facts('tap100i1', 13, { master: 4 }), 1010),
      (t: LinkTable) => t.apply('del', facts('tap100i1', 13), 1010),
      (t: LinkTable) => t.apply('del', facts('vmbr0', 4), 1010),
    ]) {
      const t = hv();
      t.apply('new', facts('tap100i1', 13), 1000);
      after(t);
      expect(t.cutOffs(1000 + BRIDGE_RETURN_MS).warnings).toEqual([]);
      t.apply('new', facts('vmbr0', 21), 1000 + BRIDGE_RETURN_MS + 1);
      expect(t.cutOffs(1000 + BRIDGE_RETURN_MS + 1).warnings).toEqual([]);
    }
  });
});

describe('Observer: link events from the addon link monitor', () => {
  const open: Observer[] = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
    netnsFiles.clear();
  });
  const BLUE = 4026532001;

  function watch(opts: ObserverOptions = {}, o: FakeAddonOptions = {}) {
    const links: Record<string, LinkInfo[]> = { '': [fakeLink(1, 'lo', 65536), fakeLink(2, 'eth0')], '/run/netns/blue': [fakeLink(1, 'lo', 65536), fakeLink(3, 'veth-b')] };
    const inodes: Record<string, number> = { '': PVE, '/run/netns/blue': BLUE };
    netnsFiles.add('/run/netns/blue');
    const fake = fakeAddon({ links, inodes, ...o });
    const sources = fakeNameSources({ blue: BLUE }, PVE);
    const observer = new Observer({ addon: fake.addon, nameSources: sources, noSignalHandlers: true, rescanMs: 0, ...opts });
    open.push(observer);
    const events: LinkEventJson[] = [];
    const warnings: string[] = [];
    observer.on('link', (ev) => events.push(ev));
    observer.on('warning', (w) => warnings.push(w));
    return { observer, fake, links, inodes, sources, events, warnings };
  }

  it("watches its namespace's links: a flap is two events, stamped with the notification's clock; close() stops the monitor", () => {
    const { observer, fake, events } = watch();
    const monitor = fake.linkMonitor();
    expect([...monitor.watching.values()]).toEqual([null]);
    monitor.announce([
      { netns: null, type: 'new', link: { ...fakeLink(2, 'eth0'), up: false }, tsNs: 5_000_000 },
      { netns: null, type: 'new', link: fakeLink(2, 'eth0'), tsNs: 6_000_000 },
    ]);
    expect(events.map((e) => [e.iface, e.changes, Math.round(e.ts - observer.namers.epochOffsetMs)])).toEqual([
      ['eth0', ['down'], 5],
      ['eth0', ['up'], 6],
    ]);
    observer.close();
    expect(monitor.stopCalls).toBe(1);
  });

  it('with --all-netns: every namespace, one that appears at a rescan, one that went away let go', () => {
    const { observer, fake, links, inodes, sources, events } = watch({ allNetns: true });
    const monitor = fake.linkMonitor();
    expect([...monitor.watching.values()]).toEqual([null, '/run/netns/blue']);
    links['/run/netns/late'] = [fakeLink(1, 'lo', 65536), fakeLink(2, 'veth-l')];
    inodes['/run/netns/late'] = 4026532077;
    sources.named.set('late', 4026532077);
    sources.named.delete('blue');
    observer.rescan();
    expect([...monitor.watching.values()]).toEqual([null, '/run/netns/late']);
    monitor.announce([{ netns: '/run/netns/late', type: 'new', link: fakeLink(2, 'veth-l', 1400) }]);
    expect(events).toMatchObject([{ netns: 'late', iface: 'veth-l', changes: ['mtu'], mtu: 1400, was: { mtu: 1500 } }]);
  });

  it('notifications lost (an overrun): the namespace is read again and what changed is said', () => {
    const { fake, links, events } = watch();
    links['']![1] = fakeLink(2, 'eth0', 9000);
    links['']!.push(fakeLink(7, 'veth7'));
    fake.linkMonitor().announce([], [null]);
    expect(events.map((e) => `${e.iface} ${e.changes.join(',')}`)).toEqual(['eth0 mtu', 'veth7 added']);
  });

  it('a namespace whose links cannot be watched is one warning, said once; without a link monitor the observer still runs', () => {
    const { observer, warnings } = watch({ allNetns: true }, { linkAddError: (ns) => (ns ? nativeError('PMTU_ERR_NETNS', 'cannot enter namespace: Operation not permitted') : undefined) });
    expect(observer.warnings.filter((w) => w.includes('link changes'))).toEqual(['cannot watch link changes in blue: cannot enter namespace: Operation not permitted']);
    observer.rescan();
    expect(warnings).toEqual([]);

    const other = watch({}, { linkMonitorError: nativeError('PMTU_ERR_STATE', 'epoll_create1: Too many open files') });
    expect(other.observer.running).toBe(true);
    expect(other.observer.warnings).toContain('link changes are not reported: epoll_create1: Too many open files');
  });
});
