// `pmtu-watch cluster`: follows the feeds of many nodes (given with --node,
// or the endpoints of a headless Service), and serves one feed where every
// event and verdict carries its node, with node states and incidents across
// nodes, its own /metrics, and the web page. A source of many feeds, the
// merge, and a feed as sink.

import { Counter, Gauge, type Registry } from 'prom-client';

import type { IncidentJson, NodeStatusJson, TopologyJson } from '../contract/cluster.js';
import type { StreamEvent } from '../contract/event.js';
import type { VerdictJson } from '../contract/verdict.js';
import { PmtuError } from '../errors.js';
import { Feed, parseListen } from '../feed/server.js';
import { NODE_NAME, type ServerMessage } from '../feed/protocol.js';
import type { BackoffOptions } from './backoff.js';
import { parseService, ServiceDiscovery, type Resolver } from './discovery.js';
import { ClusterMerge, type Outgoing } from './merge.js';
import { Upstream } from './upstream.js';
import { validNodeMessage } from './validate.js';

export interface NodeSpec {
  name: string;
  url: string;
}

/** `NAME=URL`: URL as ws://HOST:PORT[/feed], http://HOST:PORT, or HOST:PORT. */
export function parseNode(text: string): NodeSpec {
  const eq = text.indexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : '';
  const where = eq > 0 ? text.slice(eq + 1) : '';
  if (!NODE_NAME.test(name) || !where) {
    throw new PmtuError('PMTU_ERR_USAGE', `not a node: ${JSON.stringify(text)}`, 'give --node NAME=URL, e.g. --node node-a=ws://10.0.0.5:9477/feed (NAME: letters, digits, . _ - :)');
  }
  return { name, url: feedUrl(where) };
}

export function feedUrl(where: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(where) ? where : `ws://${where}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new PmtuError('PMTU_ERR_USAGE', `not a feed address: ${JSON.stringify(where)}`, 'e.g. ws://10.0.0.5:9477/feed or 10.0.0.5:9477');
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new PmtuError('PMTU_ERR_USAGE', `not a feed address: ${JSON.stringify(where)}`, 'ws://, wss://, http:// or https://');
  if (url.username || url.password || url.search || url.hash) throw new PmtuError('PMTU_ERR_USAGE', `a feed address has no user, query or fragment: ${JSON.stringify(where)}`, 'tokens go in --node-token');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/feed';
  return url.toString();
}

/** `--node-token NAME=TOKEN` for one node, `--node-token TOKEN` for every node without its own. */
export function parseNodeTokens(values: readonly string[], names: ReadonlySet<string>): { byNode: Map<string, string>; fallback?: string } {
  const byNode = new Map<string, string>();
  let fallback: string | undefined;
  for (const v of values) {
    const eq = v.indexOf('=');
    const name = eq > 0 ? v.slice(0, eq) : '';
    if (eq > 0 && names.has(name)) byNode.set(name, v.slice(eq + 1));
    else if (fallback === undefined) fallback = v;
    else throw new PmtuError('PMTU_ERR_USAGE', 'more than one --node-token for every node', 'give NAME=TOKEN for a node of --node, or one TOKEN for all');
  }
  return { byNode, ...(fallback !== undefined ? { fallback } : {}) };
}

export interface ClusterOptions {
  nodes: NodeSpec[];
  /** A headless Service's DNS name and port: NAME.NAMESPACE.svc:PORT. */
  service?: string;
  /** Seconds between lookups of the service. */
  resolveEvery?: number;
  listen: string;
  /** The token cluster's own clients need (required off loopback). */
  token?: string;
  nodeTokens: { byNode: Map<string, string>; fallback?: string };
  json: boolean;
  duration?: number;
}

export interface ClusterDeps {
  resolver: Resolver;
  stopRequested: Promise<void>;
  out(line: string): void;
  err(line: string): void;
  now?: () => number;
  backoff?: BackoffOptions;
  /** A node silent this long is taken for gone (default 40 s). */
  idleMs?: number;
}

export interface RunningCluster {
  feed: Feed;
  merge: ClusterMerge;
  /** Ends it: connections closed, timers cleared. */
  close(): Promise<void>;
  /** Resolves when it ended (stop requested, --duration). */
  done: Promise<void>;
  /** One lookup of the service now (tests). */
  resolveNow(): Promise<void>;
}

function line(o: Outgoing): string | undefined {
  if (o.kind === 'node') {
    const s = o.status;
    return `pmtu-watch: node ${s.node} ${s.state}${s.reason ? `: ${s.reason}` : ''}${s.retryMs !== null ? ` (retry in ${(s.retryMs / 1000).toFixed(1)} s)` : ''}`;
  }
  if (o.kind === 'incident') {
    const i = o.incident;
    return `INCIDENT ${i.verdict.toUpperCase()}${i.cause ? ` ${i.cause}` : ''} [${i.nodes.join(', ')}] ${i.summary}${i.fix ? `\n    fix: ${i.fix}` : ''}`;
  }
  if (o.kind === 'verdict' && o.v.verdict !== 'ok') {
    const v = o.v;
    const f = v.flow;
    return `${v.node}: ${v.verdict.toUpperCase()}${v.cause ? ` ${v.cause}` : ''} ${f.proto} ${f.src}:${f.sport} -> ${f.dst}:${f.dport} at ${v.where.netns ?? '?'}/${v.where.iface ?? '?'}${v.where.hop ? ` hop ${v.where.hop}` : ''}${v.mtu ? ` mtu ${v.mtu}` : ''}`;
  }
  return undefined;
}

function clusterMetrics(merge: ClusterMerge, reconnects: Map<string, number>, incidents: { counter?: Counter }) {
  return (r: Registry) => {
    new Gauge({
      name: 'pmtu_cluster_node_up',
      help: "Whether cluster has a node's feed (1) or not (0: connecting or down)",
      labelNames: ['node'],
      registers: [r],
      collect() {
        this.reset();
        for (const s of merge.statuses()) this.set({ node: s.node }, s.state === 'up' ? 1 : 0);
      },
    });
    new Counter({
      name: 'pmtu_cluster_node_messages_total',
      help: "Messages received from a node's feed",
      labelNames: ['node'],
      registers: [r],
      collect() {
        this.reset();
        for (const s of merge.statuses()) this.inc({ node: s.node }, s.messages);
      },
    });
    new Counter({
      name: 'pmtu_cluster_node_disconnects_total',
      help: "Times a node's feed closed or could not be reached",
      labelNames: ['node'],
      registers: [r],
      collect() {
        this.reset();
        for (const [node, n] of reconnects) this.inc({ node }, n);
      },
    });
    incidents.counter = new Counter({ name: 'pmtu_cluster_incidents_total', help: 'Incidents across nodes, by cause', labelNames: ['cause'], registers: [r] });
  };
}

export async function startCluster(opts: ClusterOptions, deps: ClusterDeps): Promise<RunningCluster> {
  const now = deps.now ?? Date.now;
  const merge = new ClusterMerge();
  const upstreams = new Map<string, Upstream>();
  const reconnects = new Map<string, number>();
  const incidentCounter: { counter?: Counter } = {};
  const seenIncidents = new Set<string>();
  let feed: Feed | undefined;

  const emit = (outs: Outgoing[]) => {
    for (const o of outs) {
      if (o.kind === 'event') feed?.publishEvent(o.ev);
      else if (o.kind === 'verdict') feed?.publishVerdict(o.v);
      else if (o.kind === 'node') feed?.publish(o.status);
      else {
        feed?.publish(o.incident);
        if (!seenIncidents.has(o.incident.id)) {
          if (seenIncidents.size >= 65536) seenIncidents.clear();
          seenIncidents.add(o.incident.id);
          incidentCounter.counter?.inc({ cause: o.incident.cause ?? '' });
        }
      }
      if (opts.json) {
        if (o.kind === 'event') continue; // the feed has every event; standard output what a person or a pipeline acts on
        deps.out(JSON.stringify(o.kind === 'node' ? o.status : o.kind === 'incident' ? o.incident : o.v));
      } else {
        const text = line(o);
        if (text) (o.kind === 'node' ? deps.err : deps.out)(text);
      }
    }
  };

  const tokenFor = (name: string) => opts.nodeTokens.byNode.get(name) ?? opts.nodeTokens.fallback;

  const follow = (name: string, url: string, source: NodeStatusJson['source']) => {
    if (upstreams.has(name)) return;
    emit(merge.addNode(name, url, source, now()));
    const token = tokenFor(name);
    const up = new Upstream(
      { name, url, ...(token ? { token } : {}), ...(deps.backoff ? { backoff: deps.backoff } : {}), ...(deps.idleMs ? { idleMs: deps.idleMs } : {}), now },
      {
        connecting: () => emit(merge.setState(name, 'connecting', now())),
        up: () => emit(merge.setState(name, 'up', now())),
        down: (reason, retryMs) => {
          reconnects.set(name, (reconnects.get(name) ?? 0) + 1);
          emit(merge.setState(name, 'down', now(), reason, retryMs));
        },
        message: (msg: ServerMessage) => {
          if (!validNodeMessage(msg)) return;
          if (msg.type === 'snapshot' && 'verdicts' in msg) emit(merge.snapshot(name, msg.verdicts));
          else if (msg.type === 'verdict') emit(merge.verdict(name, msg as VerdictJson));
          else if (msg.type === 'event') emit(merge.event(name, msg as StreamEvent));
        },
      },
    );
    upstreams.set(name, up);
    up.start();
  };

  const unfollow = (name: string) => {
    upstreams.get(name)?.stop();
    upstreams.delete(name);
    emit(merge.removeNode(name, now()));
  };

  feed = await Feed.start({
    ...parseListen(opts.listen),
    ...(opts.token ? { token: opts.token } : {}),
    snapshot: () => merge.verdicts(),
    greeting: () => [...merge.statuses(), ...merge.incidents.incidents()],
    cluster: true,
    formats: ['json'],
    metrics: clusterMetrics(merge, reconnects, incidentCounter),
    topology: async () => {
      const all = await Promise.all(
        [...upstreams.values()].map(async (u) => (await u.topology()).map((t): TopologyJson => ({ ...t, node: u.opts.name }))),
      );
      return all.flat();
    },
  });

  for (const n of opts.nodes) follow(n.name, n.url, 'flag');

  let resolveNow = async () => {};
  let resolver: NodeJS.Timeout | undefined;
  if (opts.service) {
    const discovery = new ServiceDiscovery(parseService(opts.service), deps.resolver);
    let lastError: string | undefined;
    let running = false;
    resolveNow = async () => {
      if (running) return;
      running = true;
      try {
        const r = await discovery.resolve();
        if (r.error && r.error !== lastError) deps.err(`pmtu-watch: warning: ${r.error}; keeping the ${r.endpoints.length} node(s) found before`);
        lastError = r.error;
        if (r.error) return;
        const names = new Set(r.endpoints.map((e) => e.name));
        for (const e of r.endpoints) follow(e.name, e.url, 'dns');
        for (const [name] of upstreams) if (!names.has(name) && merge.status(name)?.source === 'dns') unfollow(name);
      } finally {
        running = false;
      }
    };
    await resolveNow();
    resolver = setInterval(() => void resolveNow(), (opts.resolveEvery ?? 30) * 1000);
    resolver.unref();
  }

  let stopTimer: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    void deps.stopRequested.then(resolve);
    if (opts.duration) stopTimer = setTimeout(resolve, opts.duration * 1000);
  });

  let closed = false;
  return {
    feed,
    merge,
    done,
    resolveNow: () => resolveNow(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(resolver);
      clearTimeout(stopTimer);
      for (const u of upstreams.values()) u.stop();
      upstreams.clear();
      await feed.close();
    },
  };
}

export type { IncidentJson };
