// The capture commands: record, report, replay, export. Thin: flags in,
// a function of src/capture does the work.

import { InvalidArgumentError, Option, type Command } from 'commander';

import { oneLine } from '../errors.js';
import { exportPcapng } from '../capture/pcapng.js';
import { runRecord, type RecordDeps, type RecordOptions } from './record.js';
import { runReplay } from './replay.js';
import { runReport } from './report.js';
import { openObserver } from '../observer/index.js';
import { stopSignal, type Io } from './io.js';

export type CaptureDeps = Partial<Pick<RecordDeps, 'open' | 'stopRequested' | 'statsEveryMs' | 'snapshot'>>;

function number(what: string, { zero = false, integer = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || (!zero && n === 0) || (integer && !Number.isInteger(n))) {
      throw new InvalidArgumentError(`${what} must be a ${zero ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}`);
    }
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}


/** Adds record, report, replay and export to the program; each settles the exit code. */
export function registerCaptureCommands(program: Command, io: Io, deps: CaptureDeps, settle: (code: number) => void): void {
  const stopper = () => (deps.stopRequested ? { promise: deps.stopRequested, cancel: () => {} } : stopSignal());

  program
    .command('record')
    .description('watch like live and write everything to a capture file (events with packet snapshots, verdicts, stats, and the namespaces\' links, sysctls and routes at start and end) (needs root)')
    .requiredOption('-o, --output <file>', 'the capture file to write (replaced if it exists)')
    .option('--duration <seconds>', 'stop after this long (default: at Ctrl-C / SIGTERM)', number('--duration'))
    .option('--netns <name>', 'watch this `ip netns` namespace instead of the current one (repeatable)', collect, [])
    .addOption(new Option('--all-netns', 'watch the current namespace and every named one').default(false).conflicts('netns'))
    .option('--iface <name>', 'only this interface (repeatable)', collect, [])
    .option('--size-min <bytes>', "track a flow's largest DF packet from this size on (default 1280)", number('--size-min', { integer: true }))
    .option('--every-flow', 'every SYN, SYN-ACK and largest-size growth as an event, healthy flows too (costly on a busy host: see README, Cost)')
    .action(async (opts: RecordOptions) => {
      const stop = stopper();
      try {
        settle(
          await runRecord(opts, io, {
            open: deps.open ?? openObserver,
            stopRequested: stop.promise,
            statsEveryMs: deps.statsEveryMs ?? 5000,
            ...(deps.snapshot ? { snapshot: deps.snapshot } : {}),
          }),
        );
      } finally {
        stop.cancel();
      }
    });

  program
    .command('report')
    .argument('<file>', 'a capture file (pmtu-watch record)')
    .description('the verdicts a capture leads to (the correlator live uses), with the snapshots taken at its start and end')
    .option('--json', 'only the verdict lines, as `live --json` printed them (see docs/json-contract.md)', false)
    .action((file: string, opts: { json: boolean }) => settle(runReport(file, opts, io)));

  program
    .command('replay')
    .argument('<file>', 'a capture file (pmtu-watch record)')
    .description('play a capture back into the output live gives, paced as it was recorded')
    .option('--speed <factor>', 'how much faster than recorded; 0: as fast as possible', number('--speed', { zero: true }), 1)
    .option('--json', 'one JSON object per line, as live --json (see docs/json-contract.md)', false)
    .option('--events', 'plain output: print every event, not only verdict changes')
    .option('--serve <host:port>', 'also serve the replay on the websocket feed (/feed) and /metrics; keeps serving the final verdicts until Ctrl-C')
    .addOption(new Option('--token <token>', 'bearer token the feed requires (required off loopback)').env('PMTU_WATCH_TOKEN'))
    .action(async (file: string, opts: { speed: number; json: boolean; events?: boolean; serve?: string; token?: string }) => {
      const stop = stopper();
      try {
        settle(await runReplay(file, opts, io, { stopRequested: stop.promise }));
      } finally {
        stop.cancel();
      }
    });

  program
    .command('export')
    .argument('<file>', 'a capture file (pmtu-watch record)')
    .description("write a capture's packet snapshots as pcapng for Wireshark/tshark, each packet commented with its event and its flow's verdict")
    .requiredOption('--pcapng <out>', 'the pcapng file to write')
    .action((file: string, opts: { pcapng: string }) => {
      try {
        const r = exportPcapng(file, opts.pcapng);
        io.err(`pmtu-watch: ${opts.pcapng}: ${r.packets} packets on ${r.interfaces} interface(s), ${r.bytes} bytes; ${file}: ${r.stop}`);
        settle(0);
      } catch (e) {
        io.err(oneLine(e));
        settle(1);
      }
    });
}
