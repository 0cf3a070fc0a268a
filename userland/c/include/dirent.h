/*
 * dirent.h — reading directories: opendir, readdir, closedir over getdirentries64, with
 * Darwin's struct dirent (the record XNU's getdirentries64 writes, 64-bit inode numbers).
 * The runtime has no heap, so a few directory streams come from a fixed pool (EMFILE when
 * all are open).
 */
#ifndef RXNU_DIRENT_H
#define RXNU_DIRENT_H

#include <stdint.h>

#define DT_UNKNOWN 0
#define DT_FIFO 1
#define DT_CHR 2
#define DT_DIR 4
#define DT_REG 8
#define DT_LNK 10

struct dirent {
	uint64_t d_ino;
	uint64_t d_seekoff;
	uint16_t d_reclen;
	uint16_t d_namlen;
	uint8_t d_type;
	char d_name[1024];
};

/* XNU's record layout (reference §9.7): the name starts at byte 21. */
_Static_assert(__builtin_offsetof(struct dirent, d_name) == 21, "d_name at 21");
_Static_assert(sizeof(struct dirent) == 1048, "struct dirent is 1048 bytes");

typedef struct rxnu_dir DIR;

DIR *opendir(const char *path);
struct dirent *readdir(DIR *dir);
int closedir(DIR *dir);

/* The raw call (XNU's getdirentries64, 344): records from the directory open on fd into
 * buf, the offset after them in *position; returns the bytes filled, 0 at the end. */
long rxnu_getdirentries64(int fd, void *buf, unsigned long len, unsigned long *position);

#endif
