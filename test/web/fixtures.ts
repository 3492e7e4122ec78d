// The rp-filter scenario's configuration as two nodes' /topology would have
// it: node-a watches c, r1, r2 (and read s through r2's veth), node-b
// watches s (and read r2). Addresses as the lab gives them.

import type { TopologyJson, TopologyLinkJson } from '../../src/contract/cluster.js';

const veth = (name: string, mtu: number, peerNs: string, peer: string, addr: string): TopologyLinkJson => ({ name, ifindex: 2, mtu, up: true, kind: 'veth', master: null, peer: { netns: peerNs, iface: peer }, addresses: [addr] });
const lo = (extra: string[] = []): TopologyLinkJson => ({ name: 'lo', ifindex: 1, mtu: 65536, up: true, kind: '', master: null, peer: null, addresses: ['127.0.0.1/8', ...extra] });

const c = { name: 'c', inScope: true, links: [lo(), veth('to-r1', 9000, 'r1', 'to-c', '198.18.1.2/24')], routes: [{ family: 4 as const, dst: '198.18.1.0/24', gateway: '', dev: 'to-r1', mtu: 0 }, { family: 4 as const, dst: 'default', gateway: '198.18.1.1', dev: 'to-r1', mtu: 0 }] };
const r1 = {
  name: 'r1',
  inScope: true,
  links: [lo(), veth('to-c', 9000, 'c', 'to-r1', '198.18.1.1/24'), veth('to-r2', 1500, 'r2', 'to-r1', '198.18.2.1/24')],
  routes: [
    { family: 4 as const, dst: '198.18.1.0/24', gateway: '', dev: 'to-c', mtu: 0 },
    { family: 4 as const, dst: '198.18.2.0/24', gateway: '', dev: 'to-r2', mtu: 0 },
    { family: 4 as const, dst: '198.18.3.0/24', gateway: '198.18.2.2', dev: 'to-r2', mtu: 0 },
  ],
};
const r2 = {
  name: 'r2',
  inScope: true,
  links: [lo(['198.19.0.1/32']), veth('to-r1', 1500, 'r1', 'to-r2', '198.18.2.2/24'), veth('to-s', 9000, 's', 'to-r2', '198.18.3.1/24')],
  routes: [
    { family: 4 as const, dst: '198.18.2.0/24', gateway: '', dev: 'to-r1', mtu: 0 },
    { family: 4 as const, dst: '198.18.3.0/24', gateway: '', dev: 'to-s', mtu: 0 },
    { family: 4 as const, dst: '198.18.1.0/24', gateway: '198.18.2.1', dev: 'to-r1', mtu: 0 },
  ],
};
const s = {
  name: 's',
  inScope: true,
  links: [lo(), veth('to-r2', 9000, 'r2', 'to-s', '198.18.3.2/24'), veth('mgmt0', 1500, 'm', 'to-s', '198.19.9.2/24')],
  routes: [
    { family: 4 as const, dst: '198.18.3.0/24', gateway: '', dev: 'to-r2', mtu: 0 },
    { family: 4 as const, dst: '198.19.0.0/16', gateway: '198.19.9.1', dev: 'mgmt0', mtu: 0 },
    { family: 4 as const, dst: 'default', gateway: '198.18.3.1', dev: 'to-r2', mtu: 0 },
  ],
};

export const nodeA: TopologyJson = { type: 'topology', node: 'node-a', ts: 1, namespaces: [c, r1, r2, { ...s, inScope: false }], findings: [], problems: [] };
export const nodeB: TopologyJson = {
  type: 'topology',
  node: 'node-b',
  ts: 1,
  namespaces: [s, { ...r2, inScope: false }],
  findings: [{ rule: 'rp-filter-multihomed', severity: 'warning', netns: 's', device: 'to-r2', related: [], summary: 'strict rp_filter on to-r2 with a gateway, in a namespace with other interfaces' }],
  problems: [],
};
