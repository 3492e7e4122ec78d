// `pmtu-watch live`: watch, and print each event as it happens.

import { oneLine } from '../errors.js';
import type { EventJson } from '../observer/json.js';
import { openObserver, type Observer, type ObserverOptions } from '../observer/index.js';
import type { Io } from './io.js';

export interface LiveOptions {
  json: boolean;
  netns: string[];
  allNetns: boolean;
  iface: string[];
  duration?: number;
  sizeMin?: number;
}

export interface LiveDeps {
  open: (opts: ObserverOptions) => Observer;
  /** Resolves when the user asks to stop (SIGINT/SIGTERM). */
  stopRequested: Promise<void>;
  statsEveryMs: number;
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

function endpoint(addr: string, port: number): string {
  if (!port) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/** One readable line per event, for a person at a terminal. */
export function eventText(e: EventJson): string {
  const where = `${e.netns || '?'}/${e.iface || '?'}${e.dir ? ` ${e.dir}` : ''}`;
  const flow = e.inner
    ? ` for ${e.inner.proto} ${endpoint(e.inner.src, e.inner.sport)} -> ${endpoint(e.inner.dst, e.inner.dport)}`
    : '';
  const pkt = e.src && e.dst ? ` ${e.src} -> ${e.dst}` : '';
  let what: string;
  switch (e.kind) {
    case 'ptb':
      what = `PTB from ${e.src} to ${e.dst} mtu ${e.mtu}${flow}`;
      break;
    case 'ptb-sent':
      what = `PTB generated${e.dst ? ` to ${e.dst}` : ''} mtu ${e.mtu}${e.mtuIface ? ` (route via ${e.mtuIface})` : ''}${flow}`;
      break;
    case 'drop':
      what =
        `DROP ${e.reason}${pkt} len ${e.len}` +
        (e.flags.includes('oversize') ? ` > mtu ${e.mtu}${e.mtuIface ? ` of ${e.mtuNetns ? `${e.mtuNetns}/` : ''}${e.mtuIface}` : ''}` : '') +
        (e.flags.includes('icmp-error') ? ` (ICMP error${e.mtu ? `, advertised mtu ${e.mtu}` : ''})${flow}` : '');
      break;
    case 'syn':
      what = `${e.flags.includes('synack') ? 'SYN-ACK' : 'SYN'}${pkt} mss ${e.mss || 'none'}`;
      break;
    case 'retransmit':
      what = `RETRANSMIT${pkt} segment ${e.len} mss ${e.mss}`;
      break;
    case 'size':
      what = `LARGEST DF${pkt} ${e.proto} now ${e.len} (iface mtu ${e.mtu})`;
      break;
  }
  return `${clock(e.ts)} ${where} ${what}`;
}

export async function runLive(opts: LiveOptions, io: Io, deps: LiveDeps): Promise<number> {
  let observer: Observer;
  try {
    observer = deps.open({
      netns: opts.netns,
      allNetns: opts.allNetns,
      ifaces: opts.iface,
      ...(opts.sizeMin ? { sizeReportMin: opts.sizeMin } : {}),
      noSignalHandlers: true,
    });
  } catch (e) {
    io.err(oneLine(e));
    return 1;
  }

  const started = Date.now();
  const counts: Record<string, number> = {};
  const stats = () => ({
    type: 'stats' as const,
    elapsedS: Math.round((Date.now() - started) / 100) / 10,
    interfaces: observer.attachments().length,
    events: { ...counts },
    losses: observer.losses(),
  });
  for (const w of observer.warnings) io.err(`pmtu-watch: warning: ${w}`);
  if (!opts.json) {
    io.err(`pmtu-watch: watching ${observer.targets.length} interface(s)${opts.duration ? ` for ${opts.duration} s` : ''}; Ctrl-C stops`);
  }

  observer.on('events', (events) => {
    for (const ev of events) {
      counts[ev.kind] = (counts[ev.kind] ?? 0) + 1;
      const line = observer.json(ev);
      io.out(opts.json ? JSON.stringify(line) : eventText(line));
    }
  });
  observer.on('error', (err) => io.err(oneLine(err)));
  observer.on('warning', (message) => io.err(`pmtu-watch: warning: ${message}`));

  const timers: NodeJS.Timeout[] = [];
  const stop = new Promise<void>((resolve) => {
    if (opts.duration) timers.push(setTimeout(resolve, opts.duration * 1000));
    void deps.stopRequested.then(resolve);
  });
  if (opts.json) {
    io.out(JSON.stringify(stats())); // also tells a reader the hooks are in place
    timers.push(setInterval(() => io.out(JSON.stringify(stats())), deps.statsEveryMs));
  }
  await stop;
  for (const t of timers) clearTimeout(t);

  const final = stats(); // before close: it reads the kernel's counters
  observer.close();
  if (opts.json) io.out(JSON.stringify(final));
  else {
    const lost = final.losses.ringbufFull + final.losses.queueFull;
    io.err(`pmtu-watch: ${Object.values(counts).reduce((a, b) => a + b, 0)} events, ${lost} lost`);
  }
  return 0;
}
