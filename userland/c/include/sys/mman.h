/*
 * sys/mman.h — mmap and its flags, Darwin's values (XNU bsd/sys/mman.h). A host test in
 * bsd/sys checks every value here against the kernel's own constants (sys::mman).
 */
#ifndef RXNU_SYS_MMAN_H
#define RXNU_SYS_MMAN_H

#include <stddef.h>

#define PROT_NONE 0x0
#define PROT_READ 0x1
#define PROT_WRITE 0x2
#define PROT_EXEC 0x4

#define MAP_SHARED 0x0001
#define MAP_PRIVATE 0x0002
#define MAP_FIXED 0x0010
#define MAP_ANON 0x1000

#define MAP_FAILED ((void *)-1)

#define MS_ASYNC 0x1
#define MS_INVALIDATE 0x2
#define MS_SYNC 0x10

void *mmap(void *addr, size_t len, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t len);
int msync(void *addr, size_t len, int flags);

#endif
