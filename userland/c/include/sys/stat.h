/*
 * sys/stat.h — struct stat as arm64 Darwin has it (64-bit inodes: the layout of XNU's
 * struct stat64, 144 bytes), stat, fstat and mkdir, and the file-type bits. A host test in
 * bsd/sys (c_headers.rs) checks the values and the layout against the kernel's.
 */
#ifndef RXNU_SYS_STAT_H
#define RXNU_SYS_STAT_H

#include <stdint.h>

typedef uint16_t mode_t;

struct timespec {
	long tv_sec;
	long tv_nsec;
};

struct stat {
	int32_t st_dev;
	uint16_t st_mode;
	uint16_t st_nlink;
	uint64_t st_ino;
	uint32_t st_uid;
	uint32_t st_gid;
	int32_t st_rdev;
	struct timespec st_atimespec;
	struct timespec st_mtimespec;
	struct timespec st_ctimespec;
	struct timespec st_birthtimespec;
	int64_t st_size;
	int64_t st_blocks;
	int32_t st_blksize;
	uint32_t st_flags;
	uint32_t st_gen;
	int32_t st_lspare;
	int64_t st_qspare[2];
};

/* XNU's layout (reference §9.6), so a mistake here fails the build rather than a stat. */
_Static_assert(sizeof(struct stat) == 144, "struct stat is 144 bytes");
_Static_assert(__builtin_offsetof(struct stat, st_ino) == 8, "st_ino at 8");
_Static_assert(__builtin_offsetof(struct stat, st_atimespec) == 32, "st_atimespec at 32");
_Static_assert(__builtin_offsetof(struct stat, st_size) == 96, "st_size at 96");
_Static_assert(__builtin_offsetof(struct stat, st_blksize) == 112, "st_blksize at 112");

#define S_IFMT 0170000
#define S_IFIFO 0010000
#define S_IFCHR 0020000
#define S_IFDIR 0040000
#define S_IFREG 0100000
#define S_IFLNK 0120000

#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)

#define S_ISFIFO(m) (((m) & S_IFMT) == S_IFIFO)
#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)

int stat(const char *path, struct stat *sb);
int lstat(const char *path, struct stat *sb);
int fstat(int fd, struct stat *sb);
int mkdir(const char *path, mode_t mode);
int mkfifo(const char *path, mode_t mode);
int chmod(const char *path, mode_t mode);
int fchmod(int fd, mode_t mode);
/* Sets the creation mask; returns the old one. */
mode_t umask(mode_t mask);

#endif
