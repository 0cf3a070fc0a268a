/*
 * dirent.c — directory streams over getdirentries64. Each stream holds the directory's
 * descriptor and one buffer of records; readdir hands them out one by one and refills the
 * buffer when it runs dry. With no heap, the streams come from a small fixed pool.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#define DIR_POOL 4
#define DIR_BUFSIZE 2048

struct rxnu_dir {
	int fd_plus_one;	/* the descriptor + 1; 0: this pool slot is free */
	long len;		/* bytes of records in buf */
	long pos;		/* the next record's offset in buf */
	unsigned long position; /* the directory offset getdirentries64 reports */
	_Alignas(8) char buf[DIR_BUFSIZE];
};

/* Zero-filled (.bss), so every slot starts free and a program that never lists a
 * directory carries no initialised data for it. */
static struct rxnu_dir pool[DIR_POOL];

DIR *opendir(const char *path)
{
	for (int i = 0; i < DIR_POOL; i++) {
		if (pool[i].fd_plus_one != 0)
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
		if (fd < 0)
			return 0;
		pool[i].fd_plus_one = fd + 1;
		pool[i].len = 0;
		pool[i].pos = 0;
		pool[i].position = 0;
		return &pool[i];
	}
	errno = EMFILE;
	return 0;
}

struct dirent *readdir(DIR *dir)
{
	if (dir->pos >= dir->len) {
		/* A buffer of 1024 bytes or more ends with XNU's flags word; the count
		 * returned covers only the records before it. */
		long n = rxnu_getdirentries64(dir->fd_plus_one - 1, dir->buf, sizeof dir->buf, &dir->position);
		if (n <= 0)
			return 0;
		dir->len = n;
		dir->pos = 0;
	}
	struct dirent *d = (struct dirent *)(dir->buf + dir->pos);
	if (d->d_reclen == 0 || dir->pos + d->d_reclen > dir->len) {
		/* A record that does not fit what the kernel said it wrote. */
		errno = EINVAL;
		dir->len = 0;
		return 0;
	}
	dir->pos += d->d_reclen;
	return d;
}

int closedir(DIR *dir)
{
	int fd = dir->fd_plus_one - 1;

	if (fd < 0) {
		errno = EBADF;
		return -1;
	}
	dir->fd_plus_one = 0;
	return close(fd);
}
