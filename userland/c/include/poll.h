/*
 * poll.h — poll(2) and its event bits, Darwin's values (XNU bsd/sys/poll.h). A host test in
 * bsd/sys (c_headers.rs) checks every value here against the kernel's own constants.
 */
#ifndef RXNU_POLL_H
#define RXNU_POLL_H

struct pollfd {
	int fd;
	short events;
	short revents;
};

typedef unsigned int nfds_t;

#define POLLIN 0x0001
#define POLLPRI 0x0002
#define POLLOUT 0x0004
#define POLLRDNORM 0x0040
#define POLLWRNORM 0x0004
#define POLLRDBAND 0x0080
#define POLLWRBAND 0x0100
#define POLLEXTEND 0x0200
#define POLLATTRIB 0x0400
#define POLLNLINK 0x0800
#define POLLWRITE 0x1000
#define POLLERR 0x0008
#define POLLHUP 0x0010
#define POLLNVAL 0x0020

/* Wait up to `timeout` ms (-1: for ever) for an event on one of `fds`; returns how many
 * have non-zero revents. */
int poll(struct pollfd *fds, nfds_t nfds, int timeout);

#endif
