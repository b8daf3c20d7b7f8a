/*
 * C side of the Rust stand-in: pthread-backed locks, and the allocator's
 * module init run before main (buddy.c creates its slab cache there; without
 * it the first allocation dereferences a null cache).
 */
#include <pthread.h>
#include <stdlib.h>

#include "bh_rust_glue.h"

_Static_assert(sizeof(struct mutex) >= sizeof(pthread_mutex_t), "struct mutex too small");
_Static_assert(sizeof(spinlock_t) >= sizeof(pthread_mutex_t), "spinlock_t too small");

#define AS_PTHREAD(l) ((pthread_mutex_t *)(void *)(l))

void __mutex_init(struct mutex *lock, const char *name, struct lock_class_key *key)
{
	(void)name;
	(void)key;
	pthread_mutex_init(AS_PTHREAD(lock), NULL);
}

void mutex_lock(struct mutex *lock) { pthread_mutex_lock(AS_PTHREAD(lock)); }
void mutex_unlock(struct mutex *lock) { pthread_mutex_unlock(AS_PTHREAD(lock)); }
int mutex_trylock(struct mutex *lock) { return pthread_mutex_trylock(AS_PTHREAD(lock)) == 0; }
void mutex_assert_is_held(struct mutex *lock) { (void)lock; }

void __spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key)
{
	__mutex_init((struct mutex *)lock, name, key);
}

void spin_lock(spinlock_t *lock) { pthread_mutex_lock(AS_PTHREAD(lock)); }
void spin_unlock(spinlock_t *lock) { pthread_mutex_unlock(AS_PTHREAD(lock)); }
int spin_trylock(spinlock_t *lock) { return pthread_mutex_trylock(AS_PTHREAD(lock)) == 0; }
void spin_assert_is_held(spinlock_t *lock) { (void)lock; }

extern long bh_slab_budget;
int bh_module_init(void);

__attribute__((constructor)) static void bh_rust_setup(void)
{
	const char *budget = getenv("BH_SLAB_BUDGET");

	if (budget && atol(budget) > 0)
		bh_slab_budget = atol(budget);
	bh_module_init();
}
