/* SPDX-License-Identifier: Apache-2.0 */
#include "base/secret.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * Layout of one allocation (all page-aligned):
 *   [guard page][header + data ... rounded up to pages][guard page]
 * The header sits right before the data so secret_free() finds the mapping.
 */
struct secret_hdr {
	size_t map_len;		/* whole mapping, guards included */
	size_t body_len;	/* the locked, readable pages */
	bool locked;
	struct secret s;
};

static atomic_ulong mlock_failures;

/*
 * Freed one-page allocations are kept (wiped, still locked, guard pages in
 * place) and handed out again: an exchange allocates and frees a few small
 * secrets, a key delivery one per key (a 256-key store_take() 256), and a
 * fresh mapping (mmap, 2 x mprotect, madvise, mlock, then munlock, munmap)
 * costs ~15 us each time; with a cache of 64, VMA work in the kernel was
 * about half of the key supply's CPU time (perf, bench/supply). The cache is
 * bounded: at most 1024 pages (4 MiB locked, 12 MiB of address space with
 * the guards); larger allocations are always unmapped.
 */
#define SECRET_CACHE_MAX 1024
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct secret_hdr *cache[SECRET_CACHE_MAX];
static size_t cache_n;

static size_t page_size(void)
{
	static size_t ps;

	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);
		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

struct secret *secret_alloc(size_t len)
{
	size_t ps = page_size(), need, body, map_len;
	struct secret_hdr *h;
	uint8_t *base;

	if (len == 0 || len > SECRET_MAX_LEN) {
		errno = EINVAL;
		return NULL;
	}
	need = sizeof(*h) + len;
	body = (need + ps - 1) / ps * ps;
	map_len = body + 2 * ps;
	if (body == ps) {
		h = NULL;
		pthread_mutex_lock(&cache_lock);
		if (cache_n)
			h = cache[--cache_n];
		pthread_mutex_unlock(&cache_lock);
		if (h) {	/* wiped when it was freed */
			h->s.p = (uint8_t *)(h + 1);
			h->s.len = len;
			return &h->s;
		}
	}

	base = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	if (mprotect(base, ps, PROT_NONE) < 0 || mprotect(base + ps + body, ps, PROT_NONE) < 0) {
		int e = errno;
		munmap(base, map_len);
		errno = e;
		return NULL;
	}
	(void)madvise(base + ps, body, MADV_DONTDUMP);
	h = (struct secret_hdr *)(base + ps);
	h->map_len = map_len;
	h->body_len = body;
	h->locked = mlock(base + ps, body) == 0;
	if (!h->locked)
		atomic_fetch_add(&mlock_failures, 1);
	h->s.p = (uint8_t *)(h + 1);
	h->s.len = len;
	return &h->s;
}

struct secret *secret_dup(const void *p, size_t len)
{
	struct secret *s = secret_alloc(len);

	if (s)
		memcpy(s->p, p, len);
	return s;
}

void secret_free(struct secret *s)
{
	struct secret_hdr *h;
	uint8_t *body;
	size_t ps = page_size();

	if (!s)
		return;
	h = (struct secret_hdr *)((uint8_t *)s - offsetof(struct secret_hdr, s));
	body = (uint8_t *)h;
	{
		size_t map_len = h->map_len, body_len = h->body_len;
		bool locked = h->locked;

		mfs_wipe(body, body_len);
		if (body_len == ps) {
			bool kept = false;

			h->map_len = map_len;	/* the wipe cleared the header too */
			h->body_len = body_len;
			h->locked = locked;
			pthread_mutex_lock(&cache_lock);
			if (cache_n < SECRET_CACHE_MAX) {
				cache[cache_n++] = h;
				kept = true;
			}
			pthread_mutex_unlock(&cache_lock);
			if (kept)
				return;
		}
		if (locked)
			(void)munlock(body, body_len);
		munmap(body - ps, map_len);
	}
}

unsigned long secret_mlock_failures(void)
{
	return atomic_load(&mlock_failures);
}

void mfs_wipe(void *p, size_t len)
{
	if (len)
		explicit_bzero(p, len);
}

bool mfs_ct_eq(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	/* 1 when d == 0, without a data-dependent branch */
	return (1U & (((unsigned)d - 1U) >> 8)) == 1U;
}

bool mfs_ct_is_zero(const void *p, size_t len)
{
	const volatile uint8_t *x = p;
	uint8_t d = 0;

	for (size_t i = 0; i < len; i++)
		d |= x[i];
	return (1U & (((unsigned)d - 1U) >> 8)) == 1U;
}

int mfs_harden_process(void)
{
	struct rlimit no_core = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	if (setrlimit(RLIMIT_CORE, &no_core) < 0)
		return -errno;
	return 0;
}
