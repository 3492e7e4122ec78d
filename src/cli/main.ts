// The pmtu-watch command line. Commands are thin: they parse flags and call
// a function that does the work (and can be tested without a process).

import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { oneLine } from '../errors.js';
import { openObserver } from '../observer/index.js';
import { registerAnalyzeCommand } from './analyze.js';
import { FAIL_ON, runAudit, type AuditDeps, type AuditOptions } from './audit.js';
import { registerCaptureCommands } from './capture.js';
import { registerClusterCommand, type ClusterCliDeps } from './cluster.js';
import { processIo, stopSignal, type Io } from './io.js';
import { labDemo, labDown, labList, labUp } from './lab.js';
import { registerProbeCommand, type ProbeDeps } from './probe.js';
import type { Screen } from '../sinks/screen.js';
import { runLive, type LiveDeps, type LiveOptions } from './live.js';

function positiveNumber(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
    return n;
  };
}

function positiveInteger(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}


/** The in-place view on an interactive terminal (not with --json or --events). */
function terminalScreen(opts: LiveOptions): Screen | undefined {
  const out = process.stdout;
  if (!out.isTTY || opts.json || opts.events || opts.quiet) return undefined;
  return {
    rows: () => out.rows ?? 24,
    cols: () => out.columns ?? 120,
    draw: (text) => out.write(`\x1b[H\x1b[2J${text}\n`),
    done: () => out.write('\x1b[H\x1b[2J'),
  };
}

export interface ProgramDeps {
  live?: Partial<LiveDeps>;
  audit?: AuditDeps;
  probe?: ProbeDeps;
  cluster?: ClusterCliDeps;
}

export function createProgram(io: Io = processIo, deps: ProgramDeps = {}): { program: Command; result: Promise<number> } {
  let settle: (code: number) => void = () => {};
  const result = new Promise<number>((resolve) => (settle = resolve));
  const program = new Command('pmtu-watch')
    .description('Shows where Path MTU Discovery black-holes: PTBs, oversize drops, SYN MSS and the drops that eat PTBs, from eBPF')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Usage errors in the same one-line form as every other error (commander's "Did you mean" included).
      outputError: (s, write) => write(`pmtu-watch: ${s.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)`),
    });

  /** What to watch: the options live and serve share. */
  const watchOptions = (cmd: Command): Command =>
    cmd
      .option('--netns <name>', 'watch this namespace instead of the current one: an `ip netns` name, docker:NAME (or a container\'s name or id), pod:NS/NAME, lxc:ID, pid:N, or a namespace file (repeatable)', collect, [])
      .addOption(new Option('--all-netns', 'watch every namespace: the current one, named ones, containers\' and those held only by a process, as they come and go').default(false).conflicts('netns'))
      .option('--iface <name>', 'only this interface (repeatable)', collect, [])
      .option('--duration <seconds>', 'stop after this long', positiveNumber('--duration'))
      .option('--size-min <bytes>', "track a flow's largest DF packet from this size on (default 1280)", positiveInteger('--size-min'))
      .option('--every-flow', 'every SYN, SYN-ACK and largest-size growth as an event, healthy flows too (costly on a busy host: see README, Cost)')
      .addOption(new Option('--token <token>', 'bearer token the feed requires (required off loopback)').env('PMTU_WATCH_TOKEN'));

  const watch = async (opts: LiveOptions) => {
    const stop = deps.live?.stopRequested ? { promise: deps.live.stopRequested, cancel: () => {} } : stopSignal();
    const tty = deps.live && 'screen' in deps.live ? deps.live.screen : terminalScreen(opts);
    const liveDeps: LiveDeps = {
      open: deps.live?.open ?? openObserver,
      stopRequested: stop.promise,
      statsEveryMs: deps.live?.statsEveryMs ?? 5000,
      ...(tty ? { screen: tty } : {}),
    };
    try {
      settle(await runLive(opts, io, liveDeps));
    } finally {
      stop.cancel();
    }
  };

  watchOptions(
    program
      .command('live')
      .description('watch interfaces and show per-flow verdicts as they change: what broke, where, the MTU, the fix (needs root)')
      .option('--json', 'one JSON object per line (see docs/json-contract.md)', false),
  )
    .option('--events', 'plain output: print every event, not only verdict changes')
    .option('--serve <host:port>', 'also serve the websocket feed (/feed) and Prometheus metrics (/metrics) here')
    .addHelpText(
      'after',
      '\nHealthy flows make no events: the kernel keeps their state in its flow table and counts them (status line, the\n' +
        '"traffic" of the stats lines, /metrics); events are what can be trouble, each with its flow\'s kernel state.\n' +
        'At start it removes the tc filters a killed pmtu-watch left (only those) and says so. PTBs about flows it never saw, or\n' +
        'quoting a packet their destination did not send, are counted as unmatched, not judged. Lost events are counted and shown\n' +
        '(status line, warnings, stats, /metrics). Changes to the watched interfaces (MTU, bridge left or joined, down, up,\n' +
        'added, removed) are LINK lines / kind "link", from the kernel\'s rtnetlink notifications in each watched namespace.',
    )
    .action(watch);

  watchOptions(
    program
      .command('serve')
      .description('watch, and serve verdicts and events on a websocket feed (/feed) and Prometheus metrics (/metrics) (needs root)')
      .option('--listen <host:port>', 'where to listen (a non-loopback address needs --token)', '127.0.0.1:9477'),
  ).action((opts: LiveOptions & { listen: string }) => watch({ ...opts, json: false, serve: opts.listen, quiet: true }));

  program
    .command('audit')
    .description(
      'read the network configuration (rtnetlink) and report what drops large packets before any traffic does: unequal veth pairs, ' +
        'bridge ports below their bridge, bridges above the way out, guest ports left without their bridge, tunnels without room for ' +
        'their overhead (or far below their underlay), strict rp_filter on multi-homed hosts and on decapsulating tunnels, ' +
        'route mtu/advmss above the device, SYN MSS above the smallest MTU on the way out; each with the fix. ' +
        'With --against, what differs from a configuration kept with --save (needs root)',
    )
    .option('--netns <name>', 'audit this namespace instead of the current one: an `ip netns` name, docker:NAME, pod:NS/NAME, lxc:ID, pid:N or a namespace file (repeatable)', collect, [])
    .addOption(new Option('--all-netns', 'the current namespace, every named one and those held only by processes (containers)').default(false).conflicts('netns'))
    .option('--json', 'one JSON object: scope, findings, routes (the MSS per route), problems', false)
    .option('--routes', 'also print, per route, the SYN MSS against the smallest MTU on the way out', false)
    .option('--save <file>', 'keep this configuration (MTUs, masters, rp_filter, route mtu/advmss) in FILE, to compare with later')
    .option('--against <file>', 'also report what differs from a configuration kept with --save (an earlier day, a host that works), with the old value as the fix')
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 when a finding is at least this severe (none: never)').choices([...FAIL_ON]).default('error'),
    )
    .addHelpText('after', '\nExit status: 0 no finding at --fail-on or above, 1 at least one, 2 bad flags or nothing could be read.')
    .action((opts: AuditOptions) => settle(runAudit(opts, io, deps.audit)));

  const lab = program.command('lab').description('rebuild known PMTUD failures (rp_filter, firewall, bridge port, overlay, a bridge restart, ...) in network namespaces here (needs root)');
  lab
    .command('list')
    .description('the twelve scenarios (number, name, title, what each builds), and which are up')
    .action(async () => settle(await labList(io)));
  lab
    .command('up')
    .argument('<name>', 'scenario name or number')
    .description('build a scenario and leave it up after this command exits (prints its namespaces, addresses and what to try)')
    .action(async (name: string) => settle(await labUp(name, io)));
  lab
    .command('down')
    .argument('<name>', 'scenario name or number')
    .description('remove a scenario left up by `lab up` (from any process), and labs whose process died')
    .action(async (name: string) => settle(await labDown(name, io)));
  lab
    .command('demo')
    .argument('<name>', 'scenario name or number')
    .option('--json', 'verdicts as JSON lines (see docs/json-contract.md)')
    .option('--pcap <dir>', 'also record the traffic with tcpdump where the scenario shows its failure, as NAME-ROLE-IFACE.pcap files in <dir>')
    .description('build a scenario, drive a few seconds of traffic through it while pmtu-watch watches, print what the traffic saw and the verdicts, tear it all down (also on Ctrl-C)')
    .action(async (name: string, opts: { json?: boolean; pcap?: string }) => settle(await labDemo(name, opts, io, { open: deps.live?.open ?? openObserver })));

  registerCaptureCommands(program, io, deps.live ?? {}, settle);
  registerProbeCommand(program, io, deps.probe ?? {}, settle);
  registerClusterCommand(program, io, deps.cluster ?? {}, settle);
  registerAnalyzeCommand(program, io, settle, deps.live?.stopRequested ? { stopRequested: deps.live.stopRequested } : {});

  return { program, result };
}

/** Runs the command line; resolves to the exit code. */
export async function main(argv: string[], io: Io = processIo, deps: ProgramDeps = {}): Promise<number> {
  const { program, result } = createProgram(io, deps);
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 2.
      return e.exitCode === 0 ? 0 : 2;
    }
    io.err(oneLine(e));
    return 1;
  }
  if (program.args.length === 0 && argv.length <= 2) {
    program.outputHelp();
    return 2;
  }
  return result;
}
