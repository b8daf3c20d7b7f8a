/*
 * Slab caches over calloc/free; live objects are counted so leaks show, and
 * capped (bh_slab_budget) so a runaway loop stops with a report, not the OOM killer.
 * Like the kernel's failslab, one allocation can be made to fail on purpose:
 * bh_fail_countdown = N makes the N-th allocation from then on (block structure
 * or array) return NULL, once.
 */
#ifndef BH_SLAB_H
#define BH_SLAB_H
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

#ifndef GFP_KERNEL
#define GFP_KERNEL 0
#endif

struct kmem_cache {
	size_t object_size;
};

extern long bh_live_objects;
extern long bh_slab_budget;
void bh_out_of_memory(void) __attribute__((noreturn));
extern long bh_fail_countdown;
extern long bh_fail_fired;

/* True for the one allocation chosen to fail. */
static inline int bh_inject_failure(void)
{
	if (__atomic_load_n(&bh_fail_countdown, __ATOMIC_RELAXED) <= 0)
		return 0;
	if (__atomic_sub_fetch(&bh_fail_countdown, 1, __ATOMIC_RELAXED) != 0)
		return 0;
	__atomic_add_fetch(&bh_fail_fired, 1, __ATOMIC_RELAXED);
	return 1;
}

static inline void *kmalloc_array(size_t n, size_t size, int gfp)
{
	(void)gfp;
	if (bh_inject_failure())
		return NULL;
	return calloc(n, size);
}

static inline void kfree(const void *p)
{
	free((void *)p);
}

static inline struct kmem_cache *bh_cache_create(size_t size)
{
	struct kmem_cache *c = malloc(sizeof(*c));

	if (c)
		c->object_size = size;
	return c;
}

#define KMEM_CACHE(type, flags) bh_cache_create(sizeof(struct type))

static inline void *kmem_cache_zalloc(struct kmem_cache *c, int gfp)
{
	void *p;

	(void)gfp;
	/* A runaway request would otherwise take the whole machine's memory. */
	if (__atomic_load_n(&bh_live_objects, __ATOMIC_RELAXED) >= bh_slab_budget)
		bh_out_of_memory();
	if (bh_inject_failure())
		return NULL;
	p = calloc(1, c->object_size);
	if (p)
		__atomic_add_fetch(&bh_live_objects, 1, __ATOMIC_RELAXED);
	return p;
}

/*
 * Freed block structures are poisoned, as SLUB's debug mode does, and held back
 * for a while before they go to the C library: a use after free then reads
 * poison and crashes in every build (ASan builds leave it to ASan).
 */
#define BH_POISON_FREE 0x6b
#define BH_QUARANTINE 4096
extern void *bh_quarantine[BH_QUARANTINE];
extern unsigned long bh_quarantine_next;

static inline void kmem_cache_free(struct kmem_cache *c, void *p)
{
	unsigned long i;

	if (!p)
		return;
	__atomic_sub_fetch(&bh_live_objects, 1, __ATOMIC_RELAXED);
#ifdef __SANITIZE_ADDRESS__
	/* ASan quarantines and poisons on its own, and names the bug precisely. */
	(void)c;
	(void)i;
	free(p);
	return;
#endif
	memset(p, BH_POISON_FREE, c->object_size);
	i = __atomic_fetch_add(&bh_quarantine_next, 1, __ATOMIC_RELAXED) % BH_QUARANTINE;
	free(__atomic_exchange_n(&bh_quarantine[i], p, __ATOMIC_ACQ_REL));
}

static inline void kmem_cache_destroy(struct kmem_cache *c)
{
	free(c);
}
#endif
