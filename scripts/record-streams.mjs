#!/usr/bin/env node
// Records the `live --json` event streams of lab scenarios into
// test/fixtures/streams/NAME.jsonl: the recorded streams the correlator's
// unit tests replay. Needs root and a build (npm install). Namespace names
// are shortened to their role (c, r1, r2, s, ...) so the fixtures read well.
//
//   node scripts/record-streams.mjs [NAME...]

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { NetLab } from '../dist/lab/netlab.js';
import { bridgePort, routedPath } from '../dist/lab/topologies.js';
import { pingDf, tcpTransfer, waitFor } from '../dist/lab/traffic.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const scenarios = {
  'rp-filter': async (lab) => {
    const p = await routedPath(lab, { ptbSource: 'mgmt', rpFilterOnClient: true, ipv6: false });
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await pingDf(lab, p.ns.c, p.server.v4, { size: 4000, count: 2 });
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 2 });
    } };
  },
  'router-bottleneck': async (lab) => {
    const p = await routedPath(lab, {});
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1 });
      await pingDf(lab, p.ns.c, p.server.v6, { size: 4000, count: 2, ipv6: true });
    } };
  },
  healthy: async (lab) => {
    const p = await routedPath(lab, { bottleneckMtu: 9000 });
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1 });
      await pingDf(lab, p.ns.c, p.server.v4, { size: 8000, count: 2 });
    } };
  },
  firewall: async (lab) => {
    const p = await routedPath(lab, { dropPtbOnClient: true, ipv6: false });
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 2 });
    } };
  },
  'silent-blackhole': async (lab) => {
    const p = await routedPath(lab, { blockIcmpOnRouter: true, ipv6: false });
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 2 });
    } };
  },
  'mss-clamp': async (lab) => {
    const p = await routedPath(lab, { clampMssOnRouter: true, ipv6: false });
    return { ns: p.ns, watch: p.ns.c, iface: p.client.ifname, drive: async () => {
      await tcpTransfer(lab, { serverNs: p.ns.s, clientNs: p.ns.c, serverAddr: p.server.v4, seconds: 1 });
    } };
  },
  'bridge-port': async (lab) => {
    const b = await bridgePort(lab, { ipv6: false });
    return { ns: b.ns, watch: b.ns.hv, iface: b.ports.g2.ifname, drive: async () => {
      await pingDf(lab, b.ns.g1, b.guests.g2.v4, { size: 8000, count: 2 });
    } };
  },
};

async function record(name) {
  const lab = await NetLab.create('rec');
  try {
    const s = await scenarios[name](lab);
    const child = spawn(process.execPath, [`${root}/bin/pmtu-watch.js`, 'live', '--json', '--all-netns', '--duration', '60'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = [];
    createInterface({ input: child.stdout }).on('line', (l) => lines.push(l));
    const exited = once(child, 'exit');
    await waitFor(async () => (await lab.exec(s.watch, ['tc', 'filter', 'show', 'dev', s.iface, 'ingress'])).stdout.includes('pmtu_tc'), 15000);
    await s.drive();
    await new Promise((r) => setTimeout(r, 800));
    child.kill('SIGINT');
    await exited;
    // Only this scenario's events, with its namespaces named by role.
    const roles = Object.entries(s.ns).filter(([, full]) => full);
    const short = (l) => roles.reduce((acc, [role, full]) => acc.split(`"${full}"`).join(`"${role}"`), l);
    const mine = lines
      .filter((l) => l.includes('"type":"event"'))
      .filter((l) => roles.some(([, full]) => l.includes(`"${full}"`)))
      .map(short);
    writeFileSync(`${root}/test/fixtures/streams/${name}.jsonl`, `${mine.join('\n')}\n`);
    console.log(`${name}: ${mine.length} events`);
  } finally {
    await lab.teardown();
  }
}

for (const name of process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(scenarios)) await record(name);
