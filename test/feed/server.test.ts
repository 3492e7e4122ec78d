// The feed on loopback with real websocket clients: snapshot then stream,
// filters, hostile frames, tokens, slow readers, liveness, and /metrics.

import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import type { CorrelatorEvent } from '../../src/contract/event.js';
import type { VerdictJson } from '../../src/contract/verdict.js';
import { connectFeed } from '../../src/feed/client.js';
import { Feed, parseListen, type FeedOptions } from '../../src/feed/server.js';

const verdict = (src: string, v: VerdictJson['verdict'] = 'ok'): VerdictJson => ({
  type: 'verdict',
  ts: 1,
  verdict: v,
  cause: null,
  flow: { src, dst: '198.18.3.2', sport: 1, dport: 2, proto: 'tcp' },
  where: { netns: 'c', iface: 'eth0', hop: null },
  mtu: null,
  bounds: null,
  fix: null,
  evidence: [],
  notes: [],
});
const ptb: CorrelatorEvent = {
  type: 'event',
  kind: 'ptb',
  ts: 2,
  netns: 'c',
  iface: 'eth0',
  dir: 'ingress',
  src: '198.19.0.1',
  dst: '198.18.1.2',
  mtu: 1500,
  flags: ['icmp-error'],
  inner: { src: '198.18.1.2', dst: '198.18.3.2', sport: 1, dport: 2, proto: 'tcp', len: 4000 },
};
const drop: CorrelatorEvent = { ...ptb, kind: 'drop', dir: null, reason: 'IP_RPFILTER' };

let feeds: Feed[] = [];
afterEach(async () => {
  await Promise.all(feeds.map((f) => f.close()));
  feeds = [];
});

async function start(over: Partial<FeedOptions> = {}): Promise<{ feed: Feed; url: string }> {
  const feed = await Feed.start({ host: '127.0.0.1', port: 0, snapshot: () => [verdict('198.18.1.2', 'ptb-dropped')], ...over });
  feeds.push(feed);
  return { feed, url: `ws://127.0.0.1:${feed.address().port}/feed` };
}

/** Connects and collects parsed messages. */
async function client(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  const got: Record<string, unknown>[] = [];
  ws.on('message', (d, isBinary) => {
    if (!isBinary) got.push(JSON.parse(d.toString()) as Record<string, unknown>);
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
  return { ws, got, closed };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('feed', () => {
  it('sends hello and the snapshot of current verdicts, then the stream', async () => {
    const { feed, url } = await start();
    const c = await client(url);
    await until(() => c.got.length >= 2);
    expect(c.got[0]).toEqual({ type: 'hello', version: 1, filter: {}, format: 'json' });
    expect(c.got[1]).toMatchObject({ type: 'snapshot', verdicts: [{ verdict: 'ptb-dropped' }] });
    feed.publishEvent(ptb);
    feed.publishVerdict(verdict('198.18.1.2', 'ptb-dropped'));
    await until(() => c.got.length >= 4);
    expect(c.got.slice(2).map((m) => m.type)).toEqual(['event', 'verdict']);
    c.ws.close();
  });

  it('filters by query (verdicts only, an address, a namespace) and by a filter message', async () => {
    const { feed, url } = await start();
    const only = await client(`${url}?verdictsOnly=1&addr=198.18.9.9`);
    const ns = await client(`${url}?netns=other`);
    feed.publishEvent(ptb);
    feed.publishVerdict(verdict('198.18.1.2'));
    feed.publishVerdict(verdict('198.18.9.9'));
    await until(() => only.got.length >= 3);
    expect(only.got.slice(2)).toEqual([expect.objectContaining({ type: 'verdict', flow: expect.objectContaining({ src: '198.18.9.9' }) })]);
    expect(ns.got.slice(2)).toEqual([]);
    ns.ws.send(JSON.stringify({ type: 'filter', filter: { netns: 'c' } }));
    await new Promise((r) => setTimeout(r, 50));
    feed.publishEvent(ptb);
    await until(() => ns.got.length >= 3);
    expect(ns.got[2]).toMatchObject({ kind: 'ptb' });
  });

  it('filters by flow, in either direction, and an ICMP error by the flow it quotes', async () => {
    const { feed, url } = await start();
    const c = await client(`${url}?flow=tcp/198.18.3.2/2/198.18.1.2/1`); // the reverse of ptb's inner flow
    feed.publishEvent(ptb);
    feed.publishVerdict(verdict('198.18.9.9'));
    feed.publishVerdict(verdict('198.18.1.2'));
    await until(() => c.got.length >= 4);
    expect(c.got.slice(2).map((m) => m.type)).toEqual(['event', 'verdict']);
    expect(c.got[3]).toMatchObject({ flow: { src: '198.18.1.2' } });
    await expect(client(`${url}?flow=tcp/1.2.3.4/x/5.6.7.8/9`)).rejects.toThrow('HTTP 400');
  });

  it('refuses a bad filter with 400 before the upgrade', async () => {
    const { url } = await start();
    await expect(client(`${url}?addr=not-an-address!`)).rejects.toThrow('HTTP 400');
    await expect(client(`${url}?bogus=1`)).rejects.toThrow('HTTP 400');
    await expect(client(url.replace('/feed', '/other'))).rejects.toThrow('HTTP 404');
  });

  it('closes a client that sends garbage, binary or oversized frames, and keeps serving the others', async () => {
    const { feed, url } = await start();
    const good = await client(url);
    const garbage = await client(url);
    garbage.ws.send('{"type":"nonsense"');
    expect((await garbage.closed).code).toBe(1007);
    const binary = await client(url);
    binary.ws.send(Buffer.from([1, 2, 3]));
    expect((await binary.closed).code).toBe(1003);
    const big = await client(url);
    big.ws.send('x'.repeat(10_000));
    expect((await big.closed).code).toBe(1009);
    feed.publishVerdict(verdict('198.18.1.2'));
    await until(() => good.got.length >= 3);
    expect(feed.connections).toBe(1);
  });

  it('needs a token off loopback, and checks it when one is set', async () => {
    await expect(Feed.start({ host: '0.0.0.0', port: 0, snapshot: () => [] })).rejects.toThrow('needs a bearer token');
    const { feed, url } = await start({ token: 's3cret' });
    await expect(client(url)).rejects.toThrow('HTTP 401');
    await expect(client(url, { authorization: 'Bearer wrong' })).rejects.toThrow('HTTP 401');
    const ok = await client(url, { authorization: 'Bearer s3cret' });
    await until(() => ok.got.length >= 2);
    const base = `http://127.0.0.1:${feed.address().port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(200);
  });

  it('bounds a slow reader: what it cannot take is dropped, counted, and told to it', async () => {
    const { feed, url } = await start({ maxBufferedBytes: 16 * 1024 });
    const slow = await client(url);
    await until(() => slow.got.length >= 2);
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const big = verdict('198.18.1.2');
    big.notes = ['x'.repeat(2000)];
    for (let i = 0; i < 5000; i++) feed.publishVerdict(big);
    socket.resume();
    await new Promise((r) => setTimeout(r, 300));
    feed.publishVerdict(verdict('198.18.7.7'));
    await until(() => slow.got.some((m) => m.type === 'lost'), 5000);
    const lost = slow.got.find((m) => m.type === 'lost') as { count: number; total: number };
    const received = slow.got.filter((m) => m.type === 'verdict').length;
    expect(lost.count).toBeGreaterThan(0);
    expect(received + lost.total).toBeGreaterThanOrEqual(5000);
    expect(received).toBeLessThan(5000);
    const metrics = await (await fetch(`http://127.0.0.1:${feed.address().port}/metrics`)).text();
    expect(Number(/^pmtu_feed_lost_messages_total (\d+)$/m.exec(metrics)?.[1])).toBe(lost.total);
  });

  it('drops a client that stops answering pings', async () => {
    const { feed, url } = await start({ pingMs: 50 });
    const c = await client(url);
    (c.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    await until(() => feed.connections === 0, 3000);
  });

  it('serves Prometheus text at /metrics', async () => {
    const { feed } = await start({ stats: () => undefined });
    feed.publishEvent(ptb);
    feed.publishEvent(drop);
    feed.publishVerdict(verdict('198.18.1.2', 'ptb-dropped'));
    const res = await fetch(`http://127.0.0.1:${feed.address().port}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const line of text.trim().split('\n').filter((l) => l !== '')) { // blank lines are allowed
      // NaN: prom-client's event-loop lag before its first sample (Prometheus reads any case)
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{(\w+="[^"]*",?)*\})? (-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|Nan|[+-]Inf))$/);
    }
    expect(text).toContain('pmtu_events_total{kind="ptb"} 1');
    expect(text).toContain('pmtu_ptb_total{mtu="1500"} 1');
    expect(text).toContain('pmtu_drops_total{reason="IP_RPFILTER"} 1');
    expect(text).toContain('pmtu_verdicts_total{verdict="ptb-dropped",cause=""} 1');
    expect(text).toContain('pmtu_feed_clients 0');
  });

  it('exports the verdicts flows have now (what alerts ask), the agent\'s own CPU and memory, and at most 32 PTB MTUs', async () => {
    let now = [verdict('198.18.1.2', 'ptb-dropped'), verdict('198.18.1.3', 'ptb-dropped'), verdict('198.18.1.4', 'ok')];
    now[0]!.cause = 'rp_filter';
    now[1]!.cause = 'rp_filter';
    const { feed } = await start({ snapshot: () => now });
    const scrape = () => fetch(`http://127.0.0.1:${feed.address().port}/metrics`).then((r) => r.text());
    let text = await scrape();
    expect(text).toContain('pmtu_flows_by_verdict{verdict="ptb-dropped",cause="rp_filter"} 2');
    expect(text).toContain('pmtu_flows_by_verdict{verdict="ok",cause=""} 1');
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes [1-9]/m);
    now = [verdict('198.18.1.4', 'ok')];
    text = await scrape();
    expect(text).not.toContain('verdict="ptb-dropped"'); // flows that left take their series along
    for (let mtu = 1000; mtu < 1100; mtu++) feed.publishEvent({ ...ptb, mtu });
    text = await scrape();
    const series = text.split('\n').filter((l) => l.startsWith('pmtu_ptb_total{'));
    expect(series).toHaveLength(33);
    expect(text).toContain('pmtu_ptb_total{mtu="1031"} 1');
    expect(text).toContain('pmtu_ptb_total{mtu="other"} 68');
  });

  it('counts flows by verdict with the session\'s own counts when it has them, not the snapshot', async () => {
    const { feed } = await start({
      snapshot: () => {
        throw new Error('the scrape must not build the snapshot');
      },
      verdictCounts: () => [
        { verdict: 'ptb-dropped', cause: 'rp_filter', flows: 3 },
        { verdict: 'ok', cause: null, flows: 65000 },
      ],
    });
    const text = await fetch(`http://127.0.0.1:${feed.address().port}/metrics`).then((r) => r.text());
    expect(text).toContain('pmtu_flows_by_verdict{verdict="ptb-dropped",cause="rp_filter"} 3');
    expect(text).toContain('pmtu_flows_by_verdict{verdict="ok",cause=""} 65000');
  });

  it("exports the kernel's healthy-traffic counts per hook as they are now: a hook that went away leaves the metric", async () => {
    const hook = (iface: string, flows: number) => ({ netns: 'web', iface, flows, syns: flows, synAcks: flows - 1, ptbs: 0 });
    let byHook = [hook('eth0', 20000), hook('veth1', 3)];
    const stats = () => ({
      type: 'stats' as const,
      elapsedS: 1,
      interfaces: 2,
      events: {},
      losses: { ringbufFull: 0, flowTableFull: 0, queueFull: 0, delivered: 0, unknownRecords: 0 },
      flows: { flows: 0, evicted: 0, expired: 0, unmatched: 0, events: 0 },
      traffic: { flows: byHook.reduce((n, h) => n + h.flows, 0), syns: 0, synAcks: 0, ptbs: 0, byHook },
    });
    const { feed } = await start({ stats });
    const scrape = () => fetch(`http://127.0.0.1:${feed.address().port}/metrics`).then((r) => r.text());
    let text = await scrape();
    expect(text).toContain('pmtu_kernel_flows_total{netns="web",iface="eth0"} 20000');
    expect(text).toContain('pmtu_kernel_syns_total{netns="web",iface="veth1",kind="synack"} 2');
    expect(text).toContain('pmtu_kernel_ptbs_total{netns="web",iface="eth0"} 0');
    byHook = [hook('eth0', 20500)];
    text = await scrape();
    expect(text).toContain('pmtu_kernel_flows_total{netns="web",iface="eth0"} 20500');
    expect(text).not.toContain('iface="veth1"');
  });

  it('the typed client gets the snapshot and the verdicts', async () => {
    const { feed, url } = await start();
    const c = connectFeed({ url, filter: { verdictsOnly: true } });
    const snap = await new Promise<VerdictJson[]>((resolve) => c.on('snapshot', resolve));
    expect(snap[0]!.verdict).toBe('ptb-dropped');
    const next = new Promise<VerdictJson>((resolve) => c.on('verdict', resolve));
    feed.publishEvent(ptb);
    feed.publishVerdict(verdict('198.18.5.5', 'silent-blackhole'));
    expect((await next).verdict).toBe('silent-blackhole');
    c.close();
  });

  it('speaks protobuf (pmtu.v1.Record frames) to a client that asks, with the same content', async () => {
    const { feed, url } = await start();
    const raw = await client(`${url}?format=proto`);
    const binary: Buffer[] = [];
    raw.ws.on('message', (d, isBinary) => isBinary && binary.push(d as Buffer));
    const typed = connectFeed({ url, format: 'proto' });
    const snap = await new Promise<VerdictJson[]>((resolve) => typed.on('snapshot', resolve));
    expect(snap).toEqual([verdict('198.18.1.2', 'ptb-dropped')]);
    const got: unknown[] = [];
    typed.on('event', (e) => got.push(e));
    typed.on('verdict', (v) => got.push(v));
    feed.publishEvent(ptb);
    feed.publishVerdict(verdict('198.18.5.5', 'silent-blackhole'));
    await until(() => got.length >= 2);
    expect(got).toEqual([ptb, verdict('198.18.5.5', 'silent-blackhole')]);
    await until(() => binary.length >= 2); // the event and the verdict (the snapshot's may precede the listener)
    expect(raw.got.filter((m) => m.type === 'hello')[0]).toMatchObject({ format: 'proto' });
    await expect(client(`${url}?format=xml`)).rejects.toThrow('HTTP 400');
    typed.close();
  });

  it('parses listen addresses', () => {
    expect(parseListen('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(() => parseListen('nope')).toThrow('not an address to listen on');
    expect(() => parseListen('1.2.3.4:70000')).toThrow('not an address to listen on');
  });
});
