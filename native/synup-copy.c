/*
 * synup-mdb-copy: synup's native LMDB helper.
 *
 * Compiled at install time (scripts/build-native.mjs) in ONE translation unit with the LMDB 0.9.29 sources
 * (data format v1, what Synapse's py-lmdb writes) vendored in the lmdb npm package: this file #includes mdb.c, so it
 * can drive LMDB's own compacting copy (mdb_env_cwalk, mdb_env_cthr_toggle) with a read transaction begun EARLIER.
 * That gives what mdb_env_copyfd2() cannot: read txns are begun on every env first (one consistent snapshot, as
 * Synapse's backup tool does), then each env is compact-copied from its pinned txn, several envs in parallel.
 * Output goes through write(2) on a descriptor we hold (never O_DIRECT, which makes path copies 3x slower).
 *
 * usage:
 *   synup-mdb-copy [-n] SRC OUT_FD
 *       compact copy of one env into an open descriptor (-n: SRC is a single file, MDB_NOSUBDIR)
 *   synup-mdb-copy copy [-j JOBS] [-d] [-p MS] SRC OUT [SRC OUT]...
 *       open every SRC env, begin a read txn on each, then compact-copy each into OUT (a new file, created
 *       O_EXCL 0600, or fd:N for an inherited descriptor) and fsync it, JOBS envs at a time, in the order given.
 *       -d: then walk the same pinned snapshot and print its digest (see walk). -p: progress every MS ms.
 *   synup-mdb-copy walk [-j JOBS] [-d] [-f] ENV...
 *       per env: meta, free pages, every named sub-db's stat; -d: entries and digests; -f: xxh64 of data.mdb.
 *   synup-mdb-copy get ENV DB KEY_HEX...
 *       the values of some keys of one named sub-db (synup reads a cell's version this way: no LMDB env stays
 *       open in synup's own process, as lmdb-js keeps envs open until the process exits).
 *
 * An env without a lock.mdb is opened MDB_NOLOCK: this tool never creates a lock.mdb (e.g. in a backup).
 *
 * Events go to stdout, one JSON object per line; the env is named by its argument index, never by its path:
 *   {"event":"snapshot","envs":N}
 *   {"event":"start","env":I,"txnid":T,"bytesTotal":B}
 *   {"event":"progress","env":I,"bytes":B}
 *   {"event":"copied","env":I,"bytes":B,"ms":M}
 *   {"event":"env","env":I,"pageSize":..,"mapSize":..,"lastPage":..,"txnid":..,"freePages":..,"main":{..},
 *    "dbs":[{"name":"<hex>","flags":F,"depth":..,"branch":..,"leaf":..,"overflow":..,"entries":E,"digest":"<hex>"}],
 *    "digest":"<hex>"}
 *   {"event":"filehash","env":I,"bytes":B,"fileHash":"<hex>"}
 *   {"event":"value","key":"<hex>","value":"<hex>"|null}      (get; {"event":"nodb"} when the sub-db is absent)
 *   {"event":"error","env":I,"message":"..."}
 * Exit status: 0 all done, 1 some env failed (see its error event), 2 usage.
 *
 * Digest (synup's, identical for a source env and any compacted copy of it; src/lmdb/digest-js.ts is the same in
 * TypeScript): per sub-db, XXH64 (seed 0) over every entry in cursor order, every DUPSORT duplicate included, each
 * entry fed as u32le(key length) key u32le(value length) value. Plain (non-sub-db) entries of the main db form a
 * pseudo sub-db named "". Env digest: XXH64 over, per sub-db in main-db key order, u32le(name length) name
 * u32le(flags) u64le(entries) u64le(sub-db digest).
 */
#include "mdb.c"

#include <fcntl.h>
#include <stdarg.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------------------------------- XXH64 (spec) */

#define XP1 0x9E3779B185EBCA87ULL
#define XP2 0xC2B2AE3D27D4EB4FULL
#define XP3 0x165667B19E3779F9ULL
#define XP4 0x85EBCA77C2B2AE63ULL
#define XP5 0x27D4EB2F165667C5ULL

typedef struct {
	uint64_t total, v1, v2, v3, v4, seed;
	unsigned char mem[32];
	unsigned memsize;
} xxh64_t;

static inline uint64_t xrotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xrd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t xrd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t xround(uint64_t acc, uint64_t in) { acc += in * XP2; acc = xrotl(acc, 31); return acc * XP1; }
static inline uint64_t xmerge(uint64_t acc, uint64_t v) { acc ^= xround(0, v); return acc * XP1 + XP4; }

static void xxh_reset(xxh64_t *s, uint64_t seed) {
	memset(s, 0, sizeof(*s));
	s->seed = seed;
	s->v1 = seed + XP1 + XP2;
	s->v2 = seed + XP2;
	s->v3 = seed;
	s->v4 = seed - XP1;
}

static void xxh_update(xxh64_t *s, const void *data, size_t len) {
	const unsigned char *p = data;
	s->total += len;
	if (s->memsize + len < 32) {
		memcpy(s->mem + s->memsize, p, len);
		s->memsize += (unsigned)len;
		return;
	}
	if (s->memsize) {
		size_t fill = 32 - s->memsize;
		memcpy(s->mem + s->memsize, p, fill);
		s->v1 = xround(s->v1, xrd64(s->mem));
		s->v2 = xround(s->v2, xrd64(s->mem + 8));
		s->v3 = xround(s->v3, xrd64(s->mem + 16));
		s->v4 = xround(s->v4, xrd64(s->mem + 24));
		p += fill;
		len -= fill;
		s->memsize = 0;
	}
	if (len >= 32) {
		uint64_t v1 = s->v1, v2 = s->v2, v3 = s->v3, v4 = s->v4;
		do {
			v1 = xround(v1, xrd64(p));
			v2 = xround(v2, xrd64(p + 8));
			v3 = xround(v3, xrd64(p + 16));
			v4 = xround(v4, xrd64(p + 24));
			p += 32;
			len -= 32;
		} while (len >= 32);
		s->v1 = v1; s->v2 = v2; s->v3 = v3; s->v4 = v4;
	}
	if (len) {
		memcpy(s->mem, p, len);
		s->memsize = (unsigned)len;
	}
}

static uint64_t xxh_digest(const xxh64_t *s) {
	uint64_t h;
	if (s->total >= 32) {
		h = xrotl(s->v1, 1) + xrotl(s->v2, 7) + xrotl(s->v3, 12) + xrotl(s->v4, 18);
		h = xmerge(h, s->v1);
		h = xmerge(h, s->v2);
		h = xmerge(h, s->v3);
		h = xmerge(h, s->v4);
	} else {
		h = s->seed + XP5;
	}
	h += s->total;
	const unsigned char *p = s->mem;
	unsigned len = s->memsize;
	while (len >= 8) { h ^= xround(0, xrd64(p)); h = xrotl(h, 27) * XP1 + XP4; p += 8; len -= 8; }
	if (len >= 4) { h ^= (uint64_t)xrd32(p) * XP1; h = xrotl(h, 23) * XP2 + XP3; p += 4; len -= 4; }
	while (len) { h ^= (*p) * XP5; h = xrotl(h, 11) * XP1; p++; len--; }
	h ^= h >> 33; h *= XP2;
	h ^= h >> 29; h *= XP3;
	h ^= h >> 32;
	return h;
}

static void xxh_u32(xxh64_t *s, uint32_t v) { unsigned char b[4] = { v, v >> 8, v >> 16, v >> 24 }; xxh_update(s, b, 4); }
static void xxh_u64(xxh64_t *s, uint64_t v) { unsigned char b[8]; for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i)); xxh_update(s, b, 8); }

/* ------------------------------------------------------------------------------------------- output (JSON lines) */

static pthread_mutex_t out_mutex = PTHREAD_MUTEX_INITIALIZER;

typedef struct { char *s; size_t len, cap; } sbuf_t;

static void sb_printf(sbuf_t *b, const char *fmt, ...) {
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) return;
		if (b->s && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + (size_t)n + 1) cap *= 2;
		char *s = realloc(b->s, cap);
		if (!s) { perror("synup-mdb-copy"); exit(1); }
		b->s = s;
		b->cap = cap;
	}
}

static void sb_hex(sbuf_t *b, const void *data, size_t len) {
	const unsigned char *p = data;
	for (size_t i = 0; i < len; i++) sb_printf(b, "%02x", p[i]);
}

static void emit(sbuf_t *b) {
	pthread_mutex_lock(&out_mutex);
	fwrite(b->s, 1, b->len, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&out_mutex);
	free(b->s);
	memset(b, 0, sizeof(*b));
}

static void emit_error(int index, const char *what, int rc) {
	sbuf_t b = {0};
	sb_printf(&b, "{\"event\":\"error\",\"env\":%d,\"message\":\"", index);
	for (const char *p = what; *p; p++) sb_printf(&b, (*p == '"' || *p == '\\') ? "\\%c" : ((unsigned char)*p < 32 ? "?" : "%c"), *p);
	sb_printf(&b, ": ");
	for (const char *p = mdb_strerror(rc); *p; p++) sb_printf(&b, (*p == '"' || *p == '\\') ? "\\%c" : ((unsigned char)*p < 32 ? "?" : "%c"), *p);
	sb_printf(&b, "\"}");
	emit(&b);
}

static uint64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------------------------------------ environments */

typedef struct synup_copy synup_copy;

typedef struct {
	int index;
	const char *path;
	const char *out;
	MDB_env *env;
	MDB_txn *txn;
	uint64_t bytes_total;
	synup_copy *active; /* set while copying, read by the progress thread */
	int failed;
} slot_t;

/* Reads the newest meta page to size maxdbs to what the env holds (plus room for dbs a live writer adds). */
static unsigned int guess_maxdbs(const char *dir) {
	char file[4096];
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return 16384;
	unsigned char buf[2 * 65536];
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n < (ssize_t)(PAGEHDRSZ + sizeof(MDB_meta))) return 16384;
	MDB_meta m0, m1;
	memcpy(&m0, buf + PAGEHDRSZ, sizeof(m0));
	uint32_t psize = m0.mm_dbs[FREE_DBI].md_pad;
	const MDB_meta *m = &m0;
	if (psize >= 512 && psize <= 65536 && (ssize_t)(psize + PAGEHDRSZ + sizeof(m1)) <= n) {
		memcpy(&m1, buf + psize + PAGEHDRSZ, sizeof(m1));
		if (m1.mm_magic == MDB_MAGIC && m1.mm_txnid > m0.mm_txnid) m = &m1;
	}
	uint64_t entries = m->mm_dbs[MAIN_DBI].md_entries;
	return entries > 100000 ? 250000 : (unsigned int)(entries * 2 + 64);
}

static int open_env(slot_t *s) {
	char lock[4096];
	struct stat st;
	unsigned int flags = MDB_RDONLY | MDB_NOTLS;
	snprintf(lock, sizeof(lock), "%s/lock.mdb", s->path);
	if (stat(lock, &st) != 0) flags |= MDB_NOLOCK;
	int rc = mdb_env_create(&s->env);
	if (rc) return rc;
	mdb_env_set_maxdbs(s->env, guess_maxdbs(s->path));
	rc = mdb_env_open(s->env, s->path, flags, 0600);
	if (rc) {
		mdb_env_close(s->env);
		s->env = NULL;
	}
	return rc;
}

static void close_env(slot_t *s) {
	if (s->txn) mdb_txn_abort(s->txn);
	if (s->env) mdb_env_close(s->env);
	s->txn = NULL;
	s->env = NULL;
}

/* Pages a compacting copy drops: every page listed in the freeDB plus the freeDB's own pages (as mdb_env_copyfd1). */
static int count_free(MDB_txn *txn, uint64_t *free_pages) {
	MDB_cursor mc;
	MDB_val key, data;
	MDB_ID count = 0;
	int rc;
	mdb_cursor_init(&mc, txn, FREE_DBI, NULL);
	while ((rc = mdb_cursor_get(&mc, &key, &data, MDB_NEXT)) == 0) count += *(MDB_ID *)data.mv_data;
	if (rc != MDB_NOTFOUND) return rc;
	MDB_db *fdb = &txn->mt_dbs[FREE_DBI];
	*free_pages = count + fdb->md_branch_pages + fdb->md_leaf_pages + fdb->md_overflow_pages;
	return 0;
}

/* --------------------------------------------------------------------------------------------------- digesting */

static int digest_dbi(MDB_txn *txn, MDB_dbi dbi, uint64_t *entries, uint64_t *digest) {
	MDB_cursor *cur;
	MDB_val key, data;
	xxh64_t h;
	uint64_t n = 0;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc) return rc;
	xxh_reset(&h, 0);
	while ((rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) == 0) {
		xxh_u32(&h, (uint32_t)key.mv_size);
		xxh_update(&h, key.mv_data, key.mv_size);
		xxh_u32(&h, (uint32_t)data.mv_size);
		xxh_update(&h, data.mv_data, data.mv_size);
		n++;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) return rc;
	*entries = n;
	*digest = xxh_digest(&h);
	return 0;
}

typedef struct { char *name; size_t len; } dbname_t;

/* Walks one env's snapshot: stat of every sub-db, and with `digest` every entry. Prints one "env" event. */
static int walk_txn(slot_t *s, int digest) {
	MDB_txn *txn = s->txn;
	MDB_env *env = s->env;
	MDB_cursor *cur;
	MDB_val key, data;
	uint64_t free_pages = 0;
	dbname_t *names = NULL;
	size_t nnames = 0, capnames = 0;
	xxh64_t plain, envh;
	uint64_t plain_n = 0;
	sbuf_t b = {0};
	int rc = count_free(txn, &free_pages);
	if (rc) return rc;

	/* Main db: collect sub-db names; hash plain entries (node without F_SUBDATA) as the "" pseudo sub-db. */
	xxh_reset(&plain, 0);
	rc = mdb_cursor_open(txn, MAIN_DBI, &cur);
	if (rc) return rc;
	while ((rc = mdb_cursor_get(cur, &key, &data, MDB_NEXT)) == 0) {
		MDB_node *leaf = NODEPTR(cur->mc_pg[cur->mc_top], cur->mc_ki[cur->mc_top]);
		if (leaf->mn_flags & F_SUBDATA) {
			if (nnames == capnames) {
				capnames = capnames ? capnames * 2 : 64;
				names = realloc(names, capnames * sizeof(*names));
				if (!names) { rc = ENOMEM; break; }
			}
			names[nnames].name = malloc(key.mv_size + 1);
			if (!names[nnames].name) { rc = ENOMEM; break; }
			memcpy(names[nnames].name, key.mv_data, key.mv_size);
			names[nnames].name[key.mv_size] = 0;
			names[nnames].len = key.mv_size;
			nnames++;
		} else if (digest) {
			xxh_u32(&plain, (uint32_t)key.mv_size);
			xxh_update(&plain, key.mv_data, key.mv_size);
			xxh_u32(&plain, (uint32_t)data.mv_size);
			xxh_update(&plain, data.mv_data, data.mv_size);
			plain_n++;
		} else {
			plain_n++;
		}
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) goto done;
	rc = 0;

	MDB_db *main = &txn->mt_dbs[MAIN_DBI];
	sb_printf(&b, "{\"event\":\"env\",\"env\":%d,\"pageSize\":%u,\"mapSize\":%" PRIu64 ",\"lastPage\":%" PRIu64
		",\"txnid\":%" PRIu64 ",\"freePages\":%" PRIu64 ",\"main\":{\"depth\":%u,\"branch\":%" PRIu64 ",\"leaf\":%" PRIu64
		",\"overflow\":%" PRIu64 ",\"entries\":%" PRIu64 "},\"dbs\":[",
		s->index, env->me_psize, (uint64_t)env->me_mapsize, (uint64_t)(txn->mt_next_pgno - 1), (uint64_t)txn->mt_txnid, free_pages,
		main->md_depth, (uint64_t)main->md_branch_pages, (uint64_t)main->md_leaf_pages, (uint64_t)main->md_overflow_pages,
		(uint64_t)main->md_entries);
	xxh_reset(&envh, 0);
	int first = 1;
	if (plain_n > 0) {
		uint64_t d = xxh_digest(&plain);
		sb_printf(&b, "{\"name\":\"\",\"flags\":0,\"entries\":%" PRIu64, plain_n);
		if (digest) sb_printf(&b, ",\"digest\":\"%016" PRIx64 "\"", d);
		sb_printf(&b, "}");
		xxh_u32(&envh, 0);
		xxh_u32(&envh, 0);
		xxh_u64(&envh, plain_n);
		xxh_u64(&envh, d);
		first = 0;
	}
	for (size_t i = 0; i < nnames && !rc; i++) {
		MDB_dbi dbi;
		MDB_stat st;
		unsigned int flags = 0;
		uint64_t entries = 0, d = 0;
		if (strlen(names[i].name) != names[i].len) { rc = MDB_INCOMPATIBLE; break; } /* NUL in a db name */
		if ((rc = mdb_dbi_open(txn, names[i].name, 0, &dbi))) break;
		if ((rc = mdb_stat(txn, dbi, &st)) || (rc = mdb_dbi_flags(txn, dbi, &flags))) break;
		if (digest && (rc = digest_dbi(txn, dbi, &entries, &d))) break;
		if (!digest) entries = st.ms_entries;
		sb_printf(&b, "%s{\"name\":\"", first ? "" : ",");
		sb_hex(&b, names[i].name, names[i].len);
		sb_printf(&b, "\",\"flags\":%u,\"depth\":%u,\"branch\":%" PRIu64 ",\"leaf\":%" PRIu64 ",\"overflow\":%" PRIu64
			",\"entries\":%" PRIu64 ",\"recordEntries\":%" PRIu64, flags, st.ms_depth, (uint64_t)st.ms_branch_pages,
			(uint64_t)st.ms_leaf_pages, (uint64_t)st.ms_overflow_pages, entries, (uint64_t)st.ms_entries);
		if (digest) sb_printf(&b, ",\"digest\":\"%016" PRIx64 "\"", d);
		sb_printf(&b, "}");
		xxh_u32(&envh, (uint32_t)names[i].len);
		xxh_update(&envh, names[i].name, names[i].len);
		xxh_u32(&envh, flags);
		xxh_u64(&envh, entries);
		xxh_u64(&envh, d);
		first = 0;
	}
	if (!rc) {
		sb_printf(&b, "]");
		if (digest) sb_printf(&b, ",\"digest\":\"%016" PRIx64 "\"", xxh_digest(&envh));
		sb_printf(&b, "}");
		emit(&b);
	}
done:
	free(b.s);
	for (size_t i = 0; i < nnames; i++) free(names[i].name);
	free(names);
	return rc;
}

/* ------------------------------------------------------------------------------------------- compacting copy */

/* LMDB's own copy state first (mdb_env_cthr_toggle and mdb_env_cwalk take it), then a byte count for progress. */
struct synup_copy {
	mdb_copy my;
	volatile uint64_t written;
};

/* mdb_env_copythr, counting the bytes written (for progress). */
static void *synup_copythr(void *arg) {
	synup_copy *sc = arg;
	mdb_copy *my = &sc->my;
	int toggle = 0;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	pthread_mutex_lock(&my->mc_mutex);
	for (;;) {
		while (!my->mc_new) pthread_cond_wait(&my->mc_cond, &my->mc_mutex);
		if (my->mc_new == 0 + MDB_EOF) break;
		for (int part = 0; part < 2; part++) {
			char *ptr = part ? my->mc_over[toggle] : my->mc_wbuf[toggle];
			size_t wsize = part ? (size_t)my->mc_olen[toggle] : (size_t)my->mc_wlen[toggle];
			while (wsize > 0 && !my->mc_error) {
				ssize_t len = write(my->mc_fd, ptr, wsize);
				if (len < 0) {
					if (errno == EINTR) continue;
					my->mc_error = errno;
				} else if (len == 0) {
					my->mc_error = EIO;
				} else {
					ptr += len;
					wsize -= (size_t)len;
					sc->written += (uint64_t)len;
				}
			}
		}
		my->mc_olen[toggle] = 0;
		my->mc_wlen[toggle] = 0;
		toggle ^= 1;
		my->mc_new--;
		pthread_cond_signal(&my->mc_cond);
	}
	pthread_mutex_unlock(&my->mc_mutex);
	return NULL;
}

/* mdb_env_copyfd1() of LMDB 0.9.29, except that the read txn is the caller's (begun before any env was copied). */
static int synup_copyfd(slot_t *s, int fd, uint64_t *written) {
	MDB_env *env = s->env;
	MDB_txn *txn = s->txn;
	synup_copy sc;
	mdb_copy *my = &sc.my;
	pthread_t thr;
	pgno_t root, new_root;
	MDB_meta *mm;
	MDB_page *mp;
	void *buf;
	int rc;

	memset(&sc, 0, sizeof(sc));
	if ((rc = pthread_mutex_init(&my->mc_mutex, NULL)) != 0) return rc;
	if ((rc = pthread_cond_init(&my->mc_cond, NULL)) != 0) goto done2;
	if ((rc = posix_memalign(&buf, env->me_os_psize, MDB_WBUF * 2)) != 0) goto done;
	my->mc_wbuf[0] = buf;
	memset(my->mc_wbuf[0], 0, MDB_WBUF * 2);
	my->mc_wbuf[1] = my->mc_wbuf[0] + MDB_WBUF;
	my->mc_next_pgno = NUM_METAS;
	my->mc_env = env;
	my->mc_fd = fd;
	if ((rc = pthread_create(&thr, NULL, synup_copythr, &sc)) != 0) goto done;
	pthread_mutex_lock(&out_mutex);
	s->active = &sc;
	pthread_mutex_unlock(&out_mutex);

	mp = (MDB_page *)my->mc_wbuf[0];
	memset(mp, 0, NUM_METAS * env->me_psize);
	mp->mp_pgno = 0;
	mp->mp_flags = P_META;
	mm = (MDB_meta *)METADATA(mp);
	mdb_env_init_meta0(env, mm);
	mm->mm_address = env->me_metas[0]->mm_address;

	mp = (MDB_page *)(my->mc_wbuf[0] + env->me_psize);
	mp->mp_pgno = 1;
	mp->mp_flags = P_META;
	*(MDB_meta *)METADATA(mp) = *mm;
	mm = (MDB_meta *)METADATA(mp);

	root = new_root = txn->mt_dbs[MAIN_DBI].md_root;
	if (root != P_INVALID) {
		uint64_t free_pages = 0;
		if ((rc = count_free(txn, &free_pages)) != 0) goto finish;
		new_root = txn->mt_next_pgno - 1 - free_pages;
		mm->mm_last_pg = new_root;
		mm->mm_dbs[MAIN_DBI] = txn->mt_dbs[MAIN_DBI];
		mm->mm_dbs[MAIN_DBI].md_root = new_root;
	} else {
		mm->mm_dbs[MAIN_DBI].md_flags = txn->mt_dbs[MAIN_DBI].md_flags;
	}
	if (root != P_INVALID || mm->mm_dbs[MAIN_DBI].md_flags) mm->mm_txnid = 1;

	my->mc_wlen[0] = env->me_psize * NUM_METAS;
	my->mc_txn = txn;
	rc = mdb_env_cwalk(my, &root, 0);
	if (rc == MDB_SUCCESS && root != new_root) rc = MDB_INCOMPATIBLE; /* page leak or corrupt DB */

finish:
	if (rc) my->mc_error = rc;
	mdb_env_cthr_toggle(my, 1 | MDB_EOF);
	pthread_join(thr, NULL);
	pthread_mutex_lock(&out_mutex);
	s->active = NULL;
	pthread_mutex_unlock(&out_mutex);
	*written = sc.written;
done:
	free(my->mc_wbuf[0]);
	pthread_cond_destroy(&my->mc_cond);
done2:
	pthread_mutex_destroy(&my->mc_mutex);
	return rc ? rc : my->mc_error;
}

static int open_out(const char *out, int *fd) {
	if (strncmp(out, "fd:", 3) == 0) {
		char *end = NULL;
		long n = strtol(out + 3, &end, 10);
		if (!end || *end || n < 0) return EINVAL;
		*fd = (int)n;
		return 0;
	}
	*fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	return *fd < 0 ? errno : 0;
}

/* --------------------------------------------------------------------------------------------------- file hash */

static int hash_file(slot_t *s) {
	char file[4096];
	snprintf(file, sizeof(file), "%s/data.mdb", s->path);
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0) return errno;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	size_t cap = 1 << 20;
	unsigned char *buf = malloc(cap);
	if (!buf) { close(fd); return ENOMEM; }
	xxh64_t h;
	xxh_reset(&h, 0);
	uint64_t total = 0;
	int rc = 0;
	for (;;) {
		ssize_t n = read(fd, buf, cap);
		if (n < 0) { if (errno == EINTR) continue; rc = errno; break; }
		if (n == 0) break;
		xxh_update(&h, buf, (size_t)n);
		total += (uint64_t)n;
	}
	free(buf);
	close(fd);
	if (rc) return rc;
	sbuf_t b = {0};
	sb_printf(&b, "{\"event\":\"filehash\",\"env\":%d,\"bytes\":%" PRIu64 ",\"fileHash\":\"%016" PRIx64 "\"}", s->index, total, xxh_digest(&h));
	emit(&b);
	return 0;
}

/* ------------------------------------------------------------------------------------------------- task queue */

enum { T_COPY, T_WALK, T_HASH };

typedef struct { int kind; slot_t *slot; } task_t;

static struct {
	task_t *tasks;
	int ntasks, next, digest, stop, failed, stop_on_failure, progress_ms;
	pthread_mutex_t mutex;
	pthread_cond_t cond;
	slot_t *slots;
	int nslots;
} Q = { .mutex = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static void fail_slot(slot_t *s, const char *what, int rc) {
	emit_error(s->index, what, rc);
	pthread_mutex_lock(&Q.mutex);
	s->failed = 1;
	Q.failed = 1;
	pthread_mutex_unlock(&Q.mutex);
}

static void run_copy(slot_t *s) {
	int fd, rc;
	uint64_t written = 0, t0 = now_ms();
	if ((rc = open_out(s->out, &fd)) != 0) return fail_slot(s, "cannot create the output", rc);
	rc = synup_copyfd(s, fd, &written);
	if (!rc && fsync(fd) != 0 && errno != EINVAL) rc = errno;
	if (close(fd) != 0 && !rc) rc = errno;
	if (rc) return fail_slot(s, "compact copy", rc);
	sbuf_t b = {0};
	sb_printf(&b, "{\"event\":\"copied\",\"env\":%d,\"bytes\":%" PRIu64 ",\"ms\":%" PRIu64 "}", s->index, written, now_ms() - t0);
	emit(&b);
	if (Q.digest && (rc = walk_txn(s, 1)) != 0) return fail_slot(s, "digest of the snapshot", rc);
}

static void *worker(void *arg) {
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&Q.mutex);
		if (Q.next >= Q.ntasks || (Q.failed && Q.stop_on_failure)) { pthread_mutex_unlock(&Q.mutex); return NULL; }
		task_t t = Q.tasks[Q.next++];
		pthread_mutex_unlock(&Q.mutex);
		int rc;
		switch (t.kind) {
		case T_COPY:
			run_copy(t.slot);
			mdb_txn_abort(t.slot->txn); /* release this env's snapshot as soon as it is copied */
			t.slot->txn = NULL;
			break;
		case T_WALK:
			if ((rc = mdb_txn_begin(t.slot->env, NULL, MDB_RDONLY, &t.slot->txn)) != 0) { fail_slot(t.slot, "read txn", rc); break; }
			if ((rc = walk_txn(t.slot, Q.digest)) != 0) fail_slot(t.slot, "walk", rc);
			mdb_txn_abort(t.slot->txn);
			t.slot->txn = NULL;
			break;
		case T_HASH:
			if ((rc = hash_file(t.slot)) != 0) fail_slot(t.slot, "read data.mdb", rc);
			break;
		}
	}
}

static void *progress_thread(void *arg) {
	(void)arg;
	pthread_mutex_lock(&Q.mutex);
	while (!Q.stop) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += (long)Q.progress_ms * 1000000L;
		ts.tv_sec += ts.tv_nsec / 1000000000L;
		ts.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&Q.cond, &Q.mutex, &ts);
		if (Q.stop) break;
		pthread_mutex_lock(&out_mutex);
		for (int i = 0; i < Q.nslots; i++) {
			if (Q.slots[i].active) {
				fprintf(stdout, "{\"event\":\"progress\",\"env\":%d,\"bytes\":%" PRIu64 "}\n", Q.slots[i].index, Q.slots[i].active->written);
			}
		}
		fflush(stdout);
		pthread_mutex_unlock(&out_mutex);
	}
	pthread_mutex_unlock(&Q.mutex);
	return NULL;
}

static int run_queue(int jobs) {
	pthread_t threads[64], prog;
	int n = jobs < 1 ? 1 : (jobs > 64 ? 64 : jobs);
	if (n > Q.ntasks) n = Q.ntasks > 0 ? Q.ntasks : 1;
	int with_progress = Q.progress_ms > 0;
	if (with_progress) pthread_create(&prog, NULL, progress_thread, NULL);
	for (int i = 0; i < n; i++) pthread_create(&threads[i], NULL, worker, NULL);
	for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
	if (with_progress) {
		pthread_mutex_lock(&Q.mutex);
		Q.stop = 1;
		pthread_cond_broadcast(&Q.cond);
		pthread_mutex_unlock(&Q.mutex);
		pthread_join(prog, NULL);
	}
	for (int i = 0; i < Q.nslots; i++) close_env(&Q.slots[i]);
	return Q.failed ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------------------- get */

static int usage(void);

static int hexval(int c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static int get_main(int argc, char **argv) {
	if (argc < 5) return usage();
	slot_t s = { .index = 0, .path = argv[2] };
	int rc = open_env(&s);
	if (!rc) rc = mdb_txn_begin(s.env, NULL, MDB_RDONLY, &s.txn);
	MDB_dbi dbi;
	if (!rc) {
		rc = mdb_dbi_open(s.txn, argv[3], 0, &dbi);
		if (rc == MDB_NOTFOUND) {
			sbuf_t b = {0};
			sb_printf(&b, "{\"event\":\"nodb\"}");
			emit(&b);
			close_env(&s);
			return 0;
		}
	}
	for (int i = 4; !rc && i < argc; i++) {
		size_t n = strlen(argv[i]);
		unsigned char *key = malloc(n / 2 + 1);
		if (!key) { rc = ENOMEM; break; }
		int bad = n == 0 || n % 2;
		for (size_t j = 0; !bad && j < n / 2; j++) {
			int hi = hexval(argv[i][2 * j]), lo = hexval(argv[i][2 * j + 1]);
			bad = hi < 0 || lo < 0;
			key[j] = (unsigned char)(hi * 16 + lo);
		}
		if (bad) { free(key); close_env(&s); return usage(); }
		MDB_val k = { n / 2, key }, v;
		int grc = mdb_get(s.txn, dbi, &k, &v);
		sbuf_t b = {0};
		sb_printf(&b, "{\"event\":\"value\",\"key\":\"%s\",\"value\":", argv[i]);
		if (grc == MDB_NOTFOUND) sb_printf(&b, "null");
		else if (grc == 0) { sb_printf(&b, "\""); sb_hex(&b, v.mv_data, v.mv_size); sb_printf(&b, "\""); }
		else rc = grc;
		sb_printf(&b, "}");
		free(key);
		if (!rc) emit(&b); else free(b.s);
	}
	if (rc) emit_error(0, argv[2], rc);
	close_env(&s);
	return rc ? 1 : 0;
}

/* ------------------------------------------------------------------------------------------------------ main */

static int usage(void) {
	fprintf(stderr,
		"usage: synup-mdb-copy [-n] SRC OUT_FD\n"
		"       synup-mdb-copy copy [-j JOBS] [-d] [-p MS] SRC OUT [SRC OUT]...\n"
		"       synup-mdb-copy walk [-j JOBS] [-d] [-f] ENV...\n"
		"       synup-mdb-copy get ENV DB KEY_HEX...\n");
	return 2;
}

/* Parses -j N, -d, -f, -p MS; returns the index of the first operand or -1. */
static int parse_flags(int argc, char **argv, int argi, int *jobs, int *digest, int *filehash) {
	for (; argi < argc && argv[argi][0] == '-'; argi++) {
		const char *a = argv[argi];
		if (strcmp(a, "-d") == 0) *digest = 1;
		else if (strcmp(a, "-f") == 0 && filehash) *filehash = 1;
		else if ((strcmp(a, "-j") == 0 || strcmp(a, "-p") == 0) && argi + 1 < argc) {
			char *end = NULL;
			long v = strtol(argv[++argi], &end, 10);
			if (!end || *end || v < 0 || v > 1000000) return -1;
			if (a[1] == 'j') *jobs = (int)v; else Q.progress_ms = (int)v;
		} else if (strcmp(a, "--") == 0) return argi + 1;
		else return -1;
	}
	return argi;
}

static int legacy_main(int argc, char **argv) {
	unsigned int envflags = MDB_RDONLY;
	int argi = 1;
	if (argi < argc && strcmp(argv[argi], "-n") == 0) { envflags |= MDB_NOSUBDIR; argi++; }
	if (argc - argi != 2) return usage();
	char *end = NULL;
	long fd = strtol(argv[argi + 1], &end, 10);
	if (!end || *end || fd < 0) return usage();
	MDB_env *env;
	int rc = mdb_env_create(&env);
	if (!rc) rc = mdb_env_open(env, argv[argi], envflags, 0600);
	if (!rc) rc = mdb_env_copyfd2(env, (mdb_filehandle_t)fd, MDB_CP_COMPACT);
	mdb_env_close(env);
	if (!rc && fsync((int)fd) != 0 && errno != EINVAL) rc = errno;
	if (rc) { fprintf(stderr, "synup-mdb-copy: %s: %s\n", argv[argi], mdb_strerror(rc)); return 1; }
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 2) return usage();
	if (strcmp(argv[1], "get") == 0) return get_main(argc, argv);
	int is_copy = strcmp(argv[1], "copy") == 0, is_walk = strcmp(argv[1], "walk") == 0;
	if (!is_copy && !is_walk) return legacy_main(argc, argv);
	int jobs = 1, filehash = 0;
	int argi = parse_flags(argc, argv, 2, &jobs, &Q.digest, is_walk ? &filehash : NULL);
	if (argi < 0 || argi >= argc) return usage();
	int per = is_copy ? 2 : 1;
	if ((argc - argi) % per != 0) return usage();
	Q.nslots = (argc - argi) / per;
	Q.slots = calloc((size_t)Q.nslots, sizeof(slot_t));
	Q.tasks = calloc((size_t)Q.nslots * 2, sizeof(task_t));
	if (!Q.slots || !Q.tasks) return 1;
	for (int i = 0; i < Q.nslots; i++) {
		slot_t *s = &Q.slots[i];
		s->index = i;
		s->path = argv[argi + i * per];
		s->out = is_copy ? argv[argi + i * per + 1] : NULL;
	}
	if (is_walk) {
		for (int i = 0; i < Q.nslots; i++) {
			int rc = open_env(&Q.slots[i]);
			if (rc) { fail_slot(&Q.slots[i], "open", rc); continue; }
			Q.tasks[Q.ntasks++] = (task_t){ T_WALK, &Q.slots[i] };
			if (filehash) Q.tasks[Q.ntasks++] = (task_t){ T_HASH, &Q.slots[i] };
		}
		int rc = run_queue(jobs);
		for (int i = 0; i < Q.nslots; i++) if (Q.slots[i].failed) rc = 1;
		return rc;
	}
	/* copy: every env opened and its read txn begun before any is copied (one consistent snapshot). */
	Q.stop_on_failure = 1;
	for (int i = 0; i < Q.nslots; i++) {
		slot_t *s = &Q.slots[i];
		int rc = open_env(s);
		if (rc) { fail_slot(s, "open", rc); break; }
		if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->txn)) != 0) { fail_slot(s, "read txn", rc); break; }
	}
	if (Q.failed) {
		for (int i = 0; i < Q.nslots; i++) close_env(&Q.slots[i]);
		return 1;
	}
	sbuf_t b = {0};
	sb_printf(&b, "{\"event\":\"snapshot\",\"envs\":%d}", Q.nslots);
	emit(&b);
	for (int i = 0; i < Q.nslots; i++) {
		slot_t *s = &Q.slots[i];
		uint64_t free_pages = 0;
		if (s->txn->mt_dbs[MAIN_DBI].md_root == P_INVALID) s->bytes_total = (uint64_t)NUM_METAS * s->env->me_psize;
		else if (count_free(s->txn, &free_pages) == 0) s->bytes_total = ((uint64_t)s->txn->mt_next_pgno - free_pages) * s->env->me_psize;
		sb_printf(&b, "{\"event\":\"start\",\"env\":%d,\"txnid\":%" PRIu64 ",\"bytesTotal\":%" PRIu64 "}", i, (uint64_t)s->txn->mt_txnid, s->bytes_total);
		emit(&b);
		Q.tasks[Q.ntasks++] = (task_t){ T_COPY, s };
	}
	return run_queue(jobs);
}
