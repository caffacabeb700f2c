#include "cli_cpu.h"

#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static void cpuid(unsigned leaf, unsigned sub, unsigned r[4]) {
  if (!__get_cpuid_count(leaf, sub, &r[0], &r[1], &r[2], &r[3])) r[0] = r[1] = r[2] = r[3] = 0;
}

static unsigned long long xgetbv0(void) {
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

static void add(cli_cpu_info *info, const char *name, int present) {
  if (info->num_features < CLI_CPU_MAX_FEATURES)
    info->features[info->num_features++] = (cli_cpu_feature){name, present != 0};
}

void cli_cpu_detect(cli_cpu_info *info) {
  memset(info, 0, sizeof *info);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  info->logical_cpus = online > 0 ? (int)online : 1;

  unsigned r[4];
  cpuid(0, 0, r);
  unsigned max_leaf = r[0];
  memcpy(info->vendor, &r[1], 4);
  memcpy(info->vendor + 4, &r[3], 4);
  memcpy(info->vendor + 8, &r[2], 4);

  unsigned l1[4] = {0}, l7[4] = {0}, l7s1[4] = {0};
  cpuid(1, 0, l1);
  if (max_leaf >= 7) {
    cpuid(7, 0, l7);
    cpuid(7, 1, l7s1);
  }
  unsigned base_family = (l1[0] >> 8) & 0xf, ext_family = (l1[0] >> 20) & 0xff;
  unsigned base_model = (l1[0] >> 4) & 0xf, ext_model = (l1[0] >> 16) & 0xf;
  info->family = (int)(base_family == 0xf ? base_family + ext_family : base_family);
  info->model = (int)(base_family >= 0x6 ? (ext_model << 4) | base_model : base_model);
  info->stepping = (int)(l1[0] & 0xf);

  unsigned ext[4];
  cpuid(0x80000000u, 0, ext);
  if (ext[0] >= 0x80000004u) {
    for (unsigned i = 0; i < 3; i++) {
      cpuid(0x80000002u + i, 0, r);
      memcpy(info->brand + 16 * i, r, 16);
    }
    /* The brand string is padded with spaces on some parts. */
    char *start = info->brand;
    while (*start == ' ') start++;
    memmove(info->brand, start, strlen(start) + 1);
  }

  /* Usable only if the OS saves the registers: XCR0 bits 1-2 for ymm,
   * 5-7 for the AVX-512 opmask and zmm state, 17-18 for AMX tiles. */
  int osxsave = (l1[2] >> 27) & 1;
  unsigned long long xcr0 = osxsave ? xgetbv0() : 0;
  int os_avx = (xcr0 & 0x6) == 0x6;
  int os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  int os_amx = (xcr0 & 0x60000) == 0x60000;

  add(info, "sse4.2", (l1[2] >> 20) & 1);
  add(info, "avx", os_avx && ((l1[2] >> 28) & 1));
  add(info, "f16c", os_avx && ((l1[2] >> 29) & 1));
  add(info, "fma", os_avx && ((l1[2] >> 12) & 1));
  add(info, "avx2", os_avx && ((l7[1] >> 5) & 1));
  add(info, "avx_vnni", os_avx && ((l7s1[0] >> 4) & 1));
  add(info, "avx512f", os_avx512 && ((l7[1] >> 16) & 1));
  add(info, "avx512dq", os_avx512 && ((l7[1] >> 17) & 1));
  add(info, "avx512cd", os_avx512 && ((l7[1] >> 28) & 1));
  add(info, "avx512bw", os_avx512 && ((l7[1] >> 30) & 1));
  add(info, "avx512vl", os_avx512 && ((l7[1] >> 31) & 1));
  add(info, "avx512_vnni", os_avx512 && ((l7[2] >> 11) & 1));
  add(info, "avx512_bf16", os_avx512 && ((l7s1[0] >> 5) & 1));
  add(info, "avx512_fp16", os_avx512 && ((l7[3] >> 23) & 1));
  add(info, "amx_tile", os_amx && ((l7[3] >> 24) & 1));
  add(info, "amx_bf16", os_amx && ((l7[3] >> 22) & 1));
}

#else

void cli_cpu_detect(cli_cpu_info *info) {
  memset(info, 0, sizeof *info);
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  info->logical_cpus = online > 0 ? (int)online : 1;
  strcpy(info->vendor, "unknown");
}

#endif

int cli_cpu_has(const cli_cpu_info *info, const char *name) {
  for (int i = 0; i < info->num_features; i++)
    if (!strcmp(info->features[i].name, name)) return info->features[i].present;
  return 0;
}
