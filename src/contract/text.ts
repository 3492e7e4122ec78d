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
  }
  const tunnel = e.encap ? ` [${e.encap.quoted ? 'quoting' : 'in'} ${e.encap.type} ${e.encap.src} -> ${e.encap.dst}, ${e.encap.overhead} B${e.encap.id ? ` id ${e.encap.id}` : ''}]` : '';
  return `${clock(e.ts)} ${where} ${what}${tunnel}`;
}

export function flowText(v: VerdictJson): string {
  return `${v.flow.proto} ${endpoint(v.flow.src, v.flow.sport)} -> ${endpoint(v.flow.dst, v.flow.dport)}`;
}

export function whereText(v: VerdictJson): string {
  // A capture point without interface names is its file's name twice: said once.
  const place = v.where.netns && v.where.netns === v.where.iface ? v.where.netns : v.where.netns || v.where.iface ? `${v.where.netns ?? '?'}/${v.where.iface ?? '?'}` : '';
  return [place, v.where.hop ? `hop ${v.where.hop}` : ''].filter(Boolean).join(' ');
}

export function mtuText(v: VerdictJson): string {
  if (v.mtu) return `mtu ${v.mtu}`;
  if (v.bounds) return `path mtu ${v.bounds.largestOk ?? '?'}..${v.bounds.smallestLost ? v.bounds.smallestLost - 1 : '?'}`;
  return '';
}

/** One line per verdict change (plain output), plus the fix on the next line when there is one. */
export function verdictText(v: VerdictJson): string {
  const head = [clock(v.ts), v.verdict.toUpperCase(), v.cause ?? '', flowText(v), whereText(v) && `at ${whereText(v)}`, mtuText(v)]
    .filter(Boolean)
    .join(' ');
  const lines = [head, ...v.notes.map((n) => `    note: ${n}`)];
  if (v.fix) lines.push(`    fix: ${v.fix}`);
  return lines.join('\n');
}
