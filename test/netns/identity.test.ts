import { describe, expect, it } from 'vitest';

import { inNetns, netnsRef, netnsShort, shortRef } from '../../src/contract/netns.js';
import { identify, optionValue, runtimeFromCgroup, type IdentitySources } from '../../src/netns/identity.js';

const ID = 'f3a9c1d2e4b5a6978877665544332211ffeeddccbbaa00998877665544332211';
const UID = '0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0';

describe('the runtime a cgroup names', () => {
  it('reads Docker under systemd and under cgroupfs, v2 and v1', () => {
    expect(runtimeFromCgroup(`0::/system.slice/docker-${ID}.scope\n`)).toEqual({ kind: 'docker', id: ID });
    expect(runtimeFromCgroup(`0::/docker/${ID}\n`)).toEqual({ kind: 'docker', id: ID });
    expect(runtimeFromCgroup(`12:pids:/docker/${ID}\n11:memory:/docker/${ID}\n`)).toEqual({ kind: 'docker', id: ID });
  });

  it('reads a Kubernetes pod under systemd and cgroupfs, before the container runtime it also names', () => {
    const systemd = `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope\n`;
    expect(runtimeFromCgroup(systemd)).toEqual({ kind: 'pod', uid: UID, id: ID });
    expect(runtimeFromCgroup(`0::/kubepods/burstable/pod${UID}/${ID}\n`)).toEqual({ kind: 'pod', uid: UID, id: ID });
    // A kind node: the pod's cgroup inside the node container's.
    expect(runtimeFromCgroup(`0::/system.slice/docker-${ID}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${UID.replace(/-/g, '_')}.slice/cri-containerd-${ID}.scope`)?.kind).toBe('pod');
  });

  it('reads podman, LXC (Proxmox) and systemd-nspawn', () => {
    expect(runtimeFromCgroup(`0::/machine.slice/libpod-${ID}.scope/container\n`)).toEqual({ kind: 'podman', id: ID });
    expect(runtimeFromCgroup('0::/lxc.payload.101/init.scope\n')).toEqual({ kind: 'lxc', id: '101' });
    expect(runtimeFromCgroup('0::/lxc/102\n')).toEqual({ kind: 'lxc', id: '102' });
    expect(runtimeFromCgroup('0::/machine.slice/machine-build\\x2dbox.scope/payload\n')).toEqual({ kind: 'nspawn', name: 'build-box' });
  });

  it('of an engine inside a container, the innermost container', () => {
    const inner = 'cd'.repeat(32);
    expect(runtimeFromCgroup(`0::/docker/${ID}/docker/${inner}\n`)).toEqual({ kind: 'docker', id: inner });
  });

  it('names nothing for a host service or a login session', () => {
    expect(runtimeFromCgroup('0::/system.slice/nginx.service\n')).toBeUndefined();
    expect(runtimeFromCgroup('0::/user.slice/user-1000.slice/session-3.scope\n')).toBeUndefined();
  });

  it("takes an option's value in either spelling", () => {
    expect(optionValue(['dockerd', '--data-root', '/tmp/d', '--exec-root=/tmp/x'], '--data-root')).toBe('/tmp/d');
    expect(optionValue(['dockerd', '--exec-root=/tmp/x'], '--exec-root')).toBe('/tmp/x');
    expect(optionValue(['dockerd'], '--exec-root')).toBeUndefined();
  });
});

function fakeHost(files: Record<string, string>, procs: Record<number, { comm: string; cgroup?: string; cmdline?: string[] }>, dirs: Record<string, string[]> = {}): IdentitySources {
  return {
    cgroup: (pid) => procs[pid]?.cgroup,
    comm: (pid) => procs[pid]?.comm,
    cmdline: (pid) => procs[pid]?.cmdline ?? (procs[pid] ? [procs[pid]!.comm] : undefined),
    pidsNamed: (comm) => Object.entries(procs).flatMap(([p, x]) => (x.comm === comm ? [Number(p)] : [])),
    readText: (path) => files[path.replace(/^\/proc\/\d+\/root(?=\/)/, '')],
    listDir: (path) => dirs[path] ?? [],
  };
}

describe('who holds a namespace', () => {
  it("names a Docker container from its engine's config, wherever the engine keeps its data", () => {
    const host = fakeHost(
      { [`/tmp/dk/data/containers/${ID}/config.v2.json`]: JSON.stringify({ ID, Name: '/web-1' }) },
      { 40: { comm: 'dockerd', cmdline: ['dockerd', '--data-root', '/tmp/dk/data'] }, 812: { comm: 'httpd', cgroup: `0::/docker/${ID}\n` } },
    );
    const info = identify(host, 812, 4026532254);
    expect(info).toEqual({ kind: 'docker', inode: 4026532254, pid: 812, comm: 'httpd', id: ID.slice(0, 12), name: 'web-1' });
    expect(netnsRef(info)).toBe('docker:web-1');
    expect(netnsShort(info)).toBe('web-1');
  });

  it('knows a container of an engine with a --cgroup-parent of its own by the config that engine has for it', () => {
    const host = fakeHost(
      { [`/tmp/dk/data/containers/${ID}/config.v2.json`]: JSON.stringify({ Name: '/web-1' }) },
      { 40: { comm: 'dockerd', cmdline: ['dockerd', '--data-root=/tmp/dk/data', '--cgroup-parent=/ci-engine'] }, 812: { comm: 'httpd', cgroup: `0::/ci-engine/${ID}\n` }, 813: { comm: 'sh', cgroup: `0::/build/${'ab'.repeat(32)}\n` } },
    );
    expect(netnsRef(identify(host, 812, 1))).toBe('docker:web-1');
    expect(netnsRef(identify(host, 813, 2))).toBe('pid:813'); // a 64-hex name no engine knows
  });

  it('falls back to the container id when no config says its name', () => {
    const info = identify(fakeHost({}, { 812: { comm: 'httpd', cgroup: `0::/docker/${ID}\n` } }), 812, 7);
    expect(netnsRef(info)).toBe(`docker:${ID.slice(0, 12)}`);
  });

  it("names a pod from the kubelet's log directories", () => {
    const host = fakeHost({}, { 900: { comm: 'pause', cgroup: `0::/kubepods/besteffort/pod${UID}/${ID}\n` } }, { '/var/log/pods': [`kube-system_coredns-5d78c9869d-abcde_${UID}`, 'default_other_x'] });
    const info = identify(host, 900, 9);
    expect(info).toMatchObject({ kind: 'pod', pod: 'coredns-5d78c9869d-abcde', namespace: 'kube-system', uid: UID });
    expect(netnsRef(info)).toBe('pod:kube-system/coredns-5d78c9869d-abcde');
  });

  it("names an LXC CT by id and Proxmox's hostname, podman by name, and a bare process by pid", () => {
    const host = fakeHost(
      { '/etc/pve/lxc/101.conf': 'arch: amd64\nhostname: db01\nmemory: 512\n', '/var/lib/containers/storage/overlay-containers/containers.json': JSON.stringify([{ id: ID, names: ['cache'] }]) },
      { 5: { comm: 'init', cgroup: '0::/lxc.payload.101/init.scope\n' }, 6: { comm: 'redis', cgroup: `0::/machine.slice/libpod-${ID}.scope\n` }, 7: { comm: 'sleep', cgroup: '0::/user.slice\n' } },
    );
    expect(netnsRef(identify(host, 5, 1))).toBe('lxc:101');
    expect(netnsShort(identify(host, 5, 1))).toBe('CT 101 (db01)');
    expect(netnsRef(identify(host, 6, 2))).toBe('podman:cache');
    expect(netnsRef(identify(host, 7, 3))).toBe('pid:7');
    expect(netnsShort(identify(host, 7, 3))).toBe('pid 7 (sleep)');
  });
});

describe('short names for a screen', () => {
  it('drops the kind where the name says it', () => {
    expect(['host', 'blue', 'docker:web-1', 'pod:default/web-0', 'lxc:101', 'pid:812', 'netns:4026532254'].map(shortRef)).toEqual(['host', 'blue', 'web-1', 'pod default/web-0', 'CT 101', 'pid 812', 'netns:4026532254']);
  });
});

describe('commands in a namespace, spelled for its user', () => {
  const cmd = 'ip link set dev eth0 mtu 1450';
  it('enters a container by its name, a pod through kubectl, the rest by pid or name', () => {
    expect(inNetns('host', cmd)).toBe(cmd);
    expect(inNetns(null, cmd)).toBe(cmd);
    expect(inNetns('netns:4026532254', cmd)).toBe(cmd);
    expect(inNetns('blue', cmd)).toBe(`ip netns exec blue ${cmd}`);
    expect(inNetns('docker:web-1', cmd)).toBe(`nsenter -t "$(docker inspect -f '{{.State.Pid}}' web-1)" -n ${cmd}`);
    expect(inNetns('pod:default/web-0', cmd)).toBe(`kubectl exec -n default web-0 -- ${cmd}`);
    expect(inNetns('lxc:101', cmd)).toBe(`pct exec 101 -- ${cmd}`);
    expect(inNetns('pid:812', cmd)).toBe(`nsenter -t 812 -n ${cmd}`);
  });
});
