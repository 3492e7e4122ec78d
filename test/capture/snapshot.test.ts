// The incident snapshot without root: the addon (links, routes and cached
// PMTUs, lookups, sysctls) faked. What is read where, how routes and cached
// PMTUs are kept, and that whatever cannot be read becomes a problem line,
// never a failure.

import { describe, expect, it } from 'vitest';

import type { NetConfig, RouteEntry } from '../../native/index.js';
import { LIMITS, snapshotRoutes, takeSnapshot } from '../../src/capture/snapshot.js';
import { fakeAddon, link } from '../helpers/fake-addon.js';

function route(family: 4 | 6, dst: string, dstLen: number, more: Partial<RouteEntry> = {}): RouteEntry {
  return { family, table: 254, type: 1, dst, dstLen, gateway: '', oif: 2, priority: 0, mtu: 0, advmss: 0, prefsrc: '', expires: 0, ...more };
}

const LINKS = [link(1, 'lo', 65536), link(2, 'a0', 9000)];
const MAIN: RouteEntry[] = [route(4, '198.18.0.0', 15, { gateway: '198.18.1.1' }), route(4, '198.18.1.0', 24, { prefsrc: '198.18.1.2' }), route(4, '127.0.0.0', 8, { table: 255, type: 2, oif: 1 })];
const CACHED: RouteEntry[] = [route(4, '198.18.3.2', 32, { gateway: '198.18.1.1', mtu: 1500, expires: 599 }), route(6, '2001:db8:3::2', 128, { gateway: '2001:db8:1::1', priority: 1024, mtu: 1500, expires: 599 })];

describe('snapshotRoutes', () => {
  it("keeps the main table's routes and the cached path MTUs, written as ip writes them", () => {
    expect(snapshotRoutes(MAIN, CACHED, LINKS)).toEqual([
      { dst: '198.18.3.2', gateway: '198.18.1.1', dev: 'a0', mtu: 1500, expires: 599, cached: true, family: 4 },
      { dst: '2001:db8:3::2', gateway: '2001:db8:1::1', dev: 'a0', metric: 1024, mtu: 1500, expires: 599, cached: true, family: 6 },
      { dst: '198.18.0.0/15', gateway: '198.18.1.1', dev: 'a0', cached: false, family: 4 },
      { dst: '198.18.1.0/24', dev: 'a0', prefsrc: '198.18.1.2', cached: false, family: 4 },
    ]);
    expect(snapshotRoutes([route(4, '', 0, { oif: 7, mtu: 1280 })], [], LINKS)).toEqual([{ dst: 'default', dev: 'if7', mtu: 1280, cached: false, family: 4 }]);
  });
});

describe('takeSnapshot', () => {
  function setup(configs: Record<string, Partial<NetConfig>>) {
    const { addon } = fakeAddon({
      links: { '': LINKS, '/run/netns/blue': [link(1, 'lo', 65536), link(5, 'v.100', 1500)] },
      inodes: { '': 4026531840, '/run/netns/blue': 4026532001, '/proc/812/ns/net': 4026532254 },
    });
    const order: string[] = [];
    addon.routeGet = (netns, dst) => (order.push(`lookup ${netns}`), { found: true, mtu: netns ? 1400 : 0, expires: netns ? 300 : 0, ifindex: netns ? 5 : 2, dst }) as never;
    addon.readNetConfig = (netns) => {
      order.push(`config ${netns}`);
      const c = configs[netns ?? ''];
      if (!c) throw new Error(`cannot open namespace ${netns}`);
      return { links: [], addresses: [], routes: [], cached: [], peerNsids: [], ...c };
    };
    const sysctlReads: { netns: string | null; paths: string[] }[] = [];
    addon.readSysctls = (netns, paths) => {
      sysctlReads.push({ netns, paths });
      return paths.map((p) => (p.includes('rp_filter') ? (netns ? '2' : '1') : '0'));
    };
    return { addon, order, sysctlReads };
  }

  it('each namespace read through the addon, inside it: links, routes and cached PMTUs after the lookups, sysctls', async () => {
    const { addon, order, sysctlReads } = setup({ '': { links: LINKS, routes: MAIN, cached: CACHED }, '/run/netns/blue': { links: [link(1, 'lo', 65536), link(5, 'v.100', 1500)] } });
    const snap = await takeSnapshot(
      'end',
      [
        { name: 'host', path: null },
        { name: 'blue', path: '/run/netns/blue' },
        { name: 'docker:web-1', path: '/proc/812/ns/net' },
      ],
      new Map([['blue', ['198.18.3.2']]]),
      { addon },
      () => 42,
    );
    expect(snap).toMatchObject({ moment: 'end', time: 42 });
    const [host, blue, web] = snap.namespaces;
    expect(host).toMatchObject({ name: 'host', inode: 4026531840, problems: [], lookups: [] });
    expect(host!.links.map((l) => [l.name, l.mtu])).toEqual([
      ['lo', 65536],
      ['a0', 9000],
    ]);
    expect(host!.routes.filter((r) => r.cached).map((r) => [r.family, r.dst, r.mtu])).toEqual([
      [4, '198.18.3.2', 1500],
      [6, '2001:db8:3::2', 1500],
    ]);
    expect(sysctlReads[0]!.netns).toBeNull();
    expect(sysctlReads[0]!.paths).toEqual(expect.arrayContaining(['net/ipv4/conf/all/rp_filter', 'net/ipv4/conf/a0/rp_filter', 'net/ipv4/tcp_mtu_probing']));
    expect(host!.sysctls).toContainEqual({ name: 'net.ipv4.conf.default.rp_filter', value: '1' });

    expect(blue).toMatchObject({ name: 'blue', inode: 4026532001, problems: [] });
    expect(blue!.lookups).toEqual([{ dst: '198.18.3.2', found: true, mtu: 1400, expires: 300, dev: 'v.100' }]);
    // A '.' in an interface name is a '/' in the sysctl's dotted name, as sysctl(8) shows it.
    expect(blue!.sysctls).toContainEqual({ name: 'net.ipv4.conf.v/100.rp_filter', value: '2' });
    // IPv4 lists a cached PMTU only once a lookup bound it: the lookup comes first.
    expect(order.indexOf('lookup /run/netns/blue')).toBeLessThan(order.indexOf('config /run/netns/blue'));
    // A container's namespace is read like any other, by its file.
    expect(web!.problems).toEqual(['links and routes not read: cannot open namespace /proc/812/ns/net']);
    expect(order).toContain('config /proc/812/ns/net');
  });

  it('what cannot be read is a problem line: the configuration, the sysctls, a namespace gone', async () => {
    const { addon } = setup({ '/run/netns/blue': { links: [link(5, 'v.100', 1500)] } });
    addon.readSysctls = () => {
      throw new Error('cannot enter namespace /run/netns/blue: Operation not permitted');
    };
    const snap = await takeSnapshot(
      'start',
      [
        { name: 'blue', path: '/run/netns/blue' },
        { name: 'gone', path: '/run/netns/gone' },
      ],
      new Map(),
      { addon },
    );
    const [blue, gone] = snap.namespaces;
    expect(blue!.problems).toEqual(['sysctls not read: cannot enter namespace /run/netns/blue: Operation not permitted']);
    expect(gone!.links).toEqual([]);
    expect(gone!.problems[0]).toMatch(/^not read: cannot stat \/run\/netns\/gone/);
  });

  it('bounded: at most LIMITS.namespaces namespaces and LIMITS.routes routes each, cached ones kept first', async () => {
    const many = Array.from({ length: LIMITS.routes + 50 }, (_, i) => route(4, `198.18.${i >> 8}.${i & 255}`, 32));
    const { addon } = setup({ '': { links: LINKS, routes: many, cached: CACHED.slice(0, 1) } });
    const spaces = Array.from({ length: LIMITS.namespaces + 3 }, () => ({ name: 'host', path: null }));
    const snap = await takeSnapshot('start', spaces, new Map(), { addon });
    expect(snap.namespaces).toHaveLength(LIMITS.namespaces);
    expect(snap.namespaces.at(-1)!.problems).toContain(`3 more namespaces not looked at (at most ${LIMITS.namespaces})`);
    const routes = snap.namespaces[0]!.routes;
    expect(routes).toHaveLength(LIMITS.routes);
    expect(routes[0]).toMatchObject({ cached: true, mtu: 1500 });
    expect(snap.namespaces[0]!.problems).toContain(`${LIMITS.routes + 51} routes: only the first ${LIMITS.routes} kept`);
  });
});
