/* SPDX-License-Identifier: MIT */
/*
 * Description: one public header, named by RING_TEST_HEADER, compiles on its
 * own with only include/ on the path, and a second inclusion is harmless (its
 * include guard works). Built once per header in public_headers; the
 * program itself has nothing to check at run time and exits 0.
 */
#include RING_TEST_HEADER
#include RING_TEST_HEADER

int main(void)
{
	return 0;
}
