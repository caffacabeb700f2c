/* The sparsa command-line tool: a dispatch table of subcommands. Adding a
 * subcommand is one line in `commands` plus its cmd_*.c file. */
#include <stdio.h>
#include <string.h>

#include "cli_command.h"
#include "sparsa.h"

static const cli_command commands[] = {
    {"demo", "run dense and sparse patterns on a built-in long-context problem", cmd_demo},
    {"bench", "time one attention shape and pattern given by flags", cmd_bench},
    {"info", "version, engines and CPU features of this machine", cmd_info},
    {"render", "draw a pattern's mask as a PNG picture", cmd_render},
#ifdef SPARSA_CLI_HAVE_SEARCH
    {"search", "find the cheapest pattern per head from calibration data", cmd_search},
#endif
#ifdef SPARSA_CLI_HAVE_DIFFUSION_DEMO
    {"demo-diffusion", "per-head patterns reused across denoising steps of a video model",
     cmd_demo_diffusion},
#endif
};
static const int num_commands = (int)(sizeof commands / sizeof commands[0]);

static void print_usage(FILE *to) {
  fprintf(to, "usage: sparsa <command> [flags]   (sparsa <command> --help for its flags)\n\n");
  fprintf(to, "commands:\n");
  for (int i = 0; i < num_commands; i++)
    fprintf(to, "  %-15s %s\n", commands[i].name, commands[i].summary);
  fprintf(to, "\nsparsa %s\n", sparsa_version_string());
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const char *name = argv[1];
  if (!strcmp(name, "--help") || !strcmp(name, "-h") || !strcmp(name, "help")) {
    print_usage(stdout);
    return 0;
  }
  if (!strcmp(name, "--version")) {
    printf("sparsa %s\n", sparsa_version_string());
    return 0;
  }
  for (int i = 0; i < num_commands; i++)
    if (!strcmp(name, commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "sparsa: unknown command '%s'\n\n", name);
  print_usage(stderr);
  return 2;
}
