/*
 * sys/file.h — flock(2), BSD's whole-file locks, with Darwin's values. A host test in
 * bsd/sys (c_headers.rs) checks them against the kernel's own constants.
 */
#ifndef RXNU_SYS_FILE_H
#define RXNU_SYS_FILE_H

#define LOCK_SH 1
#define LOCK_EX 2
#define LOCK_NB 4
#define LOCK_UN 8

/* Locks belong to the open file description and go with its last close. */
int flock(int fd, int operation);

#endif
