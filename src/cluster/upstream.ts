// One node's feed, followed for as long as cluster runs: connect (its token
// in Authorization), take its snapshot and stream, and when it closes or
// cannot be reached say the node is down and try again after a backoff.
// Also reads the node's /topology for the page, when asked.

import type { TopologyJson } from '../contract/cluster.js';
import { FeedClient } from '../feed/client.js';
import { Backoff, type BackoffOptions } from './backoff.js';

export interface UpstreamHandlers {
  connecting(): void;
  up(): void;
  down(reason: string, retryMs: number): void;
  message(msg: import('../feed/protocol.js').ServerMessage): void;
}

export interface UpstreamOptions {
  name: string;
  /** ws://HOST:PORT/feed */
  url: string;
  token?: string;
  backoff?: BackoffOptions;
  /** A node silent this long (its feed pings every 15 s) is taken for gone. Default 40 s. */
  idleMs?: number;
  now?: () => number;
}

export class Upstream {
  private client: FeedClient | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  private readonly now: () => number;
  private topologyCache: { at: number; value: TopologyJson[] } | undefined;

  constructor(
    readonly opts: UpstreamOptions,
    private readonly on: UpstreamHandlers,
  ) {
    this.backoff = new Backoff(opts.backoff);
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.connect();
  }

  private connect(): void {
    if (this.stopped) return;
    this.on.connecting();
    let reason = '';
    let settled = false;
    const client = new FeedClient({ url: this.opts.url, ...(this.opts.token ? { token: this.opts.token } : {}), idleMs: this.opts.idleMs ?? 40_000 });
    this.client = client;
    client.on('error', (e) => (reason ||= e.message.replace(/^Unexpected server response: (\d+)$/, 'HTTP $1')));
    client.on('open', () => {
      this.backoff.up(this.now());
      this.on.up();
    });
    const forward = (msg: import('../feed/protocol.js').ServerMessage) => {
      if (!this.stopped && this.client === client) this.on.message(msg);
    };
    client.on('snapshot', (verdicts) => forward({ type: 'snapshot', verdicts }));
    client.on('verdict', forward);
    client.on('event', forward);
    client.on('close', (code, why) => {
      if (settled) return;
      settled = true;
      if (this.client === client) this.client = undefined;
      if (this.stopped) return;
      const wait = this.backoff.next(this.now());
      this.on.down(reason || `closed (${code}${why ? `: ${why}` : ''})`, wait);
      this.timer = setTimeout(() => this.connect(), wait);
      this.timer.unref?.();
    });
  }

  /** The node's configuration reading (GET /topology), at most once every `maxAgeMs`; [] when it cannot be had. */
  async topology(maxAgeMs = 5000, timeoutMs = 3000): Promise<TopologyJson[]> {
    const t = this.now();
    if (this.topologyCache && t - this.topologyCache.at < maxAgeMs) return this.topologyCache.value;
    const url = new URL(this.opts.url);
    url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
    url.pathname = '/topology';
    url.search = '';
    let value: TopologyJson[] = [];
    try {
      const res = await fetch(url, { headers: this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {}, signal: AbortSignal.timeout(timeoutMs) });
      if (res.ok) {
        const body = (await res.json()) as unknown;
        if (Array.isArray(body)) value = (body as TopologyJson[]).filter((x) => x && typeof x === 'object' && x.type === 'topology' && Array.isArray(x.namespaces));
      }
    } catch {
      value = this.topologyCache?.value ?? [];
    }
    this.topologyCache = { at: t, value };
    return value;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.client?.terminate();
    this.client = undefined;
  }
}
