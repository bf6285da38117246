/*
 * The C baseline of bench/bench_fuse.py: a minimal libfuse3 low-level server that serves the
 * files named on its command line, read-only, each from an mmap of the file, replying to READ
 * with fuse_reply_buf (libfuse writes the reply header and the mapped bytes with one writev).
 *
 *   cfuse_mmap [-t] [-p] MOUNTPOINT FILE...
 *
 * The files appear in the mount root as f0, f1, ... . Opens use FOPEN_DIRECT_IO unless -p is
 * given (then the page cache is used and O_DIRECT readers take the kernel's direct-I/O path).
 * -t serves with libfuse's multi-threaded loop instead of the single-threaded one.
 * libfuse negotiates its defaults: 1 MiB requests (max_pages 256), ASYNC_READ, ASYNC_DIO.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 16

static struct {
	char *map;
	size_t size;
} files[MAX_FILES];
static int nfiles;
static int page_cache;

static int file_index(fuse_ino_t ino)
{
	if (ino < 2 || ino >= (fuse_ino_t)(2 + nfiles))
		return -1;
	return (int)(ino - 2);
}

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)files[file_index(ino)].size;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int i;

	if (parent != FUSE_ROOT_ID || name[0] != 'f') {
		fuse_reply_err(req, ENOENT);
		return;
	}
	i = atoi(name + 1);
	if (i < 0 || i >= nfiles) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof(e));
	e.ino = 2 + (fuse_ino_t)i;
	e.attr_timeout = 1.0;
	e.entry_timeout = 1.0;
	fill_stat(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	if (ino != FUSE_ROOT_ID && file_index(ino) < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 1.0);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (file_index(ino) < 0) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fi->direct_io = !page_cache;
	fi->keep_cache = page_cache;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	int i = file_index(ino);

	(void)fi;
	if (i < 0) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if ((size_t)off >= files[i].size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > files[i].size - (size_t)off)
		size = files[i].size - (size_t)off;
	fuse_reply_buf(req, files[i].map + off, size);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.open = op_open,
	.read = op_read,
};

int main(int argc, char **argv)
{
	int threaded = 0, opt, ret;
	char *fuse_argv[] = {argv[0], "-o", "fsname=cfuse_mmap", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fuse_argv);
	struct fuse_session *se;
	const char *mountpoint;

	while ((opt = getopt(argc, argv, "tp")) != -1) {
		if (opt == 't')
			threaded = 1;
		else if (opt == 'p')
			page_cache = 1;
		else
			return 2;
	}
	if (argc - optind < 2 || argc - optind - 1 > MAX_FILES) {
		fprintf(stderr, "usage: %s [-t] [-p] MOUNTPOINT FILE...\n", argv[0]);
		return 2;
	}
	mountpoint = argv[optind];
	for (int a = optind + 1; a < argc; a++) {
		int fd = open(argv[a], O_RDONLY);
		struct stat st;

		if (fd < 0 || fstat(fd, &st) != 0) {
			perror(argv[a]);
			return 1;
		}
		files[nfiles].size = (size_t)st.st_size;
		files[nfiles].map = mmap(NULL, files[nfiles].size, PROT_READ, MAP_SHARED, fd, 0);
		if (files[nfiles].map == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		close(fd);
		nfiles++;
	}
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se == NULL || fuse_set_signal_handlers(se) != 0)
		return 1;
	if (fuse_session_mount(se, mountpoint) != 0)
		return 1;
	if (threaded) {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();

		fuse_loop_cfg_set_clone_fd(cfg, 0);
		fuse_loop_cfg_set_max_threads(cfg, 8);
		ret = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	} else {
		ret = fuse_session_loop(se);
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return ret ? 1 : 0;
}
