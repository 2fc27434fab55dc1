/* SPDX-License-Identifier: MIT */
/*
 * Description: attaching to a named ephemeral topic whose shared-memory
 * header is intact, damaged or foreign. The fixture creates the topic in a
 * temporary data directory, then maps its control area a second time (by
 * the shm name libring derives: "/ringlog.<hash of the data directory>.
 * <topic>") to damage it the way another build or a stray writer would.
 * Positive space: an intact topic opens and shows its settings; the same
 * topic name in two data directories makes two distinct rings. Negative
 * space: a wrong magic, layout version or layout signature gives -EPROTO;
 * a published header with an impossible capacity or size gives -EBADMSG;
 * a never-published header with a foreign magic gives -EPROTO after the
 * bounded wait; a missing topic gives -ENOENT, an existing one -EEXIST,
 * an unlinked one -ENOENT. No failure crashes or touches ret_.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "internal.h"
#include "t.h"

#define CAP (UINT64_C(64) << 10)

struct fixture {
	char dir[128];
	char name[64];
	char shm_name[256];
	struct ring_control *ctl;	/* our own mapping of the control area */
	struct ring_topic *sentinel;
	struct ring_topic *topic;
};

static int setup_named_topic(void **state)
{
	static struct fixture f;
	const struct ring_topic_config cfg = {
		.capacity_bytes = CAP,
		.flags = RING_TOPIC_EPHEMERAL,
	};
	struct ring_topic *t = NULL;
	int fd;

	memset(&f, 0, sizeof(f));
	f.sentinel = (struct ring_topic *)&f;
	f.topic = f.sentinel;
	if (t_tmpdir_create(f.dir, sizeof(f.dir)) < 0)
		return -1;
	t_unique_name(f.name, sizeof(f.name), "hdr");
	if (ring_topic_create(f.dir, f.name, &cfg, &t) < 0)
		return -1;
	t = ring_topic_close(t);
	if (ringi_shm_name(f.dir, f.name, f.shm_name, sizeof(f.shm_name)) < 0)
		return -1;
	fd = shm_open(f.shm_name, O_RDWR, 0);
	if (fd < 0)
		return -1;
	f.ctl = mmap(NULL, RING_CONTROL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (f.ctl == MAP_FAILED)
		return -1;
	*state = &f;
	return 0;
}

static int teardown_named_topic(void **state)
{
	struct fixture *f = *state;

	if (f->topic != f->sentinel)
		f->topic = ring_topic_close(f->topic);
	if (f->ctl)
		munmap(f->ctl, RING_CONTROL_BYTES);
	(void)ring_topic_unlink(f->dir, f->name);
	return t_tmpdir_remove(f->dir) < 0 ? -1 : 0;
}

static void expect_open_fails(struct fixture *f, int err)
{
	f->topic = f->sentinel;
	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), err);
	assert_ptr_equal(f->topic, f->sentinel);
}

static void test_open_intact_topic_succeeds(void **state)
{
	struct fixture *f = *state;
	struct ring_topic_stat st;
	char path[300];

	/* The object is where the naming rule says. */
	snprintf(path, sizeof(path), "/dev/shm%s", f->shm_name);
	assert_int_equal(access(path, F_OK), 0);
	assert_non_null(strstr(f->shm_name, f->name));

	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_string_equal(st.name, f->name);
	assert_int_equal(st.capacity_bytes, CAP);
	assert_int_equal(st.flags, RING_TOPIC_EPHEMERAL);
}

static void test_open_wrong_magic_is_eproto(void **state)
{
	struct fixture *f = *state;
	uint64_t magic = f->ctl->hdr.magic;

	f->ctl->hdr.magic = magic ^ 1;
	expect_open_fails(f, -EPROTO);
	/* Byte-swapped, as a machine of the other endianness would see it. */
	f->ctl->hdr.magic = __builtin_bswap64(magic);
	expect_open_fails(f, -EPROTO);
	f->ctl->hdr.magic = 0;
	expect_open_fails(f, -EPROTO);
	f->ctl->hdr.magic = magic;
	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), 0);
}

static void test_open_wrong_layout_version_is_eproto(void **state)
{
	struct fixture *f = *state;

	f->ctl->hdr.layout_version = RING_LAYOUT_VERSION + 1;
	expect_open_fails(f, -EPROTO);
	f->ctl->hdr.layout_version = 0;
	expect_open_fails(f, -EPROTO);
}

static void test_open_wrong_layout_signature_is_eproto(void **state)
{
	struct fixture *f = *state;

	f->ctl->hdr.layout_signature ^= 0x100;
	expect_open_fails(f, -EPROTO);
}

static void test_open_impossible_capacity_is_ebadmsg(void **state)
{
	struct fixture *f = *state;

	f->ctl->hdr.capacity_bytes = CAP * 2;	/* bigger than the object */
	expect_open_fails(f, -EBADMSG);
	f->ctl->hdr.capacity_bytes = CAP + 8;	/* not a power of two */
	expect_open_fails(f, -EBADMSG);
	f->ctl->hdr.capacity_bytes = CAP;
	f->ctl->hdr.max_record_bytes = CAP;	/* over capacity / 4 */
	expect_open_fails(f, -EBADMSG);
	f->ctl->hdr.max_record_bytes = 100;
	memset(f->ctl->hdr.name, 'x', sizeof(f->ctl->hdr.name));	/* unterminated */
	expect_open_fails(f, -EBADMSG);
}

static void test_open_unpublished_foreign_header_is_eproto(void **state)
{
	struct fixture *f = *state;
	uint64_t t0 = t_now_ns();

	/* Another format that keeps its readiness flag elsewhere: ours stays
	 * 0, and the opener must give up with -EPROTO, not wait forever. */
	ring_store_release_u32(&f->ctl->hdr.ready, 0);
	f->ctl->hdr.magic = UINT64_C(0x0123456789abcdef);
	expect_open_fails(f, -EPROTO);
	assert_true(t_now_ns() - t0 < 10ull * 1000 * 1000 * 1000);
}

static void test_open_missing_topic_is_enoent(void **state)
{
	struct fixture *f = *state;
	char other[64];

	t_unique_name(other, sizeof(other), "missing");
	f->topic = f->sentinel;
	assert_rc(ring_topic_open(f->dir, other, &f->topic), -ENOENT);
	/* The same name without the data directory is another namespace. */
	assert_rc(ring_topic_open(NULL, f->name, &f->topic), -ENOENT);
	assert_ptr_equal(f->topic, f->sentinel);
}

static void test_create_existing_topic_is_eexist(void **state)
{
	struct fixture *f = *state;
	const struct ring_topic_config cfg = { .capacity_bytes = CAP,
					       .flags = RING_TOPIC_EPHEMERAL };

	f->topic = f->sentinel;
	assert_rc(ring_topic_create(f->dir, f->name, &cfg, &f->topic), -EEXIST);
	assert_ptr_equal(f->topic, f->sentinel);
	/* The loser left the winner's ring alone. */
	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), 0);
}

static void test_unlinked_topic_is_enoent_for_new_opens_only(void **state)
{
	struct fixture *f = *state;
	struct ring_producer *p = NULL;

	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), 0);
	assert_rc(ring_topic_unlink(f->dir, f->name), 0);
	assert_rc(ring_topic_unlink(f->dir, f->name), -ENOENT);
	/* Attached processes keep their mapping. */
	assert_rc(ring_producer_open(f->topic, &p), 0);
	assert_rc(ring_producer_publish(p, 1, "still", 5, 0, NULL), 0);
	p = ring_producer_close(p);
	f->topic = ring_topic_close(f->topic);
	expect_open_fails(f, -ENOENT);
}

static void test_same_name_in_two_data_dirs_are_distinct_rings(void **state)
{
	struct fixture *f = *state;
	const struct ring_topic_config cfg = { .capacity_bytes = CAP,
					       .flags = RING_TOPIC_EPHEMERAL };
	char dir2[128], shm2[256];
	struct ring_topic *t2 = NULL;
	struct ring_producer *p = NULL;
	struct ring_topic_stat st;

	assert_rc(t_tmpdir_create(dir2, sizeof(dir2)), 0);
	assert_rc(ring_topic_create(dir2, f->name, &cfg, &t2), 0);
	assert_rc(ringi_shm_name(dir2, f->name, shm2, sizeof(shm2)), 0);
	assert_string_not_equal(shm2, f->shm_name);
	assert_rc(ring_producer_open(t2, &p), 0);
	assert_rc(ring_producer_publish(p, 1, "two", 3, 0, NULL), 0);
	p = ring_producer_close(p);

	assert_rc(ring_topic_open(f->dir, f->name, &f->topic), 0);
	assert_rc(ring_topic_stat(f->topic, &st), 0);
	assert_int_equal(st.tail_pos, 0);	/* untouched by the other ring */

	t2 = ring_topic_close(t2);
	assert_rc(ring_topic_unlink(dir2, f->name), 0);
	assert_rc(t_tmpdir_remove(dir2), 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup_named_topic, teardown_named_topic)
	const struct CMUnitTest tests[] = {
		T(test_open_intact_topic_succeeds),
		T(test_open_wrong_magic_is_eproto),
		T(test_open_wrong_layout_version_is_eproto),
		T(test_open_wrong_layout_signature_is_eproto),
		T(test_open_impossible_capacity_is_ebadmsg),
		T(test_open_unpublished_foreign_header_is_eproto),
		T(test_open_missing_topic_is_enoent),
		T(test_create_existing_topic_is_eexist),
		T(test_unlinked_topic_is_enoent_for_new_opens_only),
		T(test_same_name_in_two_data_dirs_are_distinct_rings),
	};
#undef T

	return cmocka_run_group_tests_name("shm_header", tests, NULL, NULL);
}
