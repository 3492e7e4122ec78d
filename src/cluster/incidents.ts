// Correlation across nodes: a PTB one node sent about a flow, and that
// flow's PTB dropped (rp_filter, a firewall) or its too-big packets dropped
// on another node, make one incident naming both. Each node's own
// correlator judged its half (the sender's often says ptb-honored: it saw
// its PTB leave); only here are the halves put together. Pure: node-tagged
// events and verdicts in (their own time, no clock), incidents out; bounded.

import type { IncidentJson, IncidentPartJson, NodeEventJson, NodeVerdictJson } from '../contract/cluster.js';
import type { CorrelatorEvent } from '../contract/event.js';
import type { FlowJson } from '../contract/verdict.js';
import { flowKey, subject } from '../correlate/correlator.js';

export interface IncidentOptions {
  /** Flows followed at once (least recently active forgotten). Default 4096. */
  maxFlows?: number;
  /** Parts further apart than this (ms, by their events' time) are not one incident. Default 120 s. */
  windowMs?: number;
}

interface FlowParts {
  flow: FlowJson;
  /** node → part, per role. */
  senders: Map<string, IncidentPartJson>;
  drops: Map<string, IncidentPartJson>;
  /** Fixes the droppers' own verdicts gave, by node. */
  fixes: Map<string, string>;
  /** What the last incident sent for it was made of: nodes, roles, MTU, hop. */
  said: string;
}

const CAUSES: Record<string, string> = { IP_RPFILTER: 'rp_filter', NETFILTER_DROP: 'firewall', PKT_TOO_BIG: 'oversize' };

function causeOf(reason: string | null): string | null {
  if (!reason) return null;
  return CAUSES[reason] ?? reason.toLowerCase();
}

function reasonOfCause(cause: string | null): string | null {
  if (!cause) return null;
  const r = Object.entries(CAUSES).find(([, c]) => c === cause);
  return r ? r[0] : cause.toUpperCase();
}

export class IncidentCorrelator {
  private readonly flows = new Map<string, FlowParts>();
  private readonly maxFlows: number;
  private readonly windowMs: number;

  constructor(opts: IncidentOptions = {}) {
    this.maxFlows = opts.maxFlows ?? 4096;
    this.windowMs = opts.windowMs ?? 120_000;
  }

  private parts(flow: FlowJson): FlowParts {
    const key = flowKey(flow);
    let p = this.flows.get(key);
    if (p) {
      this.flows.delete(key); // to the end: most recently active
    } else {
      p = { flow, senders: new Map(), drops: new Map(), fixes: new Map(), said: '' };
      if (this.flows.size >= this.maxFlows) this.flows.delete(this.flows.keys().next().value!);
    }
    this.flows.set(key, p);
    return p;
  }

  private static note(map: Map<string, IncidentPartJson>, part: IncidentPartJson): void {
    const had = map.get(part.node);
    if (!had || had.role !== part.role || had.netns !== part.netns || had.iface !== part.iface) {
      map.set(part.node, part);
      return;
    }
    had.count += part.count;
    had.hop ??= part.hop;
    had.mtu ??= part.mtu;
  }

  /** One node's event; returns the incidents it made or changed. */
  event(ev: NodeEventJson): IncidentJson[] {
    if (ev.kind === 'link' || ev.kind === 'route') return [];
    const e = ev as CorrelatorEvent & { node: string; kind: 'ptb' | 'ptb-sent' | 'drop' | 'syn' | 'retransmit' | 'size' };
    const flow = subject(e);
    if (!flow) return [];
    const icmpError = e.flags.includes('icmp-error');
    if (e.kind === 'ptb-sent' || (e.kind === 'ptb' && e.dir === 'egress' && e.flags.includes('local'))) {
      // Generated here: ptb-sent names the device it was too big for; the PTB leaving names its source (the hop).
      const part: IncidentPartJson = {
        node: e.node,
        role: 'ptb-sent',
        netns: e.netns,
        iface: e.mtuIface || e.iface,
        hop: e.kind === 'ptb' ? (e.src ?? null) : null,
        mtu: e.mtu ?? null,
        reason: null,
        ts: e.ts,
        count: e.kind === 'ptb-sent' ? 1 : 0,
        what: '',
      };
      const p = this.parts(flow);
      const had = p.senders.get(e.node);
      if (had && had.netns === e.netns) {
        // The same PTB seen twice (generated, then leaving): the generation names the device, the leaving one the hop.
        if (e.kind === 'ptb-sent') {
          had.iface = part.iface;
          had.count++;
        }
        had.hop ??= part.hop;
        had.mtu ??= part.mtu;
      } else p.senders.set(e.node, part);
      return this.judge(p, e.ts);
    }
    if (e.kind === 'drop') {
      const oversize = !icmpError && (e.flags.includes('oversize') || e.reason === 'PKT_TOO_BIG');
      if (!icmpError && !oversize) return [];
      const part: IncidentPartJson = {
        node: e.node,
        role: icmpError ? 'ptb-dropped' : 'oversize-drop',
        netns: e.netns,
        iface: e.iface,
        hop: icmpError ? (e.src ?? null) : null,
        mtu: e.mtu ?? null,
        reason: e.reason ?? null,
        ts: e.ts,
        count: 1,
        what: '',
      };
      const p = this.parts(flow);
      IncidentCorrelator.note(p.drops, part);
      return this.judge(p, e.ts);
    }
    return [];
  }

  /**
   * One node's verdict: after a reconnect a node's snapshot has verdicts and
   * no events. ptb-dropped says a drop (and gives the fix), ptb-not-honored a
   * sender; the others add nothing here.
   */
  verdict(v: NodeVerdictJson): IncidentJson[] {
    if (v.verdict === 'ptb-dropped' && v.where.netns && v.where.iface) {
      const p = this.parts(v.flow);
      if (v.fix) p.fixes.set(v.node, v.fix);
      if (!p.drops.has(v.node)) {
        p.drops.set(v.node, { node: v.node, role: 'ptb-dropped', netns: v.where.netns, iface: v.where.iface, hop: v.where.hop, mtu: v.mtu, reason: reasonOfCause(v.cause), ts: v.ts, count: 1, what: '' });
      }
      return this.judge(p, v.ts);
    }
    if (v.verdict === 'ptb-not-honored' && v.where.netns && v.where.iface) {
      const p = this.parts(v.flow);
      if (!p.senders.has(v.node)) {
        p.senders.set(v.node, { node: v.node, role: 'ptb-sent', netns: v.where.netns, iface: v.where.iface, hop: v.where.hop, mtu: v.mtu, reason: null, ts: v.ts, count: 1, what: '' });
      }
      return this.judge(p, v.ts);
    }
    if (v.where.hop) {
      // A sender's own verdict (ptb-honored: it saw its PTB leave) names the hop the PTB came from.
      const s = this.flows.get(flowKey(v.flow))?.senders.get(v.node);
      if (s && s.hop === null) s.hop = v.where.hop;
    }
    return [];
  }

  /** A node's messages are no longer current (it went away for good): its parts go. */
  forget(node: string): void {
    for (const p of this.flows.values()) {
      p.senders.delete(node);
      p.drops.delete(node);
      p.fixes.delete(node);
    }
  }

  /** The incidents as they stand now (a new client's greeting). */
  incidents(): IncidentJson[] {
    const out: IncidentJson[] = [];
    for (const p of this.flows.values()) {
      const inc = this.build(p, Infinity);
      if (inc) out.push(inc);
    }
    return out;
  }

  private build(p: FlowParts, now: number): IncidentJson | undefined {
    const fresh = (x: IncidentPartJson) => now === Infinity || now - x.ts <= this.windowMs;
    const senders = [...p.senders.values()].filter(fresh);
    if (senders.length === 0) return undefined;
    const senderNodes = new Set(senders.map((s) => s.node));
    const drops = [...p.drops.values()].filter((d) => fresh(d) && !senderNodes.has(d.node));
    if (drops.length === 0) return undefined;
    const ptbDrop = drops.find((d) => d.role === 'ptb-dropped');
    const main = ptbDrop ?? drops[0]!;
    const sender = senders[0]!;
    const hop = sender.hop ?? ptbDrop?.hop ?? null;
    const mtu = sender.mtu ?? main.mtu;
    const cause = main.role === 'oversize-drop' ? 'oversize' : causeOf(main.reason);
    for (const s of senders) s.what = `${s.netns} sent a PTB${s.hop ?? hop ? ` from ${s.hop ?? hop}` : ''} advertising MTU ${s.mtu ?? '?'} (too big for ${s.iface})`;
    for (const d of drops) {
      d.what =
        d.role === 'ptb-dropped'
          ? `${d.netns}/${d.iface} dropped the PTB${d.hop ? ` from ${d.hop}` : ''} (${causeOf(d.reason) ?? 'dropped'})`
          : `${d.netns}/${d.iface} dropped the flow's packets as too big (MTU ${d.mtu ?? '?'})`;
    }
    const nodes = [...new Set([...senders.map((s) => s.node), ...drops.map((d) => d.node)])];
    const summary = ptbDrop
      ? `node ${sender.node} (${sender.netns}) sent a PTB${hop ? ` from ${hop}` : ''} advertising MTU ${mtu ?? '?'}; node ${ptbDrop.node} dropped it at ${ptbDrop.netns}/${ptbDrop.iface} (${cause ?? 'dropped'}): the sender never learns the path MTU`
      : `node ${sender.node} (${sender.netns}) sent a PTB advertising MTU ${mtu ?? '?'}; node ${main.node} dropped the flow's too-big packets at ${main.netns}/${main.iface}`;
    const fix = (ptbDrop && p.fixes.get(ptbDrop.node)) ?? this.fixFor(main, sender, cause, hop);
    return {
      type: 'incident',
      id: flowKey(p.flow),
      ts: Math.max(...senders.map((s) => s.ts), ...drops.map((d) => d.ts)),
      verdict: ptbDrop ? 'ptb-dropped' : 'local-bottleneck',
      cause,
      flow: p.flow,
      mtu,
      hop,
      nodes,
      parts: [...senders, ...drops].map((x) => ({ ...x })),
      summary,
      fix,
    };
  }

  private fixFor(d: IncidentPartJson, s: IncidentPartJson, cause: string | null, hop: string | null): string {
    const path = `make the path MTU consistent at node ${s.node}'s ${s.netns}/${s.iface} (MTU ${s.mtu ?? '?'}), or clamp TCP MSS there`;
    if (cause === 'rp_filter') return `On node ${d.node}: let ${d.netns} route ${hop ?? 'the PTB source'} back through ${d.iface}; or ${path}. Loose rp_filter on ${d.iface} only as a last resort (it weakens spoofing protection).`;
    if (cause === 'firewall') return `On node ${d.node}: allow ICMP type 3 code 4 (and ICMPv6 type 2) into ${d.netns} on ${d.iface}; or ${path}.`;
    return `On node ${d.node}: give ${d.netns}/${d.iface} the path's MTU; or ${path}.`;
  }

  private judge(p: FlowParts, now: number): IncidentJson[] {
    const inc = this.build(p, now);
    if (!inc) return [];
    const said = `${inc.parts.map((x) => `${x.node}:${x.role}:${x.netns}/${x.iface}`).sort().join(',')}|${inc.mtu}|${inc.hop}|${inc.fix}`;
    if (said === p.said) return [];
    p.said = said;
    return [inc];
  }

  get size(): number {
    return this.flows.size;
  }
}
