/*
 * slowfs: a slow share to test against. A FUSE passthrough that waits before every operation.
 *
 *   slowfs SOURCE MOUNTPOINT [-o delay_us=100] [-f]
 *
 * WSL2's 9P (/mnt/c) and Docker Desktop's osxfs, gRPC-FUSE and VirtioFS make every stat, open
 * and readdir a round trip between a VM and its host, about 100 microseconds each. This kernel
 * has FUSE but neither 9P nor virtiofs, so this mount stands in for them: each operation on
 * MOUNTPOINT is done on SOURCE after sleeping delay_us. Requests are served on several threads,
 * so callers that keep many requests in flight overlap their waits, as with a real host. The
 * kernel's attribute and lookup caches are off: every stat pays the round trip, as on 9P.
 *
 * Built by the tests and the bench: cc -O2 slowfs.c $(pkg-config --cflags --libs fuse3)
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

static struct options {
    const char *source;
    unsigned delay_us;
} options = {.delay_us = 100};

static const struct fuse_opt option_spec[] = {
    {"delay_us=%u", offsetof(struct options, delay_us), 1},
    FUSE_OPT_END,
};

/* the path on SOURCE, after the round trip's wait */
static const char *real(const char *path, char *buf) {
    struct timespec wait = {0, (long)options.delay_us * 1000};
    if (options.delay_us) nanosleep(&wait, NULL);
    snprintf(buf, PATH_MAX, "%s%s", options.source, path);
    return buf;
}

static void *slow_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
    (void)conn;
    cfg->use_ino = 1;
    cfg->attr_timeout = 0;
    cfg->entry_timeout = 0;
    cfg->negative_timeout = 0;
    return NULL;
}

static int slow_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int res = fi ? fstat((int)fi->fh, st) : lstat(real(path, buf), st);
    return res == -1 ? -errno : 0;
}

static int slow_access(const char *path, int mask) {
    char buf[PATH_MAX];
    return access(real(path, buf), mask) == -1 ? -errno : 0;
}

static int slow_readlink(const char *path, char *out, size_t size) {
    char buf[PATH_MAX];
    ssize_t n = readlink(real(path, buf), out, size - 1);
    if (n == -1) return -errno;
    out[n] = '\0';
    return 0;
}

static int slow_readdir(const char *path, void *out, fuse_fill_dir_t filler, off_t offset,
                        struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
    (void)offset, (void)fi, (void)flags;
    char buf[PATH_MAX];
    DIR *dir = opendir(real(path, buf));
    if (dir == NULL) return -errno;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        struct stat st = {.st_ino = entry->d_ino, .st_mode = (mode_t)DTTOIF(entry->d_type)};
        if (filler(out, entry->d_name, &st, 0, 0)) break;
    }
    closedir(dir);
    return 0;
}

static int slow_mkdir(const char *path, mode_t mode) {
    char buf[PATH_MAX];
    return mkdir(real(path, buf), mode) == -1 ? -errno : 0;
}

static int slow_unlink(const char *path) {
    char buf[PATH_MAX];
    return unlink(real(path, buf)) == -1 ? -errno : 0;
}

static int slow_rmdir(const char *path) {
    char buf[PATH_MAX];
    return rmdir(real(path, buf)) == -1 ? -errno : 0;
}

static int slow_symlink(const char *target, const char *path) {
    char buf[PATH_MAX];
    return symlink(target, real(path, buf)) == -1 ? -errno : 0;
}

static int slow_rename(const char *from, const char *to, unsigned int flags) {
    char a[PATH_MAX], b[PATH_MAX];
    if (flags) return -EINVAL;
    return rename(real(from, a), real(to, b)) == -1 ? -errno : 0;
}

static int slow_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int res = fi ? fchmod((int)fi->fh, mode) : chmod(real(path, buf), mode);
    return res == -1 ? -errno : 0;
}

static int slow_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int res = fi ? fchown((int)fi->fh, uid, gid) : lchown(real(path, buf), uid, gid);
    return res == -1 ? -errno : 0;
}

static int slow_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int res = fi ? ftruncate((int)fi->fh, size) : truncate(real(path, buf), size);
    return res == -1 ? -errno : 0;
}

static int slow_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int res = fi ? futimens((int)fi->fh, tv)
                 : utimensat(AT_FDCWD, real(path, buf), tv, AT_SYMLINK_NOFOLLOW);
    return res == -1 ? -errno : 0;
}

static int slow_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int fd = open(real(path, buf), fi->flags, mode);
    if (fd == -1) return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int slow_open(const char *path, struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    int fd = open(real(path, buf), fi->flags);
    if (fd == -1) return -errno;
    fi->fh = (uint64_t)fd;
    return 0;
}

static int slow_read(const char *path, char *out, size_t size, off_t offset,
                     struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    (void)real(path, buf);
    ssize_t n = pread((int)fi->fh, out, size, offset);
    return n == -1 ? -errno : (int)n;
}

static int slow_write(const char *path, const char *data, size_t size, off_t offset,
                      struct fuse_file_info *fi) {
    char buf[PATH_MAX];
    (void)real(path, buf);
    ssize_t n = pwrite((int)fi->fh, data, size, offset);
    return n == -1 ? -errno : (int)n;
}

static int slow_statfs(const char *path, struct statvfs *st) {
    char buf[PATH_MAX];
    return statvfs(real(path, buf), st) == -1 ? -errno : 0;
}

static int slow_release(const char *path, struct fuse_file_info *fi) {
    (void)path;
    close((int)fi->fh);
    return 0;
}

static int slow_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
    (void)path;
    int res = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
    return res == -1 ? -errno : 0;
}

static const struct fuse_operations slow_operations = {
    .init = slow_init,
    .getattr = slow_getattr,
    .access = slow_access,
    .readlink = slow_readlink,
    .readdir = slow_readdir,
    .mkdir = slow_mkdir,
    .symlink = slow_symlink,
    .unlink = slow_unlink,
    .rmdir = slow_rmdir,
    .rename = slow_rename,
    .chmod = slow_chmod,
    .chown = slow_chown,
    .truncate = slow_truncate,
    .utimens = slow_utimens,
    .open = slow_open,
    .create = slow_create,
    .read = slow_read,
    .write = slow_write,
    .statfs = slow_statfs,
    .release = slow_release,
    .fsync = slow_fsync,
};

int main(int argc, char *argv[]) {
    struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
    if (fuse_opt_parse(&args, &options, option_spec, NULL) == -1) return 1;
    /* the first plain argument is SOURCE; fuse_main takes the mount point and options */
    for (int i = 1; i < args.argc; i++) {
        if (args.argv[i][0] != '-' && strcmp(args.argv[i - 1], "-o") != 0) {
            options.source = realpath(args.argv[i], NULL);
            if (options.source == NULL) {
                perror(args.argv[i]);
                return 1;
            }
            memmove(&args.argv[i], &args.argv[i + 1], sizeof(char *) * (size_t)(args.argc - i));
            args.argc--;
            break;
        }
    }
    if (options.source == NULL) {
        fprintf(stderr, "usage: slowfs SOURCE MOUNTPOINT [-o delay_us=100] [-f]\n");
        return 2;
    }
    /* a 100 us sleep must not become 150: the default timer slack is 50 us (threads inherit) */
    prctl(PR_SET_TIMERSLACK, 1UL);
    return fuse_main(args.argc, args.argv, &slow_operations, NULL);
}
