/* errno.h — the last error of a failed call (one thread per process so far). */
#ifndef RXNU_ERRNO_H
#define RXNU_ERRNO_H

extern int errno;

#endif
