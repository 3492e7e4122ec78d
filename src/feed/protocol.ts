// What travels on the websocket feed: server → client messages are JSON
// objects (the event and verdict lines of docs/json-contract.md, plus a few
// of the feed's own); client → server, an optional filter. Validation of what
// clients send lives here, at the edge.

import { flowKey, subject } from '../correlate/correlator.js';
import type { ClusterMessage } from '../contract/cluster.js';
import type { StreamEvent } from '../contract/event.js';
import type { FlowJson, VerdictJson } from '../contract/verdict.js';

export const FEED_PATH = '/feed';
export const METRICS_PATH = '/metrics';
/** The web page (GET), its scripts and stylesheet, and the configuration it draws. */
export const PAGE_PATH = '/';
export const ASSETS_PATH = '/assets/';
export const TOPOLOGY_PATH = '/topology';
/** Largest frame a client may send (a filter is small). */
export const MAX_CLIENT_FRAME = 4096;

/** Close codes (RFC 6455 section 7.4.1). */
export const CLOSE = {
  normal: 1000,
  going: 1001,
  unsupported: 1003,
  invalid: 1007,
  policy: 1008,
  tooBig: 1009,
} as const;

/**
 * Frames: `json` (default) sends every message as a JSON text frame.
 * `proto` sends events and verdicts as binary frames, each one
 * `pmtu.v1.Record` (proto/pmtu.proto) with an `event` or `verdict` body; the
 * feed's own messages (hello, snapshot, lost) stay JSON text frames, and a
 * snapshot's verdicts follow it as `count` binary frames.
 */
export type Format = 'json' | 'proto';

export interface Filter {
  /** Only verdicts (no events). */
  verdictsOnly?: boolean;
  /** Only what involves this address (flow source or destination, PTB source). */
  addr?: string;
  /** Only what happened in this namespace. */
  netns?: string;
  /** Only this flow, either direction: `PROTO/SRC/SPORT/DST/DPORT` (e.g. `tcp/198.18.1.2/40000/198.18.3.2/443`). */
  flow?: string;
  /** On a cluster's feed: only what this node said (and incidents it is part of). */
  node?: string;
}

export type ServerMessage =
  /** `cluster`: true on a cluster's feed, whose events and verdicts carry `node`. */
  | { type: 'hello'; version: 1; filter: Filter; format: Format; cluster?: boolean }
  | { type: 'snapshot'; verdicts: VerdictJson[] }
  /** proto format: the snapshot's verdicts follow as binary frames. */
  | { type: 'snapshot'; count: number }
  | StreamEvent
  | VerdictJson
  /** Messages this client missed because it read too slowly. */
  | { type: 'lost'; count: number; total: number }
  /** A cluster's feed: a node's state, an incident across nodes (src/contract/cluster.ts). */
  | ClusterMessage;

export type ClientMessage = { type: 'filter'; filter: Filter };

const ADDR = /^[0-9a-fA-F:.]{2,45}$/;
const NAME = /^[\w.:-]{1,64}$/;
/** A node's name on a cluster's feed: letters, digits, `.`, `_`, `-`, `:` (an IPv6 address), at most 64. */
export const NODE_NAME = /^[\w.:-]{1,64}$/;

/** A filter from query parameters or a client message; throws a one-line reason. */
export function parseFilter(raw: Record<string, unknown>): Filter {
  const f: Filter = {};
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'verdictsOnly') {
      if (v !== true && v !== false && v !== '1' && v !== '0' && v !== 'true' && v !== 'false') throw new Error('verdictsOnly must be true or false');
      f.verdictsOnly = v === true || v === '1' || v === 'true';
    } else if (k === 'addr') {
      if (typeof v !== 'string' || !ADDR.test(v)) throw new Error('addr must be an IP address');
      f.addr = v;
    } else if (k === 'netns') {
      if (typeof v !== 'string' || !NAME.test(v)) throw new Error('netns must be a namespace name');
      f.netns = v;
    } else if (k === 'flow') {
      if (typeof v !== 'string' || !parseFlow(v)) throw new Error('flow must be PROTO/SRC/SPORT/DST/DPORT');
      f.flow = v;
    } else if (k === 'node') {
      if (typeof v !== 'string' || !NODE_NAME.test(v)) throw new Error('node must be a node name');
      f.node = v;
    } else if (k !== 'token' && k !== 'format') {
      throw new Error(`unknown filter field "${k}"`);
    }
  }
  return f;
}

/** `PROTO/SRC/SPORT/DST/DPORT` → a flow, or undefined. */
export function parseFlow(text: string): FlowJson | undefined {
  const parts = text.split('/');
  if (parts.length !== 5) return undefined;
  const [proto, src, sport, dst, dport] = parts as [string, string, string, string, string];
  const port = (p: string) => (/^\d{1,5}$/.test(p) && Number(p) <= 65535 ? Number(p) : undefined);
  if (!/^[a-z0-9]{1,10}$/.test(proto) || !ADDR.test(src) || !ADDR.test(dst)) return undefined;
  const sp = port(sport);
  const dp = port(dport);
  if (sp === undefined || dp === undefined) return undefined;
  return { proto: /^\d+$/.test(proto) ? Number(proto) : proto, src, sport: sp, dst, dport: dp };
}

export function parseFormat(raw: string | null): Format {
  if (raw === null || raw === 'json') return 'json';
  if (raw === 'proto') return 'proto';
  throw new Error('format must be json or proto');
}

export function parseClientMessage(data: string): ClientMessage {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    throw new Error('not JSON');
  }
  if (typeof msg !== 'object' || msg === null || (msg as { type?: unknown }).type !== 'filter') throw new Error('expected {"type":"filter","filter":{...}}');
  const filter = (msg as { filter?: unknown }).filter;
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) throw new Error('filter must be an object');
  return { type: 'filter', filter: parseFilter(filter as Record<string, unknown>) };
}

function touches(addr: string, m: StreamEvent | VerdictJson): boolean {
  if (m.type === 'verdict') return m.flow.src === addr || m.flow.dst === addr || m.where.hop === addr;
  if (m.kind === 'route') return m.inner.src === addr || m.inner.dst === addr;
  if (m.kind === 'link') return false; // an interface, no address
  return m.src === addr || m.dst === addr || m.inner?.src === addr || m.inner?.dst === addr;
}

/** A filter's flow, keyed once rather than for every message sent. */
const keys = new Map<string, string>();
function wantedKey(flow: string): string {
  let key = keys.get(flow);
  if (key === undefined) {
    const f = parseFlow(flow);
    key = f ? flowKey(f) : '';
    if (keys.size >= 1024) keys.clear();
    keys.set(flow, key);
  }
  return key;
}

/** Whether a cluster message goes to a client with this filter: node states always, incidents as a verdict would. */
export function passesCluster(f: Filter, m: ClusterMessage): boolean {
  if (m.type === 'node') return !f.node || m.node === f.node;
  if (f.node && !m.nodes.includes(f.node)) return false;
  if (f.flow && flowKey(m.flow) !== wantedKey(f.flow)) return false;
  if (f.addr && m.flow.src !== f.addr && m.flow.dst !== f.addr && m.hop !== f.addr) return false;
  if (f.netns && !m.parts.some((p) => p.netns === f.netns)) return false;
  return true;
}

export function passes(f: Filter, m: StreamEvent | VerdictJson): boolean {
  if (f.node && (m as { node?: string }).node !== f.node) return false;
  if (f.flow) {
    const got = m.type === 'verdict' ? m.flow : m.kind === 'link' ? undefined : subject(m);
    if (!got || flowKey(got) !== wantedKey(f.flow)) return false;
  }
  if (f.verdictsOnly && m.type !== 'verdict') return false;
  if (f.addr && !touches(f.addr, m)) return false;
  if (f.netns) {
    const netns = m.type === 'verdict' ? m.where.netns : m.netns;
    if (netns !== f.netns) return false;
  }
  return true;
}
