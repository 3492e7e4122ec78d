// `pmtu-watch analyze FILE...`: captures other tools made (tcpdump, tshark,
// dumpcap, Wireshark) as the source of a session with live's sinks: JSON lines
// (events, verdict changes, a stats line at the end) with --json, else the
// settled text verdicts; the summary on stderr either way. No root, no addon.
// Several files are one traffic seen at several points, merged in time order.
//
// Exit status: 0 when something was read (a damaged file gives what came
// before the damage, and its line on stderr), 1 when nothing could be read
// from any file, 2 bad flags.

import { InvalidArgumentError, type Command } from 'commander';

import { oneLine } from '../errors.js';
import { Session } from '../session.js';
import { JsonLines } from '../sinks/json-lines.js';
import type { Sink } from '../sinks/sink.js';
import { Summary } from '../sinks/summary.js';
import { SETTLE_MS, SettledText } from '../sinks/text.js';
import { WINDOW_MS } from '../sources/crossing.js';
import { PcapSource } from '../sources/pcap.js';
import { sessionLines, stopSignal, type Io } from './io.js';
import { fileProgress, type ProgressStream } from './progress.js';

export interface AnalyzeOptions {
  json?: boolean;
  /** Plain output: every event too. */
  events?: boolean;
  /** Sizes and retransmissions from this IP length on (default 1280). */
  sizeMin?: number;
}

export interface AnalyzeDeps {
  /** Resolves when the user asks to stop (Ctrl-C). */
  stopRequested?: Promise<void>;
  /** Where progress goes (stderr; shown only on a terminal). */
  progress?: ProgressStream;
}

export async function runAnalyze(files: readonly string[], opts: AnalyzeOptions, io: Io, deps: AnalyzeDeps = {}): Promise<number> {
  const label = files.length === 1 ? files[0]! : `${files.length} files`;
  const progress = fileProgress(`reading ${label}`, deps.progress ? { stream: deps.progress } : {});
  const { source, failures } = PcapSource.open(files, { ...(opts.sizeMin ? { sizeMin: opts.sizeMin } : {}), onProgress: (read, size) => progress.update(read, size) });
  for (const f of failures) io.err(oneLine(f.error));
  if (failures.length === files.length) {
    source.close();
    return 1;
  }

  let session: Session | undefined;
  const out = sessionLines(io);
  const summary = new Summary({ err: io.err, sayLosses: !opts.json, behind: () => session?.behind() ?? 0 });
  // Several capture points: a verdict holds once a packet's second at the others has passed (a loss between them may refine it).
  const settle = source.followsPoints ? { settleMs: WINDOW_MS + SETTLE_MS } : {};
  const sinks: Sink[] = [summary, opts.json ? new JsonLines(out) : new SettledText(out, () => source.now(), { events: opts.events === true, ...settle })];
  session = new Session(source, sinks);

  let code = 0;
  const { final, failed } = await session.runToEnd({ stop: deps.stopRequested ?? new Promise<void>(() => {}), statsEveryMs: 5000 }, io.err);
  progress.done();
  if (failed) code = 1;
  const read = source.files();
  for (const f of read) if (f.stats.damage) io.err(oneLine(f.stats.damage));
  io.err(summary.line(session, final, { label: `analyzed ${files.join(', ')}`, tail: source.describeStop() }));
  const packets = read.reduce((n, f) => n + f.stats.packets, 0);
  if (packets === 0 && (failures.length > 0 || read.some((f) => f.stats.damage))) code = 1;
  return code;
}

function sizeMin(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('--size-min must be a positive integer');
  return n;
}

/** Adds analyze to the program; it settles the exit code. */
export function registerAnalyzeCommand(program: Command, io: Io, settle: (code: number) => void, deps: AnalyzeDeps = {}): void {
  program
    .command('analyze')
    .argument('<file...>', 'pcap or pcapng files (tcpdump, tshark, dumpcap, Wireshark); several: one traffic seen at several points, where a loss between them is placed')
    .description('the verdicts live would give, from captures other tools made: PTBs and the flows they quote, SYN MSS, sizes, retransmissions from sequence numbers, a sender shrinking after a PTB (no root, no addon)')
    .option('--json', 'one JSON object per line, as live --json (see docs/json-contract.md)', false)
    .option('--events', 'plain output: print every event, not only verdict changes')
    .option('--size-min <bytes>', 'report sizes and retransmissions from this IP length on (default 1280)', sizeMin)
    .addHelpText(
      'after',
      '\nThe capture point (an event\'s netns) is the pcapng interface\'s name, else the file\'s name. With two points or more (on either\n' +
        'side of a router, a bridge, a tunnel), a packet seen at one and never at the next within a second is lost between them: two or\n' +
        'more lost, all larger than what got through, are a silent-blackhole between the two points, bounded by those sizes.\n' +
        'Exit status: 0 something was read (a damaged file gives what came before the damage, and says where), 1 nothing could be read,\n' +
        '2 bad flags.',
    )
    .action(async (files: string[], opts: AnalyzeOptions) => {
      const stop = deps.stopRequested ? { promise: deps.stopRequested, cancel: () => {} } : stopSignal();
      try {
        settle(await runAnalyze(files, opts, io, { ...deps, stopRequested: stop.promise }));
      } finally {
        stop.cancel();
      }
    });
}
