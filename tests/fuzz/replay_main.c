/* Runs a fuzz target without libFuzzer: over every file of the seed corpus
 * (and any crash reproducers added to it), then over a fixed set of
 * pseudo-random inputs. Built with the ordinary compiler into every build, so
 * each sanitizer job and valgrind replay what the fuzzers found. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return 0;
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      buf = realloc(buf, cap);
      if (buf == NULL) abort();
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    if (got == 0) break;
    len += got;
  }
  fclose(f);
  /* An exactly sized copy, so reads past the input are caught. */
  uint8_t *exact = malloc(len ? len : 1);
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 1;
}

static int replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "replay: %s does not exist\n", path);
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) return replay_file(path);
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  int n = 0;
  struct dirent *e;
  char child[4096];
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    n += replay_path(child);
  }
  closedir(d);
  return n;
}

int main(int argc, char **argv) {
  int files = 0;
  for (int a = 1; a < argc; a++) files += replay_path(argv[a]);
  const char *env = getenv("SPARSA_FUZZ_REPLAY_RANDOM");
  long random_inputs = env ? strtol(env, NULL, 10) : 300;
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (long r = 0; r < random_inputs; r++) {
    size_t len = (size_t)(r % 200) + 1;
    uint8_t *buf = malloc(len);
    for (size_t i = 0; i < len; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (uint8_t)x;
    }
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
  }
  printf("replayed %d corpus files and %ld random inputs\n", files, random_inputs);
  return files > 0 || argc == 1 ? 0 : 1;
}
