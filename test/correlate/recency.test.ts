import { describe, expect, it } from 'vitest';

import { endpointsHash, RecencyTable, type Endpoints, type TableEntry } from '../../src/correlate/recency.js';

interface Named extends TableEntry {
  readonly name: string;
}

function named(name: string, endpoints: Endpoints): Named {
  return { name, endpoints, hash: 0, nextInBucket: undefined, older: undefined, newer: undefined };
}

function tcp(i: number): Endpoints {
  return { src: `10.0.${i >> 8}.${i & 255}`, sport: 1024 + i, dst: '10.9.9.9', dport: 443, proto: 'tcp' };
}

function find<E extends TableEntry>(t: RecencyTable<E>, e: Endpoints): E | undefined {
  return t.find(endpointsHash(e.src, e.sport, e.dst, e.dport, e.proto), e.src, e.sport, e.dst, e.dport, e.proto);
}

function add(t: RecencyTable<Named>, name: string, e: Endpoints): Named {
  const entry = named(name, e);
  t.add(entry, endpointsHash(e.src, e.sport, e.dst, e.dport, e.proto));
  return entry;
}

const names = (t: RecencyTable<Named>) => [...t.oldestFirst()].map((e) => e.name);

describe('RecencyTable', () => {
  it('finds a flow either way round, and not another protocol or port; a protocol number is its text', () => {
    const t = new RecencyTable<Named>();
    const a = add(t, 'a', { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 443, proto: 'tcp' });
    const b = add(t, 'b', { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 443, proto: 132 });
    expect(find(t, { src: '10.0.0.2', sport: 443, dst: '10.0.0.1', dport: 40000, proto: 'tcp' })).toBe(a);
    expect(find(t, { src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 443, proto: 'udp' })).toBeUndefined();
    expect(find(t, { src: '10.0.0.1', sport: 443, dst: '10.0.0.2', dport: 40000, proto: 'tcp' })).toBeUndefined();
    expect(find(t, { src: '10.0.0.2', sport: 443, dst: '10.0.0.1', dport: 40000, proto: '132' })).toBe(b);
    // The same address and port at both ends.
    const self = add(t, 'self', { src: '::1', sport: 7, dst: '::1', dport: 7, proto: 'udp' });
    expect(find(t, { src: '::1', sport: 7, dst: '::1', dport: 7, proto: 'udp' })).toBe(self);
  });

  it('orders entries by add or touch, evicts the least recent, and iterates oldest first', () => {
    const t = new RecencyTable<Named>();
    const a = add(t, 'a', tcp(1));
    add(t, 'b', tcp(2));
    const c = add(t, 'c', tcp(3));
    t.touch(a);
    t.touch(a); // already the newest
    expect(names(t)).toEqual(['b', 'c', 'a']);
    expect(t.oldest?.name).toBe('b');
    expect(find(t, tcp(2))?.name).toBe('b');
    expect(t.oldest?.name).toBe('b'); // find does not touch
    expect(t.makeRoom(3)).toBe(1);
    expect(names(t)).toEqual(['c', 'a']);
    expect(find(t, tcp(2))).toBeUndefined();
    expect(t.makeRoom(5)).toBe(0);
    t.touch(c);
    expect(names(t)).toEqual(['a', 'c']);
  });

  it('deleting while iterating oldest first, and down to empty', () => {
    const t = new RecencyTable<Named>();
    for (let i = 0; i < 10; i++) add(t, `k${i}`, tcp(i));
    for (const e of t.oldestFirst()) if (Number(e.name.slice(1)) % 2 === 0) t.delete(e);
    expect(names(t)).toEqual(['k1', 'k3', 'k5', 'k7', 'k9']);
    for (let i = 0; i < 10; i++) expect(find(t, tcp(i))?.name).toBe(i % 2 ? `k${i}` : undefined);
    for (const e of t.oldestFirst()) t.delete(e);
    expect(t.size).toBe(0);
    expect(t.oldest).toBeUndefined();
    const x = add(t, 'x', tcp(1));
    expect(names(t)).toEqual(['x']);
    expect(find(t, tcp(1))).toBe(x);
  });

  it('entries whose hashes share a bucket, or are equal, are found and deleted apart', () => {
    const t = new RecencyTable<Named>();
    // Equal hashes (as if colliding): the endpoints tell them apart.
    const same = 12345;
    const one = named('one', tcp(1));
    const two = named('two', tcp(2));
    const three = named('three', tcp(3));
    t.add(one, same);
    t.add(two, same);
    t.add(three, same + 16); // the same bucket of the first 16
    const at = (e: Endpoints, hash: number) => t.find(hash, e.src, e.sport, e.dst, e.dport, e.proto);
    expect(at(tcp(1), same)).toBe(one);
    expect(at(tcp(2), same)).toBe(two);
    expect(at(tcp(3), same)).toBeUndefined();
    expect(at(tcp(3), same + 16)).toBe(three);
    t.delete(two);
    expect(at(tcp(1), same)).toBe(one);
    expect(at(tcp(2), same)).toBeUndefined();
    expect(at(tcp(3), same + 16)).toBe(three);
    t.delete(three);
    t.delete(one);
    expect(t.size).toBe(0);
  });

  it('keeps the most recent entries, each findable, when a full table is reordered all the time', () => {
    const t = new RecencyTable<Named>();
    const max = 20_000;
    const made: Named[] = [];
    for (let i = 0; i < 200_000; i++) {
      const back = made[i - 5];
      if (back && find(t, tcp(i - 5)) === back) t.touch(back);
      t.makeRoom(max);
      made.push(add(t, `k${i}`, tcp(i)));
    }
    expect(t.size).toBe(max);
    expect(Number(t.oldest!.name.slice(1))).toBeGreaterThan(200_000 - max - 10);
    let found = 0;
    for (let i = 200_000 - max + 10; i < 200_000; i++) if (find(t, tcp(i)) === made[i]) found++;
    expect(found).toBe(max - 10);
    expect(find(t, tcp(1000))).toBeUndefined();
  });
});
