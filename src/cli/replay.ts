// `pmtu-watch replay FILE`: a capture as the source of a session with the
// sinks live has: JSON lines (events, verdict changes and the recorded stats
// lines) with --json, or settled text (each verdict once it has held for 250
// ms of capture time, as live waits 250 ms), the feed and /metrics with
// --serve, and the summary. Paced by the events' own timestamps divided by
// --speed; 0 = as fast as the output takes them.

import { oneLine } from '../errors.js';
import { Session } from '../session.js';
import { feedIfAsked, feedSink } from '../sinks/feed.js';
import { JsonLines } from '../sinks/json-lines.js';
import type { Sink } from '../sinks/sink.js';
import { Summary } from '../sinks/summary.js';
import { SettledText } from '../sinks/text.js';
import { CaptureSource } from '../sources/capture.js';
import { sessionLines, type Io } from './io.js';

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
  statsEveryMs?: number;
}

export async function runReplay(file: string, opts: ReplayOptions, io: Io, deps: ReplayDeps = {}): Promise<number> {
  let stopped = false;
  const stopRequested = deps.stopRequested ?? new Promise<void>(() => {});
  void stopRequested.then(() => (stopped = true));

  let source: CaptureSource;
  try {
    source = CaptureSource.open(file, { speed: opts.speed, ...(deps.now ? { now: deps.now } : {}), ...(deps.sleep ? { sleep: deps.sleep } : {}) });
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }
  let session: Session | undefined;
  const feed = await feedIfAsked(opts, () => session, io.err);
  if (feed === null) {
    source.close();
    return 1;
  }

  const out = sessionLines(io);
  const summary = new Summary({ err: io.err, sayLosses: !opts.json, behind: () => session?.behind() ?? 0, everyMs: deps.statsEveryMs ?? 5000 });
  const sinks: Sink[] = [summary];
  if (feed) sinks.push(feedSink(feed));
  sinks.push(opts.json ? new JsonLines(out) : new SettledText(out, () => source.now(), { events: opts.events === true }));
  session = new Session(source, sinks);

  let code = 0;
  const { final, failed } = await session.runToEnd({ stop: stopRequested, statsEveryMs: deps.statsEveryMs ?? 5000 }, io.err);
  if (failed) code = 1;
  io.err(summary.line(session, final, { label: `replayed ${file}`, tail: source.describeStop() }));
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
