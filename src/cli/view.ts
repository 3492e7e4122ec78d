// How events and verdicts look to a person: one line each for scrolling
// output, and a screen that redraws in place on a terminal (flows in trouble first).

import { severity, TROUBLE } from '../correlate/correlator.js';
import type { VerdictJson } from '../correlate/types.js';
import type { EventJson } from '../observer/json.js';

export function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

export function endpoint(addr: string, port: number): string {
  if (!port) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
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
  return `${clock(e.ts)} ${where} ${what}`;
}

export function flowText(v: VerdictJson): string {
  return `${v.flow.proto} ${endpoint(v.flow.src, v.flow.sport)} -> ${endpoint(v.flow.dst, v.flow.dport)}`;
}

export function whereText(v: VerdictJson): string {
  const place = v.where.netns || v.where.iface ? `${v.where.netns ?? '?'}/${v.where.iface ?? '?'}` : '';
  return [place, v.where.hop ? `hop ${v.where.hop}` : ''].filter(Boolean).join(' ');
}

function mtuText(v: VerdictJson): string {
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

export interface ScreenStatus {
  nowMs: number;
  startedMs: number;
  events: number;
  eventsPerSecond: number;
  lost: number;
  interfaces: number;
  flows: number;
}

function pad(s: string, n: number): string {
  return s.length >= n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

/** The whole screen: a status line, then flows in trouble first. */
export function screen(verdicts: VerdictJson[], st: ScreenStatus, rows: number, cols: number): string {
  const trouble = verdicts.filter((v) => severity(v.verdict) >= TROUBLE).length;
  const up = Math.round((st.nowMs - st.startedMs) / 1000);
  const lines = [
    `pmtu-watch live  ${st.interfaces} interfaces  ${st.flows} flows, ${trouble} in trouble  ` +
      `${st.events} events (${st.eventsPerSecond}/s)  lost ${st.lost}  up ${up}s  (Ctrl-C stops)`,
    '',
    `${pad('VERDICT', 18)}${pad('CAUSE', 12)}${pad('FLOW', 46)}${pad('WHERE', 40)}${pad('HOP', 18)}${pad('MTU', 16)}AGE`,
  ];
  for (const v of verdicts) {
    if (lines.length >= rows - 1) break;
    const age = `${Math.max(0, Math.round((st.nowMs - v.ts) / 1000))}s`;
    const place = v.where.netns || v.where.iface ? `${v.where.netns ?? '?'}/${v.where.iface ?? '?'}` : '';
    lines.push(`${pad(v.verdict, 18)}${pad(v.cause ?? '', 12)}${pad(flowText(v), 46)}${pad(place, 40)}${pad(v.where.hop ?? '', 18)}${pad(mtuText(v), 16)}${age}`);
    if (v.fix && lines.length < rows - 1) lines.push(`  fix: ${v.fix}`);
  }
  return lines.map((l) => l.slice(0, cols)).join('\n');
}
