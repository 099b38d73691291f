/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MFS Operation I/F: the admin API of mfsd (docs/admin-api.md).
 *
 * On the Unix socket every message (request and response) is
 *
 *   u32 length (big-endian) ‖ length bytes of JSON (one object)
 *
 * A request is at most ADMIN_REQ_MAX bytes, a response at most
 * ADMIN_RESP_MAX. admin_req_parse() checks a request body strictly (known
 * command, exactly the members it takes, bounded strings) into a caller
 * struct; admin_handle() runs it against the control engine and returns the
 * response object as text. No key bytes ever appear in a response.
 */
#ifndef MFS_OPS_ADMIN_H
#define MFS_OPS_ADMIN_H

#include <stdint.h>
#include <sys/types.h>

#include "cf/cf.h"

#define ADMIN_REQ_MAX 4096
#define ADMIN_RESP_MAX (16U * 1024 * 1024)
#define ADMIN_HDR_LEN 4
#define ADMIN_STR_MAX 128

enum admin_cmd {
	ADMIN_STATUS,
	ADMIN_PEERS,
	ADMIN_KEYS,
	ADMIN_REKEY,
	ADMIN_METHOD_LIST,
	ADMIN_METHOD_REVOKE,
	ADMIN_METHOD_RESTORE,
	ADMIN_METHOD_USAGE,
	ADMIN_AUDIT,
	ADMIN_ROTATE_STATIC,
};

struct admin_req {
	enum admin_cmd cmd;
	char peer[ADMIN_STR_MAX + 1];		/* "" = not given */
	char class_name[ADMIN_STR_MAX + 1];
	char method[ADMIN_STR_MAX + 1];
	char reason[ADMIN_STR_MAX + 1];
};

/* Parse one request body p[n]: 0, -EBADMSG (not a valid request), -EMSGSIZE. */
int admin_req_parse(const uint8_t *p, size_t n, struct admin_req *ret);

/*
 * Run req for the admin with uid (already checked: root or the daemon's
 * user). *ret: the response JSON, NUL-terminated, malloc()ed. Returns 0 or
 * -ENOMEM; a failed operation is a response with "ok": false.
 */
int admin_handle(struct cf *cf, const struct admin_req *req, uid_t uid, int64_t now, char **ret);

/* The error response {"ok":false,"error":text}, malloc()ed; NULL on -ENOMEM. */
char *admin_error_json(const char *text);

#endif
