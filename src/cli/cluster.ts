// `pmtu-watch cluster`: flags in, a running cluster (src/cluster/) until a
// signal or --duration, exit code out.

import { promises as dns } from 'node:dns';

import { InvalidArgumentError, Option, type Command } from 'commander';

import { parseNode, parseNodeTokens, startCluster, type ClusterDeps, type NodeSpec } from '../cluster/cluster.js';
import { oneLine, PmtuError } from '../errors.js';
import { feedLine } from '../sinks/feed.js';
import { stopSignal, type Io } from './io.js';

export interface ClusterFlags {
  node: string[];
  service?: string;
  resolveEvery: number;
  listen: string;
  token?: string;
  nodeToken: string[];
  json: boolean;
  duration?: number;
}

export type ClusterCliDeps = Partial<Pick<ClusterDeps, 'resolver' | 'stopRequested' | 'backoff'>>;

export async function runCluster(flags: ClusterFlags, io: Io, deps: ClusterCliDeps = {}): Promise<number> {
  let nodes: NodeSpec[];
  let running;
  const stop = deps.stopRequested ? { promise: deps.stopRequested, cancel: () => {} } : stopSignal();
  try {
    nodes = flags.node.map(parseNode);
    const names = new Set(nodes.map((n) => n.name));
    if (names.size !== nodes.length) throw new PmtuError('PMTU_ERR_USAGE', 'two --node flags give the same name', 'each node needs a name of its own');
    if (nodes.length === 0 && !flags.service) throw new PmtuError('PMTU_ERR_USAGE', 'no node to follow', 'give --node NAME=URL (repeatable) or --service NAME.NAMESPACE.svc:PORT');
    running = await startCluster(
      {
        nodes,
        ...(flags.service ? { service: flags.service } : {}),
        resolveEvery: flags.resolveEvery,
        listen: flags.listen,
        ...(flags.token ? { token: flags.token } : {}),
        nodeTokens: parseNodeTokens(flags.nodeToken, names),
        json: flags.json,
        ...(flags.duration ? { duration: flags.duration } : {}),
      },
      { resolver: deps.resolver ?? dns, stopRequested: stop.promise, out: io.out, err: io.err, ...(deps.backoff ? { backoff: deps.backoff } : {}) },
    );
  } catch (e) {
    stop.cancel();
    io.err(oneLine(e));
    return e instanceof PmtuError && e.code === 'PMTU_ERR_USAGE' ? 2 : 1;
  }
  io.err(feedLine(running.feed));
  await running.done;
  stop.cancel();
  await running.close();
  return 0;
}

function positive(what: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
    return n;
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerClusterCommand(program: Command, io: Io, deps: ClusterCliDeps, settle: (code: number) => void): void {
  program
    .command('cluster')
    .description(
      "follow many nodes' feeds (each a `pmtu-watch serve`) and serve one: every event and verdict with its node, nodes' states, " +
        'incidents across nodes (a PTB one node sent, dropped on another), /metrics and the web page',
    )
    .option('--node <name=url>', "a node's feed: NAME=ws://HOST:PORT/feed (or http://HOST:PORT, HOST:PORT) (repeatable)", collect, [])
    .option('--service <name:port>', "a headless Service whose DNS A/AAAA records are the nodes' pods: NAME.NAMESPACE.svc:PORT")
    .option('--resolve-every <seconds>', 'look the service up again this often', positive('--resolve-every'), 30)
    .option('--listen <host:port>', 'where to serve the feed, /metrics and the page (a non-loopback address needs --token)', '127.0.0.1:9478')
    .addOption(new Option('--token <token>', "bearer token cluster's own clients need (required off loopback)").env('PMTU_WATCH_TOKEN'))
    .addOption(
      new Option('--node-token <[name=]token>', "the nodes' feed token: NAME=TOKEN for one node, TOKEN for every other (repeatable)").env('PMTU_WATCH_NODE_TOKEN').argParser(collect).default([]),
    )
    .option('--json', 'node states, verdicts and incidents as JSON lines on standard output', false)
    .option('--duration <seconds>', 'stop after this long', positive('--duration'))
    .addHelpText(
      'after',
      '\nThe feed speaks the protocol of serve (JSON frames only) with `node` on every event and verdict, and two more messages:\n' +
        '{"type":"node"} (a node connecting, up or down, with the reason and the next retry) and {"type":"incident"} (parts from\n' +
        'each node involved). A node that cannot be reached is retried with a backoff from 0.5 s up to 30 s.',
    )
    .action(async (flags: ClusterFlags) => {
      // An env token arrives as one string, not a list.
      const nodeToken = typeof (flags.nodeToken as unknown) === 'string' ? [flags.nodeToken as unknown as string] : flags.nodeToken;
      settle(await runCluster({ ...flags, nodeToken }, io, deps));
    });
}
