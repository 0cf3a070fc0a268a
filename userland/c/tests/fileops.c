/*
 * fileops: the file calls a Darwin program reaches for past open/read/write — the creation
 * mask, positioned I/O with a hole, ftruncate both ways, chmod and access, hard and
 * symbolic links, a FIFO between two processes, and flock against another process. Prints
 * what it saw at each step; exits 0 only if every step saw what the manual pages say.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIR "/tmp/c-ops"
#define FILE_A DIR "/a"
#define FILE_B DIR "/b"
#define LINK DIR "/l"
#define FIFO DIR "/p"

static int fail(const char *what)
{
	print_str("c-fileops: FAILED: ");
	print_str(what);
	print_str(" (errno ");
	print_dec(errno);
	puts(")");
	return 1;
}

/* The exit status of child `pid`, or -1. */
static int status_of(pid_t pid)
{
	int status = 0;

	if (waitpid(pid, &status, 0) != pid || (status & 0x7f) != 0)
		return -1;
	return (status >> 8) & 0xff;
}

static int fifo_step(void)
{
	char buf[16];
	pid_t pid;
	int fd;

	if (mkfifo(FIFO, 0600) != 0)
		return fail("mkfifo");
	pid = fork();
	if (pid == 0) {
		int w = open(FIFO, O_WRONLY);

		_exit(w >= 0 && write(w, "via fifo", 8) == 8 ? 3 : 1);
	}
	/* Waits for the child to open its end. */
	fd = open(FIFO, O_RDONLY);
	if (fd < 0)
		return fail("open the FIFO");
	if (read(fd, buf, sizeof(buf)) != 8 || memcmp(buf, "via fifo", 8) != 0)
		return fail("read from the FIFO");
	if (read(fd, buf, sizeof(buf)) != 0)
		return fail("end of file once the writer left");
	if (status_of(pid) != 3)
		return fail("the FIFO writer's status");
	close(fd);
	puts("c-fileops: a child's \"via fifo\" came through a FIFO, then end of file");
	return unlink(FIFO) == 0 ? 0 : fail("unlink the FIFO");
}

static int flock_step(int fd)
{
	pid_t pid;

	if (flock(fd, LOCK_EX) != 0)
		return fail("flock LOCK_EX");
	pid = fork();
	if (pid == 0) {
		/* A description of its own: the parent's lock is in the way. */
		int mine = open(FILE_A, O_RDONLY);

		_exit(mine >= 0 && flock(mine, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 4 : 1);
	}
	if (status_of(pid) != 4)
		return fail("a second description's LOCK_NB should be EWOULDBLOCK");
	if (flock(fd, LOCK_UN) != 0)
		return fail("LOCK_UN");
	pid = fork();
	if (pid == 0) {
		int mine = open(FILE_A, O_RDONLY);

		_exit(mine >= 0 && flock(mine, LOCK_EX | LOCK_NB) == 0 ? 5 : 1);
	}
	if (status_of(pid) != 5)
		return fail("the lock should be free after LOCK_UN");
	puts("c-fileops: flock kept another process out, then let it in");
	return 0;
}

int main(void)
{
	struct stat st;
	char buf[16];
	int fd, i;

	umask(022);
	if (mkdir(DIR, 0777) != 0)
		return fail("mkdir");
	fd = open(FILE_A, O_RDWR | O_CREAT | O_EXCL, 0666);
	if (fd < 0)
		return fail("create");
	if (fstat(fd, &st) != 0 || (st.st_mode & 07777) != 0644)
		return fail("mode 0666 under umask 022 should be 0644");

	/* Positioned writes leave the offset alone and a hole reads as zeros. */
	if (pwrite(fd, "world", 5, 6) != 5 || pwrite(fd, "hello", 5, 0) != 5)
		return fail("pwrite");
	if (lseek(fd, 0, SEEK_CUR) != 0)
		return fail("pwrite moved the offset");
	if (pread(fd, buf, 11, 0) != 11 || memcmp(buf, "hello", 5) != 0 || buf[5] != 0 ||
	    memcmp(buf + 6, "world", 5) != 0)
		return fail("pread");
	if (ftruncate(fd, 5) != 0 || ftruncate(fd, 8) != 0 || fstat(fd, &st) != 0 || st.st_size != 8)
		return fail("ftruncate");
	if (pread(fd, buf, 16, 0) != 8 || memcmp(buf, "hello", 5) != 0)
		return fail("the kept bytes");
	for (i = 5; i < 8; i++)
		if (buf[i] != 0)
			return fail("cut then grown: zeros, not the old bytes");
	puts("c-fileops: pwrite/pread with a hole, ftruncate down and up: hello + 3 zeros");

	if (chmod(FILE_A, 0600) != 0 || stat(FILE_A, &st) != 0 || (st.st_mode & 07777) != 0600)
		return fail("chmod");
	if (access(FILE_A, R_OK | W_OK) != 0)
		return fail("access R_OK|W_OK");
	if (access(FILE_A, X_OK) != -1 || errno != EACCES)
		return fail("X_OK on a file with no execute bit should be EACCES, even for root");

	if (link(FILE_A, FILE_B) != 0 || stat(FILE_A, &st) != 0 || st.st_nlink != 2)
		return fail("link");
	if (symlink("a", LINK) != 0 || lstat(LINK, &st) != 0 || !S_ISLNK(st.st_mode))
		return fail("symlink");
	if (readlink(LINK, buf, sizeof(buf)) != 1 || buf[0] != 'a')
		return fail("readlink");
	if (stat(LINK, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != 8)
		return fail("stat follows the link");
	puts("c-fileops: chmod 0600, access, a hard link (2 links) and a symlink to it");

	if (fifo_step() != 0 || flock_step(fd) != 0)
		return 1;
	close(fd);
	if (unlink(LINK) != 0 || unlink(FILE_B) != 0 || unlink(FILE_A) != 0 || rmdir(DIR) != 0)
		return fail("clean up");
	puts("c-fileops: every call answered as Darwin's manual pages say");
	return 0;
}
