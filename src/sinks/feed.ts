// The websocket feed and /metrics as a session's sink: one setup for live,
// serve and replay, so what /metrics shows (losses, flows, unmatched errors)
// does not depend on where the events came from.

import type { TopologyJson } from '../contract/cluster.js';
import { oneLine } from '../errors.js';
import { Feed, parseListen } from '../feed/server.js';
import type { Session } from '../session.js';
import type { Sink } from './sink.js';

export interface FeedSetup {
  /** host:port (--serve, --listen). */
  listen: string;
  /** Bearer token the feed requires (needed off loopback). */
  token?: string;
  /** The configuration of what is watched, for the web page's path and MTU map (GET /topology). */
  topology?: () => TopologyJson[];
}

/** Listens; a new client's snapshot and /metrics read the session, once there is one. Throws a PmtuError when it cannot. */
export async function startFeed(setup: FeedSetup, session: () => Session | undefined): Promise<Feed> {
  return Feed.start({
    ...parseListen(setup.listen),
    ...(setup.token ? { token: setup.token } : {}),
    ...(setup.topology ? { topology: setup.topology } : {}),
    snapshot: () => session()?.correlator.verdicts() ?? [],
    verdictCounts: () => session()?.correlator.verdictCounts() ?? [],
    stats: () => session()?.stats(),
  });
}

/**
 * The feed `--serve` asks for, started and said on stderr; undefined without
 * the flag; null when it could not start (said too: the command exits 1).
 */
export async function feedIfAsked(
  opts: { serve?: string; token?: string },
  session: () => Session | undefined,
  err: (line: string) => void,
  topology?: () => TopologyJson[],
): Promise<Feed | undefined | null> {
  if (!opts.serve) return undefined;
  try {
    const feed = await startFeed({ listen: opts.serve, ...(opts.token ? { token: opts.token } : {}), ...(topology ? { topology } : {}) }, session);
    err(feedLine(feed));
    return feed;
  } catch (e) {
    err(oneLine(e));
    return null;
  }
}

/** The line that says where the feed is. */
export function feedLine(feed: Feed): string {
  const a = feed.address();
  const host = a.host.includes(':') ? `[${a.host}]` : a.host;
  return `pmtu-watch: feed on ws://${host}:${a.port}/feed, metrics on /metrics, the page on http://${host}:${a.port}/`;
}

/** Events and verdict changes to the feed's clients (each slow client loses its own, counted and told). */
export function feedSink(feed: Feed): Sink {
  return {
    event: (ev) => feed.publishEvent(ev),
    verdict: (v) => feed.publishVerdict(v),
  };
}
