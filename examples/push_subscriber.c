/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal encryptor's key handling with libmfs-client (docs/push.md):
 * subscribe to the outbound keys of one (peer, class), install each key as
 * it comes, switch to the next one when the daemon retires the one in use,
 * and report usage. Build against an installed libmfs-client:
 *
 *	cc push_subscriber.c $(pkg-config --cflags --libs mfs-client)
 *	./a.out /run/mfsd/push.sock gpu-dc training 3
 *
 * It stops after the given number of keys. Key bytes are never printed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mfs/client.h>

int main(int argc, char **argv)
{
	struct mfs_client *c;
	struct mfs_client_event ev;
	char id[MFS_CLIENT_KEY_ID_STR_LEN + 1];
	int r, want, got = 0;

	if (argc != 5) {
		fprintf(stderr, "usage: %s SOCKET PEER CLASS NKEYS\n", argv[0]);
		return 2;
	}
	want = (int)strtol(argv[4], NULL, 10);
	if (want < 1 || want > 1000)
		want = 1;
	if ((r = mfs_client_open(argv[1], "example", &c)) < 0 ||
	    (r = mfs_client_subscribe(c, argv[2], argv[3], MFS_CLIENT_OUTBOUND, 2)) < 0) {
		fprintf(stderr, "subscribe: %s %s\n", strerror(-r), c ? mfs_client_error(c) : "");
		return 1;
	}
	while (got < want && (r = mfs_client_next(c, 10000, &ev)) > 0) {
		if (ev.type != MFS_CLIENT_EV_KEY)
			continue;
		/* install(ev.key.key, ev.key.key_len) would go here */
		mfs_client_key_id_format(ev.key.id, id);
		printf("key %s, %zu bytes, hard expiry %lld\n", id, ev.key.key_len,
		       (long long)ev.key.hard_expiry);
		mfs_client_ack(c, ev.key.id);
		if (got == 0) {
			mfs_client_in_use(c, ev.key.id);
			mfs_client_usage(c, ev.key.id, 1500, 1);
		}
		mfs_client_key_wipe(&ev.key);
		got++;
	}
	mfs_client_close(c);
	return got == want ? 0 : 1;
}
