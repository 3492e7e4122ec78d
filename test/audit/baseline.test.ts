// audit --save / --against on hand-made snapshots: what changed since a day
// (or differs from a host) that worked becomes findings with the old value as
// the fix; a file that is no baseline is one clear error.

import { describe, expect, it } from 'vitest';

import { compareBaseline, parseBaseline, toBaseline } from '../../src/audit/baseline.js';
import type { AuditSnapshot, LinkInfo, NetnsConfig, RouteEntry } from '../../src/audit/types.js';

function dev(ifindex: number, name: string, mtu: number, more: Partial<LinkInfo> = {}): LinkInfo {
  return { ifindex, name, mtu, up: true, kind: '', master: 0, link: 0, linkNetnsid: -1, ...more };
}

function route(oif: number, dst: string, dstLen: number, more: Partial<RouteEntry> = {}): RouteEntry {
  return { family: 4, table: 254, type: 1, dst, dstLen, gateway: '', oif, priority: 0, mtu: 0, advmss: 0, prefsrc: '', expires: 0, ...more };
}

/** Seed 000's hypervisor on a good day: vmbr0 at 9000 and its guests' taps with it. */
function proxmox(): NetnsConfig {
  return {
    inode: 1,
    label: 'host',
    info: { kind: 'host', inode: 1 },
    inScope: true,
    links: [dev(2, 'eno1np0', 9000, { master: 4 }), dev(4, 'vmbr0', 9000, { kind: 'bridge' }), dev(13, 'tap100i1', 9000, { kind: 'tun', master: 4 }), dev(14, 'tap100i2', 9000, { kind: 'tun', master: 4 })],
    addresses: [],
    routes: [route(4, '', 0, { gateway: '10.0.1.1' }), route(4, '198.18.5.0', 24, { mtu: 9000 })],
    peers: new Map(),
    rpFilter: new Map([['all', 0], ['vmbr0', 0]]),
  };
}

const snap = (...namespaces: NetnsConfig[]): AuditSnapshot => ({ namespaces, problems: [] });

describe('audit baselines', () => {
  it('the same host the same day: nothing differs; the file reads back', () => {
    const b = toBaseline(snap(proxmox()), 'pve1', Date.UTC(2023, 1, 20));
    const again = parseBaseline(JSON.stringify(b), 'good.json');
    expect(again).toEqual(b);
    expect(compareBaseline(again, snap(proxmox()))).toEqual([]);
  });

  it('after the upgrade: the taps back at 1500, one left its bridge, a route lost its mtu, rp_filter changed, a guest gone and one new', () => {
    const b = toBaseline(snap(proxmox()), 'pve1', Date.UTC(2023, 1, 20));
    const now = proxmox();
    now.links[2]!.mtu = 1500;
    now.links[3]!.master = 0;
    now.links.push(dev(15, 'tap101i0', 1500, { kind: 'tun', master: 4 }));
    now.links.splice(3, 1, { ...now.links[3]!, name: 'tap100i2' });
    now.routes[1]!.mtu = 0;
    now.rpFilter.set('all', 1);
    const gone = { ...now, links: now.links.filter((l) => l.name !== 'tap100i2') };
    const f = compareBaseline(b, snap(gone));
    const brief = f.map((x) => `${x.severity} ${x.device}: ${x.summary.split(' (the baseline')[0]} | ${x.fix.join(' ; ')}`);
    expect(brief).toEqual([
      'warning tap100i1: tap100i1 MTU 9000 -> 1500 | ip link set dev tap100i1 mtu 9000',
      'info tap101i0: tun tap101i0 is new: MTU 1500, in vmbr0 | ',
      'info tap100i2: tun tap100i2 is gone (it was at MTU 9000, in vmbr0) | ',
      'warning all: net.ipv4.conf.all.rp_filter 0 -> 1 | sysctl -w net.ipv4.conf.all.rp_filter=0',
      'warning vmbr0: route 198.18.5.0/24 dev vmbr0: mtu 9000 -> unset | ip route change 198.18.5.0/24 dev vmbr0 mtu 9000',
    ]);
    expect(f[0]!.summary).toContain('(the baseline: pve1 at 2023-02-20T00:00:00Z)');
    expect(f[0]!.rule).toBe('differs-from-baseline');
    // A port that left its bridge, with the way back.
    const left = proxmox();
    left.links[3]!.master = 0;
    expect(compareBaseline(b, snap(left)).map((x) => [x.summary.split(' (')[0], x.fix[0]])).toEqual([['tap100i2 left vmbr0', 'ip link set dev tap100i2 master vmbr0']]);
  });

  it('a route through a gateway is changed with its gateway; a named namespace with ip -n; a namespace only one side has is not compared', () => {
    const blue: NetnsConfig = { ...proxmox(), inode: 2, label: 'blue', info: { kind: 'named', inode: 2, name: 'blue' }, routes: [route(4, '', 0, { gateway: '198.18.0.1', advmss: 8960 })] };
    const b = toBaseline(snap(blue), 'h', 0);
    const now = { ...blue, routes: [route(4, '', 0, { gateway: '198.18.0.1', advmss: 1460 })] };
    expect(compareBaseline(b, snap(now)).map((x) => x.fix[0])).toEqual(['ip -n blue route change default via 198.18.0.1 dev vmbr0 advmss 8960']);
    expect(compareBaseline(b, snap({ ...now, label: 'red' }))).toEqual([]);
  });

  it('not a baseline, another version, not JSON: one clear error each', () => {
    expect(() => parseBaseline('{"findings":[]}', 'x.json')).toThrow('x.json is not an audit baseline');
    expect(() => parseBaseline('not json', 'x.json')).toThrow('x.json is not an audit baseline (not JSON)');
    expect(() => parseBaseline(JSON.stringify({ format: 'pmtu-watch-audit-baseline', version: 9, namespaces: [] }), 'x.json')).toThrow('version 9');
  });
});
