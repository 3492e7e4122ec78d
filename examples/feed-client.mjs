#!/usr/bin/env node
// Prints pmtu-watch verdicts as they change, from a running `pmtu-watch serve`
// (or `live --serve`). Run it from a checkout after `npm install`, or use
// `import { connectFeed } from 'pmtu-watch/feed'` in a project that depends on it.
//
//   node examples/feed-client.mjs [ws://127.0.0.1:9477/feed] [--proto]
//   PMTU_WATCH_TOKEN=secret node examples/feed-client.mjs ws://host:9477/feed

import { connectFeed } from '../dist/feed/client.js';

const url = process.argv.slice(2).find((a) => a.startsWith('ws')) ?? 'ws://127.0.0.1:9477/feed';
const feed = connectFeed({
  url,
  filter: { verdictsOnly: true },
  ...(process.argv.includes('--proto') ? { format: 'proto' } : {}),
  ...(process.env.PMTU_WATCH_TOKEN ? { token: process.env.PMTU_WATCH_TOKEN } : {}),
});

const show = (v) => {
  const where = [v.where.netns, v.where.iface].filter(Boolean).join('/');
  console.log(`${v.verdict}${v.cause ? ` (${v.cause})` : ''} ${v.flow.proto} ${v.flow.src}:${v.flow.sport} -> ${v.flow.dst}:${v.flow.dport}` +
    `${where ? ` at ${where}` : ''}${v.where.hop ? ` hop ${v.where.hop}` : ''}${v.mtu ? ` mtu ${v.mtu}` : ''}`);
  if (v.fix) console.log(`  fix: ${v.fix}`);
};

feed.on('snapshot', (verdicts) => {
  console.log(`connected to ${url}: ${verdicts.length} flows so far`);
  for (const v of verdicts) if (v.verdict !== 'ok') show(v);
});
feed.on('verdict', (v) => v.verdict !== 'ok' && show(v));
feed.on('lost', ({ count }) => console.warn(`(missed ${count} messages: reading too slowly)`));
feed.on('error', (e) => console.error(`feed: ${e.message}`));
feed.on('close', (code, reason) => {
  console.error(`feed closed (${code}${reason ? `: ${reason}` : ''})`);
  process.exitCode = code === 1000 || code === 1001 ? 0 : 1;
});
process.on('SIGINT', () => feed.close());
