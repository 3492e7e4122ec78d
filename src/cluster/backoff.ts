// When to try a node's feed again: doubling from `initialMs` up to `maxMs`,
// with jitter so that a cluster whose nodes restarted together does not
// reconnect in step; back to the start once a connection has held.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** ± this fraction of the delay, at random. Default 0.2. */
  jitter?: number;
  /** A connection up this long resets the delay. Default 10 s. */
  stableMs?: number;
  random?: () => number;
}

export class Backoff {
  private readonly initial: number;
  private readonly max: number;
  private readonly jitter: number;
  private readonly stable: number;
  private readonly random: () => number;
  private attempt = 0;
  private upSince: number | undefined;

  constructor(opts: BackoffOptions = {}) {
    this.initial = opts.initialMs ?? 500;
    this.max = opts.maxMs ?? 30_000;
    this.jitter = opts.jitter ?? 0.2;
    this.stable = opts.stableMs ?? 10_000;
    this.random = opts.random ?? Math.random;
  }

  /** The connection is up (at `now`). */
  up(now: number): void {
    this.upSince = now;
  }

  /** It failed or closed (at `now`): how long to wait before the next attempt. */
  next(now: number): number {
    if (this.upSince !== undefined && now - this.upSince >= this.stable) this.attempt = 0;
    this.upSince = undefined;
    const base = Math.min(this.max, this.initial * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    const spread = base * this.jitter * (2 * this.random() - 1);
    return Math.max(0, Math.round(Math.min(this.max, base + spread)));
  }

  get attempts(): number {
    return this.attempt;
  }
}
