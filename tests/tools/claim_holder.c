/* SPDX-License-Identifier: MIT */
/*
 * claim_holder.c - a producer that claims one record and never commits it,
 * for test_ringctl.sh: `ringctl describe` must show it as a live producer
 * and as the owner of the stuck claim, and after a kill -9 ringd must
 * repair the claim.
 *
 * Usage: claim_holder DATA_DIR TOPIC
 * Prints "PID POSITION" (the claimed record's position) on stdout once the
 * claim is made, then waits to be killed. It gives up by itself, exit 1,
 * after a bound that no test run reaches, so that a test that dies before
 * killing it leaves nothing running for long. Exits 1 on any error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "libring.h"

/* Longer than any ringctl test run, short enough not to linger. */
#define HOLD_SECONDS_MAX 300

int main(int argc, char **argv)
{
	struct ring_producer *producer = NULL;
	struct ring_topic *topic = NULL;
	struct ring_claim claim;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: claim_holder DATA_DIR TOPIC\n");
		return 1;
	}
	rc = ring_topic_open(argv[1], argv[2], &topic);
	if (rc == 0)
		rc = ring_producer_open(topic, &producer);
	if (rc == 0)
		rc = ring_producer_reserve(producer, 1, 16, 0, &claim);
	if (rc < 0) {
		fprintf(stderr, "claim_holder: %s: %s\n", argv[2], ring_strerror(rc));
		ring_producer_close(producer);
		ring_topic_close(topic);
		return 1;
	}
	printf("%d %llu\n", (int)getpid(), (unsigned long long)claim.position);
	fflush(stdout);
	/* sleep() returns early on a signal; SIGKILL ends us anyway. */
	for (int i = 0; i < HOLD_SECONDS_MAX; i++)
		sleep(1);
	fprintf(stderr, "claim_holder: not killed within %d s\n", HOLD_SECONDS_MAX);
	return 1;
}
