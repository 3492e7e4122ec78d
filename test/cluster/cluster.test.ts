// `cluster` against real feeds on loopback standing in for nodes: the merged
// feed (node on every event and verdict, node states, incidents), tokens
// each way, a node going down and coming back, discovery with a fake
// resolver, /metrics, and hostile node messages.

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import { startCluster, parseNode, feedUrl, parseNodeTokens, type RunningCluster } from '../../src/cluster/cluster.js';
import type { Resolver } from '../../src/cluster/discovery.js';
import type { CorrelatorEvent } from '../../src/contract/event.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { Feed } from '../../src/feed/server.js';
import { waitFor } from '../../src/lab/traffic.js';

const flow = { src: '198.18.3.2', dst: '198.18.1.2', sport: 4433, dport: 40000, proto: 'tcp' };
const inner = { ...flow, len: 4148 };
const verdict = (over: Partial<VerdictJson> = {}): VerdictJson => ({
  type: 'verdict',
  ts: 1000,
  verdict: 'ptb-dropped',
  cause: 'rp_filter',
  flow,
  where: { netns: 's', iface: 'to-r2', hop: '198.19.0.1' },
  mtu: 1500,
  bounds: null,
  fix: 'let s route 198.19.0.1 back through to-r2',
  evidence: [],
  notes: [],
  ...over,
});
const ptbSent: CorrelatorEvent = { type: 'event', kind: 'ptb-sent', ts: 1001, netns: 'r2', iface: 'to-s', dir: null, dst: flow.src, mtu: 1500, len: 4148, mtuIface: 'to-r1', inner, flags: ['df', 'icmp-error', 'local'] };
const ptbDrop: CorrelatorEvent = { type: 'event', kind: 'drop', ts: 1002, netns: 's', iface: 'to-r2', dir: null, src: '198.19.0.1', dst: flow.src, mtu: 1500, len: 576, reason: 'IP_RPFILTER', inner, flags: ['icmp-error'] };

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function node(opts: { token?: string; host?: string; port?: number; snapshot?: VerdictJson[] } = {}): Promise<Feed> {
  const f = await Feed.start({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0, snapshot: () => opts.snapshot ?? [], ...(opts.token ? { token: opts.token } : {}), pingMs: 500 });
  let closed = false;
  const close = f.close.bind(f);
  f.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  cleanups.push(() => f.close());
  return f;
}

const url = (f: Feed) => `ws://${f.address().host}:${f.address().port}/feed`;
const never = new Promise<void>(() => {});
const fast = { initialMs: 50, maxMs: 200, jitter: 0 };

async function cluster(nodes: { name: string; url: string }[], extra: { token?: string; nodeTokens?: string[]; service?: string; resolver?: Resolver } = {}): Promise<{ c: RunningCluster; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const c = await startCluster(
    {
      nodes,
      listen: '127.0.0.1:0',
      json: true,
      nodeTokens: parseNodeTokens(extra.nodeTokens ?? [], new Set(nodes.map((n) => n.name))),
      ...(extra.token ? { token: extra.token } : {}),
      ...(extra.service ? { service: extra.service, resolveEvery: 3600 } : {}),
    },
    { resolver: extra.resolver ?? { resolve4: async () => [], resolve6: async () => [] }, stopRequested: never, out: (l) => out.push(l), err: (l) => err.push(l), backoff: fast },
  );
  cleanups.push(() => c.close());
  return { c, out, err };
}

/** A client of the cluster's feed, every JSON message kept. */
async function client(c: RunningCluster, query = '', headers: Record<string, string> = {}) {
  const ws = new WebSocket(`ws://127.0.0.1:${c.feed.address().port}/feed${query}`, { headers });
  const got: Record<string, any>[] = [];
  ws.on('message', (d) => got.push(JSON.parse(d.toString()) as Record<string, any>));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  cleanups.push(async () => ws.close());
  return got;
}

describe('cluster flags', () => {
  it('takes NAME=URL in the forms a user writes', () => {
    expect(parseNode('a=ws://198.18.0.5:9477/feed')).toEqual({ name: 'a', url: 'ws://198.18.0.5:9477/feed' });
    expect(parseNode('b=198.18.0.6:9477').url).toBe('ws://198.18.0.6:9477/feed');
    expect(parseNode('c=http://[2001:db8::1]:9477').url).toBe('ws://[2001:db8::1]:9477/feed');
    expect(feedUrl('https://n.example:443')).toBe('wss://n.example/feed');
    for (const bad of ['=ws://x:1', 'a b=ws://x:1', 'a', 'a=ftp://x:1', 'a=ws://u:p@x:1', 'a=ws://x:1/feed?token=t']) expect(() => parseNode(bad)).toThrow();
  });
  it('gives each node its token, and the one without a name to the others', () => {
    const t = parseNodeTokens(['a=ta', 'all'], new Set(['a', 'b']));
    expect(t.byNode.get('a')).toBe('ta');
    expect(t.fallback).toBe('all');
    expect(() => parseNodeTokens(['x', 'y'], new Set())).toThrow(/more than one/);
  });
});

describe('cluster feed', () => {
  it("merges two nodes' feeds: node on every verdict and event, node states, and the incident naming both", async () => {
    const a = await node({ token: 'tok-a' });
    const b = await node({ token: 'tok-b', snapshot: [verdict()] });
    const { c, out } = await cluster([{ name: 'node-a', url: url(a) }, { name: 'node-b', url: url(b) }], { token: 'mine', nodeTokens: ['node-a=tok-a', 'node-b=tok-b'] });
    await waitFor(() => c.merge.statuses().every((s) => s.state === 'up') || undefined, 5000);
    await waitFor(() => c.merge.verdicts().length === 1 || undefined, 5000);

    const got = await client(c, '', { authorization: 'Bearer mine' });
    await waitFor(() => got.filter((m) => m.type === 'node').length === 2 || undefined, 3000);
    expect(got[0]).toMatchObject({ type: 'hello', cluster: true });
    expect(got[1]).toMatchObject({ type: 'snapshot', verdicts: [{ node: 'node-b', verdict: 'ptb-dropped' }] });
    expect(got.filter((m) => m.type === 'node').map((m) => [m.node, m.state])).toEqual([
      ['node-a', 'up'],
      ['node-b', 'up'],
    ]);

    a.publishEvent(ptbSent);
    b.publishEvent(ptbDrop);
    const inc = await waitFor(() => got.find((m) => m.type === 'incident'), 3000);
    expect(inc).toMatchObject({ verdict: 'ptb-dropped', cause: 'rp_filter', nodes: ['node-a', 'node-b'], hop: '198.19.0.1', mtu: 1500 });
    expect(got.filter((m) => m.type === 'event').map((m) => [m.node, m.kind])).toEqual([
      ['node-a', 'ptb-sent'],
      ['node-b', 'drop'],
    ]);
    // --json: what a pipeline acts on, one object a line.
    expect(out.map((l) => JSON.parse(l) as { type: string }).some((m) => m.type === 'incident')).toBe(true);

    const metrics = await (await fetch(`http://127.0.0.1:${c.feed.address().port}/metrics`, { headers: { authorization: 'Bearer mine' } })).text();
    expect(metrics).toMatch(/^pmtu_cluster_node_up\{node="node-a"\} 1$/m);
    expect(metrics).toMatch(/^pmtu_cluster_incidents_total\{cause="rp_filter"\} 1$/m);
    expect(metrics).toMatch(/^pmtu_events_total\{kind="drop"\} 1$/m);
  });

  it('filters by node', async () => {
    const a = await node();
    const b = await node();
    const { c } = await cluster([{ name: 'a', url: url(a) }, { name: 'b', url: url(b) }]);
    await waitFor(() => c.merge.statuses().every((s) => s.state === 'up') || undefined, 5000);
    const got = await client(c, '?node=b');
    a.publishEvent(ptbSent);
    b.publishEvent(ptbDrop);
    await waitFor(() => got.find((m) => m.type === 'event'), 3000);
    await new Promise((r) => setTimeout(r, 100));
    expect(got.filter((m) => m.type === 'event').map((m) => m.node)).toEqual(['b']);
  });

  it('its own token is required of its clients; a wrong node token shows the node down with HTTP 401', async () => {
    const a = await node({ token: 'right' });
    const { c } = await cluster([{ name: 'a', url: url(a) }], { token: 'mine', nodeTokens: ['wrong'] });
    const down = await waitFor(() => (c.merge.status('a')?.state === 'down' ? c.merge.status('a') : undefined), 5000);
    expect(down!.reason).toBe('HTTP 401');
    await expect(client(c)).rejects.toThrow(/401/);
    await expect(client(c, '', { authorization: 'Bearer nope' })).rejects.toThrow(/401/);
    await expect(client(c, '?format=proto', { authorization: 'Bearer mine' })).rejects.toThrow(/400/);
  });

  it('shows a node that went away as down, retries with a backoff, and takes it back when it returns', async () => {
    const a = await node();
    const port = a.address().port;
    const { c } = await cluster([{ name: 'a', url: url(a) }]);
    await waitFor(() => c.merge.status('a')?.state === 'up' || undefined, 5000);
    const got = await client(c);
    await a.close();
    const down = await waitFor(() => got.find((m) => m.type === 'node' && m.state === 'down'), 5000);
    expect(down).toMatchObject({ node: 'a', state: 'down' });
    expect(down!.retryMs).toBeGreaterThanOrEqual(50);
    // Refused while it is away: the delay grows, bounded by maxMs.
    await new Promise((r) => setTimeout(r, 600));
    expect(c.merge.status('a')?.retryMs).toBeLessThanOrEqual(200);
    const again = await node({ port, snapshot: [verdict({ ts: 2000 })] });
    expect(again.address().port).toBe(port);
    await waitFor(() => got.find((m, i) => m.type === 'node' && m.state === 'up' && i > got.indexOf(down!)), 5000);
    const v = await waitFor(() => got.find((m) => m.type === 'verdict' && m.ts === 2000), 3000);
    expect(v).toMatchObject({ node: 'a' });
  });

  it("ignores what a node sends that is not the feed's shape, and goes on", async () => {
    const { WebSocketServer } = await import('ws');
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    cleanups.push(() => new Promise<void>((r) => wss.close(() => r())));
    wss.on('connection', (ws) => {
      ws.send(JSON.stringify({ type: 'hello', version: 1 }));
      ws.send(JSON.stringify({ type: 'snapshot', verdicts: [{ type: 'verdict', flow: null }] }));
      ws.send(JSON.stringify({ type: 'verdict', verdict: 'ptb-dropped' }));
      ws.send(JSON.stringify({ type: 'event', kind: 'drop', node: 'forged', ts: 1, netns: 'x', iface: 'y', flags: [] }));
      ws.send('not json');
      ws.send(JSON.stringify(verdict({ ts: 3000 })));
    });
    const port = (wss.address() as { port: number }).port;
    const { c } = await cluster([{ name: 'odd', url: `ws://127.0.0.1:${port}/feed` }]);
    await waitFor(() => c.merge.verdicts().length === 1 || undefined, 5000);
    expect(c.merge.verdicts()).toEqual([expect.objectContaining({ node: 'odd', ts: 3000 })]);
  });

  it("follows a headless Service's endpoints, and lets go of one that left", async () => {
    const one = await node({ host: '127.0.0.1' });
    const port = one.address().port;
    await node({ host: '127.0.0.2', port });
    let answer = ['127.0.0.1', '127.0.0.2'];
    const resolver: Resolver = { resolve4: async () => answer, resolve6: async () => Promise.reject(Object.assign(new Error('ENODATA'), { code: 'ENODATA' })) };
    const { c } = await cluster([], { service: `pmtu-watch.kube-system.svc:${port}`, resolver });
    await waitFor(() => (c.merge.statuses().length === 2 && c.merge.statuses().every((s) => s.state === 'up')) || undefined, 5000);
    expect(c.merge.statuses().map((s) => [s.node, s.source, s.url])).toEqual([
      ['127.0.0.1', 'dns', `ws://127.0.0.1:${port}/feed`],
      ['127.0.0.2', 'dns', `ws://127.0.0.2:${port}/feed`],
    ]);
    answer = ['127.0.0.2'];
    await c.resolveNow();
    expect(c.merge.statuses().map((s) => s.node)).toEqual(['127.0.0.2']);
  });
});

describe('cluster merge memory', () => {
  it('keeps at most maxVerdictsPerNode verdicts per node', async () => {
    const { ClusterMerge } = await import('../../src/cluster/merge.js');
    const m = new ClusterMerge({ maxVerdictsPerNode: 100 });
    m.addNode('a', 'ws://x/feed', 'flag', 0);
    for (let i = 0; i < 5000; i++) m.verdict('a', verdict({ ts: i, flow: { ...flow, dport: 1 + i } }));
    expect(m.verdicts()).toHaveLength(100);
    expect(m.verdicts()[99]!.ts).toBe(4999);
  });
});
