/*
 * Slab caches over calloc; live objects are counted so leaks show, and
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

/*
 * Freed block structures are poisoned, as SLUB's debug mode does, and held back in
 * the cache's quarantine for a while: a use after free then reads poison and crashes
 * in every build (ASan builds leave it to ASan).  Out of the quarantine, an object
 * waits on the cache's free list for its next allocation, as a slab's objects do:
 * the C library's malloc and free were a sixth of the time of the KUnit suite's
 * slow case.
 */
#define BH_POISON_FREE 0x6b
#define BH_QUARANTINE 4096

#define BH_CACHE_MAGIC 0x5eab1ecac4e5eab1UL

struct kmem_cache {
	unsigned long magic;	/* BH_CACHE_MAGIC: what is passed as a cache is one */
	size_t object_size;
	void *free;		/* objects out of the quarantine, each linked by its first word */
	int lock;		/* of free: the unlocked-thread tests race the allocator, not this */
	unsigned long next;	/* the quarantine's slot the next freed object takes */
	void *quarantine[BH_QUARANTINE];
};

extern long bh_live_objects;
extern long bh_slab_budget;
void bh_out_of_memory(void) __attribute__((noreturn));
void bh_double_free(void) __attribute__((noreturn));
void bh_not_a_cache(void) __attribute__((noreturn));
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
	struct kmem_cache *c = calloc(1, sizeof(*c));

	if (c) {
		c->magic = BH_CACHE_MAGIC;
		c->object_size = size < sizeof(void *) ? sizeof(void *) : size;
	}
	return c;
}

/* Anything else passed as a cache (a swapped argument) is a bug, not a lock to spin on. */
static inline void bh_cache_check(struct kmem_cache *c)
{
	if (!c || c->magic != BH_CACHE_MAGIC)
		bh_not_a_cache();
}

static inline void bh_cache_lock(struct kmem_cache *c)
{
	while (__atomic_exchange_n(&c->lock, 1, __ATOMIC_ACQUIRE))
		;
}

static inline void bh_cache_unlock(struct kmem_cache *c)
{
	__atomic_store_n(&c->lock, 0, __ATOMIC_RELEASE);
}

#define KMEM_CACHE(type, flags) bh_cache_create(sizeof(struct type))

static inline void *kmem_cache_zalloc(struct kmem_cache *c, int gfp)
{
	void *p;

	(void)gfp;
	bh_cache_check(c);
	/* A runaway request would otherwise take the whole machine's memory. */
	if (__atomic_load_n(&bh_live_objects, __ATOMIC_RELAXED) >= bh_slab_budget)
		bh_out_of_memory();
	if (bh_inject_failure())
		return NULL;
	bh_cache_lock(c);
	p = c->free;
	if (p)
		c->free = *(void **)p;
	bh_cache_unlock(c);
	if (p)
		memset(p, 0, c->object_size);
	else
		p = calloc(1, c->object_size);
	if (p)
		__atomic_add_fetch(&bh_live_objects, 1, __ATOMIC_RELAXED);
	return p;
}

static inline int bh_poisoned(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != BH_POISON_FREE)
			return 0;
	return n > 0;
}

static inline void kmem_cache_free(struct kmem_cache *c, void *p)
{
	unsigned long i;

	if (!p)
		return;
	bh_cache_check(c);
	__atomic_sub_fetch(&bh_live_objects, 1, __ATOMIC_RELAXED);
#ifdef __SANITIZE_ADDRESS__
	/* ASan quarantines and poisons on its own, and names the bug precisely. */
	(void)i;
	(void)c;
	free(p);
	return;
#endif
	/* Poisoned past its first word (the free list's link): it was freed already.  The C
	 * library used to catch a second free when the quarantine gave it back; the free
	 * list would hand the object out twice instead. */
	if (bh_poisoned((char *)p + sizeof(void *), c->object_size - sizeof(void *)))
		bh_double_free();
	memset(p, BH_POISON_FREE, c->object_size);
	i = __atomic_fetch_add(&c->next, 1, __ATOMIC_RELAXED) % BH_QUARANTINE;
	p = __atomic_exchange_n(&c->quarantine[i], p, __ATOMIC_ACQ_REL);
	if (!p)
		return;
	bh_cache_lock(c);
	*(void **)p = c->free;
	c->free = p;
	bh_cache_unlock(c);
}

static inline void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	for (unsigned long i = 0; i < BH_QUARANTINE; i++)
		free(c->quarantine[i]);
	while (c->free) {
		void *p = c->free;

		c->free = *(void **)p;
		free(p);
	}
	free(c);
}
#endif
