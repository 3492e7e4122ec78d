// The screen live redraws in place on an interactive terminal: a status line,
// then the flows, those in trouble first. When the run ends the screen is
// cleared and the flows in trouble are printed as plain lines.

import { severity, TROUBLE } from '../correlate/correlator.js';
import { flowText, mtuText, verdictText } from '../contract/text.js';
import { shortRef } from '../contract/netns.js';
import type { VerdictJson } from '../contract/verdict.js';
import type { Session } from '../session.js';
import type { Lines } from './output.js';
import { flowsSeen, lostEvents } from './summary.js';
import type { Sink } from './sink.js';

/** A terminal that the live view redraws in place. */
export interface Screen {
  rows(): number;
  cols(): number;
  draw(text: string): void;
  /** Leaves the screen as a normal terminal again. */
  done(): void;
}

/** How often the screen is redrawn (wall clock). */
const DRAW_EVERY_MS = 500;

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
    const place = v.where.netns || v.where.iface ? `${v.where.netns ? shortRef(v.where.netns) : '?'}/${v.where.iface ?? '?'}` : '';
    lines.push(`${pad(v.verdict, 18)}${pad(v.cause ?? '', 12)}${pad(flowText(v), 46)}${pad(place, 40)}${pad(v.where.hop ?? '', 18)}${pad(mtuText(v), 16)}${age}`);
    if (v.fix && lines.length < rows - 1) lines.push(`  fix: ${v.fix}`);
  }
  return lines.map((l) => l.slice(0, cols)).join('\n');
}

export class ScreenSink implements Sink {
  private drawnAt = -Infinity;
  private lastTotal = 0;
  private lastAt: number;
  private rate = 0;

  /** `session`: read when drawing (it is made after its sinks). */
  constructor(
    private readonly view: Screen,
    private readonly session: () => Session | undefined,
    private readonly out: Lines,
    private readonly wall: () => number = Date.now,
  ) {
    this.lastAt = wall();
  }

  tick(): void {
    const now = this.wall();
    if (now - this.drawnAt >= DRAW_EVERY_MS) this.draw(now);
  }

  private draw(now: number): void {
    const session = this.session();
    if (!session) return;
    this.drawnAt = now;
    if (now - this.lastAt >= 1000) {
      this.rate = Math.round(((session.events - this.lastTotal) * 1000) / (now - this.lastAt));
      this.lastTotal = session.events;
      this.lastAt = now;
    }
    const st = session.stats();
    const status = { nowMs: now, startedMs: session.started, events: session.events, eventsPerSecond: this.rate, lost: lostEvents(st), interfaces: st.interfaces, flows: flowsSeen(st) };
    this.view.draw(screen(session.correlator.verdicts(), status, this.view.rows(), this.view.cols()));
  }

  /** The terminal back to normal, and what is in trouble as lines that stay. */
  end(): void {
    this.view.done();
    const session = this.session();
    for (const v of session?.correlator.verdicts() ?? []) if (severity(v.verdict) >= TROUBLE) this.out.line(verdictText(v));
  }

  behind(): number {
    return this.out.dropped;
  }
}
