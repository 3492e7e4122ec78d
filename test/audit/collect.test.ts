// Which namespaces audit reads and what it calls them, without root: the
// namespace files and the addon stood in for.

import { describe, expect, it } from 'vitest';

import { collect, selectScope } from '../../src/audit/collect.js';
import { main } from '../../src/cli/main.js';
import { NetnsDiscovery, type HostSources } from '../../src/netns/discovery.js';
import type { LinkInfo, NetConfig } from '../../native/index.js';

/** Inodes: ours 10 (not the initial namespace, 1), blue 20, red = ours, a container 30 held by pids 700 and 701. */
function sources(overrides: Partial<HostSources> = {}): HostSources {
  const inodes: Record<string, number> = {
    '/proc/1/ns/net': 1,
    '/proc/55/ns/net': 10,
    '/run/netns/blue': 20,
    '/run/netns/red': 10,
    '/proc/700/ns/net': 30,
    '/proc/701/ns/net': 30,
  };
  return {
    listDir: (path) => (path === '/run/netns' ? ['red', 'blue', 'gone'] : []),
    pids: () => [1, 55, 701, 700, 999],
    comm: (pid) => (pid === 700 ? 'containerd-shim' : 'other'),
    cgroup: () => '0::/\n',
    cmdline: () => undefined,
    pidsNamed: () => [],
    readText: () => undefined,
    inode: (path) => inodes[path],
    selfPid: 55,
    ...overrides,
  };
}

function link(ifindex: number, name: string, mtu: number, more: Partial<LinkInfo> = {}): LinkInfo {
  return { ifindex, name, mtu, up: true, kind: 'veth', master: 0, link: 0, linkNetnsid: -1, ...more };
}

describe('selectScope', () => {
  const found = new NetnsDiscovery(sources()).scan();
  it('names ours by its `ip netns` name, read without entering it; a container by the lowest pid holding it', () => {
    expect(found.map((e) => [e.inode, e.ref, e.path])).toEqual([
      [10, 'red', null],
      [1, 'host', '/proc/1/ns/net'],
      [20, 'blue', '/run/netns/blue'],
      [30, 'pid:700', '/proc/700/ns/net'],
    ]);
  });
  it('default: ours; --netns: those (by any name the discovery knows); --all-netns: all', () => {
    expect(selectScope(found, { netns: [], allNetns: false })).toEqual(new Set([10]));
    expect(selectScope(found, { netns: ['blue'], allNetns: false })).toEqual(new Set([20]));
    expect(selectScope(found, { netns: ['pid:700'], allNetns: false })).toEqual(new Set([30]));
    expect(selectScope(found, { netns: [], allNetns: true })).toEqual(new Set([10, 1, 20, 30]));
  });
  it('an unknown name says which exist', () => {
    expect(() => selectScope(found, { netns: ['green'], allNetns: false })).toThrow(/no network namespace named "green"/);
  });
});

describe('collect', () => {
  it('follows a veth into a namespace outside the scope, marked as not audited; a vanished one is a problem line', () => {
    const configs: Record<string, NetConfig> = {
      '/run/netns/blue': { links: [link(2, 'eth0', 1500, { link: 9, linkNetnsid: 4 })], addresses: [], routes: [], cached: [], peerNsids: [-1, -1, -1, 4] },
      '/proc/700/ns/net': { links: [link(9, 'vethb', 1450, { link: 2, linkNetnsid: 0 })], addresses: [], routes: [], cached: [], peerNsids: [-1, -1, 0, -1] },
    };
    const asked: (string | null)[] = [];
    const addon = {
      readNetConfig: (netns: string | null, peers?: string[]) => {
        asked.push(netns);
        expect(peers).toEqual(['/proc/self/ns/net', '/proc/1/ns/net', '/run/netns/blue', '/proc/700/ns/net']);
        const c = configs[netns ?? ''];
        if (!c) throw Object.assign(new Error(`cannot open namespace ${netns}`), { code: 'PMTU_ERR_NETNS' });
        return c;
      },
      readSysctls: (_netns: string | null, paths: string[]) => paths.map(() => '0'),
    };
    const snap = collect(() => addon, { netns: ['blue'], allNetns: false }, sources());
    expect(snap.namespaces.map((n) => [n.label, n.inScope])).toEqual([
      ['blue', true],
      ['pid:700', false],
    ]);
    expect(snap.namespaces[0]!.peers).toEqual(new Map([[4, 30]]));
    const all = collect(() => addon, { netns: [], allNetns: true }, sources());
    expect(all.problems).toEqual(['red: not read: cannot open namespace null', 'host: not read: cannot open namespace /proc/1/ns/net']);
    expect(asked).toContain('/proc/700/ns/net');
  });
});

describe('audit command line', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
  };

  it('a bad --fail-on is a usage error (exit 2, one line) and needs no addon', async () => {
    const t = io();
    expect(await main(['node', 'pmtu-watch', 'audit', '--fail-on', 'loud'], t.io)).toBe(2);
    expect(t.err).toHaveLength(1);
    expect(t.err[0]).toMatch(/^pmtu-watch: option '--fail-on <severity>' argument 'loud' is invalid/);
  });

  it('an --against file that is not a baseline is one line and exit 2, before any namespace is read', async () => {
    const t = io();
    const deps = { audit: { addon: () => { throw new Error('the addon must not be needed'); }, sources: sources() } };
    expect(await main(['node', 'pmtu-watch', 'audit', '--against', '/nonexistent/good.json'], t.io, deps)).toBe(2);
    expect(t.err).toEqual(['pmtu-watch: cannot read /nonexistent/good.json: ENOENT']);
  });

  it('--netns and --all-netns conflict', async () => {
    const t = io();
    expect(await main(['node', 'pmtu-watch', 'audit', '--netns', 'x', '--all-netns'], t.io)).toBe(2);
    expect(t.err[0]).toMatch(/cannot be used with/);
  });

  it('findings at --fail-on or above exit 1; below, 0; --fail-on none never fails', async () => {
    const addon = () => ({
      readNetConfig: () => ({ links: [link(2, 'v1', 9000, { link: 3 }), link(3, 'v2', 1500, { link: 2 })], addresses: [], routes: [], cached: [], peerNsids: [] }),
      readSysctls: (_n: string | null, p: string[]) => p.map(() => null),
    });
    const deps = { audit: { addon, sources: sources({ listDir: () => [] }) } };
    const t = io();
    expect(await main(['node', 'pmtu-watch', 'audit'], t.io, deps)).toBe(1);
    expect(t.out[0]).toBe('ERROR   veth-mtu-mismatch  current/v1');
    expect(t.out.at(-1)).toBe('1 error, 0 warnings, 0 info in namespace current');
    expect(await main(['node', 'pmtu-watch', 'audit', '--fail-on', 'none'], io().io, deps)).toBe(0);
    const j = io();
    expect(await main(['node', 'pmtu-watch', 'audit', '--json', '--fail-on', 'warning'], j.io, deps)).toBe(1);
    expect(JSON.parse(j.out[0]!)).toMatchObject({ scope: ['current'], findings: [{ rule: 'veth-mtu-mismatch', numbers: { mtu: 9000, peerMtu: 1500 } }] });
  });
});
