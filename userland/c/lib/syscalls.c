/*
 * syscalls.c — the C names of the BSD calls, over rxnu_svc (<rxnu/svc.h>): a failure sets
 * errno and returns -1, as POSIX says.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/file.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rxnu/svc.h>

int errno;

static long result(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

ssize_t write(int fd, const void *buf, size_t len)
{
	return result(rxnu_svc3(SYS_write, fd, buf, len));
}

ssize_t read(int fd, void *buf, size_t len)
{
	return result(rxnu_svc3(SYS_read, fd, buf, len));
}

pid_t getpid(void)
{
	return (pid_t)result(rxnu_svc0(SYS_getpid));
}

uid_t getuid(void)
{
	return (uid_t)rxnu_svc0(SYS_getuid);
}

uid_t geteuid(void)
{
	return (uid_t)rxnu_svc0(SYS_geteuid);
}

gid_t getgid(void)
{
	return (gid_t)rxnu_svc0(SYS_getgid);
}

gid_t getegid(void)
{
	return (gid_t)rxnu_svc0(SYS_getegid);
}

int issetugid(void)
{
	return (int)rxnu_svc0(SYS_issetugid);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset)
{
	long r = rxnu_svc6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, offset);
	return (void *)(r < 0 && r > -4096 ? (errno = (int)-r, -1L) : r);
}

int munmap(void *addr, size_t len)
{
	return (int)result(rxnu_svc2(SYS_munmap, addr, len));
}

int msync(void *addr, size_t len, int flags)
{
	return (int)result(rxnu_svc3(SYS_msync, addr, len, flags));
}

void _exit(int status)
{
	rxnu_svc1(SYS_exit, status);
	__builtin_trap();
}

void exit(int status)
{
	_exit(status);
}

int open(const char *path, int flags, ...)
{
	int mode = 0;

	if (flags & O_CREAT) {
		va_list ap;

		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	return (int)result(rxnu_svc3(SYS_open, path, flags, mode));
}

int close(int fd)
{
	return (int)result(rxnu_svc1(SYS_close, fd));
}

int stat(const char *path, struct stat *sb)
{
	return (int)result(rxnu_svc2(SYS_stat64, path, sb));
}

int fstat(int fd, struct stat *sb)
{
	return (int)result(rxnu_svc2(SYS_fstat64, fd, sb));
}

int mkdir(const char *path, mode_t mode)
{
	return (int)result(rxnu_svc2(SYS_mkdir, path, mode));
}

int unlink(const char *path)
{
	return (int)result(rxnu_svc1(SYS_unlink, path));
}

int rmdir(const char *path)
{
	return (int)result(rxnu_svc1(SYS_rmdir, path));
}

int chdir(const char *path)
{
	return (int)result(rxnu_svc1(SYS_chdir, path));
}

int rename(const char *from, const char *to)
{
	return (int)result(rxnu_svc2(SYS_rename, from, to));
}

int pipe(int fds[2])
{
	long second = 0;
	long r = result(rxnu_svc_pair(SYS_pipe, 0, &second));

	if (r < 0)
		return -1;
	fds[0] = (int)r;
	fds[1] = (int)second;
	return 0;
}

/* XNU's fork returns the child's pid in x0 to both sides and says which side is which in
 * x1: 1 in the child, 0 in the parent. */
pid_t fork(void)
{
	long in_child = 0;
	long r = result(rxnu_svc_pair(SYS_fork, 0, &in_child));

	if (r < 0)
		return -1;
	return in_child ? 0 : (pid_t)r;
}

pid_t waitpid(pid_t pid, int *status, int options)
{
	return (pid_t)result(rxnu_svc4(SYS_wait4, pid, status, options, 0));
}

long rxnu_getdirentries64(int fd, void *buf, unsigned long len, unsigned long *position)
{
	return result(rxnu_svc4(SYS_getdirentries64, fd, buf, len, position));
}

int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	return (int)result(rxnu_svc3(SYS_poll, fds, nfds, timeout));
}

/* Darwin's select is select$DARWIN_EXTSN: call 93, never restarted after a handler. */
int select(int nd, fd_set *in, fd_set *out, fd_set *ex, struct timeval *timeout)
{
	return (int)result(rxnu_svc6(SYS_select, nd, (long)in, (long)out, (long)ex, (long)timeout, 0));
}

ssize_t pread(int fd, void *buf, size_t len, off_t offset)
{
	return result(rxnu_svc4(SYS_pread, fd, buf, len, offset));
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t offset)
{
	return result(rxnu_svc4(SYS_pwrite, fd, buf, len, offset));
}

off_t lseek(int fd, off_t offset, int whence)
{
	return result(rxnu_svc3(SYS_lseek, fd, offset, whence));
}

int dup(int fd)
{
	return (int)result(rxnu_svc1(SYS_dup, fd));
}

int dup2(int from, int to)
{
	return (int)result(rxnu_svc2(SYS_dup2, from, to));
}

int ftruncate(int fd, off_t length)
{
	return (int)result(rxnu_svc2(SYS_ftruncate, fd, length));
}

int truncate(const char *path, off_t length)
{
	return (int)result(rxnu_svc2(SYS_truncate, path, length));
}

int fsync(int fd)
{
	return (int)result(rxnu_svc1(SYS_fsync, fd));
}

int access(const char *path, int mode)
{
	return (int)result(rxnu_svc2(SYS_access, path, mode));
}

int link(const char *from, const char *to)
{
	return (int)result(rxnu_svc2(SYS_link, from, to));
}

int symlink(const char *target, const char *path)
{
	return (int)result(rxnu_svc2(SYS_symlink, target, path));
}

ssize_t readlink(const char *path, char *buf, size_t len)
{
	return result(rxnu_svc3(SYS_readlink, path, buf, len));
}

int lstat(const char *path, struct stat *sb)
{
	return (int)result(rxnu_svc2(SYS_lstat64, path, sb));
}

int mkfifo(const char *path, mode_t mode)
{
	return (int)result(rxnu_svc2(SYS_mkfifo, path, mode));
}

int chmod(const char *path, mode_t mode)
{
	return (int)result(rxnu_svc2(SYS_chmod, path, mode));
}

int fchmod(int fd, mode_t mode)
{
	return (int)result(rxnu_svc2(SYS_fchmod, fd, mode));
}

mode_t umask(mode_t mask)
{
	return (mode_t)rxnu_svc1(SYS_umask, mask);
}

int flock(int fd, int operation)
{
	return (int)result(rxnu_svc2(SYS_flock, fd, operation));
}
