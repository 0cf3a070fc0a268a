/*
 * unistd.h — the POSIX calls the C runtime offers so far. Each returns what the kernel
 * returned, or -1 with the errno kept in `errno` (see <errno.h>).
 */
#ifndef RXNU_UNISTD_H
#define RXNU_UNISTD_H

#include <stddef.h>

typedef long ssize_t;
typedef int pid_t;

ssize_t write(int fd, const void *buf, size_t len);
ssize_t read(int fd, void *buf, size_t len);
pid_t getpid(void);
typedef unsigned int uid_t;
typedef unsigned int gid_t;
uid_t getuid(void);
uid_t geteuid(void);
gid_t getgid(void);
gid_t getegid(void);
/* 1 if the program runs with ids its exec granted (set-id bits) or it changed its ids. */
int issetugid(void);
int close(int fd);
int unlink(const char *path);
int rmdir(const char *path);
int chdir(const char *path);
/* fds[0] is the read end, fds[1] the write end. */
int pipe(int fds[2]);
/* The child's pid in the parent, 0 in the child. */
pid_t fork(void);
__attribute__((noreturn)) void _exit(int status);
typedef long off_t;
/* read/write at `offset`, leaving the file's offset where it was. */
ssize_t pread(int fd, void *buf, size_t len, off_t offset);
ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset);
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
off_t lseek(int fd, off_t offset, int whence);
int dup(int fd);
int dup2(int from, int to);
int ftruncate(int fd, off_t length);
int truncate(const char *path, off_t length);
int fsync(int fd);
#define F_OK 0
#define X_OK 1
#define W_OK 2
#define R_OK 4
/* Checked with the real ids, as POSIX says. */
int access(const char *path, int mode);
int link(const char *from, const char *to);
int symlink(const char *target, const char *path);
/* The link's target, not NUL-terminated; its length. */
ssize_t readlink(const char *path, char *buf, size_t len);

#endif
