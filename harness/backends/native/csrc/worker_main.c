/*
 * The worker process: one request per input line, one reply per request.
 * Replies are flushed whenever the input is drained, so a batch written in
 * one go costs one round trip.
 *
 * Requests and replies travel on file descriptors of their own, named by
 * BH_PROTOCOL_FDS="IN OUT" (0 and 1 without it), never on stdin/stdout: what
 * the allocator prints on stdout or stderr is the case's output, and cannot
 * be mistaken for a reply.
 *
 * Requests (decimal numbers):
 *   i SIZE CHUNK                    create; reply "0 MM SIZE" or "ERR"
 *   a MM START END SIZE MIN FLAGS   alloc; handle = the allocator's next number,
 *                                   failed allocations included
 *   f MM H FLAGS                    free the handle's list (no-op if gone)
 *   t MM H NEWSIZE HASSTART START   trim the handle's list
 *   r MM ISCLEAR                    reset_clear
 *   c MM                            counters only
 *   z MM                            fini
 *   w                               warnings: "N" then N text lines
 *   F N                             fail the N-th memory allocation from now (0: none);
 *                                   reply "0"
 *   g                               armed failures that fired, disarming, and the
 *                                   block structures alive (not counting those a
 *                                   leaking fini abandoned): reply "K LIVE"
 *   k MM                            after a drop: block structures alive beyond those
 *                                   already reported lost, allocators not yet finalised,
 *                                   and whether MM is one of them: "LIVE OPEN MM_OPEN"
 *   E ON                            answer each request as soon as it is done (1) or
 *                                   only once the input is drained (0, the start); "0"
 *   X MM H | L | S                  test-only: double free, lose a block structure, spin
 * Reply to a, f, t, r, c, z: "STATUS AVAIL CLEAR NWARN [N OFF ORDER ...]" where
 * STATUS is 0 or a negative errno; blocks follow for a (on success) and t.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bh_api.h"

#ifdef BH_COVERAGE
void __gcov_dump(void);
void __gcov_reset(void);

/*
 * Coverage builds write their counters after every allocator and on a fatal
 * signal, so a later crash (or a timeout's SIGKILL) loses nothing before it.
 */
static void bh_coverage_flush(void)
{
	__gcov_dump();
	__gcov_reset();
}

static void bh_coverage_on_signal(int sig)
{
	__gcov_dump();
	signal(sig, SIG_DFL);
	raise(sig);
}
#endif

struct slot {
	struct bh_mm *mm;
	struct bh_list **lists;
	long n_lists, cap;
};

/* The reply stream (see above). */
static FILE *rep;
/*
 * Each answer as soon as it is made: requests sent ahead (the harness's speculation) then
 * get the replies of the lines before one that crashes or hangs, as one at a time would.
 */
#ifdef BH_FLUSH_EACH
static int flush_each = 1;
#else
static int flush_each;
#endif

static struct slot *slots;
static long n_slots;
/* Block structures lost by earlier allocators (each loss was warned about once). */
static long lost;

static struct slot *slot_of(uint64_t id)
{
	if (id >= (uint64_t)n_slots || !slots[id].mm) {
		fprintf(stderr, "protocol: no allocator %" PRIu64 "\n", id);
		exit(3);
	}
	return &slots[id];
}

static struct bh_list **list_of(struct slot *s, uint64_t h)
{
	return h < (uint64_t)s->n_lists ? &s->lists[h] : NULL;
}

static int any_live(void)
{
	for (long i = 0; i < n_slots; i++)
		if (slots[i].mm)
			return 1;
	return 0;
}

static uint64_t *offs;
static unsigned int *ords;
static long blk_cap;

static void put_blocks(struct bh_list *l)
{
	long n = l ? bh_blocks(l, offs, ords, blk_cap) : 0;

	if (n > blk_cap) {
		blk_cap = n;
		offs = realloc(offs, sizeof(*offs) * (size_t)n);
		ords = realloc(ords, sizeof(*ords) * (size_t)n);
		if (!offs || !ords)
			abort();
		bh_blocks(l, offs, ords, blk_cap);
	}
	fprintf(rep, " %ld", n);
	for (long i = 0; i < n; i++)
		fprintf(rep, " %" PRIu64 " %u", offs[i], ords[i]);
}

static void put_state(int status, struct bh_mm *mm)
{
	fprintf(rep, "%d %" PRIu64 " %" PRIu64 " %d", status, bh_avail(mm), bh_clear_avail(mm),
	       bh_warn_pending());
}

static void handle(char *line)
{
	uint64_t v[6] = {0};
	char verb = line[0];
	char *p = line + 1;
	int n = 0;
	int err = 0;
	struct slot *s;
	struct bh_list **lp;

	while (n < 6) {
		char *end;
		uint64_t x = strtoull(p, &end, 10);

		if (end == p)
			break;
		v[n++] = x;
		p = end;
	}
	switch (verb) {
	case 'i': {
		struct bh_mm *mm = bh_init(v[0], v[1], &err);

		if (!mm) {
			fprintf(rep, "%d\n", err);
			return;
		}
		slots = realloc(slots, sizeof(*slots) * (size_t)(n_slots + 1));
		memset(&slots[n_slots], 0, sizeof(*slots));
		slots[n_slots].mm = mm;
		fprintf(rep, "0 %ld %" PRIu64 "\n", n_slots++, bh_size(mm));
		return;
	}
	case 'a': {
		struct bh_list *l;

		s = slot_of(v[0]);
		l = bh_alloc(s->mm, v[1], v[2], v[3], v[4], (unsigned long)v[5], &err);
		if (s->n_lists == s->cap) {
			s->cap = s->cap ? 2 * s->cap : 64;
			s->lists = realloc(s->lists, sizeof(*s->lists) * (size_t)s->cap);
		}
		s->lists[s->n_lists++] = l;
		put_state(err, s->mm);
		if (l)
			put_blocks(l);
		break;
	}
	case 'f':
		s = slot_of(v[0]);
		lp = list_of(s, v[1]);
		if (lp && *lp) {
			bh_free(s->mm, *lp, (unsigned int)v[2]);
			*lp = NULL;
		}
		put_state(0, s->mm);
		break;
	case 't':
		s = slot_of(v[0]);
		lp = list_of(s, v[1]);
		if (lp && *lp)
			err = bh_trim(s->mm, *lp, v[2], v[3] ? &v[4] : NULL);
		put_state(err, s->mm);
		put_blocks(lp && !err ? *lp : NULL);
		break;
	case 'r':
		s = slot_of(v[0]);
		err = bh_reset_clear(s->mm, (int)v[1]);
		put_state(err, s->mm);
		break;
	case 'c':
		s = slot_of(v[0]);
		put_state(0, s->mm);
		break;
	case 'z': {
		uint64_t avail, clear, whole;

		s = slot_of(v[0]);
		avail = bh_avail(s->mm);
		whole = bh_size(s->mm);
		clear = bh_clear_avail(s->mm);
		/* Lists still held are abandoned with the allocator, as a leaking driver would. */
		for (long i = 0; i < s->n_lists; i++)
			free(s->lists[i]);
		free(s->lists);
		bh_fini(s->mm);
		memset(s, 0, sizeof(*s));
		/*
		 * With blocks still out, fini's own leak warning has said it already.
		 * What is lost, reported either way, stays lost: later checks count from there.
		 */
		if (!any_live()) {
			if (avail == whole)
				bh_check_slab_empty(lost);
			lost = bh_live();
		}
#ifdef BH_COVERAGE
		bh_coverage_flush();
#endif
		fprintf(rep, "0 %" PRIu64 " %" PRIu64 " %d", avail, clear, bh_warn_pending());
		break;
	}
	case 'w': {
		int k = bh_warn_pending();

		fprintf(rep, "%d\n", k);
		for (int i = 0; i < k; i++)
			fprintf(rep, "%s\n", bh_warn_text(i));
		bh_warn_clear();
		return;
	}
	case 'F':
		bh_fail_nth((long)v[0]);
		fprintf(rep, "0\n");
		return;
	case 'g':
		fprintf(rep, "%ld %ld\n", bh_fail_fired_take(), bh_live() - lost);
		return;
	case 'k': {
		long open = 0;

		for (long i = 0; i < n_slots; i++)
			open += slots[i].mm != NULL;
		fprintf(rep, "%ld %ld %d\n", bh_live() - lost, open,
		       v[0] < (uint64_t)n_slots && slots[v[0]].mm != NULL);
		return;
	}
	case 'X':
		s = slot_of(v[0]);
		lp = list_of(s, v[1]);
		if (lp && *lp)
			bh_test_double_free(s->mm, *lp);
		put_state(0, s->mm);
		break;
	case 'E':
		flush_each = v[0] != 0;
		fprintf(rep, "0\n");
		return;
	case 'L':
		bh_test_leak_structure();
		fprintf(rep, "0\n");
		return;
	case 'S':
		bh_test_spin();
		break;
	default:
		fprintf(stderr, "protocol: unknown request '%c'\n", verb);
		exit(3);
	}
	fputc('\n', rep);
}

/*
 * Driven by the harness, the worker leads a process group of its own.  Once the
 * harness is gone (killed with SIGKILL, which it cannot handle), the group ends:
 * on end of input, or, should the C be spinning, when a watchdog sees the
 * worker reparented.  Nothing the C forked outlives it either.
 */
static int own_group;
static pid_t parent;

static void end_group(void)
{
	if (own_group)
		kill(0, SIGKILL);
}

static void *watch_parent(void *arg)
{
	(void)arg;
	for (;;) {
		usleep(100000);
		if (getppid() != parent)
			end_group();
	}
	return NULL;
}

/* Flush what the allocator printed before the reply that follows it: the parent reads
 * a case's output once its last reply is in. */
static void flush_all(void)
{
	fflush(stdout);
	fflush(stderr);
	fflush(rep);
}

int main(void)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	const char *fds = getenv("BH_PROTOCOL_FDS");
	int in = 0, out = 1;

	if (fds && sscanf(fds, "%d %d", &in, &out) != 2) {
		fprintf(stderr, "protocol: BH_PROTOCOL_FDS='%s' is not 'IN OUT'\n", fds);
		return 3;
	}
	rep = fdopen(out, "w");
	if (!rep) {
		perror("protocol: reply descriptor");
		return 3;
	}
	setvbuf(rep, NULL, _IOFBF, 1 << 16);
	if (fds)  /* stdout and stderr share the case's output file: keep their order */
		setvbuf(stdout, NULL, _IONBF, 0);
	own_group = fds && getpgrp() == getpid();
	if (own_group) {
		const char *pp = getenv("BH_PARENT_PID");
		pthread_t t;

		/* The harness's pid as it gave it: it may already be gone by now. */
		parent = pp ? (pid_t)atol(pp) : getppid();
		if (pthread_create(&t, NULL, watch_parent, NULL) == 0)
			pthread_detach(t);
	}
#ifdef BH_COVERAGE
	signal(SIGSEGV, bh_coverage_on_signal);
	signal(SIGBUS, bh_coverage_on_signal);
	signal(SIGFPE, bh_coverage_on_signal);
#endif
	for (;;) {
		ssize_t got;
		size_t start = 0;

		if (len == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
		got = read(in, buf + len, cap - len);
		if (got <= 0) {
			flush_all();
			end_group();  /* the harness closed its end: it is gone */
			break;
		}
		len += (size_t)got;
		for (size_t i = 0; i < len; i++) {
			if (buf[i] != '\n')
				continue;
			buf[i] = '\0';
			if (buf[start] == 'q')
				goto out;
			handle(buf + start);
			/* A reader timing one request at a time (mutation replays) must not wait
			 * for the ones queued behind it either. */
			if (flush_each)
				fflush(rep);
			start = i + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		flush_all();
	}
out:
	flush_all();
	return 0;
}
