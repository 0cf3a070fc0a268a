/*
 * signal.h — the signal numbers the runtime's programs look for in a wait status, Darwin's
 * values (XNU bsd/sys/signal.h; checked against the kernel's by a host test in bsd/sys).
 */
#ifndef RXNU_SIGNAL_H
#define RXNU_SIGNAL_H

#define SIGKILL 9
#define SIGBUS 10
#define SIGSEGV 11

#endif
