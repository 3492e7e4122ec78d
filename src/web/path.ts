// A flow's path through the namespaces (and nodes) audit read: from the
// namespace that holds its source address, route lookup by route lookup
// (main table, longest prefix), across veth pairs, bridges and gateways,
// to the one that holds its destination. Then the marks: the namespace that
// sent the PTB (the hop), and the interface where the packet or its PTB
// died. Pure; the page draws what this returns.

import type { IncidentJson, TopologyJson, TopologyLinkJson, TopologyNamespaceJson } from '../contract/cluster.js';
import type { FlowJson, VerdictJson } from '../contract/verdict.js';
import { inPrefix, parseAddr, prefixLen, routable } from './addr.js';

export const MAX_STEPS = 16;

export interface PathIface {
  name: string;
  mtu: number;
  kind: string;
  /** A tunnel's overhead: what it leaves of its underlay. */
  overhead?: number | null;
}

export interface PathStep {
  node: string | null;
  netns: string;
  /** Where the flow came in ('' at its source) and where it leaves ('' at its destination). */
  in: PathIface | null;
  out: PathIface | null;
  /** The bridge the flow crossed inside this namespace, when it went out through one. */
  bridge?: { name: string; mtu: number; port: PathIface };
  /** Set on the step that holds the flow's source / destination. */
  holds: ('src' | 'dst')[];
}

export type MarkKind = 'ptb-sender' | 'died';

export interface PathMark {
  kind: MarkKind;
  node: string | null;
  netns: string;
  /** The interface marked ('' for a whole namespace: the hop that sent a PTB from its loopback). */
  iface: string;
  label: string;
  /** Index of the step it is on, -1 when off the traced path (drawn beside it). */
  step: number;
}

export interface TracedPath {
  steps: PathStep[];
  /** Why the path stops short of the destination, when it does. */
  gap: string | null;
  marks: PathMark[];
}

interface Entry {
  node: string | null;
  ns: TopologyNamespaceJson;
}

function bare(addr: string): string {
  return addr.split('/')[0] ?? addr;
}

/** One namespace per node and name; one only read to resolve a veth peer gives way to a node that watches it. */
function entries(topologies: readonly TopologyJson[]): Entry[] {
  const out: Entry[] = [];
  const inScope = new Set<string>();
  for (const t of topologies) for (const ns of t.namespaces) if (ns.inScope) inScope.add(ns.name);
  const seen = new Set<string>();
  for (const t of topologies) {
    for (const ns of t.namespaces) {
      if (!ns.inScope && inScope.has(ns.name)) continue;
      const key = `${t.node ?? ''}\u0000${ns.name}`;
      const anyNode = `\u0001${ns.name}`;
      if (seen.has(key) || (!ns.inScope && seen.has(anyNode))) continue;
      seen.add(key);
      seen.add(anyNode);
      out.push({ node: t.node ?? null, ns });
    }
  }
  return out;
}

function iface(l: TopologyLinkJson): PathIface {
  return { name: l.name, mtu: l.mtu, kind: l.kind, ...(l.tunnel ? { overhead: l.tunnel.overhead } : {}) };
}

function owner(all: readonly Entry[], addr: string): { e: Entry; link: TopologyLinkJson } | undefined {
  for (const e of all) for (const l of e.ns.links) if (l.addresses.some((a) => bare(a) === addr)) return { e, link: l };
  return undefined;
}

function lookup(ns: TopologyNamespaceJson, dst: string, family: 4 | 6) {
  return ns.routes
    .filter((r) => r.family === family && inPrefix(dst, r.dst, family))
    .sort((a, b) => prefixLen(b.dst, family) - prefixLen(a.dst, family))[0];
}

function named(all: readonly Entry[], from: Entry, netns: string | null): Entry | undefined {
  const name = netns ?? from.ns.name;
  return all.find((e) => e.ns.name === name && e.node === from.node) ?? all.find((e) => e.ns.name === name);
}

/** The flow's path from its source's namespace to its destination's. */
export function tracePath(topologies: readonly TopologyJson[], flow: FlowJson): { steps: PathStep[]; gap: string | null } {
  const all = entries(topologies);
  const dst = flow.dst;
  const family = parseAddr(dst)?.family;
  if (!family) return { steps: [], gap: `${dst} is not an address` };
  const start = owner(all, flow.src);
  if (!start) return { steps: [], gap: `no namespace read holds ${flow.src}` };
  const steps: PathStep[] = [];
  let at: Entry = start.e;
  let inIface: PathIface | null = null;
  const visited = new Set<string>();
  for (let i = 0; i < MAX_STEPS; i++) {
    const key = `${at.node ?? ''}\u0000${at.ns.name}`;
    if (visited.has(key)) return { steps, gap: `a routing loop at ${at.ns.name}` };
    visited.add(key);
    const step: PathStep = { node: at.node, netns: at.ns.name, in: inIface, out: null, holds: [] };
    steps.push(step);
    if (at.ns.links.some((l) => l.addresses.some((a) => bare(a) === flow.src))) step.holds.push('src');
    if (at.ns.links.some((l) => l.addresses.some((a) => bare(a) === dst))) {
      step.holds.push('dst');
      return { steps, gap: null };
    }
    const route = lookup(at.ns, dst, family);
    if (!route) return { steps, gap: `${at.ns.name} has no route to ${dst}` };
    const out = at.ns.links.find((l) => l.name === route.dev);
    if (!out) return { steps, gap: `${at.ns.name}: no device ${route.dev}` };
    step.out = iface(out);
    const gw = route.gateway || dst;
    let next: { e: Entry; link: TopologyLinkJson } | undefined;
    if (out.kind === 'veth' && out.peer) {
      const e = named(all, at, out.peer.netns);
      const link = e?.ns.links.find((l) => l.name === out.peer!.iface);
      if (e && link) next = { e, link };
    } else if (out.kind === 'bridge') {
      // Through the port whose other end holds the next hop.
      for (const port of at.ns.links.filter((l) => l.master === out.name && l.peer)) {
        const e = named(all, at, port.peer!.netns);
        const link = e?.ns.links.find((l) => l.name === port.peer!.iface);
        if (e && link && e.ns.links.some((l) => l.addresses.some((a) => bare(a) === gw))) {
          step.bridge = { name: out.name, mtu: out.mtu, port: iface(port) };
          next = { e, link };
          break;
        }
      }
    }
    next ??= owner(all, gw);
    if (!next || !routable(gw)) return { steps, gap: `${gw} (via ${out.name}) is beyond what was read` };
    at = next.e;
    inIface = iface(next.link);
  }
  return { steps, gap: `more than ${MAX_STEPS} hops` };
}

function stepOf(steps: readonly PathStep[], node: string | null, netns: string, ifaceName: string): number {
  const match = (s: PathStep) => s.netns === netns && (node === null || s.node === null || s.node === node);
  const withIface = steps.findIndex((s) => match(s) && (s.in?.name === ifaceName || s.out?.name === ifaceName || s.bridge?.port.name === ifaceName));
  return withIface >= 0 ? withIface : steps.findIndex(match);
}

function hopStep(topologies: readonly TopologyJson[], steps: readonly PathStep[], hop: string): { step: number; netns: string; node: string | null; iface: string } | undefined {
  const o = owner(entries(topologies), hop);
  if (!o) return undefined;
  return { step: stepOf(steps, o.e.node, o.e.ns.name, o.link.name), netns: o.e.ns.name, node: o.e.node, iface: o.link.name };
}

const DIED: Record<string, string> = {
  'ptb-dropped': 'PTB dropped here',
  'silent-blackhole': 'packets vanish here',
  'local-bottleneck': 'too-big frames dropped here',
  'ptb-not-honored': 'PTBs sent from here were never heeded',
  'mss-exceeds-path': 'MSS larger than this MTU',
};

/** A verdict's path: where it says it broke, and the hop that sent the PTB. */
export function verdictPath(topologies: readonly TopologyJson[], v: VerdictJson & { node?: string }): TracedPath {
  const { steps, gap } = tracePath(topologies, v.flow);
  const marks: PathMark[] = [];
  const node = v.node ?? null;
  if (v.where.hop) {
    const h = hopStep(topologies, steps, v.where.hop);
    const label = `PTB from ${v.where.hop}${v.mtu ? `, MTU ${v.mtu}` : ''}`;
    marks.push(h ? { kind: 'ptb-sender', node: h.node, netns: h.netns, iface: h.iface, label, step: h.step } : { kind: 'ptb-sender', node: null, netns: '', iface: v.where.hop, label, step: -1 });
  }
  if (v.where.netns && v.where.iface && DIED[v.verdict]) {
    const label = `${DIED[v.verdict]}${v.cause ? ` (${v.cause})` : ''}`;
    marks.push({ kind: 'died', node, netns: v.where.netns, iface: v.where.iface, label, step: stepOf(steps, node, v.where.netns, v.where.iface) });
  }
  return { steps, gap, marks };
}

/** An incident's path: each node's part marked where it happened. */
export function incidentPath(topologies: readonly TopologyJson[], inc: IncidentJson): TracedPath {
  const { steps, gap } = tracePath(topologies, inc.flow);
  const marks: PathMark[] = inc.parts.map((p) => ({
    kind: p.role === 'ptb-sent' ? ('ptb-sender' as const) : ('died' as const),
    node: p.node,
    netns: p.netns,
    iface: p.iface,
    label: p.role === 'ptb-sent' ? `PTB from ${p.hop ?? inc.hop ?? '?'}, MTU ${p.mtu ?? inc.mtu ?? '?'}` : p.what,
    step: stepOf(steps, p.node, p.netns, p.iface),
  }));
  return { steps, gap, marks };
}
