// How events and verdicts read to a person: one line each, the same in live's
// plain output, replay, report and the pcapng comments of export.

import type { EventJson, LinkEventJson } from './event.js';
import type { VerdictJson } from './verdict.js';

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

export function endpoint(addr: string, port: number): string {
  if (!port) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** A link change, for a person: `12:00:01.250 LINK pve/tap100i1 mtu 9000 -> 1500`. */
export function linkText(e: LinkEventJson): string {
  const parts = e.changes.map((c) => {
    switch (c) {
      case 'mtu':
        return `mtu ${e.was?.mtu ?? '?'} -> ${e.mtu}`;
      case 'master':
        return e.master ? (e.was?.master ? `moved from ${e.was.master} to ${e.master}` : `joined ${e.master}`) : `left ${e.was?.master ?? 'its master'}`;
      case 'added':
        return `added (mtu ${e.mtu}${e.master ? `, in ${e.master}` : ''})`;
      default:
        return c;
    }
  });
  return `${clock(e.ts)} LINK ${e.netns || '?'}/${e.iface} ${parts.join(', ')}`;
}

/** One readable line per event, for a person at a terminal. */
export function eventText(e: EventJson): string {
  const where = `${e.netns || '?'}/${e.iface || '?'}${e.dir ? ` ${e.dir}` : ''}`;
  const flow = e.inner
    ? ` for ${e.inner.proto} ${endpoint(e.inner.src, e.inner.sport)} -> ${endpoint(e.inner.dst, e.inner.dport)}`
    : '';
  const pkt = e.src && e.dst ? ` ${e.src} -> ${e.dst}` : '';
  let what: string;
  switch (e.kind) {
    case 'ptb':
      what = `PTB from ${e.src} to ${e.dst} mtu ${e.mtu}${flow}`;
      break;
    case 'ptb-sent':
      what = `PTB generated${e.dst ? ` to ${e.dst}` : ''} mtu ${e.mtu}${e.mtuIface ? ` (route via ${e.mtuIface})` : ''}${flow}`;
      break;
    case 'drop':
      what =
        `DROP ${e.reason}${pkt} len ${e.len}` +
        (e.flags.includes('oversize') ? ` > mtu ${e.mtu}${e.mtuIface ? ` of ${e.mtuNetns ? `${e.mtuNetns}/` : ''}${e.mtuIface}` : ''}` : '') +
        (e.flags.includes('icmp-error') ? ` (ICMP error${e.mtu ? `, advertised mtu ${e.mtu}` : ''})${flow}` : '');
      break;
    case 'syn':
      what = `${e.flags.includes('synack') ? 'SYN-ACK' : 'SYN'}${pkt} mss ${e.mss || 'none'}`;
      break;
    case 'retransmit':
      what = `RETRANSMIT${pkt} segment ${e.len} mss ${e.mss}`;
      break;
    case 'size':
      what = `LARGEST DF${pkt} ${e.proto} now ${e.len} (iface mtu ${e.mtu})`;
      break;
    case 'lost': {
      const l = e.lost!;
      what =
        `LOST${pkt} ${e.proto} ${l.count} ${l.count === 1 ? 'packet' : 'packets'} of ${sizeRange(l.smallest, l.largest)}` +
        ` never reached ${pointText(l.netns, l.iface)}; ${l.passed} did${l.passed ? `, of up to ${l.passedLargest}` : ''}`;
      break;
    }
  }
  const tunnel = e.encap ? ` [${e.encap.quoted ? 'quoting' : 'in'} ${e.encap.type} ${e.encap.src} -> ${e.encap.dst}, ${e.encap.overhead} B${e.encap.id ? ` id ${e.encap.id}` : ''}]` : '';
  return `${clock(e.ts)} ${where} ${what}${tunnel}`;
}

export function flowText(v: VerdictJson): string {
  return `${v.flow.proto} ${endpoint(v.flow.src, v.flow.sport)} -> ${endpoint(v.flow.dst, v.flow.dport)}`;
}

/** "1500" or "1400-1500" (bytes). */
export function sizeRange(smallest: number, largest: number): string {
  return smallest === largest ? `${smallest}` : `${smallest}-${largest}`;
}

/** A place: netns/iface, or once when a capture point without interface names is its file's name twice. */
function pointText(netns: string | null, iface: string | null): string {
  return netns && netns === iface ? netns : netns || iface ? `${netns ?? '?'}/${iface ?? '?'}` : '';
}

/** Where a verdict places it: "ns/iface hop ADDR", or "between X and Y" (two capture points). */
export function whereText(v: VerdictJson): string {
  const place = pointText(v.where.netns, v.where.iface);
  const next = v.where.next;
  if (next) return `between ${place} and ${pointText(next.netns, next.iface)}`;
  return [place, v.where.hop ? `hop ${v.where.hop}` : ''].filter(Boolean).join(' ');
}

export function mtuText(v: VerdictJson): string {
  if (v.mtu) return `mtu ${v.mtu}`;
  if (v.bounds) return `path mtu ${v.bounds.largestOk ?? '?'}..${v.bounds.smallestLost ? v.bounds.smallestLost - 1 : '?'}`;
  return '';
}

/** One line per verdict change (plain output), plus the fix on the next line when there is one. */
export function verdictText(v: VerdictJson): string {
  const place = whereText(v);
  const head = [clock(v.ts), v.verdict.toUpperCase(), v.cause ?? '', flowText(v), place && (v.where.next ? place : `at ${place}`), mtuText(v)]
    .filter(Boolean)
    .join(' ');
  const lines = [head, ...v.notes.map((n) => `    note: ${n}`)];
  if (v.fix) lines.push(`    fix: ${v.fix}`);
  return lines.join('\n');
}
