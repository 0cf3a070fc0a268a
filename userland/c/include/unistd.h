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
__attribute__((noreturn)) void _exit(int status);

#endif
