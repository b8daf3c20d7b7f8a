/*
 * What a kernel test unit finds in scope besides KUnit and the allocator's
 * header, on top of the shim's prelude and tools/include: the kernel's
 * spelling of true and false, time, printing, and a few constants and helpers
 * tools/include lacks.  Force-included first in every KUnit test unit.
 */
#ifndef BH_KUNIT_ENV_H
#define BH_KUNIT_ENV_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <limits.h>

/*
 * The kernel's true and false are enumerators, not macros: a failure text then
 * reads "== false" as the kernel's does, not "== 0".
 */
#undef true
#undef false
enum { false = 0, true = 1 };

#ifndef U8_MAX
#define U8_MAX ((u8)~0U)
#define S8_MAX ((s8)(U8_MAX >> 1))
#define U16_MAX ((u16)~0U)
#define S16_MAX ((s16)(U16_MAX >> 1))
#define U32_MAX ((u32)~0U)
#define S32_MAX ((s32)(U32_MAX >> 1))
#define U64_MAX ((u64)~0ULL)
#define S64_MAX ((s64)(U64_MAX >> 1))
#endif

#ifndef upper_32_bits
#define upper_32_bits(n) ((u32)(((n) >> 16) >> 16))
#define lower_32_bits(n) ((u32)((n) & 0xffffffff))
#endif

#ifndef swap
#define swap(a, b) do { typeof(a) bh_tmp_ = (a); (a) = (b); (b) = bh_tmp_; } while (0)
#endif

/* Times: milliseconds of the monotonic clock stand for jiffies (HZ=1000). */
typedef long long ktime_t;
ktime_t ktime_get(void);
#define ktime_sub(a, b) ((a) - (b))
#define ktime_to_ms(t) ((long long)(t) / 1000000)
#define ktime_to_ns(t) ((long long)(t))
#define ktime_ms_delta(a, b) ktime_to_ms(ktime_sub(a, b))
unsigned long bh_jiffies(void);
#define jiffies bh_jiffies()
#define HZ 1000
#define MAX_SCHEDULE_TIMEOUT LONG_MAX
#define time_after(a, b) ((long)((b) - (a)) < 0)
#define time_before(a, b) time_after(b, a)
#define msecs_to_jiffies(m) ((unsigned long)(m))

/* printk goes to the KTAP stream, unprefixed, as the kernel's log has it. */
int bh_vprintk(const char *fmt, va_list ap);
int bh_printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define vprintk(fmt, ap) bh_vprintk(fmt, ap)
#define printk(...) bh_printk(__VA_ARGS__)
#ifndef KERN_INFO
#define KERN_SOH ""
#define KERN_ERR ""
#define KERN_WARNING ""
#define KERN_INFO ""
#define KERN_DEBUG ""
#endif
#undef pr_info
#define pr_info(...) bh_printk(__VA_ARGS__)
#define pr_err(...) bh_printk(__VA_ARGS__)
#define pr_warn(...) bh_printk(__VA_ARGS__)
#define pr_debug(...) do { } while (0)

#ifndef SZ_8G
#define SZ_8G _AC(0x200000000, ULL)
#define SZ_16G _AC(0x400000000, ULL)
#define SZ_32G _AC(0x800000000, ULL)
#define SZ_64G _AC(0x1000000000, ULL)
#endif

#endif
