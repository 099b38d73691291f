/* SPDX-License-Identifier: Apache-2.0 */
#include "base/err.h"

#include <errno.h>
#include <string.h>

const char *mfs_strerror(int err)
{
	switch (-err) {
	case 0: return "success";
	case EBADMSG: return "malformed input";
	case EMSGSIZE: return "input too large";
	case EKEYREJECTED: return "authentication or key check failed";
	case EALREADY: return "replayed or already used";
	case EPROTO: return "protocol state error";
	case EOPNOTSUPP: return "not supported";
	case EAGAIN: return "not ready yet";
	case ENOKEY: return "unknown key or key ID";
	case EINVAL: return "invalid argument";
	default: return strerror(-err);
	}
}
