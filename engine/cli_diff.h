/*
** cli_diff.h: the file-based `moonsync diff --schema ...` command, in C
** from argument parsing to output: no Lua runs on this path.
*/
#ifndef MS_CLI_DIFF_H
#define MS_CLI_DIFF_H

/* Runs `moonsync diff --schema S source.json dest.json [options]`.
   argv[0] is "diff". Returns the process exit code. */
int ms_cli_diff_files(int argc, char **argv);

#endif
