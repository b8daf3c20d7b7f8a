/*
 * kunit_fail_current_test() of the allocator's C (gpu_buddy_assert, fini's root
 * check): the wrapper passes it to the KUnit stand-in's runtime when a KUnit case
 * is running, and does nothing otherwise (the WARN_ON beside it is the record).
 */
#ifndef BH_KUNIT_TEST_BUG_H
#define BH_KUNIT_TEST_BUG_H
void bh_kunit_fail_current(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define kunit_fail_current_test(fmt, ...) \
	bh_kunit_fail_current(__FILE__, __LINE__, fmt, ##__VA_ARGS__)
#endif
