// What the page shows, from what the feed sends: the current troubles (the
// latest verdict of each flow that is not ok, per node), the cluster's node
// states and incidents. Pure, and bounded: the page may stay open for days.

import type { IncidentJson, NodeStatusJson } from '../contract/cluster.js';
import type { VerdictCode, VerdictJson } from '../contract/verdict.js';
import { flowKey, flowText } from './addr.js';

/** At most this many flows are kept (the most recently changed). */
export const MAX_FLOWS = 2000;
export const MAX_INCIDENTS = 200;

/** Worst first: what needs doing before what is only worth knowing. */
const RANK: Record<VerdictCode, number> = {
  'ptb-dropped': 0,
  'silent-blackhole': 1,
  'local-bottleneck': 2,
  'ptb-not-honored': 3,
  'mss-exceeds-path': 4,
  'ptb-honored': 5,
  ok: 6,
};

export interface TroubleRow {
  /** Stable: node and flow. */
  key: string;
  node: string | null;
  verdict: VerdictCode;
  cause: string;
  /** netns/iface, or '' */
  where: string;
  hop: string;
  mtu: string;
  flow: string;
  fix: string;
  ts: number;
  v: VerdictJson & { node?: string };
}

type Incoming =
  | { type: 'hello'; cluster?: boolean }
  | { type: 'snapshot'; verdicts?: VerdictJson[] }
  | (VerdictJson & { node?: string })
  | NodeStatusJson
  | IncidentJson
  | { type: 'lost'; count: number; total: number }
  | { type: 'event'; kind: string };

/** Whether a verdict is a trouble the page lists: everything but ok and a PTB that was honored. */
export function isTrouble(v: VerdictJson): boolean {
  return v.verdict !== 'ok' && v.verdict !== 'ptb-honored';
}

export function troubleRow(v: VerdictJson & { node?: string }): TroubleRow {
  const where = v.where.netns || v.where.iface ? [v.where.netns, v.where.iface].filter(Boolean).join('/') : '';
  return {
    key: `${v.node ?? ''}\u0000${flowKey(v.flow)}`,
    node: v.node ?? null,
    verdict: v.verdict,
    cause: v.cause ?? '',
    where,
    hop: v.where.hop ?? '',
    mtu: v.mtu === null ? '' : String(v.mtu),
    flow: flowText(v.flow),
    fix: v.fix ?? '',
    ts: v.ts,
    v,
  };
}

export class PageState {
  cluster = false;
  lost = 0;
  /** node\0flowKey → the latest verdict, in insertion order = least recently changed first. */
  private readonly flows = new Map<string, VerdictJson & { node?: string }>();
  readonly nodes = new Map<string, NodeStatusJson>();
  private readonly incidentsById = new Map<string, IncidentJson>();

  /** Takes one feed message; true when what the page shows changed. */
  apply(m: Incoming): boolean {
    switch (m.type) {
      case 'hello':
        this.cluster = m.cluster === true;
        return true;
      case 'snapshot':
        for (const v of m.verdicts ?? []) this.verdict(v);
        return true;
      case 'verdict':
        this.verdict(m);
        return true;
      case 'node':
        this.nodes.set(m.node, m);
        if (this.nodes.size > 1024) this.nodes.delete(this.nodes.keys().next().value!);
        return true;
      case 'incident':
        this.incidentsById.delete(m.id);
        this.incidentsById.set(m.id, m);
        if (this.incidentsById.size > MAX_INCIDENTS) this.incidentsById.delete(this.incidentsById.keys().next().value!);
        return true;
      case 'lost':
        this.lost = m.total;
        return true;
      default:
        return false;
    }
  }

  private verdict(v: VerdictJson & { node?: string }): void {
    const key = troubleRow(v).key;
    this.flows.delete(key);
    this.flows.set(key, v);
    if (this.flows.size > MAX_FLOWS) this.flows.delete(this.flows.keys().next().value!);
  }

  /** Flows in trouble, worst first, then the most recent. */
  troubles(): TroubleRow[] {
    return [...this.flows.values()]
      .filter(isTrouble)
      .map(troubleRow)
      .sort((a, b) => RANK[a.verdict] - RANK[b.verdict] || b.ts - a.ts || (a.key < b.key ? -1 : 1));
  }

  row(key: string): TroubleRow | undefined {
    const v = this.flows.get(key);
    return v ? troubleRow(v) : undefined;
  }

  /** Incidents, the latest first. */
  incidents(): IncidentJson[] {
    return [...this.incidentsById.values()].sort((a, b) => b.ts - a.ts);
  }

  incident(id: string): IncidentJson | undefined {
    return this.incidentsById.get(id);
  }

  nodeList(): NodeStatusJson[] {
    return [...this.nodes.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }
}
