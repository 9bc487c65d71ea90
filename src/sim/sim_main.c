/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_main.c - tt-alloc-sim: fake devices and synthetic workloads for the
 * demo, the tests and the benchmarks. A plain dispatcher: each subcommand is
 * one module exporting `int <module>_main(int argc, char **argv)` (argv[0] is
 * the subcommand name). To add one, add a row to sim_commands[].
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "sim_run.h"
#include "sim_sysroot.h"
#include "ttalloc.h"

struct sim_command {
    const char *name;
    int (*main)(int argc, char **argv);
    const char *summary;
};

static const struct sim_command sim_commands[] = {
    {"sysroot", sim_sysroot_main, "DIR --devices LIST [--live]: a fake tt-kmd tree"},
    {"run", sim_run_main, "[--device LIST] [--profile NAME] ...: a simulated TT-Metal process"},
};

static void sim_usage(FILE *out)
{
    fprintf(out, "usage: tt-alloc-sim COMMAND [ARGS]   (tt-alloc-sim COMMAND --help)\n\n");
    for (size_t i = 0; i < sizeof(sim_commands) / sizeof(sim_commands[0]); i++)
        fprintf(out, "  %-8s %s\n", sim_commands[i].name, sim_commands[i].summary);
}

int main(int argc, char **argv)
{
    log_init("tt-alloc-sim", 0);
    if (argc < 2) {
        sim_usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        sim_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("tt-alloc-sim %s\n", TTALLOC_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof(sim_commands) / sizeof(sim_commands[0]); i++) {
        if (strcmp(argv[1], sim_commands[i].name) == 0)
            return sim_commands[i].main(argc - 1, argv + 1);
    }
    log_errorx("unknown command '%s' (tt-alloc-sim --help)", argv[1]);
    return 2;
}
