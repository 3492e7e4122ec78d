// The audit rules on hand-made snapshots: each misconfiguration gives its
// finding with the numbers and the fix; a consistent configuration gives none.

import { describe, expect, it } from 'vitest';

import { audit } from '../../src/audit/rules.js';
import { tunnelCost } from '../../src/net/encap.js';
import type { AddressInfo, AuditSnapshot, LinkInfo, NetnsConfig, RouteEntry } from '../../src/audit/types.js';
import type { NetnsInfoJson } from '../../src/contract/netns.js';

let nextInode = 1000;

function ns(label: string, parts: Partial<NetnsConfig> = {}, info?: Omit<NetnsInfoJson, 'inode'>): NetnsConfig {
  const inode = nextInode++;
  return {
    inode,
    label,
    info: { inode, ...(info ?? { kind: 'named', name: label }) },
    inScope: true,
    links: [dev(1, 'lo', 65536, { kind: '' })],
    addresses: [],
    routes: [],
    peers: new Map(),
    rpFilter: new Map(),
    ...parts,
  };
}

function dev(ifindex: number, name: string, mtu: number, more: Partial<LinkInfo> = {}): LinkInfo {
  return { ifindex, name, mtu, up: true, kind: '', master: 0, link: 0, linkNetnsid: -1, ...more };
}

function addr(ifindex: number, address: string, prefixLen = 24): AddressInfo {
  return { ifindex, family: address.includes(':') ? 6 : 4, address, prefixLen };
}

function route(oif: number, dst: string, dstLen: number, more: Partial<RouteEntry> = {}): RouteEntry {
  return { family: dst.includes(':') ? 6 : 4, table: 254, type: 1, dst, dstLen, gateway: '', oif, priority: 0, mtu: 0, advmss: 0, prefsrc: '', expires: 0, ...more };
}

/** Two namespaces joined by a veth pair, with the given MTUs. */
function vethPair(mtuA: number, mtuB: number): { a: NetnsConfig; b: NetnsConfig } {
  const a = ns('a');
  const b = ns('b');
  a.links.push(dev(5, 'eth0', mtuA, { kind: 'veth', link: 7, linkNetnsid: 0 }));
  b.links.push(dev(7, 'veth-a', mtuB, { kind: 'veth', link: 5, linkNetnsid: 3 }));
  a.peers.set(0, b.inode);
  b.peers.set(3, a.inode);
  a.addresses.push(addr(5, '198.18.0.2'));
  a.routes.push(route(5, '198.18.0.0', 24), route(5, '', 0, { gateway: '198.18.0.1' }));
  return { a, b };
}

function snapshot(...namespaces: NetnsConfig[]): AuditSnapshot {
  return { namespaces, problems: [] };
}

describe('audit rules', () => {
  it('a consistent configuration has no findings, and lists each route with its MSS', () => {
    const { a, b } = vethPair(1500, 1500);
    const r = audit(snapshot(a, b));
    expect(r.findings).toEqual([]);
    expect(r.scope).toEqual(['a', 'b']);
    expect(r.routes).toContainEqual({
      netns: 'a',
      family: 4,
      dst: 'default',
      gateway: '198.18.0.1',
      device: 'eth0',
      mtu: 1500,
      mss: 1460,
      chainMtu: 1500,
      chainAt: { netns: 'a', device: 'eth0' },
      chainOverhead: 0,
    });
  });

  it('an unequal veth pair across namespaces: one error at the larger end, both fixes, and the MSS warning', () => {
    const { a, b } = vethPair(1500, 1450);
    const r = audit(snapshot(a, b));
    const veth = r.findings.filter((f) => f.rule === 'veth-mtu-mismatch');
    expect(veth).toHaveLength(1); // seen from both ends, reported once
    expect(veth[0]).toMatchObject({
      severity: 'error',
      netns: 'a',
      device: 'eth0',
      related: [{ netns: 'b', device: 'veth-a' }],
      numbers: { mtu: 1500, peerMtu: 1450 },
      fix: ['ip -n a link set dev eth0 mtu 1450', 'ip -n b link set dev veth-a mtu 1500'],
    });
    const mss = r.findings.find((f) => f.rule === 'mss-exceeds-chain');
    expect(mss).toMatchObject({ severity: 'warning', netns: 'a', device: 'eth0', numbers: { mss: 1460, chainMtu: 1450, maxMss: 1410 } });
    expect(mss!.summary).toContain('default');
    expect(r.findings[0]!.severity).toBe('error'); // most severe first
  });

  it('a veth peer in a namespace outside the scope is still compared', () => {
    const { a, b } = vethPair(9000, 1500);
    b.inScope = false;
    const r = audit(snapshot(a, b));
    expect(r.scope).toEqual(['a']);
    expect(r.findings.find((f) => f.rule === 'veth-mtu-mismatch')).toMatchObject({ netns: 'a', device: 'eth0', related: [{ netns: 'b', device: 'veth-a' }] });
  });

  it('a veth pair inside one namespace (no nsid) is resolved by ifindex', () => {
    const h = ns('h');
    h.links.push(dev(2, 'v1', 9000, { kind: 'veth', link: 3 }), dev(3, 'v2', 1500, { kind: 'veth', link: 2 }));
    expect(audit(snapshot(h)).findings.map((f) => [f.rule, f.device])).toEqual([['veth-mtu-mismatch', 'v1']]);
  });

  it('a bridge port below the bridge (seed 000): error on the port, fix raises it', () => {
    const hv = ns('hv');
    hv.links.push(dev(2, 'br0', 9000, { kind: 'bridge' }), dev(3, 'p-g1', 9000, { kind: 'tap', master: 2 }), dev(4, 'p-g2', 1500, { kind: 'tap', master: 2 }));
    const r = audit(snapshot(hv));
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({
      rule: 'bridge-port-mtu',
      severity: 'error',
      netns: 'hv',
      device: 'p-g2',
      related: [{ netns: 'hv', device: 'br0' }],
      numbers: { bridgeMtu: 9000, largestMtu: 9000, portMtu: 1500 },
      fix: ['ip -n hv link set dev p-g2 mtu 9000'],
    });
  });

  it('ports that differ under a bridge whose MTU followed the smallest: the larger port sets the bar', () => {
    const hv = ns('hv');
    hv.links.push(dev(2, 'br0', 1500, { kind: 'bridge' }), dev(3, 'big', 9000, { kind: 'tap', master: 2 }), dev(4, 'small', 1500, { kind: 'tap', master: 2 }));
    const r = audit(snapshot(hv));
    expect(r.findings.map((f) => [f.rule, f.device, f.numbers.largestMtu])).toEqual([['bridge-port-mtu', 'small', 9000]]);
    expect(r.findings[0]!.summary).toContain('port big at 9000');
  });

  it('a veth port stuck below its bridge: the veth fix raises the port too, so the two fixes agree', () => {
    const hv = ns('hv');
    const g2 = ns('g2');
    hv.links.push(dev(2, 'br0', 9000, { kind: 'bridge' }), dev(4, 'p-g2', 1500, { kind: 'veth', master: 2, link: 2, linkNetnsid: 1 }));
    g2.links.push(dev(2, 'eth0', 9000, { kind: 'veth', link: 4, linkNetnsid: 0 }));
    hv.peers.set(1, g2.inode);
    g2.peers.set(0, hv.inode);
    const r = audit(snapshot(hv, g2));
    expect(r.findings.map((f) => [f.rule, f.fix[0]])).toEqual([
      ['veth-mtu-mismatch', 'ip -n hv link set dev p-g2 mtu 9000'],
      ['bridge-port-mtu', 'ip -n hv link set dev p-g2 mtu 9000'],
    ]);
  });

  it('a VLAN above its parent', () => {
    const h = ns('h');
    h.links.push(dev(2, 'eth0', 1500), dev(3, 'eth0.10', 9000, { kind: 'vlan', link: 2 }));
    expect(audit(snapshot(h)).findings).toMatchObject([
      { rule: 'stacked-above-parent', device: 'eth0.10', numbers: { mtu: 9000, parentMtu: 1500 }, fix: ['ip -n h link set dev eth0.10 mtu 1500'] },
    ]);
  });

  const tunnel = (lower: number, remote = '', local = '', more: Partial<NonNullable<LinkInfo['tunnel']>> = {}) => ({
    lower,
    remote,
    local,
    greOutputFlags: 0,
    encapLimit: -1,
    flags: 0,
    ...more,
  });

  it("an overlay far below what its underlay carries (seed 001's first half: Calico's 1450 under 9000): info, the MTU it could use, the CNI's setting, pods of two MTUs listed", () => {
    const n1 = ns('n1');
    n1.links.push(
      dev(2, 'eth1', 9000),
      dev(3, 'vxlan.calico', 1450, { kind: 'vxlan', tunnel: tunnel(0, '198.18.50.2', '198.18.50.1') }),
      dev(4, 'cali1a2b3c4d5e6', 1450, { kind: 'veth', link: 2, linkNetnsid: 1 }),
      dev(5, 'cali9f8e7d6c5b4', 8950, { kind: 'veth', link: 2, linkNetnsid: 2 }),
    );
    n1.addresses.push(addr(2, '198.18.50.1'), addr(3, '198.18.51.1'));
    n1.routes.push(route(2, '198.18.50.0', 24), route(3, '198.18.51.0', 24));
    const f = audit(snapshot(n1)).findings.find((x) => x.rule === 'tunnel-below-underlay')!;
    expect(f).toMatchObject({ severity: 'info', device: 'vxlan.calico', related: [{ netns: 'n1', device: 'eth1' }], numbers: { mtu: 1450, underlayMtu: 9000, maxMtu: 8950 } });
    expect(f.summary).toContain("this node's pod veths are at 1450 (1), 8950 (1)");
    expect(f.fix[0]).toContain('"mtu":8950');
    expect(f.note).toMatch(/only pods made after the change/);
    // A few bytes of room are not worth a line: 1450 over 1500 is what it should be.
    n1.links.find((l) => l.name === 'eth1')!.mtu = 1500;
    expect(audit(snapshot(n1)).findings.filter((x) => x.rule === 'tunnel-below-underlay')).toEqual([]);
  });

  it('VXLAN over IPv4 needs 50 bytes (seed 001: 1450 = 1500 - 50): found through the route to its remote', () => {
    const n1 = ns('n1');
    n1.links.push(dev(2, 'eth0', 1500), dev(3, 'vxlan0', 1500, { kind: 'vxlan', tunnel: tunnel(0, '198.18.50.2', '198.18.50.1') }));
    n1.addresses.push(addr(2, '198.18.50.1'), addr(3, '198.18.51.1'));
    n1.routes.push(route(2, '198.18.50.0', 24), route(3, '198.18.51.0', 24), route(3, '198.18.53.0', 24, { gateway: '198.18.51.2' }));
    const r = audit(snapshot(n1));
    const f = r.findings.find((x) => x.rule === 'tunnel-overhead');
    expect(f).toMatchObject({
      severity: 'error',
      netns: 'n1',
      device: 'vxlan0',
      related: [{ netns: 'n1', device: 'eth0' }],
      numbers: { mtu: 1500, overhead: 50, underlayMtu: 1500, maxMtu: 1450 },
      fix: ['ip -n n1 link set dev vxlan0 mtu 1450', 'ip -n n1 link set dev eth0 mtu 1550'],
    });
    expect(f!.summary).toContain('route to 198.18.50.2');
    // Routes through the tunnel advertise an MSS its underlay cannot carry.
    expect(r.findings.find((x) => x.rule === 'mss-exceeds-chain')).toMatchObject({ device: 'vxlan0', numbers: { mss: 1460, chainMtu: 1450 } });
    // At 1450 all is well.
    n1.links[2]!.mtu = 1450;
    expect(audit(snapshot(n1)).findings).toEqual([]);
  });

  it('a tunnel bound to a device uses it; without remote or device, the default route', () => {
    const h = ns('h');
    h.links.push(dev(2, 'eth0', 1500), dev(3, 'eth1', 9000), dev(4, 'vx', 8950, { kind: 'vxlan', tunnel: tunnel(3) }), dev(5, 'wg0', 1500, { kind: 'wireguard' }));
    h.routes.push(route(2, '', 0, { gateway: '198.18.0.1' }));
    const r = audit(snapshot(h));
    expect(r.findings.map((f) => [f.rule, f.device, f.related[0]?.device, f.numbers.maxMtu])).toEqual([['tunnel-overhead', 'wg0', 'eth0', 1440]]);
    expect(r.findings[0]!.summary).toContain('default route');
  });

  it('tunnel overheads by kind and options', () => {
    const t = (kind: string, more: Partial<NonNullable<LinkInfo['tunnel']>> = {}) => tunnelCost(dev(9, 't', 1500, { kind, tunnel: tunnel(0, '', '', more) }))?.overhead;
    expect(t('vxlan')).toBe(50);
    expect(t('vxlan', { remote: '2001:db8::2' })).toBe(70);
    expect(t('geneve')).toBe(50);
    expect(t('gre')).toBe(24);
    expect(t('gre', { greOutputFlags: 0x2000 | 0x8000 })).toBe(32);
    expect(t('gretap')).toBe(38);
    expect(t('ipip')).toBe(20);
    expect(t('sit')).toBe(20);
    expect(t('ip6tnl', { encapLimit: 4 })).toBe(48);
    expect(t('ip6tnl', { encapLimit: 4, flags: 0x1 })).toBe(40);
    expect(t('ip6gre', { encapLimit: 0 })).toBe(44);
    expect(tunnelCost(dev(9, 'wg0', 1420, { kind: 'wireguard' }))?.overhead).toBe(60);
    expect(t('veth')).toBeUndefined();
  });

  /** s of seed 001's SVI half: default route through to-r2, a management subnet on mgmt0. */
  function multiHomed(all: number, toR2: number): NetnsConfig {
    const s = ns('s');
    s.links.push(dev(2, 'to-r2', 9000, { kind: 'veth' }), dev(3, 'mgmt0', 1500, { kind: 'veth' }));
    s.addresses.push(addr(2, '198.18.3.2'), addr(3, '198.19.0.2'));
    s.routes.push(route(2, '198.18.3.0', 24), route(2, '', 0, { gateway: '198.18.3.1' }), route(3, '198.19.0.0', 24));
    s.rpFilter.set('all', all).set('to-r2', toR2).set('mgmt0', 0);
    return s;
  }

  it('strict rp_filter on a multi-homed host (seed 001, its SVI half): a warning on the interface with the gateway', () => {
    const r = audit(snapshot(multiHomed(1, 1)));
    expect(r.findings).toHaveLength(1);
    expect(r.findings[0]).toMatchObject({
      rule: 'rp-filter-multihomed',
      severity: 'warning',
      netns: 's',
      device: 'to-r2',
      related: [{ netns: 's', device: 'mgmt0' }],
      numbers: { rpFilterAll: 1, rpFilter: 1 },
    });
    expect(r.findings[0]!.summary).toContain('198.19.0.0/24 via mgmt0');
    expect(r.findings[0]!.fix[1]).toBe('ip netns exec s sysctl -w net.ipv4.conf.to-r2.rp_filter=2');
    expect(r.findings[0]!.note).toMatch(/spoofed/);
  });

  it('rp_filter: all=1 makes every interface strict; loose (2) anywhere in the max, off, or single-homed: nothing', () => {
    expect(audit(snapshot(multiHomed(1, 0)))).toMatchObject({ findings: [{ device: 'to-r2' }] });
    expect(audit(snapshot(multiHomed(0, 1)))).toMatchObject({ findings: [{ device: 'to-r2' }] });
    expect(audit(snapshot(multiHomed(2, 1))).findings).toEqual([]);
    expect(audit(snapshot(multiHomed(1, 2))).findings).toEqual([]);
    expect(audit(snapshot(multiHomed(0, 0))).findings).toEqual([]);
    const single = multiHomed(1, 1);
    single.links[2]!.up = false;
    expect(audit(snapshot(single)).findings).toEqual([]);
  });

  it('route mtu and advmss above the device', () => {
    const h = ns('current', {}, { kind: 'current' });
    h.links.push(dev(2, 'eth0', 1500));
    h.routes.push(route(2, '198.18.10.0', 24, { gateway: '198.18.0.1', mtu: 9000 }), route(2, '2001:db8:10::', 64, { advmss: 1460 }));
    const r = audit(snapshot(h));
    expect(r.findings.map((f) => [f.rule, f.numbers])).toEqual([
      ['route-mtu-above-device', { routeMtu: 9000, deviceMtu: 1500 }],
      ['route-advmss-above-device', { advmss: 1460, deviceMtu: 1500, maxMss: 1440 }],
    ]);
    // The current namespace's fixes need no namespace option.
    expect(r.findings[0]!.fix).toEqual(['ip route change 198.18.10.0/24 via 198.18.0.1 dev eth0 mtu 1500']);
    expect(r.findings[1]!.fix).toEqual(['ip -6 route change 2001:db8:10::/64 dev eth0 advmss 1440']);
  });

  it('a namespace held by a process gets nsenter fixes; a container is entered by its name', () => {
    const c = ns('pid:42', {}, { kind: 'process', pid: 42, comm: 'sleep' });
    c.links.push(dev(2, 'eth0', 1500), dev(3, 'eth0.5', 1600, { kind: 'vlan', link: 2 }));
    expect(audit(snapshot(c)).findings[0]!.fix).toEqual(['nsenter -t 42 -n ip link set dev eth0.5 mtu 1500']);
    const w = ns('docker:web-1', {}, { kind: 'docker', name: 'web-1', id: 'f3a9c1d2e4b5', pid: 812 });
    w.links.push(dev(2, 'eth0', 1500), dev(3, 'eth0.5', 1600, { kind: 'vlan', link: 2 }));
    const f = audit(snapshot(w)).findings[0]!;
    expect(f.netns).toBe('docker:web-1');
    expect(f.fix).toEqual([`nsenter -t "$(docker inspect -f '{{.State.Pid}}' web-1)" -n ip link set dev eth0.5 mtu 1500`]);
  });

  it('routes on lo, local-table, link-local and multicast routes are not listed', () => {
    const h = ns('h');
    h.links.push(dev(2, 'eth0', 1500));
    h.routes.push(route(1, '127.0.0.0', 8), route(2, '198.18.0.1', 32, { table: 255, type: 2 }), route(2, 'fe80::', 64), route(2, 'ff00::', 8, { type: 5 }));
    expect(audit(snapshot(h)).routes).toEqual([]);
  });
});

/**
 * Seed 003: a Docker container (the dind service, eth0 1450 to its engine's
 * bridge) runs an engine of its own whose bridge stays at 1500, and the inner
 * container's veth pair differs (inner eth0 at `innerMtu`).
 */
function dind(opts: { bridge?: string; innerMtu?: number; label?: string; uplinkMtu?: number } = {}) {
  const label = opts.label ?? 'docker:ci-dind';
  const node = ns('pmtu-node', {}, { kind: 'named', name: 'pmtu-node' });
  const d = ns(label, {}, label.startsWith('docker:') ? { kind: 'docker', name: label.slice(7), id: 'a1b2c3d4e5f6', pid: 4242 } : { kind: 'named', name: label });
  const inner = ns('pid:4300', {}, { kind: 'process', pid: 4300, comm: 'sh' });
  const bridge = opts.bridge ?? 'docker0';
  node.links.push(dev(9, 'veth5e1d2c0', opts.uplinkMtu ?? 1450, { kind: 'veth', link: 2, linkNetnsid: 0 }));
  d.links.push(
    dev(2, 'eth0', opts.uplinkMtu ?? 1450, { kind: 'veth', link: 9, linkNetnsid: 0 }),
    dev(3, bridge, 1500, { kind: 'bridge' }),
    dev(5, 'veth19bed8a', 1500, { kind: 'veth', master: 3, link: 2, linkNetnsid: 1 }),
  );
  inner.links.push(dev(2, 'eth0', opts.innerMtu ?? 1500, { kind: 'veth', link: 5, linkNetnsid: 0 }));
  node.peers.set(0, d.inode);
  d.peers.set(0, node.inode).set(1, inner.inode);
  inner.peers.set(0, d.inode);
  d.addresses.push(addr(2, '198.18.210.20'), addr(3, '198.18.211.1'));
  d.routes.push(route(2, '198.18.210.0', 24), route(2, '', 0, { gateway: '198.18.210.1' }), route(3, '198.18.211.0', 24));
  return { node, d, inner };
}

describe('audit rules: rp_filter where IPIP is decapsulated (seed 004)', () => {
  /** A realserver as seed 004's lvs1014 shows it: enp4s0f0 with the default route, ipip0 and tunl0 with no address. */
  function realserver(rp: Record<string, number>) {
    const h = ns('rs', { rpFilter: new Map(Object.entries(rp)) });
    h.links.push(dev(2, 'enp4s0f0', 1500), dev(3, 'ipip0', 1480, { kind: 'ipip' }), dev(4, 'tunl0', 1480, { kind: 'ipip', up: false }), dev(5, 'ipip60', 1460, { kind: 'ip6tnl' }));
    h.addresses.push(addr(2, '198.18.60.10'));
    h.routes.push(route(2, '', 0, { gateway: '198.18.60.1' }));
    return h;
  }
  const decap = (rp: Record<string, number>) => audit(snapshot(realserver(rp))).findings.filter((f) => f.rule === 'rp-filter-decap');

  it("the seed's working settings (all=0, ipip0=0; default=1 for pods) say nothing", () => {
    expect(decap({ all: 0, default: 1, enp4s0f0: 1, ipip0: 0, tunl0: 1, ipip60: 1 })).toEqual([]);
    expect(decap({ all: 1, ipip0: 2, ipip60: 2 })).toEqual([]); // loose wins over all=1
  });

  it('strict on ipip0, or all=1 over ipip0=0 (the larger counts): a warning on the up decap device only, with loose as the fix', () => {
    const strict = decap({ all: 0, default: 1, ipip0: 1, tunl0: 1, ipip60: 0 });
    expect(strict.map((f) => f.device)).toEqual(['ipip0']); // tunl0 is down
    expect(strict[0]!.fix).toEqual(['ip netns exec rs sysctl -w net.ipv4.conf.ipip0.rp_filter=2']);
    expect(strict[0]!.note).toMatch(/^default=1 is what interfaces made later inherit/);
    const viaAll = decap({ all: 1, default: 1, ipip0: 0, ipip60: 0 });
    expect(viaAll.map((f) => [f.device, f.numbers])).toEqual([['ipip0', { rpFilterAll: 1, rpFilter: 0 }]]);
    expect(viaAll[0]!.fix[1]).toBe('ip netns exec rs sysctl -w net.ipv4.conf.all.rp_filter=0');
    expect(viaAll[0]!.note).toMatch(/^with all=1 a 0 on ipip0 is not enough/);
    // IPv6 (ipip60) has no rp_filter, whatever its sysctl says; unread values say nothing.
    expect(decap({ all: 0, ipip0: 0, ipip60: 1 })).toEqual([]);
    expect(decap({ all: 1 })).toEqual([]);
  });
});

describe('audit rules: a bridge restarted under running guests (seed 002)', () => {
  function hypervisor() {
    const hv = ns('pve');
    hv.links.push(
      dev(2, 'eno1', 1500, { master: 3 }),
      dev(3, 'vmbr0', 1500, { kind: 'bridge' }),
      dev(10, 'tap102i0', 1500, { kind: 'tun' }),
      dev(11, 'veth101i0', 1500, { kind: 'veth' }),
      dev(12, 'tap103i0', 1500, { kind: 'tun', master: 3 }),
      dev(13, 'cali1a2b3c4d5e6', 1500, { kind: 'veth' }), // routed, never in a bridge
    );
    return hv;
  }

  it("a guest's tap or veth port up with no master beside a bridge: an error, re-enslaved into that bridge, ifreload as the lasting fix", () => {
    const found = audit(snapshot(hypervisor())).findings.filter((f) => f.rule === 'port-without-bridge');
    expect(found.map((f) => [f.device, f.fix[0]])).toEqual([
      ['tap102i0', 'ip -n pve link set tap102i0 master vmbr0'],
      ['veth101i0', 'ip -n pve link set veth101i0 master vmbr0'],
    ]);
    expect(found[0]).toMatchObject({ severity: 'error', related: [{ netns: 'pve', device: 'vmbr0' }] });
    expect(found[0]!.fix[1]).toMatch(/^ifreload -a/);
    expect(found[0]!.note).toBe('the bridge it belongs to is in /etc/pve/qemu-server/102.conf (net0: bridge=)');
    expect(found[1]!.note).toBe('the bridge it belongs to is in /etc/pve/lxc/101.conf (net0: bridge=)');
  });

  it('with two bridges it says where to look; a down port, a port in a bridge, or no bridge at all: nothing', () => {
    const hv = hypervisor();
    hv.links.push(dev(4, 'vmbr1', 9000, { kind: 'bridge' }));
    const f = audit(snapshot(hv)).findings.find((x) => x.device === 'tap102i0')!;
    expect(f.fix[0]).toBe('ip -n pve link set tap102i0 master BRIDGE');
    expect(f.note).toBe('which bridge: /etc/pve/qemu-server/102.conf, net0: bridge=');
    const quiet = hypervisor();
    quiet.links.find((l) => l.name === 'tap102i0')!.up = false;
    quiet.links.find((l) => l.name === 'veth101i0')!.master = 3;
    expect(audit(snapshot(quiet)).findings.filter((x) => x.rule === 'port-without-bridge')).toEqual([]);
    const none = ns('plain');
    none.links.push(dev(10, 'tap102i0', 1500, { kind: 'tun' }));
    expect(audit(snapshot(none)).findings).toEqual([]);
  });
});

describe('audit rules: an inner Docker engine (seed 003)', () => {
  const pid = `"$(docker inspect -f '{{.State.Pid}}' ci-dind)"`;

  it("a finding on the inner engine's docker0 keeps its ip link fix and gains the engine's MTU, the CI runner's setting and an MSS clamp", () => {
    const { node, d, inner } = dind({ innerMtu: 1450 }); // an inner container left at 1450 under the engine's 1500
    const r = audit(snapshot(node, d, inner));
    const veth = r.findings.find((f) => f.rule === 'veth-mtu-mismatch')!;
    expect(veth).toMatchObject({ netns: 'docker:ci-dind', device: 'veth19bed8a', related: [{ netns: 'pid:4300', device: 'eth0' }] });
    expect(veth.fix[0]).toBe(`nsenter -t ${pid} -n ip link set dev veth19bed8a mtu 1450`);
    expect(veth.fix.slice(2)).toEqual([
      'give the Docker engine inside docker:ci-dind the MTU of its eth0 for docker0: dockerd --mtu 1450, or "mtu": 1450 in its /etc/docker/daemon.json, ' +
        'or the CI runner\'s setting (GitLab\'s docker:dind service: command: ["--mtu=1450"]; Drone\'s docker plugin: mtu: 1450); the containers it starts after that get 1450',
      `nsenter -t ${pid} -n nft 'add table inet pmtu-clamp; add chain inet pmtu-clamp forward { type filter hook forward priority mangle; }; add rule inet pmtu-clamp forward tcp flags syn tcp option maxseg size set rt mtu'`,
    ]);
    expect(veth.note).toMatch(/docker0 in docker:ci-dind is a Docker engine's bridge: `ip link set` lasts until that engine makes its next veth/);
    expect(veth.note).toMatch(/^the second only if/); // the rule's own caveat stays first
  });

  it('a port below the inner docker0 (bridge-port-mtu) gains them too; a user network (br-<12 hex>) is spelled as its network option', () => {
    const { node, d, inner } = dind({ bridge: 'br-0123456789ab' });
    d.links.push(dev(6, 'veth7a7a7a7', 1400, { kind: 'tap', master: 3 }));
    const f = audit(snapshot(node, d, inner)).findings.find((x) => x.rule === 'bridge-port-mtu')!;
    expect(f).toMatchObject({ netns: 'docker:ci-dind', device: 'veth7a7a7a7', related: [{ netns: 'docker:ci-dind', device: 'br-0123456789ab' }] });
    expect(f.fix[0]).toBe(`nsenter -t ${pid} -n ip link set dev veth7a7a7a7 mtu 1500`);
    expect(f.fix[1]).toContain('docker network create -o com.docker.network.driver.mtu=1450 (dockerd --mtu covers only docker0)');
    expect(f.fix[2]).toMatch(/^nsenter .* nft .*maxseg size set rt mtu'$/);
  });

  it("the seed's own layout, every interface at its default (docker0 1500 in a container at 1450): bridge-above-uplink, with the engine's fixes", () => {
    const { node, d, inner } = dind();
    const r = audit(snapshot(node, d, inner));
    const f = r.findings.find((x) => x.rule === 'bridge-above-uplink')!;
    expect(f).toMatchObject({ severity: 'warning', netns: 'docker:ci-dind', device: 'docker0', related: [{ netns: 'docker:ci-dind', device: 'eth0' }], numbers: { bridgeMtu: 1500, uplinkMtu: 1450 } });
    expect(f.summary).toContain('advertises MSS 1460, so replies over 1450 bytes reach it only while Path MTU Discovery works');
    expect(f.fix[0]).toBe(`nsenter -t ${pid} -n ip link set dev docker0 mtu 1450`);
    expect(f.fix.some((c) => c.includes('dockerd --mtu 1450'))).toBe(true);
    // Not where the way out carries the bridge, nor for the bridge that is itself the way out.
    expect(audit(snapshot(...Object.values(dind({ uplinkMtu: 1500 })))).findings.filter((x) => x.rule === 'bridge-above-uplink')).toEqual([]);
    const host = ns('h');
    host.links.push(dev(2, 'eth0', 1500), dev(3, 'vmbr0', 9000, { kind: 'bridge' }), dev(4, 'tap100i0', 9000, { master: 3 }));
    host.routes.push(route(3, '', 0, { gateway: '198.18.0.1' }));
    expect(audit(snapshot(host)).findings.filter((x) => x.rule === 'bridge-above-uplink')).toEqual([]);
  });

  it('not for a bridge of another name, a namespace that is not a container, or a container whose way out carries the bridge', () => {
    const engineFixes = (x: ReturnType<typeof dind>) =>
      audit(snapshot(x.node, x.d, x.inner)).findings.flatMap((f) => f.fix.filter((c) => /dockerd|pmtu-clamp/.test(c)));
    expect(engineFixes(dind({ innerMtu: 1450 }))).toHaveLength(6); // the case above, for contrast: the veth error, docker0's MSS warning and bridge-above-uplink, two each
    expect(engineFixes(dind({ innerMtu: 1450, bridge: 'br0' }))).toEqual([]);
    expect(engineFixes(dind({ innerMtu: 1450, bridge: 'br-build' }))).toEqual([]);
    expect(engineFixes(dind({ innerMtu: 1450, label: 'ci-netns' }))).toEqual([]);
    expect(engineFixes(dind({ innerMtu: 1450, uplinkMtu: 1500 }))).toEqual([]);
    // The node's side (a named namespace, the engine's veth to the container) is left as it was.
    const { node, d, inner } = dind({ innerMtu: 1450 });
    node.links[1]!.mtu = 1500;
    const outer = audit(snapshot(node, d, inner)).findings.find((f) => f.rule === 'veth-mtu-mismatch' && f.netns === 'pmtu-node')!;
    expect(outer.fix).toEqual(['ip -n pmtu-node link set dev veth5e1d2c0 mtu 1450', `nsenter -t ${pid} -n ip link set dev eth0 mtu 1500`]);
  });
});
