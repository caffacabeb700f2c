/* One subcommand of the sparsa tool. Each lives in its own cmd_*.c file and
 * is listed once in the dispatch table of main.c. */
#ifndef SPARSA_CLI_COMMAND_H
#define SPARSA_CLI_COMMAND_H

/* argv[0] is the subcommand's own name; returns the process exit status. */
typedef int (*cli_command_fn)(int argc, char **argv);

typedef struct cli_command {
  const char *name;
  const char *summary;
  cli_command_fn run;
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_render(int argc, char **argv);
/* Built when their files exist: pattern search (cmd_search.c) and the
 * video-diffusion demo (demo_diffusion.c). */
int cmd_search(int argc, char **argv);
int cmd_demo_diffusion(int argc, char **argv);

#endif /* SPARSA_CLI_COMMAND_H */
