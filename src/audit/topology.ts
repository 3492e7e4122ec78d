// Audit's reading of the namespaces, as the web page draws it (GET
// /topology): devices with their MTUs, masters, veth peers resolved to the
// other namespace's name, tunnels with their overhead, main-table routes,
// and the findings of the rules. Pure: a snapshot in, JSON out.

import type { TopologyJson, TopologyLinkJson, TopologyNamespaceJson } from '../contract/cluster.js';
import { collect, type Scope } from './collect.js';
import { tunnelCost } from '../net/encap.js';
import { audit, routeDst } from './rules.js';
import type { AuditResult, AuditSnapshot, NetnsConfig } from './types.js';
import type { NativeAddon } from '../observer/addon.js';

const RTN_UNICAST = 1;
const MAIN_TABLE = 254;

function linkJson(ns: NetnsConfig, byInode: Map<number, NetnsConfig>, link: NetnsConfig['links'][number]): TopologyLinkJson {
  const byIndex = (i: number) => ns.links.find((l) => l.ifindex === i);
  let peer: TopologyLinkJson['peer'] = null;
  if (link.link > 0) {
    if (link.linkNetnsid < 0) {
      const other = byIndex(link.link);
      if (other) peer = { netns: null, iface: other.name };
    } else {
      const inode = ns.peers.get(link.linkNetnsid);
      const other = inode === undefined ? undefined : byInode.get(inode);
      const dev = other?.links.find((l) => l.ifindex === link.link);
      if (other && dev) peer = { netns: other.label, iface: dev.name };
    }
  }
  const out: TopologyLinkJson = {
    name: link.name,
    ifindex: link.ifindex,
    mtu: link.mtu,
    up: link.up,
    kind: link.kind,
    master: link.master > 0 ? (byIndex(link.master)?.name ?? null) : null,
    peer,
    addresses: ns.addresses.filter((a) => a.ifindex === link.ifindex).map((a) => `${a.address}/${a.prefixLen}`),
  };
  if (link.tunnel) {
    out.tunnel = {
      remote: link.tunnel.remote,
      local: link.tunnel.local,
      lower: link.tunnel.lower > 0 ? (byIndex(link.tunnel.lower)?.name ?? null) : null,
      overhead: tunnelCost(link)?.overhead ?? null,
    };
  }
  return out;
}

function namespaceJson(ns: NetnsConfig, byInode: Map<number, NetnsConfig>): TopologyNamespaceJson {
  const name = (i: number) => ns.links.find((l) => l.ifindex === i)?.name ?? String(i);
  return {
    name: ns.label,
    inScope: ns.inScope,
    links: ns.links.map((l) => linkJson(ns, byInode, l)),
    routes: ns.routes
      .filter((r) => r.table === MAIN_TABLE && r.type === RTN_UNICAST && r.oif > 0)
      .map((r) => ({ family: r.family, dst: routeDst(r), gateway: r.gateway, dev: name(r.oif), mtu: r.mtu })),
  };
}

export function topologyJson(snapshot: AuditSnapshot, result: AuditResult, ts: number): TopologyJson {
  const byInode = new Map(snapshot.namespaces.map((n) => [n.inode, n]));
  return {
    type: 'topology',
    ts,
    namespaces: snapshot.namespaces.map((n) => namespaceJson(n, byInode)),
    findings: result.findings.map((f) => ({ rule: f.rule, severity: f.severity, netns: f.netns, device: f.device, related: f.related.map((r) => ({ netns: r.netns, device: r.device })), summary: f.summary })),
    problems: [...snapshot.problems, ...result.problems.filter((p) => !snapshot.problems.includes(p))],
  };
}

/**
 * The topology of the namespaces a watcher selected, read at most once every
 * `maxAgeMs` (rtnetlink dumps are synchronous; a page polling must not make
 * one per request). A failure is a topology with only its problem.
 */
export function topologyReader(addon: () => Pick<NativeAddon, 'readNetConfig' | 'readSysctls'>, scope: Scope, maxAgeMs = 5000, now = () => Date.now()): () => TopologyJson {
  let last: TopologyJson | undefined;
  return () => {
    const t = now();
    if (last && t - last.ts < maxAgeMs) return last;
    try {
      const snapshot = collect(addon, scope);
      last = topologyJson(snapshot, audit(snapshot), t);
    } catch (e) {
      last = { type: 'topology', ts: t, namespaces: [], findings: [], problems: [`configuration not read: ${(e as Error).message}`] };
    }
    return last;
  };
}
