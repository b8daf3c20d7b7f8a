/*
 * The flat interface of bh_api.h over gpu_buddy (6.12+) or drm_buddy
 * (BH_API_DRM, 6.1).  Compiled in the same library as the allocator.
 */
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#ifdef BH_API_DRM
#include <drm/drm_buddy.h>
#define BH_FN(name) drm_buddy_##name
typedef struct drm_buddy bh_impl;
typedef struct drm_buddy_block bh_block;
#else
#include <linux/gpu_buddy.h>
#define BH_FN(name) gpu_buddy_##name
typedef struct gpu_buddy bh_impl;
typedef struct gpu_buddy_block bh_block;
#endif

#include "bh_api.h"

long bh_live_objects;
/*
 * Block structures allowed alive at once.  The harness sets it from SLAB_BUDGET
 * (harness/backends/base.py): the worker from $BH_SLAB_BUDGET, the in-process
 * loader directly; unset, there is no bound.
 */
long bh_slab_budget = LONG_MAX;
long bh_fail_countdown;
long bh_fail_fired;

struct bh_mm {
	bh_impl impl;
};

struct bh_list {
	struct list_head head;
};

/* -- diagnostics ---------------------------------------------------------- */

#define BH_MAX_WARN 64
static char bh_warn_buf[BH_MAX_WARN][256];
static int bh_warn_n;

int bh_warn(const char *cond, const char *file, int line, const char *func)
{
	if (bh_warn_n < BH_MAX_WARN)
		snprintf(bh_warn_buf[bh_warn_n++], sizeof(bh_warn_buf[0]),
			 "WARN_ON(%s) at %s:%d in %s()", cond, file, line, func);
	return 1;
}

#ifdef BH_COVERAGE
void __gcov_dump(void);
#endif

/* One line on stderr, then abort: the worker's parent reads the line as the crash. */
static void bh_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bh_die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* write(2) directly: stdio buffers are not to be trusted on the way down. */
	if (n > 0 && write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1) < 0)
		n = 0;
#ifdef BH_COVERAGE
	__gcov_dump();  /* the lines that led here count too */
#endif
	abort();
}

void bh_bug(const char *cond, const char *file, int line, const char *func)
{
	bh_die("\nBUG_ON(%s) at %s:%d in %s()\n", cond, file, line, func);
}

void bh_out_of_memory(void)
{
	bh_die("\nOOM: the allocator asked for more than %ld live block structures (the slab "
	       "budget); a kernel would run out of memory\n", bh_slab_budget);
}

void bh_double_free(void)
{
	bh_die("\nBUG: a block structure freed twice (kmem_cache_free of a poisoned object)\n");
}

void bh_not_a_cache(void)
{
	bh_die("\nBUG: kmem_cache_alloc/free given something that is not a slab cache\n");
}

int bh_warn_pending(void)
{
	return bh_warn_n;
}

const char *bh_warn_text(int i)
{
	return i >= 0 && i < bh_warn_n ? bh_warn_buf[i] : "";
}

void bh_warn_clear(void)
{
	bh_warn_n = 0;
}

long bh_live(void)
{
	return bh_live_objects;
}

void bh_fail_nth(long n)
{
	__atomic_store_n(&bh_fail_fired, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&bh_fail_countdown, n > 0 ? n : 0, __ATOMIC_RELAXED);
}

long bh_fail_fired_take(void)
{
	__atomic_store_n(&bh_fail_countdown, 0, __ATOMIC_RELAXED);
	return __atomic_exchange_n(&bh_fail_fired, 0, __ATOMIC_RELAXED);
}

void bh_check_slab_empty(long expected)
{
	long n = __atomic_load_n(&bh_live_objects, __ATOMIC_RELAXED) - expected;

	/* fini frees the roots and whatever hangs below them; anything left was lost. */
	if (n && bh_warn_n < BH_MAX_WARN)
		snprintf(bh_warn_buf[bh_warn_n++], sizeof(bh_warn_buf[0]),
			 "leak: %ld block structures still allocated after the last fini", n);
}

/* Set by the KUnit stand-in's runtime while a case runs in its process. */
void (*bh_kunit_fail_hook)(const char *file, int line, const char *msg);

void bh_kunit_fail_current(const char *file, int line, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!bh_kunit_fail_hook)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	bh_kunit_fail_hook(file, line, msg);
}

/* tools/include declares it out of line (lib/hweight.c in the kernel). */
unsigned long __sw_hweight64(__u64 w)
{
	return (unsigned long)__builtin_popcountll(w);
}

int bh_module_init(void);

static void bh_once(void)
{
	static int done;

	if (!__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) {
		const char *budget = getenv("BH_SLAB_BUDGET");

		if (budget && atol(budget) > 0)
			bh_slab_budget = atol(budget);
		bh_module_init();
	}
}

/* -- the allocator -------------------------------------------------------- */

struct bh_mm *bh_init(uint64_t size, uint64_t chunk_size, int *err)
{
	struct bh_mm *mm;

	bh_once();
	mm = calloc(1, sizeof(*mm));
	if (!mm) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = BH_FN(init)(&mm->impl, size, chunk_size);
	if (*err) {
		free(mm);
		return NULL;
	}
	return mm;
}

uint64_t bh_size(struct bh_mm *mm)
{
	return mm->impl.size;
}

uint64_t bh_avail(struct bh_mm *mm)
{
	return mm->impl.avail;
}

uint64_t bh_clear_avail(struct bh_mm *mm)
{
#ifdef BH_API_DRM
	(void)mm;
	return 0;
#else
	return mm->impl.clear_avail;
#endif
}

struct bh_list *bh_alloc(struct bh_mm *mm, uint64_t start, uint64_t end, uint64_t size,
			 uint64_t min_block_size, unsigned long flags, int *err)
{
	struct bh_list *l = malloc(sizeof(*l));

	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	INIT_LIST_HEAD(&l->head);
	*err = BH_FN(alloc_blocks)(&mm->impl, start, end, size, min_block_size, &l->head, flags);
	if (*err) {
		free(l);
		return NULL;
	}
	return l;
}

long bh_blocks(struct bh_list *l, uint64_t *offsets, unsigned int *orders, long max)
{
	bh_block *b;
	long n = 0;

	list_for_each_entry(b, &l->head, link) {
		if (n < max) {
			offsets[n] = BH_FN(block_offset)(b);
			orders[n] = BH_FN(block_order)(b);
		}
		n++;
	}
	return n;
}

void bh_free(struct bh_mm *mm, struct bh_list *l, unsigned int flags)
{
#ifdef BH_API_DRM
	(void)flags;
	BH_FN(free_list)(&mm->impl, &l->head);
#else
	BH_FN(free_list)(&mm->impl, &l->head, flags);
#endif
	free(l);
}

int bh_trim(struct bh_mm *mm, struct bh_list *l, uint64_t new_size, const uint64_t *start)
{
#ifdef BH_API_DRM
	if (start)
		return -EOPNOTSUPP;
	return BH_FN(block_trim)(&mm->impl, new_size, &l->head);
#else
	u64 s = start ? *start : 0;

	return BH_FN(block_trim)(&mm->impl, start ? &s : NULL, new_size, &l->head);
#endif
}

int bh_reset_clear(struct bh_mm *mm, int is_clear)
{
#ifdef BH_API_DRM
	(void)mm;
	(void)is_clear;
	return -EOPNOTSUPP;
#else
	BH_FN(reset_clear)(&mm->impl, is_clear != 0);
	return 0;
#endif
}

void bh_fini(struct bh_mm *mm)
{
	BH_FN(fini)(&mm->impl);
	free(mm);
}

void bh_test_double_free(struct bh_mm *mm, struct bh_list *l)
{
	bh_block *b = list_first_entry(&l->head, bh_block, link);

	list_del(&b->link);
	BH_FN(free_block)(&mm->impl, b);
	BH_FN(free_block)(&mm->impl, b);
}

void bh_test_leak_structure(void)
{
	static struct kmem_cache c = {.magic = BH_CACHE_MAGIC, .object_size = 64};

	(void)kmem_cache_zalloc(&c, GFP_KERNEL);
}

void bh_test_spin(void)
{
	for (;;)
		__asm__ volatile("" ::: "memory");
}
