// The screen live redraws in place on a terminal (flows in trouble first).
// The one-line renderings it shares with plain output are in contract/text.ts.

import { severity, TROUBLE } from '../correlate/correlator.js';
import type { VerdictJson } from '../contract/verdict.js';
import { flowText, mtuText } from '../contract/text.js';

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
