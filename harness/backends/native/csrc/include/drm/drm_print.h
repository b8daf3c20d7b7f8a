/* Printing helpers the drm_buddy API declares; the harness never prints. */
#ifndef BH_DRM_PRINT_H
#define BH_DRM_PRINT_H
#include <stdio.h>
struct drm_printer {
	void *arg;
};
#define drm_printf(p, ...) do { (void)(p); fprintf(stderr, __VA_ARGS__); } while (0)
#endif
