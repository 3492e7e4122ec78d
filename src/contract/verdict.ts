// The verdict lines that leave the process (docs/json-contract.md): what the
// correlator concludes about a flow, printed whenever it changes.

export type VerdictCode = 'ok' | 'ptb-honored' | 'ptb-dropped' | 'local-bottleneck' | 'silent-blackhole' | 'mss-exceeds-path' | 'ptb-not-honored';

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
  /**
   * Where it broke; `next` (0.4 on, analyze): the capture point downstream that the packets
   * never reached, for a loss located between `netns` (the last point that saw them) and it.
   */
  where: { netns: string | null; iface: string | null; hop: string | null; next?: { netns: string; iface: string } };
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
