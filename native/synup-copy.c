/*
 * synup-mdb-copy: LMDB's compacting copy of one environment into a file descriptor.
 * Built at install time against the LMDB 0.9.x (data format v1) sources vendored in the lmdb npm package, so
 * synup has a C-speed compact copy without lmdb-utils. Writing to an fd we opened (not a path) avoids O_DIRECT.
 *
 * usage: synup-mdb-copy [-n] SRC_ENV_DIR OUT_FD
 *   -n  the env is a single file (MDB_NOSUBDIR)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lmdb.h"

static int fail(const char *what, int rc) {
	fprintf(stderr, "synup-mdb-copy: %s: %s\n", what, mdb_strerror(rc));
	return 1;
}

int main(int argc, char **argv) {
	unsigned int envflags = MDB_RDONLY;
	int argi = 1;
	if (argi < argc && strcmp(argv[argi], "-n") == 0) { envflags |= MDB_NOSUBDIR; argi++; }
	if (argc - argi != 2) {
		fprintf(stderr, "usage: synup-mdb-copy [-n] SRC_ENV_DIR OUT_FD\n");
		return 2;
	}
	const char *src = argv[argi];
	char *end = NULL;
	long fd = strtol(argv[argi + 1], &end, 10);
	if (!end || *end || fd < 0) {
		fprintf(stderr, "synup-mdb-copy: OUT_FD must be a file descriptor number\n");
		return 2;
	}
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (rc) return fail("mdb_env_create", rc);
	rc = mdb_env_open(env, src, envflags, 0600);
	if (rc) { mdb_env_close(env); return fail(src, rc); }
	rc = mdb_env_copyfd2(env, (mdb_filehandle_t)fd, MDB_CP_COMPACT);
	mdb_env_close(env);
	if (rc) return fail("compact copy", rc);
	if (fsync((int)fd) != 0 && errno != EINVAL) { perror("synup-mdb-copy: fsync"); return 1; }
	return 0;
}
