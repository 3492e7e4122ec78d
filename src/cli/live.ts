// `pmtu-watch live`: watch, correlate, and show verdicts as they change.

import { flowKey, severity, TROUBLE } from '../correlate/correlator.js';
import { eventText, verdictText } from '../contract/text.js';
import type { VerdictJson } from '../contract/verdict.js';
import { oneLine } from '../errors.js';
import { Feed, parseListen } from '../feed/server.js';
import { Session } from '../session.js';
import { screen } from './view.js';
import { openObserver, type Observer, type ObserverOptions } from '../observer/index.js';
import type { Io } from './io.js';

/** How long a verdict must hold before plain output prints it. */
const SETTLE_MS = 250;

export interface LiveOptions {
  json: boolean;
  netns: string[];
  allNetns: boolean;
  iface: string[];
  duration?: number;
  sizeMin?: number;
  /** Plain output: print every event too, not only verdict changes. */
  events?: boolean;
  /** Also serve the websocket feed and /metrics on this address (host:port). */
  serve?: string;
  /** Bearer token the feed requires (needed off loopback). */
  token?: string;
  /** Print nothing but the start and end lines (`pmtu-watch serve`). */
  quiet?: boolean;
}

/** A terminal that the live view redraws in place. */
export interface Screen {
  rows(): number;
  cols(): number;
  draw(text: string): void;
  /** Leaves the screen as a normal terminal again. */
  done(): void;
}

export interface LiveDeps {
  open: (opts: ObserverOptions) => Observer;
  /** Present on a terminal: verdicts are shown as a screen updated in place. */
  screen?: Screen;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  stopRequested: Promise<void>;
  statsEveryMs: number;
}

/** What the watching commands' flags select, as observer options (the command handles signals itself). */
export function selection(opts: Pick<LiveOptions, 'netns' | 'allNetns' | 'iface' | 'sizeMin'>): ObserverOptions {
  return {
    netns: opts.netns,
    allNetns: opts.allNetns,
    ifaces: opts.iface,
    ...(opts.sizeMin ? { sizeReportMin: opts.sizeMin } : {}),
    noSignalHandlers: true,
  };
}

export async function runLive(opts: LiveOptions, io: Io, deps: LiveDeps): Promise<number> {
  let observer: Observer;
  try {
    observer = deps.open(selection(opts));
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }

  // Plain output prints a flow's verdict once it has held for SETTLE_MS:
  // evidence arrives in bursts, and a person wants the conclusion, not each step.
  // Healthy flows stay quiet (a busy host opens many); one that recovers says so.
  const settling = new Map<string, { v: VerdictJson; at: number }>();
  const printed = new Map<string, VerdictJson['verdict']>();
  const printSettled = (all: boolean) => {
    const now = Date.now();
    for (const [key, { v, at }] of settling) {
      if (!all && now - at < SETTLE_MS) continue;
      settling.delete(key);
      const before = printed.get(key);
      if (v.verdict === 'ok' && (before === undefined || before === 'ok')) continue;
      if (printed.size > 65536) printed.clear(); // bounded; at worst a recovery goes unsaid
      printed.set(key, v.verdict);
      io.out(verdictText(v));
    }
  };

  let feed: Feed | undefined;
  let session: Session | undefined;
  if (opts.serve) {
    try {
      feed = await Feed.start({
        ...parseListen(opts.serve),
        ...(opts.token ? { token: opts.token } : {}),
        snapshot: () => session?.correlator.verdicts() ?? [],
        stats: () => session?.stats(),
      });
    } catch (e) {
      observer.close();
      io.err(oneLine(e));
      return 1;
    }
    const a = feed.address();
    io.err(`pmtu-watch: feed on ws://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}/feed, metrics on /metrics`);
  }
  const show = !opts.quiet;

  // Printed as it comes: JSON lines, or (--events) readable ones; verdict
  // changes as JSON, or after they settle, or on the screen; and to the feed.
  session = new Session(observer, {
    event: (ev) => {
      feed?.publishEvent(ev);
      if (!show) return;
      if (opts.json) io.out(JSON.stringify(ev));
      else if (opts.events && !deps.screen && ev.kind !== 'route') io.out(eventText(ev));
    },
    verdict: (v) => {
      feed?.publishVerdict(v);
      if (!show) return;
      if (opts.json) io.out(JSON.stringify(v));
      else if (!deps.screen) settling.set(flowKey(v.flow), { v, at: Date.now() });
    },
  });
  const { correlator, started } = session;
  const stats = () => session!.stats();
  for (const w of observer.warnings) io.err(`pmtu-watch: warning: ${w}`);
  if (!opts.json && !deps.screen) {
    io.err(`pmtu-watch: watching ${observer.targets.length} interface(s)${opts.duration ? ` for ${opts.duration} s` : ''}; Ctrl-C stops`);
  }
  observer.on('error', (err) => io.err(oneLine(err)));
  observer.on('warning', (message) => io.err(`pmtu-watch: warning: ${message}`));

  const timers: NodeJS.Timeout[] = [];
  if (!opts.json && !deps.screen) timers.push(setInterval(() => printSettled(false), SETTLE_MS / 2));
  if (show && !opts.json && !deps.screen) {
    // Plain output has no status line: losses are said as they happen (at most once per stats period).
    let told = 0;
    timers.push(
      setInterval(() => {
        const l = observer.losses();
        const lost = l.ringbufFull + l.queueFull;
        if (lost === told) return;
        io.err(`pmtu-watch: warning: ${lost - told} events lost (${lost} in all: ${l.ringbufFull} ring buffer full, ${l.queueFull} consumer behind); verdicts may lack evidence`);
        told = lost;
      }, deps.statsEveryMs),
    );
  }
  const stop = new Promise<void>((resolve) => {
    if (opts.duration) timers.push(setTimeout(resolve, opts.duration * 1000));
    void deps.stopRequested.then(resolve);
  });
  if (opts.json) {
    io.out(JSON.stringify(stats())); // also tells a reader the hooks are in place
    timers.push(setInterval(() => io.out(JSON.stringify(stats())), deps.statsEveryMs));
  }
  if (deps.screen) {
    const view = deps.screen;
    let lastTotal = 0;
    let lastAt = started;
    let rate = 0;
    const draw = () => {
      const now = Date.now();
      if (now - lastAt >= 1000) {
        rate = Math.round(((session.events - lastTotal) * 1000) / (now - lastAt));
        lastTotal = session.events;
        lastAt = now;
      }
      const l = observer.losses();
      const text = screen(
        correlator.verdicts(),
        { nowMs: now, startedMs: started, events: session.events, eventsPerSecond: rate, lost: l.ringbufFull + l.queueFull, interfaces: observer.attachments().length, flows: correlator.stats().flows },
        view.rows(),
        view.cols(),
      );
      view.draw(text);
    };
    draw();
    timers.push(setInterval(draw, 500));
  }
  await stop;
  for (const t of timers) clearTimeout(t);
  printSettled(true);

  const final = stats(); // before close: it reads the kernel's counters
  session.close();
  await feed?.close();
  if (opts.json) io.out(JSON.stringify(final));
  else {
    deps.screen?.done();
    const lost = final.losses.ringbufFull + final.losses.queueFull;
    const troubled = correlator.verdicts().filter((v) => severity(v.verdict) >= TROUBLE);
    if (deps.screen) for (const v of troubled) io.out(verdictText(v));
    io.err(`pmtu-watch: ${session.events} events, ${final.flows.flows} flows, ${troubled.length} in trouble, ${lost} lost, ${final.flows.unmatched} unmatched ICMP errors`);
  }
  return 0;
}
