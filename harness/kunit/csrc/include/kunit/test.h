/*
 * The harness's KUnit stand-in: the subset of <kunit/test.h> the allocator's own
 * test files use, written for user space.  Each case runs in a forked child of
 * runtime.c; a failed assertion ends the case (longjmp back to the runtime), a
 * failed expectation only marks it.  Failure text follows KUnit's layout
 * ("EXPECTATION FAILED at F:L", "Expected a == b, but", each operand that is not
 * a literal with its value) so people and kunit.py read it as they know it.
 *
 * Operands are stringified one macro level down, after their macros expanded,
 * as KUnit's layered macros do: the text of a failure is the kernel's.
 * Parameterised cases, static stubs and kunit devices are not provided: a file
 * using them fails to compile with an error naming what is missing.
 */
#ifndef BH_KUNIT_TEST_H
#define BH_KUNIT_TEST_H

#include <stddef.h>
#include <linux/types.h>
#include <kunit/test-bug.h>
#include "bh_kunit_env.h"

enum kunit_status {
	KUNIT_SUCCESS,
	KUNIT_FAILURE,
	KUNIT_SKIPPED,
};

enum kunit_assert_type {
	KUNIT_ASSERTION,
	KUNIT_EXPECTATION,
};

enum kunit_speed {
	KUNIT_SPEED_UNSET,
	KUNIT_SPEED_VERY_SLOW,
	KUNIT_SPEED_SLOW,
	KUNIT_SPEED_NORMAL,
};

struct kunit_attributes {
	enum kunit_speed speed;
};

struct kunit;

struct kunit_case {
	void (*run_case)(struct kunit *test);
	const char *name;
	const void *generate_params;  /* always NULL here: no parameterised cases */
	struct kunit_attributes attr;
};

struct kunit_suite {
	const char name[256];
	int (*suite_init)(struct kunit_suite *suite);
	void (*suite_exit)(struct kunit_suite *suite);
	int (*init)(struct kunit *test);
	void (*exit)(struct kunit *test);
	struct kunit_case *test_cases;
	struct kunit_attributes attr;
};

struct kunit {
	void *priv;
	const char *name;
	enum kunit_status status;
	char status_comment[256];
};

#define KUNIT_CASE(test_name) { .run_case = test_name, .name = #test_name }
#define KUNIT_CASE_ATTR(test_name, attributes) \
	{ .run_case = test_name, .name = #test_name, .attr = attributes }
#define KUNIT_CASE_SLOW(test_name) \
	{ .run_case = test_name, .name = #test_name, .attr = { .speed = KUNIT_SPEED_SLOW } }

/* Not in the stand-in: a file using them stops at this line, saying so. */
#define KUNIT_CASE_PARAM(...) \
	_Pragma("GCC error \"the KUnit stand-in has no parameterised cases (KUNIT_CASE_PARAM)\"")
#define KUNIT_CASE_PARAM_ATTR(...) \
	_Pragma("GCC error \"the KUnit stand-in has no parameterised cases (KUNIT_CASE_PARAM_ATTR)\"")
#define KUNIT_ARRAY_PARAM(...) \
	_Pragma("GCC error \"the KUnit stand-in has no parameterised cases (KUNIT_ARRAY_PARAM)\"")
#define kunit_activate_static_stub(...) \
	_Pragma("GCC error \"the KUnit stand-in has no static stubs (kunit_activate_static_stub)\"")

void bh_kunit_register(struct kunit_suite **suites, size_t n);

#define kunit_test_suites(...) \
	static struct kunit_suite *bh_kunit_suites_[] = { __VA_ARGS__ }; \
	__attribute__((constructor)) static void bh_kunit_register_(void) \
	{ bh_kunit_register(bh_kunit_suites_, \
			    sizeof(bh_kunit_suites_) / sizeof(bh_kunit_suites_[0])); }
#define kunit_test_suite(suite) kunit_test_suites(&suite)
#define kunit_test_init_section_suites(...) kunit_test_suites(__VA_ARGS__)

/* -- logging: "    # NAME: text", as KUnit's printk prefix ---------------- */

void bh_kunit_log(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kunit_log(lvl, test_or_suite, fmt, ...) \
	bh_kunit_log((test_or_suite)->name, fmt, ##__VA_ARGS__)
#define kunit_printk(lvl, test, fmt, ...) kunit_log(lvl, test, fmt, ##__VA_ARGS__)
#define kunit_info(test, fmt, ...) kunit_printk(KERN_INFO, test, fmt, ##__VA_ARGS__)
#define kunit_warn(test, fmt, ...) kunit_printk(KERN_WARNING, test, fmt, ##__VA_ARGS__)
#define kunit_err(test, fmt, ...) kunit_printk(KERN_ERR, test, fmt, ##__VA_ARGS__)

/* -- memory owned by the case, released when it ends ------------------------ */

void *kunit_kmalloc_array(struct kunit *test, size_t n, size_t size, gfp_t gfp);
void kunit_kfree(struct kunit *test, const void *ptr);
#define kunit_kmalloc(test, size, gfp) kunit_kmalloc_array(test, 1, size, gfp)
#define kunit_kzalloc(test, size, gfp) kunit_kmalloc_array(test, 1, size, gfp)
#define kunit_kcalloc(test, n, size, gfp) kunit_kmalloc_array(test, n, size, gfp)

/* -- skipping ---------------------------------------------------------------- */

void bh_kunit_skip(struct kunit *test, int end, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define kunit_mark_skipped(test, fmt, ...) bh_kunit_skip(test, 0, fmt, ##__VA_ARGS__)
#define kunit_skip(test, fmt, ...) bh_kunit_skip(test, 1, fmt, ##__VA_ARGS__)

/* -- assertions and expectations ---------------------------------------------- */

/* Each records the failure in KUnit's words; an assertion then ends the case. */
void bh_kunit_fail_binary(struct kunit *test, enum kunit_assert_type type, const char *file,
			  int line, const char *left, const char *op, const char *right,
			  long long lv, long long rv, const char *fmt, ...);
void bh_kunit_fail_ptr(struct kunit *test, enum kunit_assert_type type, const char *file,
		       int line, const char *left, const char *op, const char *right,
		       const void *lv, const void *rv, const char *fmt, ...);
void bh_kunit_fail_str(struct kunit *test, enum kunit_assert_type type, const char *file,
		       int line, const char *left, const char *op, const char *right,
		       const char *lv, const char *rv, const char *fmt, ...);
void bh_kunit_fail_unary(struct kunit *test, enum kunit_assert_type type, const char *file,
			 int line, const char *cond, int expected_true, const char *fmt, ...);
void bh_kunit_fail_err_ptr(struct kunit *test, enum kunit_assert_type type, const char *file,
			   int line, const char *text, const void *value, const char *fmt, ...);
void bh_kunit_fail_plain(struct kunit *test, enum kunit_assert_type type, const char *file,
			 int line, const char *fmt, ...);

/* Where the case was last seen: a crash is reported there, as KUnit does. */
void bh_kunit_seen(const char *file, int line);

/* The operands arrive here already expanded: stringify them now. */
#define BH_KUNIT_BINARY_(test, type, left, op, right, fmt, ...) do {			\
	bh_kunit_seen(__FILE__, __LINE__);						\
	const typeof(left) bh_left_ = (left);						\
	const typeof(right) bh_right_ = (right);					\
	if (!(bh_left_ op bh_right_))							\
		bh_kunit_fail_binary(test, type, __FILE__, __LINE__, #left, #op, #right,	\
				     (long long)bh_left_, (long long)bh_right_,		\
				     fmt, ##__VA_ARGS__);					\
} while (0)
#define BH_KUNIT_BINARY(...) BH_KUNIT_BINARY_(__VA_ARGS__)

#define BH_KUNIT_PTR_(test, type, left, op, right, fmt, ...) do {			\
	bh_kunit_seen(__FILE__, __LINE__);						\
	const void *bh_left_ = (const void *)(left);					\
	const void *bh_right_ = (const void *)(right);					\
	if (!(bh_left_ op bh_right_))							\
		bh_kunit_fail_ptr(test, type, __FILE__, __LINE__, #left, #op, #right,		\
				  bh_left_, bh_right_, fmt, ##__VA_ARGS__);			\
} while (0)
#define BH_KUNIT_PTR(...) BH_KUNIT_PTR_(__VA_ARGS__)

#define BH_KUNIT_STR_(test, type, left, op, right, fmt, ...) do {			\
	bh_kunit_seen(__FILE__, __LINE__);						\
	const char *bh_left_ = (left);							\
	const char *bh_right_ = (right);						\
	if (!(bh_kunit_strcmp(bh_left_, bh_right_) op 0))				\
		bh_kunit_fail_str(test, type, __FILE__, __LINE__, #left, #op, #right,		\
				  bh_left_, bh_right_, fmt, ##__VA_ARGS__);			\
} while (0)
#define BH_KUNIT_STR(...) BH_KUNIT_STR_(__VA_ARGS__)
int bh_kunit_strcmp(const char *a, const char *b);

#define BH_KUNIT_UNARY_(test, type, cond, expected, fmt, ...) do {			\
	bh_kunit_seen(__FILE__, __LINE__);						\
	if (!!(cond) != (expected))							\
		bh_kunit_fail_unary(test, type, __FILE__, __LINE__, #cond, expected,		\
				    fmt, ##__VA_ARGS__);					\
} while (0)
#define BH_KUNIT_UNARY(...) BH_KUNIT_UNARY_(__VA_ARGS__)

#define BH_KUNIT_ERR_PTR_(test, type, ptr, fmt, ...) do {				\
	bh_kunit_seen(__FILE__, __LINE__);						\
	const void *bh_ptr_ = (const void *)(ptr);					\
	if (!bh_ptr_ || (unsigned long)bh_ptr_ >= (unsigned long)-4095)			\
		bh_kunit_fail_err_ptr(test, type, __FILE__, __LINE__, #ptr, bh_ptr_,		\
				      fmt, ##__VA_ARGS__);					\
} while (0)
#define BH_KUNIT_ERR_PTR(...) BH_KUNIT_ERR_PTR_(__VA_ARGS__)

#define KUNIT_SUCCEED(test) do { (void)(test); bh_kunit_seen(__FILE__, __LINE__); } while (0)
#define KUNIT_FAIL(test, fmt, ...) \
	bh_kunit_seen(__FILE__, __LINE__), bh_kunit_fail_plain(test, KUNIT_EXPECTATION, __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define KUNIT_FAIL_AND_ABORT(test, fmt, ...) \
	bh_kunit_seen(__FILE__, __LINE__), bh_kunit_fail_plain(test, KUNIT_ASSERTION, __FILE__, __LINE__, fmt, ##__VA_ARGS__)

/* Each check in an EXPECT and an ASSERT form, plain and _MSG. */
#define KUNIT_EXPECT_TRUE_MSG(test, c, fmt, ...) \
	BH_KUNIT_UNARY(test, KUNIT_EXPECTATION, c, 1, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_TRUE_MSG(test, c, fmt, ...) \
	BH_KUNIT_UNARY(test, KUNIT_ASSERTION, c, 1, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_FALSE_MSG(test, c, fmt, ...) \
	BH_KUNIT_UNARY(test, KUNIT_EXPECTATION, c, 0, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_FALSE_MSG(test, c, fmt, ...) \
	BH_KUNIT_UNARY(test, KUNIT_ASSERTION, c, 0, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_TRUE(test, c) KUNIT_EXPECT_TRUE_MSG(test, c, NULL)
#define KUNIT_ASSERT_TRUE(test, c) KUNIT_ASSERT_TRUE_MSG(test, c, NULL)
#define KUNIT_EXPECT_FALSE(test, c) KUNIT_EXPECT_FALSE_MSG(test, c, NULL)
#define KUNIT_ASSERT_FALSE(test, c) KUNIT_ASSERT_FALSE_MSG(test, c, NULL)

#define BH_KUNIT_CMP(type, test, l, op, r, fmt, ...) \
	BH_KUNIT_BINARY(test, type, l, op, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_EQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_LT_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, <, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_LE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, <=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_GT_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, >, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_GE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_EXPECTATION, test, l, >=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_EQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_LT_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, <, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_LE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, <=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_GT_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, >, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_GE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_CMP(KUNIT_ASSERTION, test, l, >=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_EQ(test, l, r) KUNIT_EXPECT_EQ_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_NE(test, l, r) KUNIT_EXPECT_NE_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_LT(test, l, r) KUNIT_EXPECT_LT_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_LE(test, l, r) KUNIT_EXPECT_LE_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_GT(test, l, r) KUNIT_EXPECT_GT_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_GE(test, l, r) KUNIT_EXPECT_GE_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_EQ(test, l, r) KUNIT_ASSERT_EQ_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_NE(test, l, r) KUNIT_ASSERT_NE_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_LT(test, l, r) KUNIT_ASSERT_LT_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_LE(test, l, r) KUNIT_ASSERT_LE_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_GT(test, l, r) KUNIT_ASSERT_GT_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_GE(test, l, r) KUNIT_ASSERT_GE_MSG(test, l, r, NULL)

#define KUNIT_EXPECT_PTR_EQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_EXPECTATION, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_PTR_NE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_EXPECTATION, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_PTR_EQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_ASSERTION, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_PTR_NE_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_ASSERTION, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_PTR_EQ(test, l, r) KUNIT_EXPECT_PTR_EQ_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_PTR_NE(test, l, r) KUNIT_EXPECT_PTR_NE_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_PTR_EQ(test, l, r) KUNIT_ASSERT_PTR_EQ_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_PTR_NE(test, l, r) KUNIT_ASSERT_PTR_NE_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_EXPECTATION, p, ==, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NOT_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_EXPECTATION, p, !=, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_ASSERTION, p, ==, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NOT_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_PTR(test, KUNIT_ASSERTION, p, !=, NULL, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NULL(test, p) KUNIT_EXPECT_NULL_MSG(test, p, NULL)
#define KUNIT_EXPECT_NOT_NULL(test, p) KUNIT_EXPECT_NOT_NULL_MSG(test, p, NULL)
#define KUNIT_ASSERT_NULL(test, p) KUNIT_ASSERT_NULL_MSG(test, p, NULL)
#define KUNIT_ASSERT_NOT_NULL(test, p) KUNIT_ASSERT_NOT_NULL_MSG(test, p, NULL)

#define KUNIT_EXPECT_NOT_ERR_OR_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_ERR_PTR(test, KUNIT_EXPECTATION, p, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, p, fmt, ...) \
	BH_KUNIT_ERR_PTR(test, KUNIT_ASSERTION, p, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_NOT_ERR_OR_NULL(test, p) KUNIT_EXPECT_NOT_ERR_OR_NULL_MSG(test, p, NULL)
#define KUNIT_ASSERT_NOT_ERR_OR_NULL(test, p) KUNIT_ASSERT_NOT_ERR_OR_NULL_MSG(test, p, NULL)

#define KUNIT_EXPECT_STREQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_STR(test, KUNIT_EXPECTATION, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_STRNEQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_STR(test, KUNIT_EXPECTATION, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_STREQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_STR(test, KUNIT_ASSERTION, l, ==, r, fmt, ##__VA_ARGS__)
#define KUNIT_ASSERT_STRNEQ_MSG(test, l, r, fmt, ...) \
	BH_KUNIT_STR(test, KUNIT_ASSERTION, l, !=, r, fmt, ##__VA_ARGS__)
#define KUNIT_EXPECT_STREQ(test, l, r) KUNIT_EXPECT_STREQ_MSG(test, l, r, NULL)
#define KUNIT_EXPECT_STRNEQ(test, l, r) KUNIT_EXPECT_STRNEQ_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_STREQ(test, l, r) KUNIT_ASSERT_STREQ_MSG(test, l, r, NULL)
#define KUNIT_ASSERT_STRNEQ(test, l, r) KUNIT_ASSERT_STRNEQ_MSG(test, l, r, NULL)

#endif
