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
 * A set-associative table in array maps: a key's seeded hash picks its
 * bucket (flow_hash) and is its tag there, so a lookup is one inlined array
 * access and a compare of eight tags in one cache line, and a new flow takes
 * a way in place: an empty one, else the one seen longest ago that is not in
 * trouble. The bucket's head says which, so a full bucket's states are not
 * read. A busy host makes tens of thousands of flows a second: an LRU hash
 * spent more than its lookups on each insert (a node off the free list, its
 * bucket's lock, the evicted node's bucket and lock, all cache misses).
 *
 * The heads are an array of their own, 64 bytes a bucket (2 MiB at the
 * default size, where the states take 16): a new flow's first lookup misses
 * no tag, and the heads stay in a core's cache and TLB reach far better than
 * when each sat beside its states. Both maps are BPF_F_MMAPABLE only because
 * such an array's values start on a page (a plain one's 56 bytes past a
 * cache line): every head and every way's state is one line. Nobody maps them.
 *
 * Ways are written without a lock: two CPUs taking one way at once leave one
 * flow's state (the later write); a reader racing a write may join a state
 * half old, half new. Neither makes an event of its own.
 */
struct pmtu_flow_head {
	__u32 tag[PMTU_FLOW_WAYS];  /* the key's hash (never 0); 0: the way is empty */
	__u32 seen[PMTU_FLOW_WAYS]; /* FLOW_SEEN_MASK: last looked up or written, in ns >> 20 (about ms); FLOW_SEEN_REPORTED */
};

_Static_assert(sizeof(struct pmtu_flow_head) == 64, "a bucket's head is one cache line");

#define FLOW_SEEN_REPORTED 0x80000000U /* the way's flow is in trouble (PMTU_FS_REPORTED) */
#define FLOW_SEEN_MASK 0x7fffffffU     /* 24 days of stamps: ages are taken modulo that */

static __always_inline __u32 flow_stamp(__u64 now)
{
	return (now >> 20) & FLOW_SEEN_MASK;
}

struct pmtu_flow_way {
	struct pmtu_flow_state state;
	__u8 pad[64 - sizeof(struct pmtu_flow_state)];
};

struct pmtu_flow_ways {
	struct pmtu_flow_way way[PMTU_FLOW_WAYS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32768); /* buckets, a power of two: resized by native/ before load */
	__type(key, __u32);
	__type(value, struct pmtu_flow_head);
} flow_heads SEC(".maps") __weak;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 32768); /* as many as flow_heads */
	__type(key, __u32);
	__type(value, struct pmtu_flow_ways);
} flows SEC(".maps") __weak;

/* Where a flow's state is: its bucket's head and way there. */
struct flow_ref {
	struct pmtu_flow_head *h;
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
	__u32 tag;
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
	out.tag = (__u32)(h ^ (h >> 29)) | 1;
	return out;
}

/*
 * The way of head h holding tag, or -1; the way a new flow takes there
 * (empty, else the longest unseen at `stamp`, a flow in trouble only when
 * all are). Global functions, verified once: inlined, each way's branch
 * would have the verifier walk the rest of the program once per way and per
 * outcome.
 */
extern int pmtu_flow_find_way(const struct pmtu_flow_head *h, __u32 tag);
extern int pmtu_flow_pick_way(const struct pmtu_flow_head *h, __u32 stamp);

/* The state of the flow tagged `tag` in the bucket (and where, in *ref), or NULL. */
static __always_inline struct pmtu_flow_state *flow_in_bucket(struct pmtu_flow_head *h, struct pmtu_flow_ways *ways,
							      __u32 tag, struct flow_ref *ref)
{
	int way = pmtu_flow_find_way(h, tag);

	if (way < 0)
		return NULL;
	way &= PMTU_FLOW_WAYS - 1;
	ref->h = h;
	ref->way = way;
	return &ways->way[way].state;
}

/* The flow's state in the table (and where, in *ref), or NULL. */
static __always_inline struct pmtu_flow_state *flow_lookup(const struct pmtu_flow_key *key, struct flow_ref *ref)
{
	struct flow_hash hash = flow_hash(key);
	struct pmtu_flow_head *h = bpf_map_lookup_elem(&flow_heads, &hash.bucket);
	struct pmtu_flow_ways *ways = bpf_map_lookup_elem(&flows, &hash.bucket);

	return h && ways ? flow_in_bucket(h, ways, hash.tag, ref) : NULL;
}

/* From now on the flow is in trouble here; its way is the last a new flow takes. */
static __always_inline void flow_mark_reported(const struct flow_ref *ref, struct pmtu_flow_state *s)
{
	s->flags |= PMTU_FS_REPORTED;
	ref->h->seen[ref->way & (PMTU_FLOW_WAYS - 1)] |= FLOW_SEEN_REPORTED;
}

/* A key's bucket, located: where flow_find() looked and flow_insert() puts it. */
struct flow_place {
	struct pmtu_flow_head *h;
	struct pmtu_flow_ways *ways;
	__u32 tag;
	__u32 stamp;
};

/*
 * The flow's state (and where, in *ref), its way's stamp refreshed; or NULL,
 * with *at ready for flow_insert() when at->h is set (unset: no bucket, never,
 * but the verifier cannot know). Apart from the insert so that a caller
 * builds a new flow's state only for a new flow.
 */
static __always_inline struct pmtu_flow_state *flow_find(const struct pmtu_flow_key *key, __u64 now,
							 struct flow_place *at, struct flow_ref *ref)
{
	struct flow_hash hash = flow_hash(key);
	struct pmtu_flow_state *s;
	int way;

	at->h = bpf_map_lookup_elem(&flow_heads, &hash.bucket);
	at->ways = bpf_map_lookup_elem(&flows, &hash.bucket);
	at->tag = hash.tag;
	at->stamp = flow_stamp(now);
	if (!at->h || !at->ways) {
		at->h = NULL;
		return NULL;
	}
	s = flow_in_bucket(at->h, at->ways, hash.tag, ref);
	if (s) {
		way = ref->way & (PMTU_FLOW_WAYS - 1);
		at->h->seen[way] = (at->h->seen[way] & FLOW_SEEN_REPORTED) | at->stamp;
	}
	return s;
}

/* A new flow's state `init` (this packet applied) into the way flow_find() left room at. */
static __always_inline void flow_insert(const struct flow_place *at, const struct pmtu_flow_state *init)
{
	struct pmtu_flow_head *h = at->h;
	int way;

	if (!h || !at->ways)
		return;
	way = pmtu_flow_pick_way(h, at->stamp) & (PMTU_FLOW_WAYS - 1);
	if (h->seen[way] & FLOW_SEEN_REPORTED)
		count_loss(PMTU_LOSS_FLOW_TABLE); /* a flow in trouble's kernel state makes room */
	h->tag[way] = 0;
	__builtin_memcpy(&at->ways->way[way].state, init, sizeof(*init));
	h->seen[way] = at->stamp | (init->flags & PMTU_FS_REPORTED ? FLOW_SEEN_REPORTED : 0);
	h->tag[way] = at->tag;
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
