// The correlator's judgement of flows inside tunnels: a SYN seen in a tunnel
// says its sender will send segments of up to its MSS (less, if the other end
// advertised less), and each of them travels in the tunnel's headers too
// (seed 004: IPVS encapsulating clients' packets in IPIP to its realservers,
// whose pods advertise an MSS for 1500). Pure, as the rest of correlate/.

import { ENCAP_NAMES, mssThrough, segmentOnWire, type Family } from '../net/encap.js';
import type { EncapType } from '../observer/events.js';

/** The tunnel a packet was seen in, as a fact keeps it. */
export interface TunnelSeen {
  type: EncapType;
  overhead: number;
  src: string;
  dst: string;
}

/** What tunnelMss() reads of a SYN fact. */
export interface TunnelSyn {
  ts: number;
  id?: string;
  netns: string;
  iface: string;
  src: string;
  dst: string;
  mss: number;
  synAck: boolean;
  /** The hook's device MTU (the tunnel's headers not taken off). */
  ifMtu: number;
  family: Family;
  tunnel?: TunnelSeen;
}

export interface TunnelMssFinding<S extends TunnelSyn> {
  /** The SYN seen in the tunnel, at the hook whose MTU it does not fit. */
  at: S;
  /** The largest segment its sender may send: its own MSS, or the other end's when smaller. */
  mss: number;
  /** Where that MSS came from when it is the other end's (its SYN or SYN-ACK). */
  peerMss: number | null;
  /** Bytes such a segment takes on the tunnel's link. */
  wire: number;
  /** The largest MSS that fits. */
  fits: number;
}

/**
 * The SYN in a tunnel whose sender's segments, with their IP and TCP headers
 * and the tunnel's, exceed the MTU of the device the tunnel's packets crossed;
 * the worst one when there are several. The segments a SYN's sender sends are
 * bounded by its own MSS (its MTU) and by what the other end advertised.
 */
export function tunnelMss<S extends TunnelSyn>(syns: readonly S[]): TunnelMssFinding<S> | undefined {
  let worst: TunnelMssFinding<S> | undefined;
  for (const s of syns) {
    if (!s.tunnel || !(s.mss > 0) || !(s.ifMtu > 0)) continue;
    // What the other end told this sender: the smallest MSS of its SYNs (a hop only ever lowers it).
    let peer: number | null = null;
    for (const o of syns) if (o.synAck !== s.synAck && o.src === s.dst && o.mss > 0 && (peer === null || o.mss < peer)) peer = o.mss;
    const mss = peer !== null && peer < s.mss ? peer : s.mss;
    const wire = segmentOnWire(mss, s.family, s.tunnel.overhead);
    const excess = wire - s.ifMtu;
    if (excess <= 0) continue;
    const better =
      !worst ||
      excess > worst.wire - worst.at.ifMtu ||
      (excess === worst.wire - worst.at.ifMtu && (s.ts < worst.at.ts || (s.ts === worst.at.ts && (s.id ?? '') < (worst.at.id ?? ''))));
    if (better) worst = { at: s, mss, peerMss: mss !== s.mss ? peer : null, wire, fits: mssThrough(s.ifMtu, s.family, s.tunnel.overhead) };
  }
  return worst;
}

/** "20 bytes of IPIP (198.18.40.1 -> 198.18.40.2)". */
export function tunnelText(t: TunnelSeen): string {
  return `${t.overhead} bytes of ${ENCAP_NAMES[t.type]} (${t.src} -> ${t.dst})`;
}

/** The arithmetic of a finding, for its verdict's note. */
export function tunnelMssNote(f: TunnelMssFinding<TunnelSyn>): string {
  const s = f.at;
  const t = s.tunnel!;
  const whose = f.peerMss !== null ? `MSS ${f.mss} (what ${s.dst} advertised)` : `MSS ${f.mss}`;
  return (
    `segments of ${whose} from ${s.src} travel in ${tunnelText(t)}: ` +
    `${f.mss} + ${segmentOnWire(0, s.family)} (IPv${s.family} + TCP) + ${t.overhead} (${ENCAP_NAMES[t.type]}) = ${f.wire} > MTU ${s.ifMtu} of ${s.netns}/${s.iface}; ` +
    `MSS ${f.fits} fits${f.peerMss === null ? `, unless ${s.dst} advertises at most that` : ''}`
  );
}
