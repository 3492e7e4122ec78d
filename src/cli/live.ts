// `pmtu-watch live` and `serve`: the kernel as the source of a session whose
// sinks are JSON lines, settled text or the screen, the feed, and the summary.

import { topologyReader } from '../audit/topology.js';
import { oneLine } from '../errors.js';
import { loadAddon, type NativeAddon } from '../observer/addon.js';
import type { Observer, ObserverOptions } from '../observer/index.js';
import { Session } from '../session.js';
import { feedIfAsked, feedSink } from '../sinks/feed.js';
import { JsonLines } from '../sinks/json-lines.js';
import { ScreenSink, type Screen } from '../sinks/screen.js';
import type { Sink } from '../sinks/sink.js';
import { Summary } from '../sinks/summary.js';
import { SettledText } from '../sinks/text.js';
import { KernelSource } from '../sources/kernel.js';
import { sessionLines, stopAfter, type Io } from './io.js';

/** What to watch and for how long: the flags live, serve and record share. */
export interface WatchFlags {
  netns: string[];
  allNetns: boolean;
  iface: string[];
  duration?: number;
  sizeMin?: number;
  /** Every SYN, SYN-ACK and largest-size growth as an event (the kernel's flow table then wakes userspace per flow). */
  everyFlow?: boolean;
}

export interface LiveOptions extends WatchFlags {
  json: boolean;
  /** Plain output: print every event too, not only verdict changes. */
  events?: boolean;
  /** Also serve the websocket feed and /metrics on this address (host:port). */
  serve?: string;
  /** Bearer token the feed requires (needed off loopback). */
  token?: string;
  /** Print nothing but the start and end lines (`pmtu-watch serve`). */
  quiet?: boolean;
}

export interface LiveDeps {
  open: (opts: ObserverOptions) => Observer;
  /** Present on a terminal: verdicts are shown as a screen updated in place. */
  screen?: Screen;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  stopRequested: Promise<void>;
  statsEveryMs: number;
  /** What reads the watched namespaces' configuration for the page's map (default: the addon). */
  configAddon?: () => Pick<NativeAddon, 'readNetConfig' | 'readSysctls'>;
}

/** What the watching commands' flags select, as observer options (the command handles signals itself). */
function selection(opts: WatchFlags): ObserverOptions {
  return {
    netns: opts.netns,
    allNetns: opts.allNetns,
    ifaces: opts.iface,
    ...(opts.sizeMin ? { sizeReportMin: opts.sizeMin } : {}),
    ...(opts.everyFlow ? { everyFlow: true } : {}),
    noSignalHandlers: true,
  };
}

/** The observer the watching flags select, or undefined when it cannot run (said in one line). */
export function openSelected(open: (opts: ObserverOptions) => Observer, opts: WatchFlags, io: Io): Observer | undefined {
  try {
    return open(selection(opts));
  } catch (e) {
    io.err(oneLine(e));
    return undefined;
  }
}

export async function runLive(opts: LiveOptions, io: Io, deps: LiveDeps): Promise<number> {
  const observer = openSelected(deps.open, opts, io);
  if (!observer) return 1;
  const source = new KernelSource(observer);

  let session: Session | undefined;
  // The page's map: audit's reading of the namespaces watched, on request (at most every 5 s).
  const topology = topologyReader(deps.configAddon ?? loadAddon, { netns: opts.netns, allNetns: opts.allNetns });
  const feed = await feedIfAsked(opts, () => session, io.err, () => [topology()]);
  if (feed === null) {
    observer.close();
    return 1;
  }

  const show = !opts.quiet;
  const plain = !opts.json && !deps.screen;
  const out = sessionLines(io);
  const summary = new Summary({ err: io.err, sayLosses: show && plain, behind: () => session?.behind() ?? 0, everyMs: deps.statsEveryMs });
  const sinks: Sink[] = [summary];
  if (feed) sinks.push(feedSink(feed));
  if (show && opts.json) sinks.push(new JsonLines(out));
  else if (show && deps.screen) sinks.push(new ScreenSink(deps.screen, () => session, out));
  else if (show) sinks.push(new SettledText(out, () => source.now(), { events: opts.events === true }));
  session = new Session(source, sinks); // says the observer's warnings
  if (plain) {
    io.err(`pmtu-watch: watching ${observer.targets.length} interface(s)${opts.duration ? ` for ${opts.duration} s` : ''}; Ctrl-C stops`);
  }

  const stop = stopAfter(opts.duration, deps.stopRequested);
  const final = await session.run({ stop: stop.promise, statsEveryMs: deps.statsEveryMs });
  stop.cancel();
  session.close();
  await feed?.close();
  if (!opts.json) io.err(summary.line(session, final));
  else if (session.behind()) io.err(`pmtu-watch: warning: ${session.behind()} output lines dropped in all: standard output's reader fell behind`);
  return 0;
}
