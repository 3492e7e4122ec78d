// `pmtu-watch replay FILE`: plays a capture back through a fresh correlator
// into the output live gives: JSON lines (events, verdict changes and the
// recorded stats lines) with --json, or readable verdict lines, each printed
// once it has held for SETTLE_MS of capture time (as live waits 250 ms).
// Paced by the events' own timestamps divided by --speed; 0 = at once.

import { setTimeout as delay } from 'node:timers/promises';

import { Feed, parseListen } from '../feed/server.js';
import { Correlator, flowKey } from '../correlate/correlator.js';
import { eventText, verdictText } from '../contract/text.js';
import type { VerdictJson } from '../contract/verdict.js';
import { oneLine } from '../errors.js';
import type { Io } from '../cli/io.js';
import { CaptureReader } from './reader.js';

export interface ReplayOptions {
  json?: boolean;
  /** Plain output: every event too. */
  events?: boolean;
  /** 1 = as recorded, 2 = twice as fast, 0 = as fast as possible. */
  speed: number;
  /** Also serve the replay on a websocket feed (and /metrics) at this host:port. */
  serve?: string;
  /** Bearer token the feed requires (needed off loopback). */
  token?: string;
}

export interface ReplayDeps {
  /** Resolves when the user asks to stop. */
  stopRequested?: Promise<void>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** As live: a verdict is printed once it has held this long (here in capture time). */
const SETTLE_MS = 250;
/** Never wait longer than this between two events, whatever the capture's gap. */
const MAX_WAIT_MS = 60_000;

export async function runReplay(file: string, opts: ReplayOptions, io: Io, deps: ReplayDeps = {}): Promise<number> {
  const now = deps.now ?? Date.now;
  let stopped = false;
  const abort = new AbortController();
  void deps.stopRequested?.then(() => {
    stopped = true;
    abort.abort();
  });
  const sleep = deps.sleep ?? ((ms: number) => delay(ms, undefined, { signal: abort.signal }).catch(() => {}));

  let reader: CaptureReader;
  try {
    reader = CaptureReader.open(file);
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
  const correlator = new Correlator();
  let feed: Feed | undefined;
  if (opts.serve) {
    try {
      feed = await Feed.start({ ...parseListen(opts.serve), ...(opts.token ? { token: opts.token } : {}), snapshot: () => correlator.verdicts() });
    } catch (e) {
      reader.close();
      io.err(oneLine(e));
      return 1;
    }
    const a = feed.address();
    io.err(`pmtu-watch: feed on ws://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/feed, metrics on /metrics`);
  }
  const settling = new Map<string, { v: VerdictJson; at: number }>();
  const printSettled = (clock: number) => {
    for (const [key, { v, at }] of settling) {
      if (clock - at < SETTLE_MS) continue;
      settling.delete(key);
      io.out(verdictText(v));
    }
  };

  let events = 0;
  let base: { ts: number; wall: number } | undefined;
  let code = 0;
  try {
    for (const rec of reader.records()) {
      if (stopped) break;
      if (rec.type === 'stats') {
        if (opts.json) io.out(JSON.stringify(rec.stats));
        continue;
      }
      if (rec.type !== 'event') continue;
      const ev = rec.event;
      if (opts.speed > 0) {
        base ??= { ts: ev.ts, wall: now() };
        const wait = Math.min(base.wall + (ev.ts - base.ts) / opts.speed - now(), MAX_WAIT_MS);
        if (wait > 0) await sleep(wait);
        if (stopped) break;
      }
      events++;
      feed?.publishEvent(ev);
      if (!opts.json) printSettled(ev.ts);
      if (opts.json) io.out(JSON.stringify(ev));
      else if (opts.events && ev.kind !== 'route') io.out(eventText(ev));
      for (const v of correlator.push(ev)) {
        feed?.publishVerdict(v);
        if (opts.json) io.out(JSON.stringify(v));
        else settling.set(flowKey(v.flow), { v, at: ev.ts });
      }
    }
  } catch (e) {
    io.err(oneLine(e));
    code = 1;
  } finally {
    reader.close();
  }
  if (!opts.json) printSettled(Infinity);
  const flows = correlator.stats().flows;
  io.err(`pmtu-watch: replayed ${events} events of ${file}, ${flows} flows; ${reader.describeStop()}`);
  if (feed) {
    // Clients that connect now still get the final verdicts as their snapshot.
    if (!stopped && code === 0 && deps.stopRequested) {
      io.err('pmtu-watch: the feed keeps serving the final verdicts; Ctrl-C stops');
      await deps.stopRequested;
    }
    await feed.close();
  }
  return code;
}
