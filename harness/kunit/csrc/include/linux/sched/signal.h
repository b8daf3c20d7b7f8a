/* A test case is never signalled in the stand-in. */
#ifndef BH_KUNIT_SCHED_SIGNAL_H
#define BH_KUNIT_SCHED_SIGNAL_H
struct task_struct;
#define current ((struct task_struct *)0)
static inline int signal_pending(struct task_struct *p)
{
	(void)p;
	return 0;
}
#define fatal_signal_pending(p) signal_pending(p)
#endif
