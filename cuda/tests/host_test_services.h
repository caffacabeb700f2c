/* The host services of cuda_host.h for the CUDA engine's host-only tests
 * (they call the plugin's planning code without a GPU, and run in CI):
 * errors land in g_error, and allocations can be made to fail after a
 * count (g_fail_after) for allocation-failure walks. */
#ifndef SPARSA_CUDA_HOST_TEST_SERVICES_H
#define SPARSA_CUDA_HOST_TEST_SERVICES_H

#include <stdio.h>
#include <stdlib.h>

#include "cuda_host.h"

static char g_error[512];
static int g_fail_after = -1; /* allocations left before one fails; -1: never */

static void set_error(const char *text) { snprintf(g_error, sizeof g_error, "%s", text); }

static void *test_alloc(size_t n) {
  if (g_fail_after == 0) return NULL;
  if (g_fail_after > 0) g_fail_after--;
  return malloc(n);
}

static const sp_host_services g_services = {sizeof(sp_host_services), set_error, test_alloc, free,
                                            NULL};

#endif
