// Names for the kernel's numbers: namespace inodes, interface indexes, drop
// reasons. Namespace names come from injected sources and an injected clock.

import { describe, expect, it } from 'vitest';

import { DropReasons, HOST_NETNS, IfaceNames, NetnsNames } from '../../src/observer/names.js';
import { fakeNameSources } from '../helpers/fake-addon.js';

const HOST = 4026531840;

describe('NetnsNames', () => {
  it('names the initial namespace "host" and the named ones by their `ip netns` names', () => {
    const names = new NetnsNames(fakeNameSources({ blue: 4026532001, red: 4026532002 }, HOST));
    expect(names.name(HOST)).toBe(HOST_NETNS);
    expect(HOST_NETNS).toBe('host');
    expect(names.name(4026532001)).toBe('blue');
    expect(names.name(4026532002)).toBe('red');
  });

  it('an unknown inode is netns:<inode>; inode 0 (none) is empty', () => {
    const names = new NetnsNames(fakeNameSources({}, HOST));
    expect(names.name(4026532999)).toBe('netns:4026532999');
    expect(names.name(0)).toBe('');
  });

  it('a name file pointing at the initial namespace does not rename "host"', () => {
    const names = new NetnsNames(fakeNameSources({ alias: HOST }, HOST));
    expect(names.name(HOST)).toBe('host');
  });

  it('without an initial namespace inode (no /proc/1), only named ones have names', () => {
    const names = new NetnsNames(fakeNameSources({ blue: 7 }, null));
    expect(names.name(7)).toBe('blue');
    expect(names.name(HOST)).toBe(`netns:${HOST}`);
  });

  it('a miss refreshes the table at most once a second, by the injected clock', () => {
    const src = fakeNameSources({}, HOST);
    const names = new NetnsNames(src);
    expect(src.listCalls).toBe(1);

    src.named.set('late', 4026532050); // `ip netns add late`
    src.clock += 999;
    expect(names.name(4026532050)).toBe('netns:4026532050');
    expect(src.listCalls).toBe(1);

    src.clock += 1;
    expect(names.name(4026532050)).toBe('late');
    expect(src.listCalls).toBe(2);

    // Another miss right after the refresh waits for the next second.
    expect(names.name(4026532051)).toBe('netns:4026532051');
    expect(names.name(4026532051)).toBe('netns:4026532051');
    expect(src.listCalls).toBe(2);
    src.clock += 1000;
    expect(names.name(4026532051)).toBe('netns:4026532051');
    expect(src.listCalls).toBe(3);
  });

  it('a hit never refreshes, however old the table', () => {
    const src = fakeNameSources({ blue: 4026532001 }, HOST);
    const names = new NetnsNames(src);
    src.clock += 60_000;
    expect(names.name(4026532001)).toBe('blue');
    expect(names.name(HOST)).toBe('host');
    expect(names.name(0)).toBe('');
    expect(src.listCalls).toBe(1);
  });

  it('a namespace deleted and refreshed away loses its name', () => {
    const src = fakeNameSources({ blue: 4026532001 }, HOST);
    const names = new NetnsNames(src);
    src.named.delete('blue');
    src.clock += 1000;
    names.name(4026532999); // a miss: refresh
    expect(names.name(4026532001)).toBe('netns:4026532001');
  });
});

describe('IfaceNames', () => {
  it('prefers the name the kernel recorded in the event', () => {
    const ifaces = new IfaceNames();
    ifaces.set(HOST, 2, 'eth0');
    expect(ifaces.name(HOST, 2, 'renamed0')).toBe('renamed0');
  });

  it('else the name known for that index in that namespace', () => {
    const ifaces = new IfaceNames();
    ifaces.set(HOST, 2, 'eth0');
    ifaces.set(4026532001, 2, 'veth-b');
    expect(ifaces.name(HOST, 2, '')).toBe('eth0');
    expect(ifaces.name(4026532001, 2, '')).toBe('veth-b');
  });

  it('else ifN, and nothing for index 0', () => {
    const ifaces = new IfaceNames();
    ifaces.set(HOST, 2, 'eth0');
    expect(ifaces.name(4026532001, 2, '')).toBe('if2');
    expect(ifaces.name(HOST, 9, '')).toBe('if9');
    expect(ifaces.name(HOST, 0, '')).toBe('');
  });
});

describe('DropReasons', () => {
  it("names a value by the running kernel's enum, else reason-N", () => {
    const names: (string | undefined)[] = ['NOT_DROPPED_YET', 'NOT_SPECIFIED', 'NO_SOCKET'];
    names[9] = 'IP_RPFILTER';
    const reasons = new DropReasons(names);
    expect(reasons.name(1)).toBe('NOT_SPECIFIED');
    expect(reasons.name(9)).toBe('IP_RPFILTER');
    expect(reasons.name(5)).toBe('reason-5'); // a hole in the enum
    expect(reasons.name(400)).toBe('reason-400');
    expect(new DropReasons([]).name(2)).toBe('reason-2'); // no BTF names at all
  });
});
