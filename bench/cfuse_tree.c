/*
 * The C baseline of the stat-by-path row of bench/bench_scale.py: a minimal libfuse3 low-level
 * server whose tree has the shape of the benchmark's image. It keeps no table at all, so its
 * cost per LOOKUP is the least any server can have, and what remains is the round trip itself.
 *
 *   cfuse_tree MOUNTPOINT
 *
 * Every name beginning with 't' or 's' is a directory and every name beginning with 'f' is a
 * 4 KiB file, at any depth; other names do not exist. Each LOOKUP gives a new node id (bit 0 set
 * for a directory), so GETATTR knows the kind from the id alone. Entries and attributes are kept
 * by the kernel for a day, as the famfs mount keeps those of its files; the mount options are the
 * famfs mount's (allow_other, default_permissions).
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define VALID_S (24.0 * 3600.0)

static fuse_ino_t next_ino = 2;

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID || (ino & 1)) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = 4096;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int is_dir = name[0] == 't' || name[0] == 's';

	(void)parent;
	if (!is_dir && name[0] != 'f') {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	next_ino += 2;
	e.ino = next_ino | (fuse_ino_t)is_dir;
	e.attr_timeout = VALID_S;
	e.entry_timeout = VALID_S;
	fill_stat(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, VALID_S);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
};

int main(int argc, char **argv)
{
	char *fuse_argv[] = {argv[0], "-o", "fsname=cfuse_tree,allow_other,default_permissions",
			     NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_session *se;
	int ret;

	if (argc != 2) {
		fprintf(stderr, "usage: %s MOUNTPOINT\n", argv[0]);
		return 2;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se == NULL || fuse_set_signal_handlers(se) != 0)
		return 1;
	if (fuse_session_mount(se, argv[1]) != 0)
		return 1;
	ret = fuse_session_loop(se);
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}
