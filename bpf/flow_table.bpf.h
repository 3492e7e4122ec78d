/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The kernel's flow table: what pmtu-watch knows of every flow in every network
 * namespace, kept in a map so a healthy flow costs a map access and never a
 * wake-up of userspace. tc.bpf.c writes it (SYNs, large DF packets); every
 * program that reports a flow joins its state to the event (flow_table.bpf.c).
 */
#ifndef PMTU_FLOW_TABLE_BPF_H
#define PMTU_FLOW_TABLE_BPF_H

#include "common.bpf.h"

/*
 * Namespace and canonical 5-tuple: endpoint a is the smaller (address, port),
 * so both directions of a flow share one entry.
 */
struct pmtu_flow_key {
	__u32 netns;
	__u8 family;
	__u8 proto;
	__u16 port_a;
	__u16 port_b;
	__u16 pad0;
	__u32 pad1;
	__u8 addr_a[16];
	__u8 addr_b[16];
} __attribute__((aligned(8))); /* hashed in 8-byte words */

_Static_assert(sizeof(struct pmtu_flow_key) == 48, "pmtu_flow_key layout changed");

/*
 * A set-associative table in an array map: a key's seeded hash picks its
 * bucket (flow_hash) and is its tag there, so a lookup is one inlined array
 * access and a compare of eight tags in one cache line, and a new flow takes
 * a way in place: an empty one, else the one seen longest ago that is not in
 * trouble. The bucket's header says which, so a full bucket's states are not
 * read. A busy host makes tens of thousands of flows a second: an LRU hash
 * spent more than its lookups on each insert (a node off the free list, its
 * bucket's lock, the evicted node's bucket and lock, all cache misses).
 *
 * Ways are written without a lock: two CPUs taking one way at once leave one
 * flow's state (the later write); a reader racing a write may join a state
 * half old, half new. Neither makes an event of its own.
 */
struct pmtu_flow_bucket {
	__u64 tag[PMTU_FLOW_WAYS];  /* the key's hash (never 0); 0: the way is empty */
	__u32 seen[PMTU_FLOW_WAYS]; /* last looked up or written, in ns >> 20 (about ms) */
	__u8 reported;		    /* ways whose flow is in trouble (PMTU_FS_REPORTED), a bit each */
	__u8 pad[7];
	struct pmtu_flow_state state[PMTU_FLOW_WAYS];
};

_Static_assert(PMTU_FLOW_WAYS <= 8, "pmtu_flow_bucket.reported holds a bit per way");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768); /* buckets, a power of two: resized by native/ before load */
	__type(key, __u32);
	__type(value, struct pmtu_flow_bucket);
} flows SEC(".maps") __weak;

/* Where a flow's state is: its bucket and way there. */
struct flow_ref {
	struct pmtu_flow_bucket *b;
	__u32 way;
};

/*
 * A key's tag: its seeded hash (pmtu_cfg.flow_seed: nobody outside can aim
 * flows at a bucket), never 0. The bucket comes from the hash of the 5-tuple
 * alone, the namespace mixed in only after: one flow's entries in the
 * namespaces it crosses (a pod's and the node's, both ends of a veth pair)
 * share a bucket, so the first packet's cache miss is the only one.
 */
struct flow_hash {
	__u64 tag;
	__u32 bucket;
};

static __always_inline struct flow_hash flow_hash(const struct pmtu_flow_key *key)
{
	const __u64 *w = (const __u64 *)key;
	__u64 h = pmtu_cfg.flow_seed;
	struct flow_hash out;

	_Static_assert(__builtin_offsetof(struct pmtu_flow_key, netns) == 0 && sizeof(key->netns) == 4,
		       "the namespace is the first word's low half");
#pragma unroll
	for (int i = 0; i < (int)(sizeof(*key) / 8); i++) {
		h = (h ^ (i ? w[i] : w[0] & ~0xffffffffULL)) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	out.bucket = (__u32)(h >> 32) & pmtu_cfg.flow_bucket_mask;
	h = (h ^ key->netns) * 0x9e3779b97f4a7c15ULL;
	out.tag = (h ^ (h >> 29)) | 1;
	return out;
}

static __always_inline struct pmtu_flow_bucket *flow_bucket(__u32 i)
{
	return bpf_map_lookup_elem(&flows, &i);
}

/*
 * The way of bucket b holding tag, or -1; the way a new flow takes there
 * (empty, else the longest unseen, a flow in trouble only when all are).
 * Global functions, verified once: inlined, each way's branch would have the
 * verifier walk the rest of the program once per way and per outcome.
 */
extern int pmtu_flow_find_way(const struct pmtu_flow_bucket *b, __u64 tag);
extern int pmtu_flow_pick_way(const struct pmtu_flow_bucket *b);

/* The state of the flow tagged `tag` in bucket b (and where, in *ref), or NULL. */
static __always_inline struct pmtu_flow_state *flow_in_bucket(struct pmtu_flow_bucket *b, __u64 tag, struct flow_ref *ref)
{
	int way = pmtu_flow_find_way(b, tag);

	if (way < 0)
		return NULL;
	way &= PMTU_FLOW_WAYS - 1;
	ref->b = b;
	ref->way = way;
	return &b->state[way];
}

/* The flow's state in the table (and where, in *ref), or NULL. */
static __always_inline struct pmtu_flow_state *flow_lookup(const struct pmtu_flow_key *key, struct flow_ref *ref)
{
	struct flow_hash hash = flow_hash(key);
	struct pmtu_flow_bucket *b = flow_bucket(hash.bucket);

	return b ? flow_in_bucket(b, hash.tag, ref) : NULL;
}

/* From now on the flow is in trouble here; its way is the last a new flow takes. */
static __always_inline void flow_mark_reported(const struct flow_ref *ref, struct pmtu_flow_state *s)
{
	s->flags |= PMTU_FS_REPORTED;
	ref->b->reported |= 1 << (ref->way & (PMTU_FLOW_WAYS - 1));
}

/*
 * The flow's state (and where, in *ref), or NULL with *created set after
 * `init` went in (the caller's state for a new flow, this packet applied): a
 * new flow costs one bucket's header and a copy. NULL without *created: no
 * bucket (never, but the verifier cannot know).
 */
static __always_inline struct pmtu_flow_state *flow_find_or_insert(const struct pmtu_flow_key *key,
								    const struct pmtu_flow_state *init, __u64 now,
								    struct flow_ref *ref, int *created)
{
	struct flow_hash hash = flow_hash(key);
	struct pmtu_flow_bucket *b = flow_bucket(hash.bucket);
	struct pmtu_flow_state *s;
	__u32 stamp = now >> 20;
	int way;

	*created = 0;
	if (!b)
		return NULL;
	s = flow_in_bucket(b, hash.tag, ref);
	if (s) {
		b->seen[ref->way & (PMTU_FLOW_WAYS - 1)] = stamp;
		return s;
	}
	way = pmtu_flow_pick_way(b) & (PMTU_FLOW_WAYS - 1);
	if ((b->reported >> way) & 1)
		count_loss(PMTU_LOSS_FLOW_TABLE); /* a flow in trouble's kernel state makes room */
	b->tag[way] = 0;
	__builtin_memcpy(&b->state[way], init, sizeof(*init));
	b->seen[way] = stamp;
	if (init->flags & PMTU_FS_REPORTED)
		b->reported |= 1 << way;
	else
		b->reported &= ~(1 << way);
	b->tag[way] = hash.tag;
	*created = 1;
	return NULL;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PMTU_TRAFFIC_SLOTS);
	__type(key, __u32);
	__type(value, struct pmtu_traffic_slot);
} traffic_slots SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct pmtu_traffic_key);
	__type(value, struct pmtu_traffic);
} traffic SEC(".maps") __weak;

/*
 * Fills key for flow f seen in netns. Returns the direction of f in the
 * entry (0: f's source is endpoint a), or -1 when f is no IP flow. Global:
 * verified once for every caller.
 */
extern int pmtu_flow_key(struct pmtu_flow_key *key, const struct pmtu_flow *f, __u32 netns);

/*
 * Joins the flow table's state of ev's subject (inner when 'inner', else
 * outer) in ev->netns to the event, oriented to the subject, and marks the
 * entry reported. Returns 1 when the table knew the flow.
 */
extern int pmtu_flow_join(struct pmtu_event *ev, int inner);

/* Copies a stored state into an event's, oriented to direction dir of the entry. */
static __always_inline void orient_state(struct pmtu_flow_state *out, const struct pmtu_flow_state *s,
					 int dir)
{
	__builtin_memcpy(out, s, sizeof(*out));
	out->flags |= PMTU_FS_KNOWN;
	if (dir) {
		out->largest[0] = s->largest[1];
		out->largest[1] = s->largest[0];
		/* The SYN came from b: from the subject's src, which is b. */
		out->flags ^= PMTU_FS_SYN_FROM_OTHER;
	}
}

/* What pmtu_traffic_add() counts, one each. */
enum pmtu_traffic_what {
	PMTU_TRAFFIC_SYN = 1,
	PMTU_TRAFFIC_SYNACK = 2,
	PMTU_TRAFFIC_FLOW = 4,
	PMTU_TRAFFIC_PTB = 8,
};

/*
 * Adds to a hook's traffic counters (per CPU: no atomics); `what` is a set of
 * enum pmtu_traffic_what. Global: its map accesses are verified once, not
 * on every path of its callers.
 */
extern int pmtu_traffic_add(__u32 netns, __u32 ifindex, __u32 what);

#endif /* PMTU_FLOW_TABLE_BPF_H */
