// The cluster's one view of its nodes' feeds: what each node said, tagged
// with the node's name, the latest verdict per node and flow (what a new
// client's snapshot is), each node's state, and the incidents across nodes.
// Pure (the clock is passed in) and bounded: a node that floods costs a
// fixed amount, a node that goes away keeps its last verdicts only until it
// is removed.

import type { IncidentJson, NodeEventJson, NodeState, NodeStatusJson, NodeVerdictJson } from '../contract/cluster.js';
import type { StreamEvent } from '../contract/event.js';
import type { VerdictJson } from '../contract/verdict.js';
import { flowKey } from '../correlate/correlator.js';
import { IncidentCorrelator, type IncidentOptions } from './incidents.js';

export interface MergeOptions extends IncidentOptions {
  /** Verdicts kept per node (the most recently changed). Default 4096. */
  maxVerdictsPerNode?: number;
}

/** What the merge hands to the cluster's own feed. */
export type Outgoing = { kind: 'event'; ev: NodeEventJson } | { kind: 'verdict'; v: NodeVerdictJson } | { kind: 'node'; status: NodeStatusJson } | { kind: 'incident'; incident: IncidentJson };

interface NodeView {
  status: NodeStatusJson;
  verdicts: Map<string, NodeVerdictJson>;
}

export class ClusterMerge {
  private readonly nodes = new Map<string, NodeView>();
  readonly incidents: IncidentCorrelator;
  private readonly maxVerdicts: number;

  constructor(opts: MergeOptions = {}) {
    this.incidents = new IncidentCorrelator(opts);
    this.maxVerdicts = opts.maxVerdictsPerNode ?? 4096;
  }

  /** A node cluster follows from now on (given, or discovered). */
  addNode(node: string, url: string, source: NodeStatusJson['source'], now: number): Outgoing[] {
    if (this.nodes.has(node)) return [];
    const status: NodeStatusJson = { type: 'node', node, state: 'connecting', since: now, reason: null, retryMs: null, url, source, messages: 0 };
    this.nodes.set(node, { status, verdicts: new Map() });
    return [{ kind: 'node', status: { ...status } }];
  }

  /** A discovered node left the service: it and its verdicts go (said as state down, reason "removed"). */
  removeNode(node: string, now: number): Outgoing[] {
    const n = this.nodes.get(node);
    if (!n) return [];
    this.nodes.delete(node);
    this.incidents.forget(node);
    return [{ kind: 'node', status: { ...n.status, state: 'down', since: now, reason: 'no longer an endpoint of the service', retryMs: null } }];
  }

  setState(node: string, state: NodeState, now: number, reason: string | null = null, retryMs: number | null = null): Outgoing[] {
    const n = this.nodes.get(node);
    if (!n) return [];
    const s = n.status;
    if (s.state === state && s.reason === reason) {
      s.retryMs = retryMs;
      return [];
    }
    n.status = { ...s, state, since: now, reason, retryMs };
    return [{ kind: 'node', status: { ...n.status } }];
  }

  /** A node's snapshot (at each connection): its verdicts replace what it said before; those that changed go out. */
  snapshot(node: string, verdicts: readonly VerdictJson[]): Outgoing[] {
    const n = this.nodes.get(node);
    if (!n) return [];
    const before = n.verdicts;
    n.verdicts = new Map();
    const out: Outgoing[] = [];
    for (const v of verdicts) {
      const tagged = { ...v, node };
      const key = flowKey(v.flow);
      const had = before.get(key);
      this.keep(n, key, tagged);
      if (!had || had.ts !== v.ts || had.verdict !== v.verdict) out.push({ kind: 'verdict', v: tagged });
      out.push(...this.incidents.verdict(tagged).map((incident) => ({ kind: 'incident' as const, incident })));
    }
    n.status.messages++;
    return out;
  }

  verdict(node: string, v: VerdictJson): Outgoing[] {
    const n = this.nodes.get(node);
    if (!n) return [];
    n.status.messages++;
    const tagged: NodeVerdictJson = { ...v, node };
    this.keep(n, flowKey(v.flow), tagged);
    return [{ kind: 'verdict', v: tagged }, ...this.incidents.verdict(tagged).map((incident) => ({ kind: 'incident' as const, incident }))];
  }

  event(node: string, ev: StreamEvent): Outgoing[] {
    const n = this.nodes.get(node);
    if (!n) return [];
    n.status.messages++;
    const tagged = { ...ev, node } as NodeEventJson;
    return [{ kind: 'event', ev: tagged }, ...this.incidents.event(tagged).map((incident) => ({ kind: 'incident' as const, incident }))];
  }

  private keep(n: NodeView, key: string, v: NodeVerdictJson): void {
    n.verdicts.delete(key);
    n.verdicts.set(key, v);
    if (n.verdicts.size > this.maxVerdicts) n.verdicts.delete(n.verdicts.keys().next().value!);
  }

  /** Every node's current verdicts: a new client's snapshot. */
  verdicts(): NodeVerdictJson[] {
    return [...this.nodes.values()].flatMap((n) => [...n.verdicts.values()]);
  }

  statuses(): NodeStatusJson[] {
    return [...this.nodes.values()].map((n) => ({ ...n.status }));
  }

  status(node: string): NodeStatusJson | undefined {
    const n = this.nodes.get(node);
    return n ? { ...n.status } : undefined;
  }

  has(node: string): boolean {
    return this.nodes.has(node);
  }
}
