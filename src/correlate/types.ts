// What the correlator consumes and produces. Its input is the `live --json`
// event line (docs/json-contract.md) plus the route lookups the live runner
// adds, so live runs, replays of captures and tests feed it the same thing.

import type { EventJson } from '../observer/json.js';

/** After a PTB reached a host: did its kernel cache the MTU for that destination? */
export interface RouteEventJson {
  type: 'event';
  kind: 'route';
  ts: number;
  netns: string;
  /** The destination looked up (the flow's far end). */
  dst: string;
  /** The flow the PTB quoted. */
  inner: { src: string; dst: string; sport: number; dport: number; proto: string | number };
  /** The cached path MTU, 0 when the route has none. */
  mtu: number;
  /** The PTB's advertised MTU this lookup checks against. */
  expected: number;
  learned: boolean;
}

export type CorrelatorEvent = EventJson | RouteEventJson;

export type VerdictCode = 'ok' | 'ptb-honored' | 'ptb-dropped' | 'local-bottleneck' | 'silent-blackhole' | 'mss-exceeds-path';

export interface FlowJson {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  proto: string | number;
}

export interface EvidenceJson {
  ts: number;
  kind: string;
  netns: string;
  iface: string;
  /** One line a person reads. */
  what: string;
}

export interface VerdictJson {
  type: 'verdict';
  /** Time of the event that produced this verdict (Unix epoch ms). */
  ts: number;
  verdict: VerdictCode;
  cause: string | null;
  flow: FlowJson;
  where: { netns: string | null; iface: string | null; hop: string | null };
  /** The MTU that matters, when one is known. */
  mtu: number | null;
  /** What the evidence proves about the path MTU: packets of `largestOk` bytes got through, of `smallestLost` never did. */
  bounds: { largestOk: number | null; smallestLost: number | null } | null;
  /** A concrete setting or command; null when nothing needs doing. */
  fix: string | null;
  evidence: EvidenceJson[];
  /** What it could not see, MSS rewritten on the path, and other remarks. */
  notes: string[];
}
