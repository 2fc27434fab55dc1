/* SPDX-License-Identifier: MIT */
/*
 * ringctl.c - the operator's tool: global options, the command table and
 * dispatch.
 *
 * `ringctl [--data-dir DIR] COMMAND [OPTIONS] [ARGS]`. Global options stop
 * at the first word that is not an option (the command); the command then
 * parses the rest itself, and accepts --data-dir and --help too, so that
 * `ringctl list --data-dir DIR` works as well. This file knows commands
 * only through their table rows: a new family of commands is a new
 * cmd_*.c and a row here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ring_config.h"
#include "ringctl.h"

static const struct ctl_command *const commands[] = {
	&ctl_cmd_create,
	&ctl_cmd_delete,
	&ctl_cmd_list,
	&ctl_cmd_describe,
	&ctl_cmd_stat,
	&ctl_cmd_produce,
	&ctl_cmd_dump,
	&ctl_cmd_tail,
	&ctl_cmd_groups,
	&ctl_cmd_reset_offsets,
	&ctl_cmd_verify,
	&ctl_cmd_recover,
	&ctl_cmd_export,
	&ctl_cmd_consume,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char exit_status_help[] =
	"Exit status:\n"
	"  0  success\n"
	"  1  failure: the operation failed, damage was found or a check failed\n"
	"  2  usage error: bad option or argument; the data directory is not a\n"
	"     directory, or none was given\n"
	"  3  not found: no such topic, data directory or position\n";

static void print_global_help(void)
{
	printf("Usage: ringctl [--data-dir DIR] COMMAND [OPTIONS] [ARGS]\n"
	       "\n"
	       "Inspect and operate the topics of a ringlog data directory.\n"
	       "\n"
	       "Global options:\n"
	       "  -d, --data-dir DIR  the data directory (default: $RINGLOG_DATA_DIR);\n"
	       "                      also accepted after the command\n"
	       "  -h, --help          this help; `ringctl COMMAND --help` or\n"
	       "                      `ringctl help COMMAND` explains a command\n"
	       "  -V, --version       print the version and exit\n"
	       "\n"
	       "Commands:\n");
	for (size_t i = 0; i < N_COMMANDS; i++)
		printf("  %-13s  %s\n", commands[i]->name, commands[i]->summary);
	printf("  %-13s  %s\n", "help", "explain a command");
	printf("\n"
	       "Every error is one line on stderr:\n"
	       "  ringctl: COMMAND: WHAT: REASON\n"
	       "\n"
	       "%s",
	       exit_status_help);
}

static void print_version(void)
{
	unsigned v = ring_version();

	printf("ringctl %d.%d.%d (libring %u.%u.%u, %s)\n", RING_VERSION_MAJOR,
	       RING_VERSION_MINOR, RING_VERSION_PATCH, v >> 16, (v >> 8) & 0xffu, v & 0xffu,
	       RING_GIT_REVISION[0] ? RING_GIT_REVISION : "no git revision");
}

static const struct ctl_command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

/* `ringctl help [COMMAND]`. */
static int run_help(struct ctl *ctl, int argc, char **argv)
{
	const struct ctl_command *cmd;

	if (argc < 2) {
		print_global_help();
		return CTL_EXIT_OK;
	}
	/* The hint of a usage error is the global help. */
	ctl->command = NULL;
	if (argc > 2)
		return ctl_usage_error(ctl, "help: unexpected argument '%s'", argv[2]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return ctl_usage_error(ctl, "help: unknown command '%s'", argv[1]);
	fputs(cmd->help, stdout);
	return CTL_EXIT_OK;
}

/* Whether stdout can still be written: a command that printed into a
 * full disk or a closed pipe has not done its job. */
static int flush_stdout(struct ctl *ctl, int code)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		/* A reader that went away (`| head`) is not an error of ours. */
		if (errno == EPIPE)
			return code;
		ctl_os_error(ctl, -errno, "write to standard output");
		return code == CTL_EXIT_OK ? CTL_EXIT_FAILURE : code;
	}
	return code;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		CTL_COMMON_OPTIONS,
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct ctl ctl = { .command = NULL, .data_dir = getenv("RINGLOG_DATA_DIR") };
	const struct ctl_command *cmd;
	int opt, code;

	opterr = 0;
	/* "+": stop at the command, whose options are its own. */
	while ((opt = getopt_long(argc, argv, "+:hd:V", options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			print_global_help();
			return flush_stdout(&ctl, CTL_EXIT_OK);
		case 'V':
			print_version();
			return flush_stdout(&ctl, CTL_EXIT_OK);
		case CTL_OPT_DATA_DIR:
			ctl.data_dir = optarg;
			break;
		case ':':
			return ctl_usage_error(&ctl, "option '%s' needs an argument",
					       argv[optind - 1]);
		default:
			return ctl_bad_option(&ctl, argv);
		}
	}
	if (optind >= argc)
		return ctl_usage_error(&ctl, "missing COMMAND");

	argc -= optind;
	argv += optind;
	ctl.command = argv[0];
	/* Each command starts getopt afresh on its own argv (glibc: 0). */
	optind = 0;
	if (!strcmp(argv[0], "help"))
		return flush_stdout(&ctl, run_help(&ctl, argc, argv));
	cmd = find_command(argv[0]);
	if (!cmd) {
		ctl.command = NULL;
		return ctl_usage_error(&ctl, "unknown command '%s'", argv[0]);
	}
	code = cmd->run(&ctl, argc, argv);
	return flush_stdout(&ctl, code);
}
