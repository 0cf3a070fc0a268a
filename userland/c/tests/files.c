/*
 * files: what every program does with files, through the BSD VFS layer — make a directory,
 * create and write files in it, list it, rename one, read it back from a child process
 * that sends it through a pipe, then remove everything and check it is gone. Prints what
 * it saw at each step; exits 0 only if every step saw what POSIX says it should.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIRPATH "/tmp/c-files"
#define CHILD_STATUS 7

static int fail(const char *what)
{
	print_str("c-files: FAILED: ");
	print_str(what);
	print_str(" (errno ");
	print_dec(errno);
	puts(")");
	return 1;
}

static int make_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);

	if (fd < 0)
		return -1;
	long n = write(fd, text, strlen(text));
	close(fd);
	return n == (long)strlen(text) ? 0 : -1;
}

/* Is name "." or ".."? */
static int is_dots(const char *name)
{
	return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

static int name_before(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a < (unsigned char)*b;
}

/* Prints the directory's entries other than . and .., sorted, and returns how many. */
static int list(const char *path)
{
	char names[8][64];
	int count = 0;
	DIR *dir = opendir(path);

	if (!dir)
		return -1;
	for (struct dirent *d; (d = readdir(dir));) {
		if (is_dots(d->d_name))
			continue;
		if (count == 8 || d->d_namlen >= 64 || d->d_type != DT_REG) {
			closedir(dir);
			errno = EINVAL;
			return -1;
		}
		memcpy(names[count], d->d_name, (size_t)d->d_namlen + 1);
		count++;
	}
	closedir(dir);
	for (int i = 1; i < count; i++)
		for (int j = i; j > 0 && name_before(names[j], names[j - 1]); j--) {
			char tmp[64];
			memcpy(tmp, names[j], 64);
			memcpy(names[j], names[j - 1], 64);
			memcpy(names[j - 1], tmp, 64);
		}
	print_str("c-files: ");
	print_str(path);
	print_str(":");
	for (int i = 0; i < count; i++) {
		print_str(" ");
		print_str(names[i]);
	}
	puts("");
	return count;
}

/* The child: read the file and send it through the pipe. */
static int child(int wfd)
{
	char buf[64];
	int fd = open(DIRPATH "/c.txt", O_RDONLY);

	if (fd < 0)
		return 1;
	long n = read(fd, buf, sizeof buf);
	close(fd);
	if (n <= 0 || write(wfd, buf, (size_t)n) != n)
		return 2;
	close(wfd);
	return CHILD_STATUS;
}

int main(void)
{
	struct stat sb;
	int fds[2];
	char buf[64];
	int status = 0;

	if (mkdir(DIRPATH, 0755) < 0)
		return fail("mkdir");
	if (make_file(DIRPATH "/a.txt", "hello from a") < 0 || make_file(DIRPATH "/b.txt", "bee") < 0)
		return fail("create");
	if (make_file(DIRPATH "/a.txt", "again") == 0 || errno != EEXIST)
		return fail("O_EXCL on an existing file");
	if (list(DIRPATH) != 2)
		return fail("list");
	if (rename(DIRPATH "/a.txt", DIRPATH "/c.txt") < 0)
		return fail("rename");
	if (stat(DIRPATH "/a.txt", &sb) == 0 || errno != ENOENT)
		return fail("the old name is gone");
	if (stat(DIRPATH "/c.txt", &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != 12)
		return fail("stat of the new name");
	if (list(DIRPATH) != 2)
		return fail("list after rename");

	if (pipe(fds) < 0)
		return fail("pipe");
	pid_t pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		close(fds[0]);
		_exit(child(fds[1]));
	}
	close(fds[1]);
	long got = 0;
	for (long n; (n = read(fds[0], buf + got, sizeof buf - 1 - (size_t)got)) > 0;)
		got += n;
	close(fds[0]);
	buf[got] = 0;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != CHILD_STATUS)
		return fail("waitpid");
	print_str("c-files: child ");
	print_dec(pid);
	print_str(" sent \"");
	print_str(buf);
	print_str("\" through a pipe and exited with ");
	print_dec(WEXITSTATUS(status));
	puts("");
	if (got != 12)
		return fail("the pipe carried the file");

	if (rmdir(DIRPATH) == 0 || errno != ENOTEMPTY)
		return fail("rmdir of a non-empty directory");
	if (unlink(DIRPATH "/b.txt") < 0 || unlink(DIRPATH "/c.txt") < 0)
		return fail("unlink");
	if (list(DIRPATH) != 0)
		return fail("list after unlink");
	if (rmdir(DIRPATH) < 0)
		return fail("rmdir");
	if (stat(DIRPATH, &sb) == 0 || errno != ENOENT)
		return fail("the directory is gone");
	puts("c-files: made, listed, renamed, piped and removed: all as POSIX says");
	return 0;
}
