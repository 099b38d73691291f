/* SPDX-License-Identifier: Apache-2.0 */
/* A read-only byte range, for passing lists of inputs to hashes and KDFs. */
#ifndef MFS_BASE_IOV_H
#define MFS_BASE_IOV_H

#include <stddef.h>
#include <stdint.h>

struct cbuf {
	const uint8_t *p;
	size_t len;
};

#define CBUF(ptr, n) ((struct cbuf){ .p = (const uint8_t *)(ptr), .len = (n) })

#endif
