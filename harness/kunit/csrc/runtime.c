/*
 * The runtime of the harness's KUnit stand-in: runs every registered suite and
 * prints KTAP as the kernel's KUnit does.  Each case runs in a forked child, so a
 * crash, a BUG_ON or a timeout ends that case alone ("try faulted", "try timed
 * out"), reported with the last KUnit check the case reached.  A page shared with
 * the child carries its verdict back.
 *
 * Options: --seed N (what get_random_u32() returns first), --skip-slow (cases
 * marked KUNIT_CASE_SLOW are reported skipped, not run), --timeout SECONDS (per
 * case), --records FILE (one machine-readable line per case for the harness),
 * --module NAME (the module the kernel would build the test into, for the KTAP).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <kunit/test.h>
#include <linux/random.h>

#define INDENT "    "
#define SUBINDENT "        "
#define MAX_SUITES 16
#define TEXT_MAX 4096

/* The allocator's module init (its slab cache) and the shim's hook for
 * kunit_fail_current_test(), both in the allocator's library. */
int bh_module_init(void);
extern void (*bh_kunit_fail_hook)(const char *file, int line, const char *msg);

static struct kunit_suite *suites[MAX_SUITES];
static size_t n_suites;

void bh_kunit_register(struct kunit_suite **list, size_t n)
{
	for (size_t i = 0; i < n && n_suites < MAX_SUITES; i++)
		suites[n_suites++] = list[i];
}

/* What a case's child tells its parent. */
struct verdict {
	int done;
	int failures;
	enum kunit_status status;
	const char *seen_file;  /* the last check reached: same address in parent and child */
	int seen_line;
	char first_failure[TEXT_MAX];
	char skip_reason[256];
};

static struct verdict *shared;
static struct kunit *running;
static jmp_buf case_end;
static u32 seed = 0x5eed1e55;
static struct rnd_state random_state;

/* -- output ------------------------------------------------------------------ */

/* Whole lines straight to the file descriptor: nothing is left in a buffer by a crash. */
static void emit(const char *text, size_t n)
{
	while (n) {
		ssize_t w = write(1, text, n);

		if (w <= 0) {
			if (w < 0 && errno == EINTR)
				continue;
			return;
		}
		text += w;
		n -= (size_t)w;
	}
}

static void emitf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void emitf(const char *fmt, ...)
{
	char buf[TEXT_MAX + 512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		emit(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* A printk: one trailing newline ends the record, as the kernel's log has it. */
static void log_line(const char *name, const char *text)
{
	size_t n = strlen(text);

	if (n && text[n - 1] == '\n')
		n--;
	emitf(INDENT "# %s: %.*s\n", name, (int)n, text);
}

void bh_kunit_log(const char *name, const char *fmt, ...)
{
	char buf[TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_line(name, buf);
}

int bh_vprintk(const char *fmt, va_list ap)
{
	char buf[TEXT_MAX];
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);

	if (n > 0)
		emit(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}

int bh_printk(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = bh_vprintk(fmt, ap);
	va_end(ap);
	return n;
}

/* -- time and randomness ----------------------------------------------------------- */

ktime_t ktime_get(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ktime_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

unsigned long bh_jiffies(void)
{
	return (unsigned long)(ktime_get() / 1000000);
}

u32 get_random_u32(void)
{
	static int drawn;

	if (!drawn++)
		return seed;
	return prandom_u32_state(&random_state);
}

u64 get_random_u64(void)
{
	u64 hi = get_random_u32();

	return hi << 32 | get_random_u32();
}

/* -- failures ----------------------------------------------------------------------- */

static void seen(const char *file, int line)
{
	shared->seen_file = file;
	shared->seen_line = line;
}

/* Print a failure's text as one KUnit error record and keep the first for the harness. */
static void record_failure(struct kunit *test, const char *text)
{
	test->status = KUNIT_FAILURE;
	if (!shared->failures++)
		snprintf(shared->first_failure, sizeof(shared->first_failure), "%s", text);
	log_line(test->name, text);
}

static void end_if_assertion(enum kunit_assert_type type)
{
	if (type == KUNIT_ASSERTION)
		longjmp(case_end, 1);
}

/* "EXPECTATION FAILED at F:L\n" and the check's own lines, then the message if any. */
struct text {
	char buf[TEXT_MAX];
	size_t n;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->n >= sizeof(t->buf) - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->buf + t->n, sizeof(t->buf) - t->n, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->n = t->n + (size_t)n < sizeof(t->buf) ? t->n + (size_t)n : sizeof(t->buf) - 1;
}

static void prologue(struct text *t, enum kunit_assert_type type, const char *file, int line)
{
	t->n = 0;
	t->buf[0] = 0;
	add(t, "%s FAILED at %s:%d\n", type == KUNIT_ASSERTION ? "ASSERTION" : "EXPECTATION",
	    file, line);
}

static void message(struct text *t, const char *fmt, va_list ap)
{
	if (!fmt || t->n >= sizeof(t->buf) - 2)
		return;
	add(t, "\n");
	vsnprintf(t->buf + t->n, sizeof(t->buf) - t->n, fmt, ap);
	t->n = strlen(t->buf);
}

/* A literal operand is shown once, in the "Expected" line only. */
static int is_literal(const char *text, long long value)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", value);
	return strcmp(buf, text) == 0;
}

static void finish(struct kunit *test, struct text *t, enum kunit_assert_type type)
{
	while (t->n && t->buf[t->n - 1] == '\n')
		t->buf[--t->n] = 0;
	record_failure(test, t->buf);
	end_if_assertion(type);
}

void bh_kunit_fail_binary(struct kunit *test, enum kunit_assert_type type, const char *file,
			  int line, const char *left, const char *op, const char *right,
			  long long lv, long long rv, const char *fmt, ...)
{
	struct text t;
	va_list ap;

	prologue(&t, type, file, line);
	add(&t, INDENT "Expected %s %s %s, but\n", left, op, right);
	if (!is_literal(left, lv))
		add(&t, SUBINDENT "%s == %lld (0x%llx)\n", left, lv, (unsigned long long)lv);
	if (!is_literal(right, rv))
		add(&t, SUBINDENT "%s == %lld (0x%llx)", right, rv, (unsigned long long)rv);
	va_start(ap, fmt);
	message(&t, fmt, ap);
	va_end(ap);
	finish(test, &t, type);
}

/* A comparison whose operands are shown as text: pointers, strings. */
static void fail_shown(struct kunit *test, enum kunit_assert_type type, const char *file,
		       int line, const char *left, const char *op, const char *right,
		       const char *lv, const char *rv, const char *fmt, va_list ap)
{
	struct text t;

	prologue(&t, type, file, line);
	add(&t, INDENT "Expected %s %s %s, but\n", left, op, right);
	add(&t, SUBINDENT "%s == %s\n", left, lv);
	add(&t, SUBINDENT "%s == %s", right, rv);
	message(&t, fmt, ap);
	finish(test, &t, type);
}

void bh_kunit_fail_ptr(struct kunit *test, enum kunit_assert_type type, const char *file,
		       int line, const char *left, const char *op, const char *right,
		       const void *lv, const void *rv, const char *fmt, ...)
{
	char l[32], r[32];
	va_list ap;

	snprintf(l, sizeof(l), "%p", lv);
	snprintf(r, sizeof(r), "%p", rv);
	va_start(ap, fmt);
	fail_shown(test, type, file, line, left, op, right, l, r, fmt, ap);
	va_end(ap);
}

int bh_kunit_strcmp(const char *a, const char *b)
{
	return strcmp(a ? a : "(null)", b ? b : "(null)");
}

void bh_kunit_fail_str(struct kunit *test, enum kunit_assert_type type, const char *file,
		       int line, const char *left, const char *op, const char *right,
		       const char *lv, const char *rv, const char *fmt, ...)
{
	char l[TEXT_MAX / 4], r[TEXT_MAX / 4];
	va_list ap;

	snprintf(l, sizeof(l), "\"%s\"", lv ? lv : "(null)");
	snprintf(r, sizeof(r), "\"%s\"", rv ? rv : "(null)");
	va_start(ap, fmt);
	fail_shown(test, type, file, line, left, op, right, l, r, fmt, ap);
	va_end(ap);
}

void bh_kunit_fail_unary(struct kunit *test, enum kunit_assert_type type, const char *file,
			 int line, const char *cond, int expected_true, const char *fmt, ...)
{
	struct text t;
	va_list ap;

	prologue(&t, type, file, line);
	add(&t, INDENT "Expected %s to be %s, but is %s\n", cond,
	    expected_true ? "true" : "false", expected_true ? "false" : "true");
	va_start(ap, fmt);
	message(&t, fmt, ap);
	va_end(ap);
	finish(test, &t, type);
}

void bh_kunit_fail_err_ptr(struct kunit *test, enum kunit_assert_type type, const char *file,
			   int line, const char *text, const void *value, const char *fmt, ...)
{
	struct text t;
	va_list ap;

	prologue(&t, type, file, line);
	if (!value)
		add(&t, INDENT "Expected %s is not null, but is\n", text);
	else
		add(&t, INDENT "Expected %s is not error, but is: %ld\n", text, (long)value);
	va_start(ap, fmt);
	message(&t, fmt, ap);
	va_end(ap);
	finish(test, &t, type);
}

void bh_kunit_fail_plain(struct kunit *test, enum kunit_assert_type type, const char *file,
			 int line, const char *fmt, ...)
{
	struct text t;
	va_list ap;

	prologue(&t, type, file, line);
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(t.buf + t.n, sizeof(t.buf) - t.n, fmt, ap);
		va_end(ap);
		t.n = strlen(t.buf);
	}
	finish(test, &t, type);
}

/* Every check passes here first (test.h), failed or not: KUnit's "last line seen". */
void bh_kunit_seen(const char *file, int line)
{
	seen(file, line);
}

/* kunit_fail_current_test() from inside the allocator (gpu_buddy_assert). */
static void fail_current(const char *file, int line, const char *msg)
{
	char buf[TEXT_MAX];

	if (!running)
		return;
	snprintf(buf, sizeof(buf), "%s:%d: %s", file, line, msg);
	record_failure(running, buf);
}

void bh_kunit_skip(struct kunit *test, int end, const char *fmt, ...)
{
	va_list ap;

	test->status = KUNIT_SKIPPED;
	va_start(ap, fmt);
	vsnprintf(test->status_comment, sizeof(test->status_comment), fmt, ap);
	va_end(ap);
	if (end)
		longjmp(case_end, 1);
}

void *kunit_kmalloc_array(struct kunit *test, size_t n, size_t size, gfp_t gfp)
{
	(void)test;
	(void)gfp;
	return calloc(n, size);  /* the child's exit releases it with the case */
}

void kunit_kfree(struct kunit *test, const void *ptr)
{
	(void)test;
	free((void *)ptr);
}

/* -- one case, in a child ----------------------------------------------------------- */

static void run_in_child(struct kunit_suite *suite, struct kunit_case *c, int out, int err)
{
	struct kunit test = { .name = c->name, .status = KUNIT_SUCCESS };

	dup2(out, 1);
	dup2(err, 2);
	running = &test;
	if (setjmp(case_end) == 0) {
		int rc = suite->init ? suite->init(&test) : 0;

		if (rc) {
			char buf[64];

			snprintf(buf, sizeof(buf), "failed to initialize: %d", rc);
			record_failure(&test, buf);
		} else {
			c->run_case(&test);
		}
	}
	if (suite->exit && setjmp(case_end) == 0)
		suite->exit(&test);
	running = NULL;
	if (shared->failures && test.status != KUNIT_SKIPPED)
		test.status = KUNIT_FAILURE;
	shared->status = test.status;
	snprintf(shared->skip_reason, sizeof(shared->skip_reason), "%s", test.status_comment);
	__atomic_store_n(&shared->done, 1, __ATOMIC_RELEASE);
	_exit(0);
}

struct child_io {
	char buf[2][TEXT_MAX];
	size_t len[2];
	char last[TEXT_MAX];  /* the last line the child wrote on stderr */
};

/* Forward what the child writes: its stdout as it is, its stderr as diagnostics. */
static void forward(struct child_io *io, int which, const char *name, int flush)
{
	char *b = io->buf[which];
	size_t start = 0;

	for (size_t i = 0; i < io->len[which]; i++) {
		if (b[i] != '\n' && !(flush && i + 1 == io->len[which]))
			continue;
		size_t end = b[i] == '\n' ? i : i + 1;

		if (which == 0) {
			emit(b + start, end - start);
			emit("\n", 1);
		} else if (end > start) {
			emitf(INDENT "# %s: %.*s\n", name, (int)(end - start), b + start);
			snprintf(io->last, sizeof(io->last), "%.*s", (int)(end - start), b + start);
		}
		start = i + 1;
	}
	memmove(b, b + start, io->len[which] - start);
	io->len[which] -= start;
}

static double now(void)
{
	return (double)ktime_get() / 1e9;
}

enum outcome { PASSED, FAILED, SKIPPED, CRASHED, TIMED_OUT };

static enum outcome run_case(struct kunit_suite *suite, struct kunit_case *c, double timeout,
			     char *detail, size_t detail_len)
{
	int out[2], err[2], status = 0, open_fds = 2, timed_out = 0, exited = 0;
	struct child_io io = { 0 };
	double deadline = now() + timeout;
	pid_t pid;

	memset(shared, 0, sizeof(*shared));
	if (pipe(out) || pipe(err)) {
		snprintf(detail, detail_len, "pipe: %s", strerror(errno));
		return CRASHED;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(out[0]);
		close(err[0]);
		run_in_child(suite, c, out[1], err[1]);
	}
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		snprintf(detail, detail_len, "fork: %s", strerror(errno));
		close(out[0]);
		close(err[0]);
		return CRASHED;
	}
	struct pollfd fds[2] = { { out[0], POLLIN, 0 }, { err[0], POLLIN, 0 } };

	/*
	 * Read until the case's pipes close, or, once the case has exited, until nothing is
	 * left to read: a process the code under test forked may hold the pipes open for
	 * good, and must not hold the suite (it stays in our group, which our caller ends).
	 */
	while (open_fds) {
		int left = (int)((deadline - now()) * 1000), ready;

		if (left <= 0 && !timed_out) {
			kill(pid, SIGKILL);
			timed_out = 1;
		}
		/* Short waits while the case runs, so its exit is seen soon. */
		ready = poll(fds, 2, exited ? 0 : timed_out || left > 20 ? 20 : left);
		if (ready < 0 && errno != EINTR)
			break;
		for (int i = 0; ready > 0 && i < 2; i++) {
			if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(fds[i].fd, io.buf[i] + io.len[i], sizeof(io.buf[i]) - io.len[i]);

			if (n > 0) {
				io.len[i] += (size_t)n;
				forward(&io, i, c->name, io.len[i] == sizeof(io.buf[i]));
			} else if (n == 0 || errno != EINTR) {
				forward(&io, i, c->name, 1);
				close(fds[i].fd);
				fds[i].fd = -1;
				open_fds--;
			}
		}
		if (exited && ready == 0)
			break;
		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = 1;
	}
	for (int i = 0; i < 2; i++)
		if (fds[i].fd >= 0) {
			forward(&io, i, c->name, 1);
			close(fds[i].fd);
		}
	if (!exited)
		waitpid(pid, &status, 0);
	if (__atomic_load_n(&shared->done, __ATOMIC_ACQUIRE) && WIFEXITED(status)) {
		if (shared->status == KUNIT_SKIPPED)
			return SKIPPED;
		return shared->status == KUNIT_FAILURE ? FAILED : PASSED;
	}
	/* Died on the way: a signal (BUG_ON aborts), an exit, or our kill at the deadline. */
	char where[TEXT_MAX];

	if (shared->seen_file)
		snprintf(where, sizeof(where), ": last line seen %s:%d", shared->seen_file,
			 shared->seen_line);
	else
		where[0] = 0;
	if (timed_out) {
		log_line(c->name, "try timed out");
		snprintf(detail, detail_len, "try timed out after %g s%s", timeout, where);
		return TIMED_OUT;
	}
	char line[TEXT_MAX + 64];

	snprintf(line, sizeof(line), "try faulted%s", where);
	log_line(c->name, line);
	if (WIFSIGNALED(status))
		snprintf(detail, detail_len, "%s (signal %d%s%s)", line, WTERMSIG(status),
			 io.last[0] ? ": " : "", io.last);
	else
		snprintf(detail, detail_len, "%s (exit %d%s%s)", line, WEXITSTATUS(status),
			 io.last[0] ? ": " : "", io.last);
	return CRASHED;
}

/* -- the suites -------------------------------------------------------------------- */

static FILE *records;

/* One line per case for the harness: tab-separated, the text with \\, \t, \n escaped. */
static void record(const char *suite, const char *name, const char *status, double seconds,
		   const char *text)
{
	if (!records)
		return;
	fprintf(records, "case\t%s\t%s\t%s\t%.6f\t", suite, name, status, seconds);
	for (const char *p = text; p && *p; p++) {
		if (*p == '\\')
			fputs("\\\\", records);
		else if (*p == '\n')
			fputs("\\n", records);
		else if (*p == '\t')
			fputs("\\t", records);
		else
			fputc(*p, records);
	}
	fputc('\n', records);
	fflush(records);
}

static size_t count_cases(struct kunit_suite *s)
{
	size_t n = 0;

	while (s->test_cases[n].run_case)
		n++;
	return n;
}

static const char *module;  /* the test's module, as KUnit names it (--module) */

static int run_suite(struct kunit_suite *s, size_t number, int skip_slow, double timeout)
{
	size_t pass = 0, fail = 0, skip = 0, n = count_cases(s);

	if (s->suite_init) {
		int rc = s->suite_init(s);

		if (rc) {
			char buf[64];

			snprintf(buf, sizeof(buf), INDENT "# failed to initialize (%d)", rc);
			log_line(s->name, buf);
			for (size_t i = 0; i < n; i++)
				record(s->name, s->test_cases[i].name, "fail", 0, buf + strlen(INDENT));
			emitf("not ok %zu %s\n", number, s->name);
			return 1;
		}
	}
	emitf(INDENT "KTAP version 1\n" INDENT "# Subtest: %s\n", s->name);
	if (module)
		emitf(INDENT "# module: %s\n", module);
	emitf(INDENT "1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		struct kunit_case *c = &s->test_cases[i];
		int slow = c->attr.speed == KUNIT_SPEED_SLOW || c->attr.speed == KUNIT_SPEED_VERY_SLOW;
		char detail[TEXT_MAX + 256] = "";
		double t0 = now();
		enum outcome o;

		if (slow && skip_slow) {
			o = SKIPPED;
			shared->failures = 0;
			snprintf(shared->skip_reason, sizeof(shared->skip_reason),
				 "slow case left out (--kunit-skip-slow)");
		} else {
			o = run_case(s, c, timeout, detail, sizeof(detail));
		}
		if (slow)
			emitf(INDENT "# %s.speed: %s\n", c->name,
			      c->attr.speed == KUNIT_SPEED_SLOW ? "slow" : "very_slow");
		switch (o) {
		case PASSED:
			pass++;
			emitf(INDENT "ok %zu %s\n", i + 1, c->name);
			record(s->name, c->name, "pass", now() - t0, "");
			break;
		case SKIPPED:
			skip++;
			emitf(INDENT "ok %zu %s # SKIP %s\n", i + 1, c->name, shared->skip_reason);
			record(s->name, c->name, "skip", now() - t0, shared->skip_reason);
			break;
		case FAILED:
			fail++;
			emitf(INDENT "not ok %zu %s\n", i + 1, c->name);
			if (shared->failures > 1)
				snprintf(detail, sizeof(detail), "%s\n(and %d more failures)",
					 shared->first_failure, shared->failures - 1);
			else
				snprintf(detail, sizeof(detail), "%s", shared->first_failure);
			record(s->name, c->name, "fail", now() - t0, detail);
			break;
		case CRASHED:
		case TIMED_OUT:
			fail++;
			emitf(INDENT "not ok %zu %s\n", i + 1, c->name);
			record(s->name, c->name, o == CRASHED ? "crash" : "timeout", now() - t0, detail);
			break;
		}
	}
	if (s->suite_exit)
		s->suite_exit(s);
	emitf("# %s: pass:%zu fail:%zu skip:%zu total:%zu\n", s->name, pass, fail, skip, n);
	emitf("# Totals: pass:%zu fail:%zu skip:%zu total:%zu\n", pass, fail, skip, n);
	if (fail)
		emitf("not ok %zu %s\n", number, s->name);
	else if (skip == n && n)
		emitf("ok %zu %s # SKIP\n", number, s->name);
	else
		emitf("ok %zu %s\n", number, s->name);
	return fail != 0;
}

int main(int argc, char **argv)
{
	int skip_slow = 0, failed = 0;
	double timeout = 300;  /* KUnit's own default */

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = (u32)strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--module") && i + 1 < argc) {
			module = argv[++i];
		} else if (!strcmp(argv[i], "--skip-slow")) {
			skip_slow = 1;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			timeout = strtod(argv[++i], NULL);
		} else if (!strcmp(argv[i], "--records") && i + 1 < argc) {
			records = fopen(argv[++i], "w");
			if (!records) {
				perror(argv[i]);
				return 2;
			}
		} else {
			fprintf(stderr, "usage: %s [--seed N] [--skip-slow] [--timeout S] "
				"[--records FILE]\n", argv[0]);
			return 2;
		}
	}
	prandom_seed_state(&random_state, seed);
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
		      -1, 0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	bh_kunit_fail_hook = fail_current;
	bh_module_init();
	/* Before the version line, which KTAP readers start from. */
	emitf("# buddy-harness KUnit stand-in: random seed 0x%x (get_random_u32() returns it "
	      "first; --kunit-seed sets it)\n", seed);
	emitf("KTAP version 1\n1..%zu\n", n_suites);
	for (size_t i = 0; i < n_suites; i++)
		failed |= run_suite(suites[i], i + 1, skip_slow, timeout);
	if (records)
		fclose(records);
	return failed;
}
