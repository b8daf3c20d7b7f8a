/*
 * What the Rust stand-in needs from C beyond the allocator: the lock
 * primitives the tree's sync/lock modules call, here over pthreads.  Sizes
 * are fixed so the Rust side can embed them without seeing pthread.h.
 */
#ifndef BH_RUST_GLUE_H
#define BH_RUST_GLUE_H

struct lock_class_key {
	char unused;
};

struct mutex {
	unsigned long long opaque[8];
};

typedef struct spinlock {
	unsigned long long opaque[8];
} spinlock_t;

void __mutex_init(struct mutex *lock, const char *name, struct lock_class_key *key);
void mutex_lock(struct mutex *lock);
void mutex_unlock(struct mutex *lock);
int mutex_trylock(struct mutex *lock);
void mutex_assert_is_held(struct mutex *lock);

void __spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key);
void spin_lock(spinlock_t *lock);
void spin_unlock(spinlock_t *lock);
int spin_trylock(spinlock_t *lock);
void spin_assert_is_held(spinlock_t *lock);

/* Kernel-internal error numbers (include/linux/errno.h) the error module names. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ENOIOCTLCMD 515
#define ERESTART_RESTARTBLOCK 516
#define EPROBE_DEFER 517
#define EOPENSTALE 518
#define ENOPARAM 519
#define EBADHANDLE 521
#define ENOTSYNC 522
#define EBADCOOKIE 523
#define ENOTSUPP 524
#define ETOOSMALL 525
#define ESERVERFAULT 526
#define EBADTYPE 527
#define EJUKEBOX 528
#define EIOCBQUEUED 529
#define ERECALLCONFLICT 530
#define ENOGRACE 531
#endif
