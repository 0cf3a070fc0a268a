/*
 * sys/wait.h — waitpid and the status macros, with BSD's encoding of an exit status
 * (XNU bsd/sys/wait.h): the status in bits 8..15, the low seven bits zero; or the signal
 * that killed the process in the low seven bits.
 */
#ifndef RXNU_SYS_WAIT_H
#define RXNU_SYS_WAIT_H

#include <unistd.h>

#define WNOHANG 0x1
#define WIFEXITED(s) (((s) & 0177) == 0)
#define WEXITSTATUS(s) (((s) >> 8) & 0xff)
/* Killed by a signal: the low seven bits hold it (0177 alone would mean stopped). */
#define WTERMSIG(s) ((s) & 0177)
#define WIFSIGNALED(s) (WTERMSIG(s) != 0177 && WTERMSIG(s) != 0)

pid_t waitpid(pid_t pid, int *status, int options);

#endif
