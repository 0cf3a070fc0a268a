/*
 * poll: waiting on several descriptors as Darwin programs do — poll(2) and select(2) on
 * pipes between a parent and a child. The parent waits for the child's message with poll,
 * answers it once select says the other pipe has room, sees the child's exit as POLLHUP,
 * and checks that an idle pipe times out. Prints what it saw; exits 0 only if every step
 * saw what poll(2) and select(2) say it should.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STATUS 5

static int fail(const char *what)
{
	print_str("c-poll: FAILED: ");
	print_str(what);
	print_str(" (errno ");
	print_dec(errno);
	puts(")");
	return 1;
}

/* The child: sleep a little (poll with no descriptors), send "ping" up, wait with select
 * for the parent's "pong" and exit with CHILD_STATUS if it came. */
static int child(int up, int down)
{
	char buf[8];
	fd_set rd;

	if (poll(NULL, 0, 30) != 0)
		return 1;
	if (write(up, "ping", 4) != 4)
		return 2;
	FD_ZERO(&rd);
	FD_SET(down, &rd);
	if (select(down + 1, &rd, NULL, NULL, NULL) != 1 || !FD_ISSET(down, &rd))
		return 3;
	if (read(down, buf, sizeof(buf)) != 4 || memcmp(buf, "pong", 4) != 0)
		return 4;
	return CHILD_STATUS;
}

int main(void)
{
	int up[2], down[2], idle[2], status = 0;
	char buf[8];
	struct pollfd pfd[2];
	fd_set wr;
	struct timeval tv = { 0, 20000 };
	pid_t pid;
	int n;

	if (pipe(up) != 0 || pipe(down) != 0 || pipe(idle) != 0)
		return fail("pipe");
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		_exit(child(up[1], down[0]));
	}
	close(up[1]);
	close(down[0]);

	/* Nothing on either pipe yet: the idle one never gets anything. */
	pfd[0].fd = idle[0];
	pfd[0].events = POLLIN;
	pfd[1].fd = up[0];
	pfd[1].events = POLLIN;
	n = poll(pfd, 2, -1);
	if (n != 1 || pfd[0].revents != 0 || pfd[1].revents != POLLIN)
		return fail("poll for the child's message");
	if (read(up[0], buf, sizeof(buf)) != 4 || memcmp(buf, "ping", 4) != 0)
		return fail("read ping");
	print_str("c-poll: poll woke for \"ping\" from child ");
	print_dec(pid);
	puts("");

	FD_ZERO(&wr);
	FD_SET(down[1], &wr);
	if (select(down[1] + 1, NULL, &wr, NULL, NULL) != 1 || !FD_ISSET(down[1], &wr))
		return fail("select for room");
	if (write(down[1], "pong", 4) != 4)
		return fail("write pong");

	/* The child exits: its end of `up` closes, which poll reports as a hang-up. */
	pfd[1].revents = 0;
	n = poll(&pfd[1], 1, -1);
	if (n != 1 || pfd[1].revents != (POLLIN | POLLHUP))
		return fail("POLLHUP after the child exits");
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid");
	print_str("c-poll: the child answered, exited with ");
	print_dec((status >> 8) & 0xff);
	puts(" and poll saw POLLIN|POLLHUP");

	FD_ZERO(&wr);
	FD_SET(idle[0], &wr);
	n = select(idle[0] + 1, &wr, NULL, NULL, &tv);
	if (n != 0 || FD_ISSET(idle[0], &wr))
		return fail("select timeout on an idle pipe");
	if (((status >> 8) & 0xff) != CHILD_STATUS)
		return fail("the child's status");
	puts("c-poll: an idle pipe timed out; poll and select behave as Darwin's");
	return 0;
}
