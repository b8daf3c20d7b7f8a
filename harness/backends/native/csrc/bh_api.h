/*
 * The harness's flat C interface over one allocator family.  Lists of blocks
 * are owned by handles so callers never see kernel structures.
 */
#ifndef BH_API_H
#define BH_API_H
#include <stdint.h>

struct bh_mm;
struct bh_list;

struct bh_mm *bh_init(uint64_t size, uint64_t chunk_size, int *err);
uint64_t bh_size(struct bh_mm *mm);
uint64_t bh_avail(struct bh_mm *mm);
uint64_t bh_clear_avail(struct bh_mm *mm);
struct bh_list *bh_alloc(struct bh_mm *mm, uint64_t start, uint64_t end, uint64_t size,
			 uint64_t min_block_size, unsigned long flags, int *err);
/* Copies up to max (offset, order) pairs; returns how many blocks the list holds. */
long bh_blocks(struct bh_list *list, uint64_t *offsets, unsigned int *orders, long max);
void bh_free(struct bh_mm *mm, struct bh_list *list, unsigned int flags);
int bh_trim(struct bh_mm *mm, struct bh_list *list, uint64_t new_size, const uint64_t *start);
int bh_reset_clear(struct bh_mm *mm, int is_clear);
void bh_fini(struct bh_mm *mm);
/* Warnings raised since the last call: count, then texts by index. */
int bh_warn_pending(void);
const char *bh_warn_text(int i);
void bh_warn_clear(void);
long bh_live(void);
/* Fail the n-th memory allocation the allocator makes from now on (0: none). */
void bh_fail_nth(long n);
/* How many armed failures fired since the last call; disarms. */
long bh_fail_fired_take(void);
/* At fini of the last allocator: warn if more than `expected` block structures live. */
void bh_check_slab_empty(long expected);
/* Test-only: free a list's first block twice (the allocator's BUG_ON fires). */
void bh_test_double_free(struct bh_mm *mm, struct bh_list *list);
/* Test-only: take one block structure from the slab and lose it. */
void bh_test_leak_structure(void);
/* Test-only: never return. */
void bh_test_spin(void);
#endif
