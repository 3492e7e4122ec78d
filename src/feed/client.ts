// A small typed client of the feed (`import { connectFeed } from 'pmtu-watch/feed'`).
//
//   const feed = connectFeed({ url: 'ws://127.0.0.1:9477/feed', filter: { verdictsOnly: true } });
//   feed.on('verdict', (v) => console.log(v.verdict, v.where));
//   feed.on('lost', ({ count }) => console.warn(`missed ${count} messages`));

import { EventEmitter } from 'node:events';

import WebSocket from 'ws';

import type { StreamEvent } from '../contract/event.js';
import type { VerdictJson } from '../contract/verdict.js';
import { eventFromMsg, types, verdictFromMsg, type EventMsg, type VerdictMsg } from '../contract/proto.js';
import type { Filter, Format, ServerMessage } from './protocol.js';

/** A binary frame: one pmtu.v1.Record holding an event or a verdict. */
function fromRecord(bytes: Buffer): ServerMessage {
  const rec = types().Record.decode(bytes) as unknown as { event?: EventMsg | null; verdict?: VerdictMsg | null };
  if (rec.event) return eventFromMsg(rec.event).event;
  if (rec.verdict) return verdictFromMsg(rec.verdict);
  throw new Error('a record that is neither an event nor a verdict');
}

export type { Filter, Format } from './protocol.js';
export type { StreamEvent } from '../contract/event.js';
export type { VerdictJson } from '../contract/verdict.js';

export interface FeedClientOptions {
  /** ws://HOST:PORT/feed */
  url: string;
  token?: string;
  filter?: Filter;
  /** Frames on the wire; the client hands over the same objects either way. Default json. */
  format?: Format;
  /**
   * A server that sends nothing, not even its pings (every 15 s), for this
   * long is taken for gone: the connection is cut and 'close' says 1006.
   * Default: never.
   */
  idleMs?: number;
}

export interface FeedClient {
  on(event: 'hello', listener: (hello: Extract<ServerMessage, { type: 'hello' }>) => void): this;
  on(event: 'message', listener: (msg: ServerMessage) => void): this;
  on(event: 'snapshot', listener: (verdicts: VerdictJson[]) => void): this;
  on(event: 'event', listener: (ev: StreamEvent) => void): this;
  on(event: 'verdict', listener: (v: VerdictJson) => void): this;
  on(event: 'lost', listener: (lost: { count: number; total: number }) => void): this;
  on(event: 'open', listener: () => void): this;
  on(event: 'close', listener: (code: number, reason: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

export class FeedClient extends EventEmitter {
  private readonly ws: WebSocket;
  private idle: NodeJS.Timeout | undefined;

  constructor(opts: FeedClientOptions) {
    super();
    const url = new URL(opts.url);
    for (const [k, v] of Object.entries(opts.filter ?? {})) url.searchParams.set(k, String(v));
    if (opts.format) url.searchParams.set('format', opts.format);
    this.ws = new WebSocket(url, opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : {});
    const idleMs = opts.idleMs;
    const alive = () => {
      if (idleMs === undefined) return;
      clearTimeout(this.idle);
      this.idle = setTimeout(() => this.ws.terminate(), idleMs);
      this.idle.unref();
    };
    alive();
    this.ws.on('ping', alive);
    this.ws.on('open', () => this.emit('open'));
    this.ws.on('close', (code, reason) => {
      clearTimeout(this.idle);
      this.emit('close', code, reason.toString());
    });
    this.ws.on('error', (e) => this.emit('error', e));
    // proto: a snapshot's verdicts arrive as the `count` binary frames after it.
    let pending: { left: number; verdicts: VerdictJson[] } | undefined;
    this.ws.on('message', (data, isBinary) => {
      alive();
      let msg: ServerMessage;
      try {
        msg = isBinary ? fromRecord(data as Buffer) : (JSON.parse(data.toString()) as ServerMessage);
      } catch (e) {
        this.emit('error', new Error(`the feed sent a frame that does not decode: ${(e as Error).message}`));
        return;
      }
      if (pending && msg.type === 'verdict') {
        pending.verdicts.push(msg);
        if (--pending.left === 0) {
          this.emit('snapshot', pending.verdicts);
          pending = undefined;
        }
        return;
      }
      if (msg.type === 'snapshot' && 'count' in msg) {
        if (msg.count === 0) this.emit('snapshot', []);
        else pending = { left: msg.count, verdicts: [] };
      } else if (msg.type === 'snapshot') this.emit('snapshot', msg.verdicts);
      else if (msg.type === 'verdict') this.emit('verdict', msg);
      else if (msg.type === 'event') this.emit('event', msg);
      else if (msg.type === 'lost') this.emit('lost', { count: msg.count, total: msg.total });
      else if (msg.type === 'hello') this.emit('hello', msg);
      else this.emit('message', msg); // what a newer server (or a cluster: node, incident) sends
    });
  }

  /** Narrows what the server sends from now on. */
  setFilter(filter: Filter): void {
    this.ws.send(JSON.stringify({ type: 'filter', filter }));
  }

  close(): void {
    this.ws.close(1000);
  }

  /** Cuts the connection at once, also while it is being made. */
  terminate(): void {
    clearTimeout(this.idle);
    this.ws.terminate();
  }
}

export function connectFeed(opts: FeedClientOptions): FeedClient {
  return new FeedClient(opts);
}
