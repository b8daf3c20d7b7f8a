/* BUG_ON and WARN_ON live in bh_prelude.h. */
#ifndef BH_BUG_H
#define BH_BUG_H
#endif
