/* Module macros live in bh_prelude.h. */
#ifndef BH_MODULE_H
#define BH_MODULE_H
#endif
