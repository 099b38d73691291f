/* SPDX-License-Identifier: Apache-2.0 */
#include "kex/kex.h"

#include <string.h>

#include "kex/methods.h"

/* Registry order is the default preference order. One Meson option per method. */
static const struct kex_method *const registry[] = {
#if MFS_WITH_MLKEM
	&kex_mlkem768,
	&kex_mlkem1024,
#endif
#if MFS_WITH_MCELIECE
	&kex_mceliece460896,
	&kex_mceliece6688128,
#endif
#if MFS_WITH_PSK
	&kex_psk,
#endif
#if MFS_WITH_X25519
	&kex_x25519,
#endif
#if MFS_WITH_QKD014
	&kex_qkd014,	/* last: needs a KME; keeps the fuzz corpus selectors of the others */
#endif
	NULL,	/* end; also keeps the array non-empty when every method is disabled */
};

#define REGISTRY_LEN (sizeof(registry) / sizeof(registry[0]) - 1)

size_t kex_methods(const struct kex_method *const **ret)
{
	*ret = registry;
	return REGISTRY_LEN;
}

const struct kex_method *kex_method_by_name(const char *name)
{
	for (const struct kex_method *const *m = registry; *m; m++)
		if (strcmp((*m)->name, name) == 0)
			return (*m)->available() ? *m : NULL;
	return NULL;
}

const struct kex_method *kex_method_by_id(uint16_t id)
{
	for (const struct kex_method *const *m = registry; *m; m++)
		if ((*m)->id == id)
			return (*m)->available() ? *m : NULL;
	return NULL;
}

const char *kex_method_name(uint16_t id)
{
	const struct kex_method *m = kex_method_by_id(id);

	return m ? m->name : "?";
}

const char *kex_family_name(enum kex_family f)
{
	switch (f) {
	case KEX_FAMILY_LATTICE: return "lattice";
	case KEX_FAMILY_CODE: return "code";
	case KEX_FAMILY_QKD: return "qkd";
	case KEX_FAMILY_PSK: return "psk";
	case KEX_FAMILY_CLASSICAL: return "classical";
	}
	return "?";
}
