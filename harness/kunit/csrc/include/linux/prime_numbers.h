/* Prime iteration for the tests: a value not prime is stepped over, as the kernel's. */
#ifndef BH_KUNIT_PRIME_NUMBERS_H
#define BH_KUNIT_PRIME_NUMBERS_H
#include <stdbool.h>

static inline bool is_prime_number(unsigned long x)
{
	unsigned long d;

	if (x < 2)
		return false;
	for (d = 2; d <= x / d; d++)
		if (x % d == 0)
			return false;
	return true;
}

static inline unsigned long next_prime_number(unsigned long x)
{
	if (x < 2)
		return 2;
	do
		x++;
	while (!is_prime_number(x));
	return x;
}

#define for_each_prime_number_from(prime, from, max) \
	for ((prime) = (from); (prime) <= (max); (prime) = next_prime_number(prime)) \
		if (!is_prime_number(prime)) continue; else
#define for_each_prime_number(prime, max) for_each_prime_number_from(prime, 2, max)
#endif
