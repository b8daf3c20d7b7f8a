#ifndef BH_KMEMLEAK_H
#define BH_KMEMLEAK_H
#define kmemleak_update_trace(ptr) do { (void)(ptr); } while (0)
#endif
