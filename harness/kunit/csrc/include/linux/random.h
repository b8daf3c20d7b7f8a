/*
 * get_random_u32() of the stand-in: the run's seed (--kunit-seed) first, so a
 * suite that draws its seed from it prints a seed that replays the run, then
 * numbers drawn from a generator seeded by it.
 */
#ifndef BH_KUNIT_RANDOM_H
#define BH_KUNIT_RANDOM_H
#include <linux/types.h>
#include <linux/prandom.h>
u32 get_random_u32(void);
u64 get_random_u64(void);
static inline u32 get_random_u32_below(u32 ceil)
{
	return (u32)(((u64)get_random_u32() * ceil) >> 32);
}
#endif
