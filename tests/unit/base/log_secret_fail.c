/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compile-fail check for the log facade (src/base/log.h): handing a
 * struct secret to a log call must not compile. tests/unit/meson.build
 * compiles this file twice with the project's flags:
 *
 *   as is:                 must fail with "secret passed to a log call";
 *   -DLOG_SECRET_CONTROL:  the same call shape without the secret must compile,
 *                          so the failure above is the check, not a typo.
 */
#include "base/log.h"
#include "base/secret.h"

int main(void)
{
	struct secret *s = secret_alloc(32);

	if (!s)
		return 1;
#ifdef LOG_SECRET_CONTROL
	log_info("%p %zu", (void *)NULL, s->len);
#else
	log_info("%p", s);
#endif
	secret_free(s);
	return 0;
}
