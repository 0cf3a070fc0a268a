/*
 * fcntl.h — open(2) and its flags, Darwin's values (XNU bsd/sys/fcntl.h). A host test in
 * bsd/sys (c_headers.rs) checks every value here against the kernel's own constants.
 */
#ifndef RXNU_FCNTL_H
#define RXNU_FCNTL_H

#define O_RDONLY 0x0000
#define O_WRONLY 0x0001
#define O_RDWR 0x0002
#define O_NONBLOCK 0x0004
#define O_APPEND 0x0008
#define O_CREAT 0x0200
#define O_TRUNC 0x0400
#define O_EXCL 0x0800
#define O_DIRECTORY 0x00100000
#define O_CLOEXEC 0x01000000

/* open(path, flags) or open(path, flags, mode) with O_CREAT. */
int open(const char *path, int flags, ...);

#endif
