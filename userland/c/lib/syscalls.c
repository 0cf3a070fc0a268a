/*
 * syscalls.c — the C names of the BSD calls, over rxnu_svc (<rxnu/svc.h>): a failure sets
 * errno and returns -1, as POSIX says.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
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

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset)
{
	long r = rxnu_svc6(SYS_mmap, (long)addr, (long)len, prot, flags, fd, offset);
	return (void *)(r < 0 && r > -4096 ? (errno = (int)-r, -1L) : r);
}

int munmap(void *addr, size_t len)
{
	return (int)result(rxnu_svc2(SYS_munmap, addr, len));
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
