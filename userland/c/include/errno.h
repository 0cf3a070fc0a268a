/* errno.h — the last error of a failed call (one thread per process so far). */
#ifndef RXNU_ERRNO_H
#define RXNU_ERRNO_H

extern int errno;

/* The error numbers the runtime and its programs test for, Darwin's values (XNU
 * bsd/sys/errno.h; checked against the kernel's by a host test in bsd/sys). */
#define ENOENT 2
#define EBADF 9
#define EEXIST 17
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ENXIO 6
#define EACCES 13
#define EAGAIN 35
#define EWOULDBLOCK EAGAIN
#define EMFILE 24
#define EPIPE 32
#define ENOTEMPTY 66
#define ENODEV 19

#endif
