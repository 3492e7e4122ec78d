// SPDX-License-Identifier: MIT
/*
 * The C peers of `npm run bench` (src/bench/), built by binding.gyp from the
 * same skeleton the addon embeds:
 *
 *   pmtu-bench cost ROUNDS REPEAT HEXFRAME...
 *     BPF_PROG_TEST_RUN of pmtu-watch's tc program and of an empty tc program
 *     (r0 = -1; exit) on each frame, interleaved round by round so both see
 *     the same machine. The ring buffer is drained after each run, not during
 *     it: REPEAT must fit in it (the program then always takes its real path,
 *     never the buffer-full one), and a consumer woken per record would add
 *     its wakeups to the program's cost (the pipeline figures include them).
 *
 *   pmtu-bench consume REPEAT HEXFRAME
 *     The bare libbpf consumer: one test run of REPEAT on a thread of its own
 *     generates the events, the main thread counts what the ring buffer hands
 *     over. The limit the addon and TypeScript are measured against.
 *
 * Each prints one JSON object on stdout; errors go to stderr with exit 1.
 */
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "pmtu.skel.h"

#define RING_BYTES (8u << 20) /* the addon's default */
#define MAX_FRAMES 16
#define MAX_ROUNDS 64

static void die(const char *what, int err)
{
	fprintf(stderr, "pmtu-bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	(void)level;
	return getenv("PMTU_WATCH_DEBUG") ? vfprintf(stderr, fmt, args) : 0;
}

static size_t parse_hex(const char *hex, uint8_t **out)
{
	size_t n = strlen(hex) / 2;
	uint8_t *buf = malloc(n);

	if (!buf || strlen(hex) % 2)
		die("bad hex frame", EINVAL);
	for (size_t i = 0; i < n; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			die("bad hex frame", EINVAL);
		buf[i] = (uint8_t)b;
	}
	*out = buf;
	return n;
}

/* Loaded as the addon loads it: tracepoints this kernel lacks are left out. */
static struct pmtu_bpf *load(void)
{
	struct pmtu_bpf *skel = pmtu_bpf__open();
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;
	int err;

	if (!skel)
		die("opening the BPF programs", errno);
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);
		char name[128];

		if (!vmlinux || strncmp(sec, "tp_btf/", 7))
			continue;
		snprintf(name, sizeof(name), "btf_trace_%s", sec + 7);
		if (btf__find_by_name_kind(vmlinux, name, BTF_KIND_TYPEDEF) < 0)
			bpf_program__set_autoload(prog, false);
	}
	btf__free(vmlinux);
	err = bpf_map__set_max_entries(skel->maps.events, RING_BYTES);
	if (!err)
		err = pmtu_bpf__load(skel);
	if (err)
		die("loading the BPF programs", err);
	err = pmtu_bpf__attach(skel);
	if (err)
		die("attaching the tracepoints", err);
	return skel;
}

static uint64_t ringbuf_full(struct pmtu_bpf *skel)
{
	int cpus = libbpf_num_possible_cpus();
	uint64_t values[1024] = {}, sum = 0;
	uint32_t key = PMTU_LOSS_RINGBUF_FULL;

	if (cpus <= 0 || cpus > 1024 ||
	    bpf_map__lookup_elem(skel->maps.losses, &key, sizeof(key), values,
				 cpus * sizeof(uint64_t), 0))
		return 0;
	for (int i = 0; i < cpus; i++)
		sum += values[i];
	return sum;
}

static uint32_t test_run(int fd, const uint8_t *frame, size_t len, uint32_t repeat, int *retval)
{
	uint8_t out[2048];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = (uint32_t)len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &opts);

	if (err)
		die("BPF_PROG_TEST_RUN", err);
	if (retval)
		*retval = (int)opts.retval;
	return opts.duration;
}

/*
 * ns per run, to a fraction: the kernel's own figure is whole ns (7 for the
 * empty program on a fast machine, where 1 ns is 14% of it), so two runs of
 * repeat/2 and repeat are timed from here and the difference is divided by
 * the extra runs: what one call costs beside its runs (the syscall, the
 * frame's copies) cancels out. The ring buffer is emptied between the two.
 */
static double ns_per_run(int fd, const uint8_t *frame, size_t len, uint32_t repeat, struct ring_buffer *rb)
{
	uint32_t half = repeat / 2 ? repeat / 2 : 1;
	uint64_t t0 = now_ns();

	test_run(fd, frame, len, half, NULL);
	uint64_t t1 = now_ns();

	ring_buffer__consume(rb);
	uint64_t t2 = now_ns();

	test_run(fd, frame, len, half * 2, NULL);
	uint64_t t3 = now_ns();

	ring_buffer__consume(rb);
	return ((double)(t3 - t2) - (double)(t1 - t0)) / half;
}

/* The baseline: a tc program that does nothing and passes the packet on. */
static int load_empty(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = -1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "bench_empty", "GPL", insns, 2, NULL);

	if (fd < 0)
		die("loading the empty tc program", errno);
	return fd;
}

/* What the consumers count, in both modes. */
static _Atomic uint64_t received, others;
static _Atomic bool generating;
static const uint8_t ptb_hop[4] = { 198, 19, 0, 1 }; /* src/bench/frames.ts PTB_HOP_V4 */

static int on_record(void *ctx, void *data, size_t size)
{
	const struct pmtu_event *ev = data;

	(void)ctx;
	if (size == sizeof(*ev) && ev->kind == PMTU_KIND_PTB && ev->dir == PMTU_DIR_INGRESS &&
	    !memcmp(ev->outer.saddr, ptb_hop, 4))
		atomic_fetch_add_explicit(&received, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&others, 1, memory_order_relaxed);
	return 0;
}

static int cost(int argc, char **argv)
{
	int rounds = atoi(argv[2]);
	uint32_t repeat = (uint32_t)atoi(argv[3]);
	int nframes = argc - 4;
	uint8_t *frames[MAX_FRAMES];
	size_t lens[MAX_FRAMES];
	static double empty_ns[MAX_FRAMES][MAX_ROUNDS], tc_ns[MAX_FRAMES][MAX_ROUNDS];

	if (rounds < 1 || rounds > MAX_ROUNDS || !repeat || nframes < 1 || nframes > MAX_FRAMES)
		die("usage: cost ROUNDS(1..64) REPEAT HEXFRAME(1..16)...", EINVAL);
	for (int f = 0; f < nframes; f++)
		lens[f] = parse_hex(argv[4 + f], &frames[f]);

	struct pmtu_bpf *skel = load();
	int tc = bpf_program__fd(skel->progs.pmtu_tc_ingress);
	int empty = load_empty();
	struct ring_buffer *rb =
		ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);

	if (!rb)
		die("opening the ring buffer", errno);
	uint64_t full_before = ringbuf_full(skel);

	/* One untimed pass: maps and caches warm, a flow's first size event out of the way. */
	for (int f = 0; f < nframes; f++) {
		test_run(empty, frames[f], lens[f], repeat, NULL);
		test_run(tc, frames[f], lens[f], repeat, NULL);
		ring_buffer__consume(rb);
	}
	for (int r = 0; r < rounds; r++) {
		for (int f = 0; f < nframes; f++) {
			empty_ns[f][r] = ns_per_run(empty, frames[f], lens[f], repeat, rb);
			tc_ns[f][r] = ns_per_run(tc, frames[f], lens[f], repeat, rb);
		}
	}
	printf("{\"ringbufFull\":%llu,\"frames\":[",
	       (unsigned long long)(ringbuf_full(skel) - full_before));
	for (int f = 0; f < nframes; f++) {
		printf("%s{\"emptyNs\":[", f ? "," : "");
		for (int r = 0; r < rounds; r++)
			printf("%s%.2f", r ? "," : "", empty_ns[f][r]);
		printf("],\"tcNs\":[");
		for (int r = 0; r < rounds; r++)
			printf("%s%.2f", r ? "," : "", tc_ns[f][r]);
		printf("]}");
	}
	printf("]}\n");
	ring_buffer__free(rb);
	close(empty);
	pmtu_bpf__destroy(skel);
	return 0;
}

struct generator {
	int fd;
	const uint8_t *frame;
	size_t len;
	uint32_t repeat;
	int retval;
	uint64_t ns;
};

static void *generate(void *arg)
{
	struct generator *g = arg;
	uint64_t t0 = now_ns();

	test_run(g->fd, g->frame, g->len, g->repeat, &g->retval);
	g->ns = now_ns() - t0;
	atomic_store(&generating, false);
	return NULL;
}

static int consume(char **argv)
{
	struct generator g = { .repeat = (uint32_t)strtoul(argv[2], NULL, 10) };
	uint8_t *frame;

	g.len = parse_hex(argv[3], &frame);
	g.frame = frame;
	if (!g.repeat)
		die("usage: consume REPEAT HEXFRAME", EINVAL);

	struct pmtu_bpf *skel = load();
	struct ring_buffer *rb =
		ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	pthread_t gen;

	if (!rb)
		die("opening the ring buffer", errno);
	g.fd = bpf_program__fd(skel->progs.pmtu_tc_ingress);
	ring_buffer__consume(rb); /* whatever the machine did while we loaded */
	atomic_store(&received, 0);
	atomic_store(&others, 0);
	uint64_t full_before = ringbuf_full(skel);

	atomic_store(&generating, true);
	uint64_t start = now_ns(), last = start;
	pthread_create(&gen, NULL, generate, &g);
	for (;;) {
		bool more = atomic_load(&generating);
		int n = more ? ring_buffer__poll(rb, 20) : ring_buffer__consume(rb);

		if (n > 0)
			last = now_ns();
		if (n < 0 && n != -EINTR)
			die("polling the ring buffer", n);
		if (!more && n == 0)
			break;
	}
	pthread_join(gen, NULL);
	printf("{\"generated\":%u,\"received\":%llu,\"other\":%llu,\"ringbufFull\":%llu,"
	       "\"queueFull\":0,\"elapsedNs\":%llu,\"generatorNs\":%llu,\"retval\":%d}\n",
	       g.repeat, (unsigned long long)atomic_load(&received),
	       (unsigned long long)atomic_load(&others),
	       (unsigned long long)(ringbuf_full(skel) - full_before),
	       (unsigned long long)(last - start), (unsigned long long)g.ns, g.retval);
	ring_buffer__free(rb);
	pmtu_bpf__destroy(skel);
	return 0;
}

int main(int argc, char **argv)
{
	libbpf_set_print(quiet);
	alarm(120); /* a bench step never outlives its budget, */
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* nor the bench */
	if (argc >= 5 && !strcmp(argv[1], "cost"))
		return cost(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "consume"))
		return consume(argv);
	fprintf(stderr, "usage: pmtu-bench cost ROUNDS REPEAT HEXFRAME... | consume REPEAT HEXFRAME\n");
	return 2;
}
