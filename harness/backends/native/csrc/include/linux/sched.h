/* Nothing from the scheduler is needed in user space. */
#ifndef BH_SCHED_H
#define BH_SCHED_H
#endif
