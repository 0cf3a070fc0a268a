/*
 * mapfile: mmap of a file as a Darwin program uses it — MAP_SHARED stores reach read(2)
 * and write(2) reaches the mapping (one copy of the data, XNU's unified buffer cache), a
 * MAP_PRIVATE mapping is copy-on-write, a child's own mapping shares the pages, touching
 * a page past the end of the file is SIGBUS, msync checks its flags, and devices and
 * write-only descriptors are refused. Prints what it saw; exits 0 only if every step saw what mmap(2) says it should.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PATH "/tmp/c-mapfile"
#define PAGE 4096
#define TEXT "hello, world."
#define CHILD_STATUS 3

static int fail(const char *what)
{
	print_str("c-mapfile: FAILED: ");
	print_str(what);
	print_str(" (errno ");
	print_dec(errno);
	puts(")");
	return 1;
}

/* The status word of child `pid`, or -1. */
static int wait_for(pid_t pid)
{
	int status = 0;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return status;
}

/* The child of the sharing step: its own mapping of the file, one store through it. */
static int share_child(int fd)
{
	char *c = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (c == MAP_FAILED || c[0] != 'H')
		return 1;
	c[12] = '!';
	return CHILD_STATUS;
}

int main(void)
{
	char buf[16];
	char *shared, *private;
	int fd, status;
	pid_t pid;

	unlink(PATH);
	fd = open(PATH, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, TEXT, strlen(TEXT)) != (ssize_t)strlen(TEXT))
		return fail("create " PATH);
	/* Two pages: the second lies wholly past the end of the file. */
	shared = mmap(0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (shared == MAP_FAILED)
		return fail("mmap MAP_SHARED");
	if (memcmp(shared, TEXT, strlen(TEXT)) != 0 || shared[strlen(TEXT)] != 0)
		return fail("the mapping shows the file, then zeros");
	shared[0] = 'H';
	if (pread(fd, buf, 5, 0) != 5 || memcmp(buf, "Hello", 5) != 0)
		return fail("read() sees the store");
	if (pwrite(fd, "W", 1, 7) != 1 || shared[7] != 'W')
		return fail("the mapping sees write()");
	puts("c-mapfile: MAP_SHARED: a store reached read(), write() reached the mapping");

	private = mmap(0, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (private == MAP_FAILED || private[0] != 'H')
		return fail("mmap MAP_PRIVATE");
	private[0] = 'J';
	if (pread(fd, buf, 1, 0) != 1 || buf[0] != 'H' || shared[0] != 'H')
		return fail("a private store stays private");
	puts("c-mapfile: MAP_PRIVATE: the store stayed in the copy, the file kept \"Hello\"");

	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0)
		_exit(share_child(fd));
	status = wait_for(pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_STATUS || shared[12] != '!')
		return fail("the child's mapping shares the pages");
	if (pread(fd, buf, strlen(TEXT), 0) != (ssize_t)strlen(TEXT) || memcmp(buf, "Hello, World!", 13) != 0)
		return fail("the file holds every store");
	print_str("c-mapfile: child ");
	print_dec(pid);
	puts(" stored through its own mapping: \"Hello, World!\"");

	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		volatile char *past = shared + PAGE;
		_exit(*past);
	}
	status = wait_for(pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGBUS)
		return fail("a load past the end is SIGBUS");
	print_str("c-mapfile: a child that read past the end was killed by signal ");
	print_dec(WTERMSIG(status));
	puts(" (SIGBUS)");

	if (msync(shared, 2 * PAGE, MS_SYNC) != 0 || msync(shared, PAGE, MS_ASYNC | MS_SYNC) == 0 ||
	    errno != EINVAL)
		return fail("msync");
	if (munmap(shared, 2 * PAGE) != 0 || munmap(private, PAGE) != 0)
		return fail("munmap");
	close(fd);
	fd = open("/dev/zero", O_RDWR, 0);
	if (fd < 0 || mmap(0, PAGE, PROT_READ, MAP_PRIVATE, fd, 0) != MAP_FAILED || errno != ENODEV)
		return fail("mmap of /dev/zero is ENODEV");
	close(fd);
	fd = open(PATH, O_WRONLY, 0);
	if (fd < 0 || mmap(0, PAGE, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED || errno != EACCES)
		return fail("mmap of a write-only descriptor is EACCES");
	close(fd);
	if (unlink(PATH) != 0)
		return fail("unlink");
	puts("c-mapfile: /dev/zero ENODEV, write-only EACCES; mmap behaves as Darwin's");
	return 0;
}
