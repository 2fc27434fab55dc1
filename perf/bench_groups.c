/* SPDX-License-Identifier: MIT */
/*
 * bench_groups.c - how fast a consumer group delivers and acknowledges,
 * against a plain reader of the same records.
 *
 * Consumer groups do not hold producers back, so a group slower than its
 * producer would lose records to the ring (and, on an ephemeral topic,
 * have no files to fall back on). To count every record and to time the
 * consumers alone, the run goes in rounds: the parent (the producer) fills
 * half the ring with a chunk of records, then a plain ring_reader process
 * drains the chunk (phase A), then the group's members drain it (phase B),
 * and only then the next chunk is published. Each phase is timed from the
 * first consumer's start to the last one's finish, as the consumers saw
 * them, so a child's wake-up delay is not counted.
 *
 *   exclusive  one member, ring_consumer_poll() up to 1024 records, as the
 *              plain reader polls, and ring_consumer_commit() (manual
 *              commit) after every --ack-batch of them, from the callback:
 *              a Kafka consumer committing each record does it in its loop
 *              over what poll returned
 *   shared     --members processes compete; each acks its records with
 *              ring_consumer_ack() once it holds --ack-batch of them
 *
 * Every consumer touches the first and last word of each payload, as the
 * throughput readers do. The run fails if a record is lost or duplicated.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libring.h>

#include "bench_util.h"

#define GR_MAX_ROUNDS 100000u
#define GR_POLL_MAX 1024u		/* records per poll, as the plain reader's */
#define GR_GROUP "bench"

struct gr_child_stat {
	alignas(BENCH_CACHELINE) uint64_t round;	/* last round finished */
	uint64_t start_ns, done_ns;		/* of that round */
	uint64_t count;				/* records, all rounds */
	uint64_t acks;				/* ack or commit calls */
	uint64_t sum;
	uint64_t nobufs;			/* polls refused: in-flight table full */
	int cpu;
};

struct gr_shared {
	alignas(BENCH_CACHELINE) uint64_t reader_round;	/* phase A of this round may run */
	alignas(BENCH_CACHELINE) uint64_t group_round;	/* phase B of this round may run */
	alignas(BENCH_CACHELINE) uint64_t stop;
	uint64_t ready;
	uint64_t members_done;		/* phase-B finishes, all rounds */
	uint64_t end_pos;		/* end of the current chunk */
	uint32_t size, ack_batch, members, kind;
	uint64_t hard_deadline_ns;
	char topic[64];
	struct gr_child_stat reader;
	struct gr_child_stat member[RING_MAX_MEMBERS];
};

struct gr_child {
	struct gr_shared *s;
	unsigned index;
};

static struct gr_child gr_children[RING_MAX_MEMBERS];

struct gr_local {
	uint64_t count, sum;
	uint64_t last_next;		/* exclusive: after the last record */
	uint64_t *pending;		/* shared: positions to ack */
	unsigned npending;
	/* Exclusive: the callback commits every ack_batch records. */
	struct ring_consumer *c;
	struct gr_child_stat *st;
	unsigned ack_batch;
	int err;
};

static int gr_on_record(const struct ring_record *rec, void *arg)
{
	struct gr_local *l = arg;
	uint64_t first = 0, last = 0;

	if (rec->len >= 8) {
		memcpy(&first, rec->payload, 8);
		memcpy(&last, (const uint8_t *)rec->payload + rec->len - 8, 8);
	}
	l->sum += first ^ last;
	l->count++;
	l->last_next = rec->next_position;
	if (l->pending)
		l->pending[l->npending++] = rec->position;
	return 0;
}

/* Sleep-poll (50 us) until *@flag >= @want or stop: 1 to run, 0 to stop,
 * -ETIMEDOUT. Sleeping keeps idle consumers off the busy ones' CPUs. */
static int gr_wait_round(struct gr_shared *s, const uint64_t *flag, uint64_t want)
{
	struct timespec ts = { .tv_nsec = 50000 };

	/* Bounded by the hard deadline. */
	for (;;) {
		if (bench_load_acquire(&s->stop))
			return 0;
		if (bench_load_acquire(flag) >= want)
			return 1;
		if (bench_mono_ns() > s->hard_deadline_ns)
			return -ETIMEDOUT;
		(void)nanosleep(&ts, NULL);
	}
}

static int gr_open_topic(struct gr_shared *s, struct ring_topic **ret)
{
	int rc = ring_topic_open(NULL, s->topic, ret);

	if (rc < 0)
		bench_err("groups: ring_topic_open: %s", ring_strerror(rc));
	return rc;
}

static int gr_reader_main(void *arg)
{
	struct gr_shared *s = ((const struct gr_child *)arg)->s;
	struct gr_child_stat *st = &s->reader;
	const struct ring_reader_config cfg = { .start = RING_START_EARLIEST };
	struct gr_local l = { 0 };
	struct ring_topic *t = NULL;
	struct ring_reader *r = NULL;
	int rc;

	st->cpu = bench_pin(1);
	rc = gr_open_topic(s, &t);
	if (rc < 0)
		return rc;
	rc = ring_reader_open(t, &cfg, &r);
	if (rc < 0) {
		bench_err("groups: ring_reader_open: %s", ring_strerror(rc));
		goto out;
	}
	(void)bench_fetch_add(&s->ready, 1);
	for (uint64_t round = 1; round <= GR_MAX_ROUNDS; round++) {
		uint64_t end;

		rc = gr_wait_round(s, &s->reader_round, round);
		if (rc <= 0)
			break;
		st->start_ns = bench_mono_ns();
		end = bench_load_acquire(&s->end_pos);
		/* Bounded by the chunk, and by the deadline on an empty poll. */
		while (ring_reader_position(r) < end) {
			rc = ring_reader_poll(r, gr_on_record, &l, GR_POLL_MAX, 0);
			if (rc == -EAGAIN) {
				if (bench_mono_ns() > s->hard_deadline_ns) {
					rc = -ETIMEDOUT;
					goto out;
				}
				continue;
			}
			if (rc < 0) {
				bench_err("groups: ring_reader_poll: %s", ring_strerror(rc));
				goto out;
			}
		}
		st->done_ns = bench_mono_ns();
		st->count = l.count;
		st->sum = l.sum;
		bench_store_release(&st->round, round);
	}
	if (rc == -ETIMEDOUT)
		bench_err("groups: reader: no next round before the deadline");
out:
	r = ring_reader_close(r);
	t = ring_topic_close(t);
	return rc < 0 ? rc : 0;
}

/* Ack (shared) or commit (exclusive) what the member holds. */
static int gr_flush(struct ring_consumer *c, struct gr_shared *s, struct gr_local *l,
		    struct gr_child_stat *st)
{
	int rc;

	if (s->kind == BENCH_GROUP_EXCLUSIVE) {
		if (!l->npending)
			return 0;
		l->npending = 0;
		st->acks++;
		rc = ring_consumer_commit(c, l->last_next);
		if (rc < 0)
			bench_err("groups: ring_consumer_commit: %s", ring_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < l->npending; i++) {
		rc = ring_consumer_ack(c, l->pending[i]);
		if (rc < 0) {
			bench_err("groups: ring_consumer_ack(%llu): %s",
				  (unsigned long long)l->pending[i], ring_strerror(rc));
			return rc;
		}
		st->acks++;
	}
	l->npending = 0;
	return 0;
}

/* Exclusive: commit after every ack_batch records. */
static int gr_on_record_exclusive(const struct ring_record *rec, void *arg)
{
	struct gr_local *l = arg;
	int rc;

	(void)gr_on_record(rec, l);
	if (++l->npending < l->ack_batch)
		return 0;
	l->npending = 0;
	l->st->acks++;
	rc = ring_consumer_commit(l->c, rec->next_position);
	if (rc < 0) {
		bench_err("groups: ring_consumer_commit: %s", ring_strerror(rc));
		l->err = rc;
		return 1;	/* stop the poll */
	}
	return 0;
}

static int gr_member_main(void *arg)
{
	const struct gr_child *ch = arg;
	struct gr_shared *s = ch->s;
	struct gr_child_stat *st = &s->member[ch->index];
	const struct ring_consumer_config cfg = {
		.mode = s->kind == BENCH_GROUP_SHARED ? RING_GROUP_SHARED : RING_GROUP_EXCLUSIVE,
		.start = RING_GROUP_START_EARLIEST,
		.flags = s->kind == BENCH_GROUP_EXCLUSIVE ? RING_CONSUMER_MANUAL_COMMIT : 0,
	};
	ring_record_fn fn = s->kind == BENCH_GROUP_SHARED ? gr_on_record : gr_on_record_exclusive;
	struct gr_local l = { 0 };
	struct ring_topic *t = NULL;
	struct ring_consumer *c = NULL;
	uint64_t nobufs = 0;
	int rc;

	if (s->members <= bench_cpu_count())
		st->cpu = bench_pin(1 + ch->index);
	if (s->kind == BENCH_GROUP_SHARED) {
		l.pending = calloc(s->ack_batch, sizeof(*l.pending));
		if (!l.pending)
			return -ENOMEM;
	}
	rc = gr_open_topic(s, &t);
	if (rc < 0)
		goto out;
	rc = ring_consumer_open(t, GR_GROUP, &cfg, &c);
	if (rc < 0) {
		bench_err("groups: ring_consumer_open: %s", ring_strerror(rc));
		goto out;
	}
	l.c = c;
	l.st = st;
	l.ack_batch = s->ack_batch;
	(void)bench_fetch_add(&s->ready, 1);
	for (uint64_t round = 1; round <= GR_MAX_ROUNDS; round++) {
		uint64_t end;

		rc = gr_wait_round(s, &s->group_round, round);
		if (rc <= 0)
			break;
		st->start_ns = bench_mono_ns();
		end = bench_load_acquire(&s->end_pos);
		/* Bounded by the chunk, and by the deadline on an empty poll:
		 * the group's position (its `next` for a shared group) reaches
		 * the chunk's end once every record is delivered. */
		for (;;) {
			rc = ring_consumer_poll(c, fn, &l,
						s->kind == BENCH_GROUP_SHARED ? s->ack_batch - l.npending
									      : GR_POLL_MAX,
						0);
			if (l.err) {
				rc = l.err;
				goto out;
			}
			if (rc > 0 && s->kind == BENCH_GROUP_EXCLUSIVE)
				continue;
			if (rc > 0) {
				if (l.npending >= s->ack_batch) {
					rc = gr_flush(c, s, &l, st);
					if (rc < 0)
						goto out;
				}
				continue;
			}
			if (rc == -ENOBUFS) {
				/* The group's in-flight table is full: ack ours,
				 * or wait for the other members to ack theirs. */
				nobufs++;
				rc = gr_flush(c, s, &l, st);
				if (rc < 0)
					goto out;
				bench_relax();
			} else if (rc != -EAGAIN) {
				bench_err("groups: ring_consumer_poll: %s", ring_strerror(rc));
				goto out;
			}
			if (ring_consumer_position(c) >= end)
				break;
			if (bench_mono_ns() > s->hard_deadline_ns) {
				bench_err("groups: member %u: records missing at the deadline",
					  ch->index);
				rc = -ETIMEDOUT;
				goto out;
			}
		}
		rc = gr_flush(c, s, &l, st);
		if (rc < 0)
			goto out;
		st->done_ns = bench_mono_ns();
		st->count = l.count;
		st->sum = l.sum;
		st->nobufs = nobufs;
		bench_store_release(&st->round, round);
		(void)bench_fetch_add(&s->members_done, 1);
	}
	if (rc == -ETIMEDOUT)
		bench_err("groups: member %u: no next round before the deadline", ch->index);
out:
	c = ring_consumer_close(c);
	t = ring_topic_close(t);
	free(l.pending);
	return rc < 0 ? rc : 0;
}

static uint64_t gr_span(uint32_t size)
{
	return (RING_RECORD_HEADER_BYTES + (uint64_t)size + 7) / 8 * 8;
}

/* Publish @count records (batches of 32): 0 or -errno. */
static int gr_fill(struct ring_producer *p, const struct ring_message *msgs, uint64_t count)
{
	/* Bounded by @count; each call by its timeout. */
	while (count > 0) {
		unsigned n = count < 32 ? (unsigned)count : 32;
		int rc = ring_producer_publish_batch(p, msgs, n, 1000000000, NULL);

		if (rc < 0) {
			bench_err("groups: publish: %s", ring_strerror(rc));
			return rc;
		}
		count -= n;
	}
	return 0;
}

int bench_groups(const struct bench_opts *o, struct bench_report *ret_report)
{
	struct ring_topic_config cfg = {
		.capacity_bytes = o->capacity ? o->capacity : UINT64_C(64) << 20,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	struct ring_message msgs[32];
	pid_t pids[1 + RING_MAX_MEMBERS];
	unsigned nproc = 1 + o->members;
	struct ring_topic *topic = NULL;
	struct ring_producer *prod = NULL;
	struct ring_topic_stat st;
	struct gr_shared *s = NULL;
	struct bench_report r;
	uint8_t *buf = NULL;
	uint64_t chunk, rounds = 0, total = 0, reader_ns = 0, group_ns = 0, wanted_ns;
	uint64_t acks = 0, nobufs = 0, delivered = 0;
	int rc;

	for (unsigned i = 0; i < nproc; i++)
		pids[i] = -1;
	bench_report_init(&r, o, "groups");
	r.producers = 1;
	r.readers = o->members;
	r.lossless = true;
	r.reader_kind = o->group_kind == BENCH_GROUP_SHARED ? "shared group" : "exclusive group";
	(void)snprintf(r.mode, sizeof(r.mode), "%s-%um-ack%u",
		       o->group_kind == BENCH_GROUP_SHARED ? "shared" : "exclusive", o->members,
		       o->ack_batch);
	if (o->size < 1) {
		bench_err("groups: --size must be at least 1");
		return -EINVAL;
	}
	if (o->group_kind == BENCH_GROUP_SHARED && o->members * o->ack_batch > 256) {
		/* The group's in-flight table (RING_GROUP_INFLIGHT) would
		 * fill before members ack: they would only wait on each
		 * other. */
		bench_err("groups: --members x --ack-batch must be at most 256");
		return -EINVAL;
	}
	s = bench_shared_alloc(sizeof(*s));
	buf = malloc(o->size + 8);
	if (!s || !buf) {
		rc = -ENOMEM;
		goto out;
	}
	memset(buf, 0x77, o->size + 8);
	(void)snprintf(s->topic, sizeof(s->topic), "%s", bench_topic_name());
	rc = ring_topic_create(NULL, s->topic, &cfg, &topic);
	if (rc < 0) {
		bench_err("groups: ring_topic_create: %s", ring_strerror(rc));
		goto out;
	}
	rc = ring_topic_stat(topic, &st);
	if (rc < 0)
		goto out;
	r.capacity = st.capacity_bytes;
	if (o->size > st.max_record_bytes) {
		bench_err("groups: --size exceeds max_record_bytes (raise --capacity)");
		rc = -EMSGSIZE;
		goto out;
	}
	rc = ring_producer_open(topic, &prod);
	if (rc < 0)
		goto out;
	for (unsigned i = 0; i < 32; i++)
		msgs[i] = (struct ring_message){ .data = buf, .len = o->size,
						 .type = BENCH_TYPE_DATA };
	/* Half the ring per round: the chunk never laps what it reuses. */
	chunk = st.capacity_bytes / 2 / gr_span(o->size);
	if (chunk < 1)
		chunk = 1;
	s->size = o->size;
	s->ack_batch = o->ack_batch;
	s->members = o->members;
	s->kind = o->group_kind;
	wanted_ns = (uint64_t)(o->seconds * 1e9);
	s->hard_deadline_ns = bench_mono_ns() + wanted_ns * 4 + UINT64_C(60000000000);

	gr_children[0] = (struct gr_child){ .s = s, .index = 0 };
	rc = bench_spawn(gr_reader_main, &gr_children[0], &pids[0]);
	for (unsigned i = 0; i < o->members && rc == 0; i++) {
		gr_children[i] = (struct gr_child){ .s = s, .index = i };
		rc = bench_spawn(gr_member_main, &gr_children[i], &pids[1 + i]);
	}
	if (rc < 0)
		goto out;
	rc = bench_wait_count(&s->ready, nproc, bench_mono_ns() + UINT64_C(10000000000), pids,
			      nproc, "groups start");
	if (rc < 0)
		goto out;

	/* Round 1 is the warm-up (page faults on the first lap): not timed. */
	while (rounds < GR_MAX_ROUNDS && (rounds < 2 || group_ns < wanted_ns ||
					  reader_ns < wanted_ns / 4)) {
		uint64_t round = rounds + 1, first, last;

		rc = gr_fill(prod, msgs, chunk);
		if (rc < 0)
			goto out;
		rc = ring_topic_stat(topic, &st);
		if (rc < 0)
			goto out;
		bench_store_release(&s->end_pos, st.tail_pos);
		bench_store_release(&s->reader_round, round);
		rc = bench_wait_count(&s->reader.round, round, s->hard_deadline_ns, pids, nproc,
				      "groups: plain reader");
		if (rc < 0)
			goto out;
		bench_store_release(&s->group_round, round);
		rc = bench_wait_count(&s->members_done, round * o->members, s->hard_deadline_ns,
				      pids, nproc, "groups: members");
		if (rc < 0)
			goto out;
		rounds = round;
		if (round == 1)
			continue;
		first = UINT64_MAX;
		last = 0;
		for (unsigned i = 0; i < o->members; i++) {
			if (s->member[i].start_ns < first)
				first = s->member[i].start_ns;
			if (s->member[i].done_ns > last)
				last = s->member[i].done_ns;
		}
		group_ns += last - first;
		reader_ns += s->reader.done_ns - s->reader.start_ns;
		total += chunk;
	}
	bench_store_release(&s->stop, 1);
	rc = bench_wait_children(pids, nproc, UINT64_C(30000000000), "groups");
	if (rc < 0)
		goto out;

	for (unsigned i = 0; i < o->members; i++) {
		delivered += s->member[i].count;
		acks += s->member[i].acks;
		nobufs += s->member[i].nobufs;
	}
	if (s->reader.count != rounds * chunk || delivered != rounds * chunk) {
		bench_err("groups: %llu records published, the reader counted %llu, the group "
			  "delivered %llu: lost or duplicated",
			  (unsigned long long)(rounds * chunk),
			  (unsigned long long)s->reader.count, (unsigned long long)delivered);
		rc = -EPROTO;
		goto out;
	}
	if (!group_ns || !reader_ns) {
		bench_err("groups: nothing measured");
		rc = -EPROTO;
		goto out;
	}
	r.samples = total;
	r.seconds = (double)group_ns / 1e9;
	r.msgs_per_sec = (double)total * 1e9 / (double)group_ns;
	r.bytes_per_sec = r.msgs_per_sec * o->size;
	bench_report_extra(&r, "reader_msgs_per_sec", (double)total * 1e9 / (double)reader_ns, 0);
	bench_report_extra(&r, "ratio_to_reader", (double)reader_ns / (double)group_ns, 3);
	bench_report_extra(&r, "acks", (double)acks, 0);
	(void)snprintf(r.notes, sizeof(r.notes),
		       "  %llu timed rounds of %llu records (a warm-up round before), every "
		       "record delivered once;\n"
		       "  group time %.3f s, plain reader time %.3f s over the same records;\n"
		       "  %llu %s calls, %llu polls refused with -ENOBUFS; reader on CPU %d\n",
		       (unsigned long long)(rounds - 1), (unsigned long long)chunk,
		       (double)group_ns / 1e9, (double)reader_ns / 1e9, (unsigned long long)acks,
		       o->group_kind == BENCH_GROUP_SHARED ? "ack" : "commit",
		       (unsigned long long)nobufs, s->reader.cpu);
	*ret_report = r;
	rc = 0;
out:
	if (s)
		bench_store_release(&s->stop, 1);
	bench_kill_children(pids, nproc);
	prod = ring_producer_close(prod);
	topic = ring_topic_close(topic);
	bench_topic_unlink();
	if (s)
		bench_shared_free(s, sizeof(*s));
	free(buf);
	return rc;
}
