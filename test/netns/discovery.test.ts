import { describe, expect, it } from 'vitest';

import { NetnsDiscovery, selectNetns, type HostSources } from '../../src/netns/discovery.js';

const ID = 'aa'.repeat(32);

/** Every process here sees one file system: /proc/PID/root/x is /x. */
const inRoot = (path: string) => path.replace(/^\/proc\/\d+\/root(?=\/)/, '');

/** A host of processes and namespace files whose inodes the test sets. */
function host() {
  const procs = new Map<number, { comm: string; netns: number; cgroup?: string; cmdline?: string[] }>();
  const files = new Map<string, number>();
  const texts = new Map<string, string>();
  let commReads = 0;
  const src: HostSources = {
    selfPid: 100,
    pids: () => [...procs.keys()],
    inode(path) {
      const m = /^\/proc\/(\d+)\/ns\/net$/.exec(path);
      return m ? procs.get(Number(m[1]))?.netns : files.get(inRoot(path));
    },
    listDir(at) {
      const path = inRoot(at);
      const out = new Set<string>();
      for (const f of files.keys()) if (f.startsWith(`${path}/`)) out.add(f.slice(path.length + 1).split('/')[0]!);
      return [...out];
    },
    cgroup: (pid) => procs.get(pid)?.cgroup,
    comm(pid) {
      commReads++;
      return procs.get(pid)?.comm;
    },
    cmdline: (pid) => procs.get(pid)?.cmdline ?? (procs.has(pid) ? [procs.get(pid)!.comm] : undefined),
    pidsNamed: () => {
      throw new Error('the discovery finds daemons among the processes it listed');
    },
    readText: (path) => texts.get(path.replace(/^\/proc\/\d+\/root(?=\/)/, '')),
  };
  procs.set(1, { comm: 'init', netns: 1000 });
  procs.set(100, { comm: 'node', netns: 1000 });
  return { src, procs, files, texts, commReads: () => commReads };
}

describe('one namespace discovery', () => {
  it('finds the host, named namespaces, engine files and process-held ones, once each by inode', () => {
    const h = host();
    h.files.set('/run/netns/blue', 2000);
    h.files.set('/var/run/netns/blue', 2000); // the same directory through its symlink
    h.procs.set(40, { comm: 'dockerd', netns: 1000, cmdline: ['dockerd', '--data-root', '/d', '--exec-root', '/x'] });
    h.texts.set(`/d/containers/${ID}/config.v2.json`, JSON.stringify({ Name: '/web-1' }));
    h.procs.set(812, { comm: 'httpd', netns: 3000, cgroup: `0::/docker/${ID}\n` });
    h.procs.set(813, { comm: 'sh', netns: 3000, cgroup: `0::/docker/${ID}\n` });
    h.files.set(`/x/netns/${'bb'.repeat(6)}`, 4000); // a sandbox with no process
    h.files.set(`/x/netns/${'cc'.repeat(6)}`, 3000); // web-1's own sandbox file
    h.procs.set(900, { comm: 'sleep', netns: 5000, cgroup: '0::/user.slice\n' });
    h.procs.set(950, { comm: 'blue-app', netns: 2000 });
    const found = new NetnsDiscovery(h.src).scan();
    expect(found.map((e) => [e.ref, e.inode, e.path])).toEqual([
      ['host', 1000, null],
      ['blue', 2000, '/run/netns/blue'],
      ['docker:web-1', 3000, '/proc/812/ns/net'],
      ['pid:900', 5000, '/proc/900/ns/net'],
      [`docker:${'bb'.repeat(6)}`, 4000, `/proc/40/root/x/netns/${'bb'.repeat(6)}`], // as the engine sees its files
    ]);
    expect(found[2]!.info).toMatchObject({ kind: 'docker', name: 'web-1', pid: 812, comm: 'httpd' });
  });

  it('stays current: new namespaces appear, vanished ones go, and known processes are not read again', () => {
    const h = host();
    const d = new NetnsDiscovery(h.src);
    expect(d.scan().map((e) => e.ref)).toEqual(['host']);
    h.procs.set(700, { comm: 'unshare', netns: 7000 });
    expect(d.scan().map((e) => e.ref)).toEqual(['host', 'pid:700']);
    // A bare process's namespace may yet turn out a container's: looked at again a few times, not forever.
    for (let i = 0; i < 6; i++) d.scan();
    const settled = h.commReads();
    for (let i = 0; i < 10; i++) d.scan();
    expect(h.commReads()).toBe(settled);
    h.procs.delete(700);
    expect(d.scan().map((e) => e.ref)).toEqual(['host']);
  });

  it('an old process is looked at again in turns: one that moves to another namespace late is seen within 8 scans', () => {
    const h = host();
    let stats = 0;
    const inode = h.src.inode;
    h.src.inode = (path) => (path.startsWith('/proc/') && (stats++, true) ? inode(path) : inode(path));
    for (let pid = 200; pid < 300; pid++) h.procs.set(pid, { comm: 'worker', netns: 1000 });
    const d = new NetnsDiscovery(h.src);
    for (let i = 0; i < 12; i++) d.scan();
    stats = 0;
    d.scan();
    expect(stats).toBeLessThan(30); // of ~100 processes, a share
    h.procs.set(250, { comm: 'worker', netns: 6000 }); // setns(2) after a long life
    let scans = 0;
    while (!d.scan().some((e) => e.inode === 6000) && scans < 20) scans++;
    expect(scans).toBeLessThan(8);
  });

  it("a second namespace inside a container (a process that unshared its own) is that process's", () => {
    const h = host();
    h.procs.set(40, { comm: 'dockerd', netns: 1000 });
    h.texts.set(`/var/lib/docker/containers/${ID}/config.v2.json`, JSON.stringify({ Name: '/ci-build' }));
    h.procs.set(812, { comm: 'dockerd', netns: 3000, cgroup: `0::/docker/${ID}\n` });
    h.procs.set(900, { comm: 'sleep', netns: 3100, cgroup: `0::/docker/${ID}\n` });
    expect(new NetnsDiscovery(h.src).scan().map((e) => e.ref)).toEqual(['host', 'docker:ci-build', 'pid:900']);
  });

  it("names a container whose first process was not in its cgroup yet once it is", () => {
    const h = host();
    h.procs.set(40, { comm: 'dockerd', netns: 1000 });
    h.texts.set(`/var/lib/docker/containers/${ID}/config.v2.json`, JSON.stringify({ Name: '/late' }));
    h.procs.set(812, { comm: 'runc:[2:INIT]', netns: 3000, cgroup: '0::/\n' });
    const d = new NetnsDiscovery(h.src);
    expect(d.scan().at(-1)!.ref).toBe('pid:812');
    h.procs.set(812, { comm: 'httpd', netns: 3000, cgroup: `0::/docker/${ID}\n` });
    expect(d.scan().at(-1)!.ref).toBe('docker:late');
  });

  it('selects by name, stable ref, bare container name, pid or path', () => {
    const h = host();
    h.files.set('/run/netns/blue', 2000);
    h.procs.set(40, { comm: 'dockerd', netns: 1000 });
    h.texts.set(`/var/lib/docker/containers/${ID}/config.v2.json`, JSON.stringify({ Name: '/web-1' }));
    h.procs.set(812, { comm: 'httpd', netns: 3000, cgroup: `0::/docker/${ID}\n` });
    h.procs.set(900, { comm: 'sleep', netns: 5000 });
    h.files.set('/tmp/held', 5000);
    const all = new NetnsDiscovery(h.src).scan();
    expect(selectNetns(all, 'blue', h.src)?.inode).toBe(2000);
    expect(selectNetns(all, 'docker:web-1', h.src)?.inode).toBe(3000);
    expect(selectNetns(all, 'web-1', h.src)?.inode).toBe(3000);
    expect(selectNetns(all, ID.slice(0, 8), h.src)?.inode).toBe(3000);
    expect(selectNetns(all, 'pid:900', h.src)?.inode).toBe(5000);
    expect(selectNetns(all, '/tmp/held', h.src)?.ref).toBe('pid:900');
    expect(selectNetns(all, 'nothing', h.src)).toBeUndefined();
    expect(selectNetns(all, 'pid:4242', h.src)).toBeUndefined();
  });
});
