// A small typed client of the feed (`import { connectFeed } from 'pmtu-watch/feed'`).
//
//   const feed = connectFeed({ url: 'ws://127.0.0.1:9477/feed', filter: { verdictsOnly: true } });
//   feed.on('verdict', (v) => console.log(v.verdict, v.where));
//   feed.on('lost', ({ count }) => console.warn(`missed ${count} messages`));

import { EventEmitter } from 'node:events';

import WebSocket from 'ws';

import type { CorrelatorEvent, VerdictJson } from '../correlate/types.js';
import type { Filter, ServerMessage } from './protocol.js';

export type { Filter } from './protocol.js';
export type { CorrelatorEvent, VerdictJson } from '../correlate/types.js';

export interface FeedClientOptions {
  /** ws://HOST:PORT/feed */
  url: string;
  token?: string;
  filter?: Filter;
}

export interface FeedClient {
  on(event: 'snapshot', listener: (verdicts: VerdictJson[]) => void): this;
  on(event: 'event', listener: (ev: CorrelatorEvent) => void): this;
  on(event: 'verdict', listener: (v: VerdictJson) => void): this;
  on(event: 'lost', listener: (lost: { count: number; total: number }) => void): this;
  on(event: 'open', listener: () => void): this;
  on(event: 'close', listener: (code: number, reason: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
}

export class FeedClient extends EventEmitter {
  private readonly ws: WebSocket;

  constructor(opts: FeedClientOptions) {
    super();
    const url = new URL(opts.url);
    for (const [k, v] of Object.entries(opts.filter ?? {})) url.searchParams.set(k, String(v));
    this.ws = new WebSocket(url, opts.token ? { headers: { authorization: `Bearer ${opts.token}` } } : {});
    this.ws.on('open', () => this.emit('open'));
    this.ws.on('close', (code, reason) => this.emit('close', code, reason.toString()));
    this.ws.on('error', (e) => this.emit('error', e));
    this.ws.on('message', (data) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(data.toString()) as ServerMessage;
      } catch {
        this.emit('error', new Error('the feed sent something that is not JSON'));
        return;
      }
      if (msg.type === 'snapshot') this.emit('snapshot', msg.verdicts);
      else if (msg.type === 'verdict') this.emit('verdict', msg);
      else if (msg.type === 'event') this.emit('event', msg);
      else if (msg.type === 'lost') this.emit('lost', { count: msg.count, total: msg.total });
    });
  }

  /** Narrows what the server sends from now on. */
  setFilter(filter: Filter): void {
    this.ws.send(JSON.stringify({ type: 'filter', filter }));
  }

  close(): void {
    this.ws.close(1000);
  }
}

export function connectFeed(opts: FeedClientOptions): FeedClient {
  return new FeedClient(opts);
}
