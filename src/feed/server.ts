// The websocket feed (and Prometheus metrics) other tools consume: each
// connection gets the current verdicts, then the stream of events and
// verdict changes, filtered as it asked. Slow readers lose messages, counted
// and told to them; memory never grows with them.

import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';

import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';

import type { ClusterMessage, TopologyJson } from '../contract/cluster.js';
import type { StreamEvent } from '../contract/event.js';
import type { StatsJson } from '../contract/stats.js';
import type { VerdictJson } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import { eventMsg, types, verdictMsg } from '../contract/proto.js';
import { cookieToken, redirectWithCookie, sameOrigin, sendJson, sendPageFile, sendText } from './page.js';
import {
  ASSETS_PATH,
  CLOSE,
  FEED_PATH,
  MAX_CLIENT_FRAME,
  METRICS_PATH,
  PAGE_PATH,
  parseClientMessage,
  parseFilter,
  parseFormat,
  passes,
  passesCluster,
  TOPOLOGY_PATH,
  type Filter,
  type Format,
  type ServerMessage,
} from './protocol.js';

/** A pmtu.v1.Record frame: the schema captures use too. */
function eventRecord(ev: StreamEvent): Uint8Array {
  return types().Record.encode({ event: eventMsg(ev) }).finish();
}

function verdictRecord(v: VerdictJson): Uint8Array {
  return types().Record.encode({ verdict: verdictMsg(v) }).finish();
}

/**
 * The PTB counter's `mtu` label is what a PTB advertises: anyone can send
 * PTBs with any value, so only this many distinct values get a series of
 * their own, the rest count under mtu="other" (every label of /metrics is
 * bounded so; README, Deploy).
 */
export const MAX_PTB_MTU_LABELS = 32;

export interface FeedOptions {
  host: string;
  port: number;
  /** Required for any bind that is not loopback. */
  token?: string;
  /** The verdicts a new connection starts with. */
  snapshot: () => VerdictJson[];
  /** Flows by verdict and cause now (pmtu_flows_by_verdict); default: counted from snapshot(). */
  verdictCounts?: () => { verdict: string; cause: string | null; flows: number }[];
  /** The session's counters, for /metrics. */
  stats?: () => StatsJson | undefined;
  /** A client that has this much unsent starts losing messages. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Ping interval; a client that missed the last pong is dropped. Default 15 s. */
  pingMs?: number;
  /** The configuration the web page draws (GET /topology): serve's namespaces, or each node's. Without it the page has no map. */
  topology?: () => TopologyJson[] | Promise<TopologyJson[]>;
  /** Sent to each new client after its snapshot (a cluster's node states and incidents). */
  greeting?: () => ServerMessage[];
  /** Frames this feed can send; default both. A cluster's feed is JSON only (pmtu.v1 has no `node`). */
  formats?: readonly Format[];
  /** Set on a cluster's feed: said in hello. */
  cluster?: boolean;
  /** Adds metrics of the feed's owner to its /metrics. */
  metrics?: (registry: Registry) => void;
}

interface Client {
  ws: WebSocket;
  filter: Filter;
  format: Format;
  alive: boolean;
  /** Messages lost since the client was last told. */
  lost: number;
  lostTotal: number;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** "127.0.0.1:9477", "[::1]:9477" or ":9477" (loopback); port 0 picks a free one. */
export function parseListen(addr: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new PmtuError('PMTU_ERR_USAGE', `not an address to listen on: ${JSON.stringify(addr)}`, 'e.g. 127.0.0.1:9477 or [::1]:9477');
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Feed {
  private readonly clients = new Set<Client>();
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME });
  private readonly registry = new Registry();
  private readonly m: {
    events: Counter;
    verdicts: Counter;
    ptbs: Counter;
    drops: Counter;
    feedLost: Counter;
  };
  private readonly pinger: NodeJS.Timeout;
  private readonly maxBuffered: number;
  private readonly ptbMtus = new Set<string>();

  private constructor(
    private readonly server: Server,
    private readonly opts: FeedOptions,
  ) {
    this.maxBuffered = opts.maxBufferedBytes ?? 1 << 20;
    const r = [this.registry];
    this.m = {
      events: new Counter({ name: 'pmtu_events_total', help: 'Events seen, by kind', labelNames: ['kind'], registers: r }),
      verdicts: new Counter({ name: 'pmtu_verdicts_total', help: 'Verdict changes, by verdict and cause', labelNames: ['verdict', 'cause'], registers: r }),
      ptbs: new Counter({ name: 'pmtu_ptb_total', help: 'PTBs seen or generated, by the MTU they advertise', labelNames: ['mtu'], registers: r }),
      drops: new Counter({ name: 'pmtu_drops_total', help: 'Drops reported, by kernel reason', labelNames: ['reason'], registers: r }),
      feedLost: new Counter({ name: 'pmtu_feed_lost_messages_total', help: 'Feed messages slow clients lost', registers: r }),
    };
    // The agent's own cost (process_cpu_seconds_total, process_resident_memory_bytes, nodejs_*),
    // for the dashboard and for setting a DaemonSet's resources.
    collectDefaultMetrics({ register: this.registry });
    const snapshot = opts.snapshot;
    const counts = opts.verdictCounts;
    new Gauge({
      name: 'pmtu_flows_by_verdict',
      help: 'Flows the correlator tracks, by their verdict now and its cause (cause="" when none): what alerts ask (pmtu_verdicts_total counts changes)',
      labelNames: ['verdict', 'cause'],
      registers: r,
      collect() {
        // Set whole at each scrape: a verdict no flow has any more leaves the metric.
        this.reset();
        if (counts) for (const c of counts()) this.inc({ verdict: c.verdict, cause: c.cause ?? '' }, c.flows);
        else for (const v of snapshot()) this.inc({ verdict: v.verdict, cause: v.cause ?? '' });
      },
    });
    const clients = this.clients;
    new Gauge({ name: 'pmtu_feed_clients', help: 'Connected feed clients', registers: r, collect() { this.set(clients.size); } });
    const stats = opts.stats;
    new Gauge({
      name: 'pmtu_lost_events',
      help: 'Events the observer lost, by where (ring buffer full, consumer queue full, flow table full), and output lines standard output\'s reader did not take (output)',
      labelNames: ['where'],
      registers: r,
      collect() {
        const l = stats?.()?.losses;
        if (!l) return;
        this.set({ where: 'ringbuf' }, l.ringbufFull);
        this.set({ where: 'queue' }, l.queueFull);
        this.set({ where: 'flow_table' }, l.flowTableFull);
        if (l.sinkBehind !== undefined) this.set({ where: 'output' }, l.sinkBehind);
      },
    });
    new Gauge({
      name: 'pmtu_unmatched_icmp_errors',
      help: 'ICMP errors (PTBs) quoting no flow seen otherwise: spoofed, or older than the observer; they make no verdict',
      registers: r,
      collect() {
        const f = stats?.()?.flows;
        if (f) this.set(f.unmatched);
      },
    });
    // The kernel's per-hook counts of healthy traffic, as it has them now: set
    // whole at each scrape, so hooks of containers long gone leave the metric.
    const kernelCounter = (name: string, help: string, labelNames: string[], fill: (c: Counter, t: NonNullable<StatsJson['traffic']>) => void) =>
      new Counter({
        name,
        help,
        labelNames,
        registers: r,
        collect() {
          const t = stats?.()?.traffic;
          if (!t) return;
          this.reset();
          fill(this, t);
        },
      });
    kernelCounter('pmtu_kernel_flows_total', "Flows the kernel's flow table first saw at a hook (healthy ones make no event)", ['netns', 'iface'], (c, t) => {
      for (const h of t.byHook) c.inc({ netns: h.netns, iface: h.iface }, h.flows);
    });
    kernelCounter('pmtu_kernel_syns_total', 'SYNs (kind="syn") and SYN-ACKs (kind="synack") that crossed a hook', ['netns', 'iface', 'kind'], (c, t) => {
      for (const h of t.byHook) {
        c.inc({ netns: h.netns, iface: h.iface, kind: 'syn' }, h.syns);
        c.inc({ netns: h.netns, iface: h.iface, kind: 'synack' }, h.synAcks);
      }
    });
    kernelCounter('pmtu_kernel_ptbs_total', 'frag-needed / Packet Too Big that crossed a hook', ['netns', 'iface'], (c, t) => {
      for (const h of t.byHook) c.inc({ netns: h.netns, iface: h.iface }, h.ptbs);
    });
    new Gauge({
      name: 'pmtu_flows',
      help: 'Flows the correlator tracks: those with an event that can be trouble (healthy flows are counted in pmtu_kernel_flows_total)',
      registers: r,
      collect() {
        const f = stats?.()?.flows;
        if (f) this.set(f.flows);
      },
    });

    opts.metrics?.(this.registry);

    server.on('request', (req, res) => this.request(req, res));
    server.on('upgrade', (req, socket, head) => this.upgrade(req, socket, head));
    this.pinger = setInterval(() => this.ping(), opts.pingMs ?? 15_000);
    this.pinger.unref();
  }

  /** Listens; a non-loopback address without a token is refused. */
  static async start(opts: FeedOptions): Promise<Feed> {
    if (!isLoopback(opts.host) && !opts.token) {
      throw new PmtuError('PMTU_ERR_USAGE', `a feed on ${opts.host} needs a bearer token`, 'give --token (or bind to 127.0.0.1)');
    }
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e) => reject(new PmtuError('PMTU_ERR_INVALID', `cannot listen on ${opts.host}:${opts.port}: ${(e as Error).message}`, 'pick another port')));
      server.listen(opts.port, opts.host, resolve);
    });
    return new Feed(server, opts);
  }

  address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') return { host: this.opts.host, port: this.opts.port };
    return { host: a.address, port: a.port };
  }

  /**
   * The token, when one is required: `Authorization: Bearer`, `?token=`, or
   * (the web page's requests) its cookie, from the page's own origin only.
   */
  private authorized(req: IncomingMessage): boolean {
    if (!this.opts.token) return true;
    const header = req.headers.authorization ?? '';
    const bearer = header.startsWith('Bearer ') ? header.slice(7) : undefined;
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined;
    const given = bearer ?? query;
    if (given !== undefined) return sameSecret(given, this.opts.token);
    const cookie = cookieToken(req);
    return cookie !== undefined && sameOrigin(req) && sameSecret(cookie, this.opts.token);
  }

  private request(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'GET only', { allow: 'GET, HEAD' });
      return;
    }
    if (!this.authorized(req)) {
      const hint = path === PAGE_PATH ? 'open this page as /?token=TOKEN (it is kept in a cookie for this page only)' : 'bearer token required';
      sendText(res, 401, hint);
      return;
    }
    if (path === METRICS_PATH) {
      void this.registry.metrics().then((text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text));
      return;
    }
    if (path === PAGE_PATH) {
      const token = url.searchParams.get('token');
      if (this.opts.token && token !== null) redirectWithCookie(res, token); // authorized: the right one
      else sendPageFile(res, 'index.html');
      return;
    }
    if (path.startsWith(ASSETS_PATH) && sendPageFile(res, path.slice(ASSETS_PATH.length))) return;
    if (path === TOPOLOGY_PATH) {
      const topology = this.opts.topology;
      void Promise.resolve(topology ? topology() : [])
        .then((t) => sendJson(res, t))
        .catch((e: unknown) => sendText(res, 500, `topology not read: ${(e as Error).message}`));
      return;
    }
    sendText(res, 404, `pmtu-watch: ${PAGE_PATH} (the page), ${FEED_PATH} (websocket), ${METRICS_PATH}, ${TOPOLOGY_PATH}`);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: string, why: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
    };
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== FEED_PATH) return refuse('404 Not Found', `the feed is at ${FEED_PATH}`);
    if (!this.authorized(req)) return refuse('401 Unauthorized', 'bearer token required');
    let filter: Filter;
    let format: Format;
    try {
      filter = parseFilter(Object.fromEntries(url.searchParams));
      format = parseFormat(url.searchParams.get('format'));
    } catch (e) {
      return refuse('400 Bad Request', (e as Error).message);
    }
    if (this.opts.formats && !this.opts.formats.includes(format)) return refuse('400 Bad Request', `this feed sends ${this.opts.formats.join(' or ')} frames only`);
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, filter, format));
  }

  private accept(ws: WebSocket, filter: Filter, format: Format): void {
    const c: Client = { ws, filter, format, alive: true, lost: 0, lostTotal: 0 };
    this.clients.add(c);
    ws.on('pong', () => (c.alive = true));
    ws.on('close', () => this.clients.delete(c));
    ws.on('error', () => this.clients.delete(c)); // e.g. a frame over MAX_CLIENT_FRAME: ws closes with 1009
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        ws.close(CLOSE.unsupported, 'text frames only');
        return;
      }
      try {
        c.filter = parseClientMessage(data.toString()).filter;
      } catch (e) {
        ws.close(CLOSE.invalid, (e as Error).message.slice(0, 120));
      }
    });
    this.send(c, { type: 'hello', version: 1, filter, format, ...(this.opts.cluster ? { cluster: true } : {}) });
    const verdicts = this.opts.snapshot().filter((v) => passes(filter, v));
    if (format === 'json') {
      this.send(c, { type: 'snapshot', verdicts });
    } else {
      this.send(c, { type: 'snapshot', count: verdicts.length });
      for (const v of verdicts) this.send(c, v, verdictRecord(v));
    }
    for (const m of this.opts.greeting?.() ?? []) {
      if (m.type !== 'node' && m.type !== 'incident') this.send(c, m);
      else if (passesCluster(c.filter, m)) this.send(c, m);
    }
  }

  /** Sends msg (as JSON, or as `binary` for a proto client when given); a slow client loses it. */
  private send(c: Client, msg: ServerMessage, binary?: Uint8Array): void {
    if (c.ws.readyState !== c.ws.OPEN) return;
    if (c.ws.bufferedAmount > this.maxBuffered) {
      c.lost++;
      c.lostTotal++;
      this.m.feedLost.inc();
      return;
    }
    if (c.lost > 0 && c.ws.bufferedAmount < this.maxBuffered / 2) {
      const lost = c.lost;
      c.lost = 0;
      c.ws.send(JSON.stringify({ type: 'lost', count: lost, total: c.lostTotal }));
    }
    if (binary && c.format === 'proto') c.ws.send(binary, { binary: true });
    else c.ws.send(JSON.stringify(msg));
  }

  private ping(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        c.ws.terminate();
        this.clients.delete(c);
        continue;
      }
      c.alive = false;
      c.ws.ping();
    }
  }

  publishEvent(ev: StreamEvent): void {
    this.m.events.inc({ kind: ev.kind });
    if (ev.kind === 'ptb' || ev.kind === 'ptb-sent') this.m.ptbs.inc({ mtu: this.ptbMtuLabel(ev.mtu ?? 0) });
    if (ev.kind === 'drop') this.m.drops.inc({ reason: ev.reason ?? 'unknown' });
    let binary: Uint8Array | undefined; // encoded once, for the proto clients that want it
    for (const c of this.clients) {
      if (!passes(c.filter, ev)) continue;
      if (c.format === 'proto') binary ??= eventRecord(ev);
      this.send(c, ev, binary);
    }
  }

  private ptbMtuLabel(mtu: number): string {
    const label = String(mtu);
    if (this.ptbMtus.has(label)) return label;
    if (this.ptbMtus.size >= MAX_PTB_MTU_LABELS) return 'other';
    this.ptbMtus.add(label);
    return label;
  }

  publishVerdict(v: VerdictJson): void {
    this.m.verdicts.inc({ verdict: v.verdict, cause: v.cause ?? '' });
    let binary: Uint8Array | undefined;
    for (const c of this.clients) {
      if (!passes(c.filter, v)) continue;
      if (c.format === 'proto') binary ??= verdictRecord(v);
      this.send(c, v, binary);
    }
  }

  /** A cluster's own messages (node states, incidents), as JSON text frames. */
  publish(m: ClusterMessage): void {
    for (const c of this.clients) if (passesCluster(c.filter, m)) this.send(c, m);
  }

  get connections(): number {
    return this.clients.size;
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const c of this.clients) c.ws.close(CLOSE.going, 'pmtu-watch is stopping');
    this.clients.clear();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
