// The incident snapshot without root: `ip` stood in for, the addon (links,
// lookups, sysctls) faked. What is read where, how routes and cached PMTUs are parsed,
// and that whatever cannot be read becomes a problem line, never a failure.

import { describe, expect, it } from 'vitest';

import { LIMITS, parseRoutes, takeSnapshot, type RunResult } from '../../src/capture/snapshot.js';
import { fakeAddon, link } from '../helpers/fake-addon.js';

// `ip -j -4 route show cache` and `ip -j -6 route show cache` on this project's kind of machine (iproute2 6.1).
const CACHE4 = '[{"dst":"198.18.3.2","gateway":"198.18.1.1","dev":"a0","flags":[],"cache":[],"expires":599,"metrics":[{"mtu":1500}]}]';
const CACHE6 = '[{"dst":"2001:db8:3::2","gateway":"2001:db8:1::1","dev":"a0","metric":1024,"flags":[],"expires":599,"metrics":[{"mtu":1500}],"pref":"medium"}]';
const MAIN4 = '[{"dst":"198.18.0.0/15","gateway":"198.18.1.1","dev":"a0","flags":[]},{"dst":"198.18.1.0/24","dev":"a0","protocol":"kernel","scope":"link","prefsrc":"198.18.1.2","flags":[]}]';

describe('parseRoutes', () => {
  it('main-table routes and cached PMTUs, IPv4 and IPv6', () => {
    expect(parseRoutes(MAIN4, 4, false)).toEqual([
      { dst: '198.18.0.0/15', gateway: '198.18.1.1', dev: 'a0', cached: false, family: 4 },
      { dst: '198.18.1.0/24', dev: 'a0', prefsrc: '198.18.1.2', cached: false, family: 4 },
    ]);
    expect(parseRoutes(CACHE4, 4, true)).toEqual([{ dst: '198.18.3.2', gateway: '198.18.1.1', dev: 'a0', mtu: 1500, expires: 599, cached: true, family: 4 }]);
    expect(parseRoutes(CACHE6, 6, true)).toEqual([{ dst: '2001:db8:3::2', gateway: '2001:db8:1::1', dev: 'a0', metric: 1024, mtu: 1500, expires: 599, cached: true, family: 6 }]);
  });

  it('a locked mtu metric, empty output, and garbage', () => {
    expect(parseRoutes('[{"dst":"default","dev":"x","metrics":[{"mtu":["lock",1280]}]}]', 4, false)[0]!.mtu).toBe(1280);
    expect(parseRoutes('', 4, true)).toEqual([]);
    expect(parseRoutes('not json', 4, true)).toEqual([]);
    expect(parseRoutes('{"dst":1}', 4, true)).toEqual([]);
    expect(parseRoutes('[null, 3, {"dst": 5}]', 4, true)).toEqual([]);
  });
});

describe('takeSnapshot', () => {
  const { addon } = fakeAddon({
    links: { '': [link(1, 'lo', 65536), link(2, 'eth0', 9000)], '/run/netns/blue': [link(1, 'lo', 65536), link(5, 'v.100', 1500)] },
    inodes: { '': 4026531840, '/run/netns/blue': 4026532001 },
  });
  addon.routeGet = (netns, dst) => ({ found: true, mtu: netns ? 1400 : 0, expires: netns ? 300 : 0, ifindex: netns ? 5 : 2, dst } as never);
  // Sysctls asked of the addon, per namespace: rp_filter 1 in ours, 2 in blue; the rest 0.
  const sysctlReads: { netns: string | null; paths: string[] }[] = [];
  addon.readSysctls = (netns, paths) => {
    sysctlReads.push({ netns, paths });
    return paths.map((p) => (p.includes('rp_filter') ? (netns ? '2' : '1') : '0'));
  };

  function fakeRun(calls: string[][], results: (argv: string[]) => Partial<RunResult> = () => ({})) {
    return async (argv: string[]): Promise<RunResult> => {
      calls.push(argv);
      const r = results(argv);
      if (r.error || r.code !== undefined) return { code: r.code ?? null, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ...(r.error ? { error: r.error } : {}) };
      const cached = argv.at(-1) === 'cache';
      const six = argv.includes('-6');
      return { code: 0, stdout: cached ? (six ? CACHE6 : CACHE4) : six ? '[]' : MAIN4, stderr: '' };
    };
  }

  it('our own namespace: routes from ip without -n; a named one: ip -n; sysctls from the addon inside each', async () => {
    const calls: string[][] = [];
    sysctlReads.length = 0;
    const snap = await takeSnapshot(
      'end',
      [
        { name: 'host', path: null },
        { name: 'blue', path: '/run/netns/blue' },
      ],
      new Map([['blue', ['198.18.3.2']]]),
      { addon, run: fakeRun(calls) },
      () => 42,
    );
    expect(snap.moment).toBe('end');
    expect(snap.time).toBe(42);
    const [host, blue] = snap.namespaces;
    expect(host).toMatchObject({ name: 'host', inode: 4026531840, problems: [], lookups: [] });
    expect(host!.links.map((l) => [l.name, l.mtu])).toEqual([
      ['lo', 65536],
      ['eth0', 9000],
    ]);
    expect(sysctlReads[0]!.netns).toBeNull();
    expect(sysctlReads[0]!.paths).toEqual(expect.arrayContaining(['net/ipv4/conf/all/rp_filter', 'net/ipv4/conf/eth0/rp_filter', 'net/ipv4/tcp_mtu_probing']));
    expect(host!.sysctls).toContainEqual({ name: 'net.ipv4.conf.default.rp_filter', value: '1' });
    expect(host!.sysctls).toContainEqual({ name: 'net.ipv4.tcp_mtu_probing', value: '0' });
    expect(host!.routes.filter((r) => r.cached).map((r) => [r.family, r.dst, r.mtu])).toEqual([
      [4, '198.18.3.2', 1500],
      [6, '2001:db8:3::2', 1500],
    ]);

    expect(blue).toMatchObject({ name: 'blue', inode: 4026532001, problems: [] });
    expect(blue!.lookups).toEqual([{ dst: '198.18.3.2', found: true, mtu: 1400, expires: 300, dev: 'v.100' }]);
    // A '.' in an interface name is a '/' in the sysctl's dotted name, as sysctl(8) shows it.
    expect(blue!.sysctls).toContainEqual({ name: 'net.ipv4.conf.v/100.rp_filter', value: '2' });

    const ipCalls = calls.filter((c) => c[0] === 'ip' && c[1] !== 'netns');
    expect(ipCalls.filter((c) => c[1] !== '-n')).toHaveLength(4);
    expect(ipCalls.filter((c) => c[1] === '-n' && c[2] === 'blue')).toHaveLength(4);
    expect(ipCalls).toContainEqual(['ip', '-n', 'blue', '-j', '-4', 'route', 'show', 'cache']);
    expect(calls.filter((c) => c[1] === 'netns')).toEqual([]);
    expect(sysctlReads[1]).toMatchObject({ netns: '/run/netns/blue', paths: expect.arrayContaining(['net/ipv4/conf/v.100/rp_filter']) });
  });

  it("enters a container's namespace by its file for the routes (`ip -n` knows only ip netns names)", async () => {
    const calls: string[][] = [];
    const snap = await takeSnapshot('start', [{ name: 'docker:web-1', path: '/proc/812/ns/net' }], new Map(), { addon, run: fakeRun(calls) });
    expect(snap.namespaces[0]!.problems.filter((p) => p.includes('routes'))).toEqual([]); // links: the fake addon has none for it
    expect(snap.namespaces[0]!.routes.filter((r) => r.cached)).toHaveLength(2);
    expect(calls).toContainEqual(['nsenter', '--net=/proc/812/ns/net', 'ip', '-j', '-4', 'route', 'show', 'cache']);
    expect(calls.some((c) => c.includes('-n'))).toBe(false);
  });

  it('what cannot be read is a problem line: no ip, a failing command, a namespace gone', async () => {
    const calls: string[][] = [];
    const { addon: failing } = fakeAddon({ links: { '/run/netns/blue': [link(5, 'v.100', 1500)] }, inodes: { '/run/netns/blue': 4026532001 } });
    failing.readSysctls = () => {
      throw new Error('cannot enter namespace /run/netns/blue: Operation not permitted');
    };
    const snap = await takeSnapshot(
      'start',
      [
        { name: 'blue', path: '/run/netns/blue' },
        { name: 'gone', path: '/run/netns/gone' },
      ],
      new Map(),
      { addon: failing, run: fakeRun(calls, (argv) => (argv.includes('-6') ? { code: 1, stderr: 'RTNETLINK answers: nope\n' } : argv.includes('gone') ? { error: 'ip: not found' } : {})) },
    );
    const [blue, gone] = snap.namespaces;
    expect(blue!.problems).toEqual([
      'sysctls not read: cannot enter namespace /run/netns/blue: Operation not permitted',
      'IPv6 routes not read: RTNETLINK answers: nope',
      'IPv6 cached routes not read: RTNETLINK answers: nope',
    ]);
    expect(blue!.routes.filter((r) => r.family === 4)).toHaveLength(3);
    expect(gone!.links).toEqual([]);
    expect(gone!.problems[0]).toMatch(/^links not read: cannot stat \/run\/netns\/gone/);
  });

  it('bounded: at most LIMITS.namespaces namespaces and LIMITS.routes routes each, cached ones kept first', async () => {
    const many = JSON.stringify(Array.from({ length: LIMITS.routes + 50 }, (_, i) => ({ dst: `198.18.${i >> 8}.${i & 255}`, dev: 'eth0' })));
    const spaces = Array.from({ length: LIMITS.namespaces + 3 }, () => ({ name: 'host', path: null }));
    const snap = await takeSnapshot('start', spaces, new Map(), {
      addon,
      run: async (argv) => ({ code: 0, stdout: argv.at(-1) === 'cache' ? (argv.includes('-6') ? '[]' : CACHE4) : argv.includes('-6') ? '[]' : many, stderr: '' }),
    });
    expect(snap.namespaces).toHaveLength(LIMITS.namespaces);
    expect(snap.namespaces.at(-1)!.problems).toContain(`3 more namespaces not looked at (at most ${LIMITS.namespaces})`);
    const routes = snap.namespaces[0]!.routes;
    expect(routes).toHaveLength(LIMITS.routes);
    expect(routes[0]).toMatchObject({ cached: true, mtu: 1500 });
    expect(snap.namespaces[0]!.problems).toContain(`${LIMITS.routes + 51} routes: only the first ${LIMITS.routes} kept`);
  });
});
