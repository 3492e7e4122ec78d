// `--json`: one JSON object per line (docs/json-contract.md): events, verdict
// changes, stats. Written through Lines, so a reader that stopped reading
// costs dropped lines (counted: the stats' losses.sinkBehind), never a
// stalled session.

import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';
import type { Lines } from './output.js';
import type { Sink } from './sink.js';

export class JsonLines implements Sink {
  constructor(private readonly out: Lines) {}

  event(ev: StreamEvent): void {
    this.out.line(JSON.stringify(ev));
  }

  verdict(v: VerdictJson): void {
    this.out.line(JSON.stringify(v));
  }

  stats(s: StatsJson): void {
    this.out.line(JSON.stringify(s));
  }

  behind(): number {
    return this.out.dropped;
  }

  ready(): Promise<void> | undefined {
    return this.out.ready?.();
  }
}
