// From what the search found and what the observers saw to the probe line:
// the PTB and its fate, the black hole, and the verdict and fix in live's
// words (the same codes, and fixFor for the fix). Pure.

import type { ProbeHopJson, ProbeJson, ProbeProto, ProbePtbJson } from '../contract/probe.js';
import type { VerdictCode, VerdictJson } from '../contract/verdict.js';
import { fixFor } from '../correlate/fixes.js';
import type { HeardPtb, SearchResult } from './search.js';

export interface ProbeContext {
  ts: number;
  dst: string;
  proto: ProbeProto;
  port: number | null;
  netns: string | null;
  src: string;
  routeMtu: number;
  elapsedMs: number;
  /** The observers ran during the probe (else fates of PTBs the socket did not get are unknown). */
  observed: boolean;
  /** Why they could not, when they did not. */
  notObserved?: string;
  /** The path MTU the kernel cached for dst after the probe (0: none). */
  cachedMtu: number;
  /** For a PTB rp_filter ate: the sysctls on its interface, as `name=value`. */
  rpFilterSysctls?: (iface: string) => string[];
}

/** The PTB that matters: one that reached the socket, else one the observers saw dropped (else arrived), about the failing size. */
function chosen(ptbs: readonly HeardPtb[]): HeardPtb | undefined {
  return ptbs.find((p) => p.delivered) ?? ptbs.find((p) => p.seen && p.seen.fate !== 'not-seen') ?? ptbs[0];
}

export function probeResult(r: SearchResult, c: ProbeContext): ProbeJson {
  const notes: string[] = [];
  const p = chosen(r.ptbs);
  let ptb: ProbePtbJson | null = null;
  if (p) {
    const fate = p.delivered ? 'delivered' : p.seen!.fate;
    ptb = { from: p.from, mtu: p.mtu, fate, iface: p.seen?.iface ?? null };
    if (fate === 'rp_filter' && c.rpFilterSysctls && ptb.iface) ptb.sysctl = c.rpFilterSysctls(ptb.iface);
    if (fate === 'delivered') ptb.applied = c.cachedMtu > 0 && c.cachedMtu <= p.mtu;
  }
  const hops: ProbeHopJson[] = r.hops.map((h) => ({
    ttl: h.ttl,
    addr: h.addr,
    rttMs: h.rttMs,
    ...(h.dropped ? { dropped: h.dropped } : {}),
    ...(h.atFailingSize ? { atFailingSize: h.atFailingSize } : {}),
  }));

  let verdict: VerdictCode | null;
  let cause: string | null = null;
  let where: VerdictJson['where'] = { netns: c.netns, iface: null, hop: null };
  let mtu: number | null = r.pathMtu;
  if (!r.reachable) {
    verdict = null;
    cause = 'no-reply';
    notes.push(`${c.dst} answered no ${c.proto} probe, even of ${r.smallestLost} bytes: nothing to measure (is it up, does it answer ${c.proto}?)`);
  } else if (r.smallestLost === null) {
    verdict = 'ok';
    notes.push(`packets of ${r.pathMtu} bytes, the route's MTU, reach ${c.dst}`);
  } else if (ptb && ptb.fate === 'delivered' && (ptb.applied || !c.observed) && r.pathMtu !== null && r.pathMtu >= ptb.mtu) {
    verdict = 'ptb-honored';
    where = { netns: c.netns, iface: null, hop: ptb.from };
    mtu = ptb.mtu;
  } else if (ptb && ptb.fate === 'delivered' && !ptb.applied && c.observed) {
    verdict = 'ptb-dropped';
    cause = 'not-applied';
    where = { netns: c.netns, iface: null, hop: ptb.from };
    mtu = ptb.mtu;
    notes.push(`the PTB from ${ptb.from} reached the probe but the kernel has no cached MTU for ${c.dst}`);
  } else if (ptb && ptb.fate !== 'delivered') {
    verdict = 'ptb-dropped';
    cause = ptb.fate;
    where = { netns: c.netns, iface: ptb.iface, hop: ptb.from };
    mtu = ptb.mtu;
    if (ptb.fate === 'not-seen') notes.push(`the PTB from ${ptb.from} arrived on ${ptb.iface} but neither reached the probe nor was seen dropped`);
  } else {
    verdict = 'silent-blackhole';
    cause = 'no-ptb';
    where = { netns: null, iface: null, hop: r.blackhole?.after ?? null };
    if (!c.observed) notes.push(`the observers did not run (${c.notObserved ?? 'unknown'}): a PTB this host dropped would look the same`);
  }
  const blackhole = ptb?.fate === 'delivered' ? null : r.blackhole;
  if (r.exhausted) notes.push(`the run ended at its bound (${r.probes} probes, ${Math.round(c.elapsedMs / 100) / 10} s) before the search was done: the figures are bounds`);
  if (r.refused.length) notes.push(`the kernel refused to send ${r.refused.length} probe(s) (EMSGSIZE: larger than the device's MTU)`);
  if (verdict === 'ptb-dropped' && r.pathMtu !== null && ptb && r.pathMtu < Math.min(ptb.mtu, c.routeMtu)) {
    notes.push(`the largest size through is ${r.pathMtu}, below the ${ptb.mtu} the PTB advertised: something past ${ptb.from} is smaller still`);
  }

  const bounds = { largestOk: r.pathMtu, smallestLost: r.smallestLost };
  const v: VerdictJson = {
    type: 'verdict',
    ts: c.ts,
    verdict: verdict ?? 'ok',
    cause,
    flow: { src: c.src, dst: c.dst, sport: 0, dport: c.port ?? 0, proto: c.proto },
    where,
    mtu,
    bounds,
    fix: null,
    evidence: [],
    notes,
  };
  const fix = verdict === null ? null : fixFor(v);
  return {
    type: 'probe',
    ts: c.ts,
    dst: c.dst,
    proto: c.proto,
    port: c.port,
    netns: c.netns,
    src: c.src,
    routeMtu: c.routeMtu,
    pathMtu: r.pathMtu,
    smallestLost: r.smallestLost,
    hops,
    ptb,
    blackhole,
    verdict,
    cause,
    fix,
    probes: r.probes,
    elapsedMs: c.elapsedMs,
    notes,
  };
}
