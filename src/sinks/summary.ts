// What a person hears on stderr about a run: the source's warnings and
// errors as they come, losses as they grow (once per stats period), and one
// summary line at the end — the same line for live, serve, record and replay.

import { severity, TROUBLE } from '../correlate/correlator.js';
import type { StatsJson } from '../contract/stats.js';
import { oneLine, type PmtuError } from '../errors.js';
import type { Session } from '../session.js';
import type { Sink } from './sink.js';

export interface SummaryOptions {
  /** Where the lines go (stderr). */
  err: (line: string) => void;
  /** Say events the kernel or the addon lost as the stats show them (plain output, which has no status line). */
  sayLosses?: boolean;
  /** What the session's sinks dropped (the session's behind()). */
  behind: () => number;
  /** Dropped output lines are said at most this often (the stats period); default 5 s. */
  everyMs?: number;
  /** The wall clock. */
  now?: () => number;
}

/** The events a stats line counts as lost: the ring buffer's and the consumer queue's. */
/**
 * Flows seen, at least: the kernel's count of its watched hooks (healthy
 * flows reach no correlator; one crossing three namespaces counts in each),
 * or the correlator's when that is more (flows only tracepoints saw, in
 * namespaces not watched; a capture from before 0.2 has no kernel count).
 */
export function flowsSeen(s: StatsJson): number {
  return Math.max(s.traffic?.flows ?? 0, s.flows.flows);
}

export function lostEvents(s: StatsJson): number {
  return s.losses.ringbufFull + s.losses.queueFull;
}

export class Summary implements Sink {
  private toldLost = 0;
  private toldBehind = 0;
  private toldBehindAt = -Infinity;
  private ended = false;

  constructor(private readonly opts: SummaryOptions) {}

  warning(text: string): void {
    this.opts.err(`pmtu-watch: warning: ${text}`);
  }

  error(err: PmtuError): void {
    this.opts.err(oneLine(err));
  }

  stats(s: StatsJson): void {
    if (this.ended) return; // the summary line says the rest
    const l = s.losses;
    const lost = lostEvents(s);
    if (this.opts.sayLosses && lost > this.toldLost) {
      this.opts.err(`pmtu-watch: warning: ${lost - this.toldLost} events lost (${lost} in all: ${l.ringbufFull} ring buffer full, ${l.queueFull} consumer behind); verdicts may lack evidence`);
      this.toldLost = lost;
    }
    this.sayBehind();
  }

  /** Also between stats lines: a capture may have recorded few. */
  tick(): void {
    if (!this.ended) this.sayBehind();
  }

  end(): void {
    this.ended = true;
  }

  /** At most once per period: a reader that stays behind is said to be, not every line it misses. */
  private sayBehind(): void {
    const behind = this.opts.behind();
    if (behind <= this.toldBehind) return;
    const now = (this.opts.now ?? Date.now)();
    if (now - this.toldBehindAt < (this.opts.everyMs ?? 5000)) return;
    this.opts.err(`pmtu-watch: warning: ${behind - this.toldBehind} output lines dropped (${behind} in all): standard output's reader is behind; watching goes on`);
    this.toldBehind = behind;
    this.toldBehindAt = now;
  }

  /**
   * The run's one summary line: `label` names what was read or written
   * (none when watching), `tail` adds what only this command knows.
   */
  line(session: Session, final: StatsJson, { label, tail }: { label?: string; tail?: string } = {}): string {
    const troubled = session.correlator.verdicts().filter((v) => severity(v.verdict) >= TROUBLE).length;
    const behind = this.opts.behind();
    return (
      `pmtu-watch: ${label ? `${label}: ` : ''}${session.events} events, ${flowsSeen(final)} flows, ${troubled} in trouble, ` +
      `${lostEvents(final)} lost, ${final.flows.unmatched} unmatched ICMP errors` +
      (behind ? `, ${behind} output lines dropped (standard output's reader fell behind)` : '') +
      (tail ? `; ${tail}` : '')
    );
  }
}
