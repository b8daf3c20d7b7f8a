/*
 * The kernel's seeded generator, as a test replays it: a combined Tausworthe
 * generator of four 32-bit components (L'Ecuyer's LFSR113), each seeded from
 * one 32-bit fold of the 64-bit seed, raised to the component's minimum.
 */
#ifndef BH_KUNIT_PRANDOM_H
#define BH_KUNIT_PRANDOM_H
#include <linux/types.h>

struct rnd_state {
	__u32 s1, s2, s3, s4;
};

static inline u32 bh_prandom_floor(u32 x, u32 least)
{
	return x < least ? x + least : x;
}

static inline void prandom_seed_state(struct rnd_state *state, u64 seed)
{
	u32 fold = (u32)(((seed >> 32) ^ (seed << 10) ^ seed) & 0xffffffffUL);

	state->s1 = bh_prandom_floor(fold, 2U);
	state->s2 = bh_prandom_floor(fold, 8U);
	state->s3 = bh_prandom_floor(fold, 16U);
	state->s4 = bh_prandom_floor(fold, 128U);
}

/* One step of a component: shift-xor feedback, masked, shifted back in. */
static inline u32 bh_prandom_step(u32 s, unsigned int q, unsigned int r, u32 mask,
				  unsigned int k)
{
	return ((s & mask) << k) ^ (((s << q) ^ s) >> r);
}

static inline u32 prandom_u32_state(struct rnd_state *state)
{
	state->s1 = bh_prandom_step(state->s1, 6, 13, 0xfffffffeU, 18);
	state->s2 = bh_prandom_step(state->s2, 2, 27, 0xfffffff8U, 2);
	state->s3 = bh_prandom_step(state->s3, 13, 21, 0xfffffff0U, 7);
	state->s4 = bh_prandom_step(state->s4, 3, 12, 0xffffff80U, 13);
	return state->s1 ^ state->s2 ^ state->s3 ^ state->s4;
}
#endif
