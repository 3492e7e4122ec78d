import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { expect, it } from 'vitest';

import { dockerAvailable, engineMounts, engineProcesses, useDockerEngines, type DockerEngine } from './docker.js';
import { kernelDescribe } from './kernel.js';

const SUBNET = '198.18.45.0/24';
const SERVER = '198.18.45.10';
const CLIENT = '198.18.45.11';

/** What of the host an engine could change, in a form toEqual compares. */
function hostState() {
  const out = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    return r.error ? `(no ${cmd})` : r.stdout;
  };
  return {
    links: out('ip', ['-o', 'link', 'show'])
      .split('\n')
      .map((l) => l.split(':')[1]?.trim().split('@')[0])
      .filter(Boolean)
      .sort(),
    nft: out('nft', ['list', 'ruleset']),
    iptables: out('iptables-save', []).replace(/^#.*\n/gm, ''),
    ip6tables: out('ip6tables-save', []).replace(/^#.*\n/gm, ''),
    netns: safeList('/run/netns'),
    etcDocker: safeList('/etc/docker'),
    runDirs: ['/run/docker', '/run/containerd'].map((d) => `${d}: ${safeList(d).join(',')}`),
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return ['(none)'];
  }
}

/** Processes naming the engine anywhere in their command line (dockerd, containerd, shims, runc). */
function processesNaming(id: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((c) => c.includes(id));
}

function netnsInode(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function expectGone(engine: DockerEngine, before: ReturnType<typeof hostState>): void {
  expect(processesNaming(engine.id)).toEqual([]);
  expect(engineProcesses(engine.id)).toEqual([]);
  expect(engineMounts(engine.id)).toEqual([]);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(engine.id);
  expect(existsSync(engine.netnsPath)).toBe(false);
  expect(existsSync(engine.dir)).toBe(false);
  expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => / - cgroup2? /.test(l)).map((l) => l.split(' ')[4]!).filter((m) => existsSync(`${m}/${engine.id}`))).toEqual([]);
  expect(hostState()).toEqual(before);
}

kernelDescribe(
  'docker engine harness',
  () => {
    const engines = useDockerEngines();

    it('serves a file between two containers at MTU 1450, then leaves the host as it was', { timeout: 90_000 }, async () => {
      const before = hostState();
      const t0 = Date.now();
      const engine = await engines.start();
      const startMs = Date.now() - t0;
      await engine.importBusybox();
      const importMs = Date.now() - t0 - startMs;
      await engine.network('pmtu1450', { subnet: SUBNET, gateway: '198.18.45.1', mtu: 1450 });
      const web = await engine.run('web', {
        network: 'pmtu1450',
        ip: SERVER,
        cmd: ['sh', '-c', 'dd if=/dev/urandom of=/var/www/blob bs=1024 count=64 2>/dev/null && md5sum /var/www/blob >/tmp/blob.md5 && exec httpd -f -p 80 -h /var/www'],
      });
      const client = await engine.run('client', { network: 'pmtu1450', ip: CLIENT, cmd: ['sleep', '120'] });

      const served = async () => (await engine.docker(['exec', 'web', 'cat', '/tmp/blob.md5'], { check: false })).stdout.split(' ')[0];
      let want: string | undefined;
      let got: string | undefined;
      let why = '';
      for (const end = Date.now() + 15_000; Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
        want ??= await served();
        const r = await engine.docker(['exec', 'client', 'sh', '-c', `set -o pipefail; timeout 5 wget -q -O - http://${SERVER}/blob | md5sum`], { timeoutMs: 10_000, check: false });
        got = r.stdout.split(' ')[0];
        why = r.stderr.trim();
        if (r.code === 0 && want && got === want) break;
      }
      expect(why).toBe('');
      expect(want).toMatch(/^[0-9a-f]{32}$/);
      expect(got).toBe(want);
      const mtu = await engine.docker(['exec', 'client', 'cat', '/sys/class/net/eth0/mtu']);
      expect(mtu.stdout.trim()).toBe('1450');

      const host = netnsInode('/proc/self/ns/net');
      expect(new Set([host, netnsInode(engine.netnsPath), web.netnsInode, client.netnsInode]).size).toBe(4);
      // The bridge and the containers' veths are the engine namespace's, never the host's.
      expect(hostState().links).toEqual(before.links);

      const report = await engine.stop();
      console.log(
        `[docker] start ${startMs} ms, busybox import ${importMs} ms, stop ${report.ms} ms (dockerd ${report.dockerdSignal}, killed ${report.killed.length}, unmounted ${report.unmounted.length})`,
      );
      expect(report.dockerdSignal).toBe('SIGTERM');
      // containerd and the shims ended with dockerd, dockerd unmounted its own.
      expect(report.killed).toEqual([]);
      expect(report.unmounted).toEqual([]);
      expect(netnsInode(`/proc/${web.pid}/ns/net`)).not.toBe(web.netnsInode);
      expect(netnsInode(`/proc/${client.pid}/ns/net`)).not.toBe(client.netnsInode);
      expectGone(engine, before);
    });

    it('starts and removes a container 5 times in a row', { timeout: 90_000 }, async () => {
      const before = hostState();
      const engine = await engines.start();
      await engine.importBusybox();
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = Date.now();
        const c = await engine.run(`quick${i}`, { cmd: ['sleep', '30'] });
        expect(c.pid).toBeGreaterThan(0);
        await engine.rm(`quick${i}`);
        times.push(Date.now() - t0);
        expect((await engine.docker(['ps', '--all', '--quiet'])).stdout.trim()).toBe('');
        // The container's namespace, bind-mounted under the exec root, went with it.
        expect(engineMounts(engine.id).filter((m) => m.includes('/netns/'))).toEqual([]);
      }
      console.log(`[docker] run + rm: ${times.join(', ')} ms`);
      const report = await engine.stop();
      expect(report.killed).toEqual([]);
      expectGone(engine, before);
    });
  },
  { requires: [dockerAvailable] },
);
