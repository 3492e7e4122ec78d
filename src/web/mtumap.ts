// The per-namespace MTU map: for each namespace a node watches, its bridges
// with their ports, its veth pairs (with the other end, in whichever
// namespace it is), its tunnels over their underlay, and the other devices;
// each device flagged when an audit finding names it. Pure.

import type { TopologyFindingJson, TopologyJson, TopologyLinkJson } from '../contract/cluster.js';

export interface MapDevice {
  name: string;
  kind: string;
  mtu: number;
  up: boolean;
  /** The findings that name this device (as its place or a related one): rule and summary. */
  findings: { rule: string; severity: string; summary: string }[];
  /** veth: the other end; `mtu` null when that namespace was not read. */
  peer?: { netns: string; iface: string; mtu: number | null };
  /** Tunnel: the device under it and its overhead. */
  tunnel?: { lower: string | null; lowerMtu: number | null; overhead: number | null; remote: string };
  addresses: string[];
}

export interface MapBridge extends MapDevice {
  ports: MapDevice[];
}

export interface MapNamespace {
  node: string | null;
  netns: string;
  /** Whether any device here has a finding at warning or error. */
  flagged: boolean;
  bridges: MapBridge[];
  veths: MapDevice[];
  tunnels: MapDevice[];
  others: MapDevice[];
  /** Findings of the namespace that name no device shown (rp_filter on `all`, routes). */
  loose: TopologyFindingJson[];
}

function findingsFor(findings: readonly TopologyFindingJson[], netns: string, device: string) {
  return findings
    .filter((f) => (f.netns === netns && f.device === device) || f.related.some((r) => r.netns === netns && r.device === device))
    .map((f) => ({ rule: f.rule, severity: f.severity, summary: f.summary }));
}

export function mtuMap(topologies: readonly TopologyJson[]): MapNamespace[] {
  const out: MapNamespace[] = [];
  const byName = new Map<string, TopologyJson['namespaces'][number]>();
  for (const t of topologies) for (const ns of t.namespaces) if (!byName.has(ns.name) || ns.inScope) byName.set(ns.name, ns);
  for (const t of topologies) {
    for (const ns of t.namespaces) {
      if (!ns.inScope) continue;
      const device = (l: TopologyLinkJson): MapDevice => {
        const d: MapDevice = { name: l.name, kind: l.kind || (l.name === 'lo' ? 'loopback' : 'device'), mtu: l.mtu, up: l.up, findings: findingsFor(t.findings, ns.name, l.name), addresses: l.addresses };
        if (l.kind === 'veth' && l.peer) {
          const peerNs = l.peer.netns ?? ns.name;
          const other = byName.get(peerNs)?.links.find((x) => x.name === l.peer!.iface);
          d.peer = { netns: peerNs, iface: l.peer.iface, mtu: other?.mtu ?? null };
        }
        if (l.tunnel) {
          const lower = l.tunnel.lower ? ns.links.find((x) => x.name === l.tunnel!.lower) : undefined;
          d.tunnel = { lower: l.tunnel.lower, lowerMtu: lower?.mtu ?? null, overhead: l.tunnel.overhead, remote: l.tunnel.remote };
        }
        return d;
      };
      const bridges: MapBridge[] = ns.links.filter((l) => l.kind === 'bridge').map((b) => ({ ...device(b), ports: ns.links.filter((l) => l.master === b.name).map(device) }));
      const inBridge = new Set(bridges.flatMap((b) => b.ports.map((p) => p.name)));
      const rest = ns.links.filter((l) => l.kind !== 'bridge' && !inBridge.has(l.name));
      const m: MapNamespace = {
        node: t.node ?? null,
        netns: ns.name,
        flagged: false,
        bridges,
        veths: rest.filter((l) => l.kind === 'veth').map(device),
        tunnels: rest.filter((l) => l.tunnel).map(device),
        others: rest.filter((l) => l.kind !== 'veth' && !l.tunnel).map(device),
        loose: [],
      };
      const shown = new Set(ns.links.map((l) => l.name));
      m.loose = t.findings.filter((f) => f.netns === ns.name && !shown.has(f.device));
      const all = [...bridges, ...bridges.flatMap((b) => b.ports), ...m.veths, ...m.tunnels, ...m.others];
      m.flagged = all.some((d) => d.findings.some((f) => f.severity !== 'info')) || m.loose.some((f) => f.severity !== 'info');
      out.push(m);
    }
  }
  return out.sort((a, b) => Number(b.flagged) - Number(a.flagged) || `${a.node ?? ''}/${a.netns}`.localeCompare(`${b.node ?? ''}/${b.netns}`));
}
