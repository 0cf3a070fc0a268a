/*
 * sys/select.h — select(2), fd_set and struct timeval as arm64 Darwin has them: the set is
 * an array of 32-bit words, descriptor n is bit n % 32 of word n / 32. A host test in
 * bsd/sys (c_headers.rs) checks the values against the kernel's own constants.
 */
#ifndef RXNU_SYS_SELECT_H
#define RXNU_SYS_SELECT_H

#include <stdint.h>

#define FD_SETSIZE 1024
#define NFDBITS 32

typedef struct fd_set {
	int32_t fds_bits[FD_SETSIZE / NFDBITS];
} fd_set;

_Static_assert(sizeof(fd_set) == 128, "fd_set is 128 bytes");

struct timeval {
	long tv_sec;
	int32_t tv_usec;
};

_Static_assert(sizeof(struct timeval) == 16, "struct timeval is 16 bytes");

#define FD_SET(n, p) ((p)->fds_bits[(unsigned)(n) / NFDBITS] |= (int32_t)(1u << ((unsigned)(n) % NFDBITS)))
#define FD_CLR(n, p) ((p)->fds_bits[(unsigned)(n) / NFDBITS] &= (int32_t)~(1u << ((unsigned)(n) % NFDBITS)))
#define FD_ISSET(n, p) (((p)->fds_bits[(unsigned)(n) / NFDBITS] & (int32_t)(1u << ((unsigned)(n) % NFDBITS))) != 0)
#define FD_ZERO(p) __builtin_memset((p), 0, sizeof(*(p)))

/* Wait until a descriptor in one of the sets is ready, or `timeout` passes (NULL: for
 * ever); the sets come back holding the ready ones. Returns how many bits are set. */
int select(int nd, fd_set *in, fd_set *out, fd_set *ex, struct timeval *timeout);

#endif
