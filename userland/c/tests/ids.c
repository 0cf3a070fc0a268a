/*
 * ids: reports the ids it runs with in its exit status, for the set-id exec tests (the
 * root file system installs copies with the set-user-id and set-group-id bits):
 *   bit 0  the effective uid is root       bit 1  the real uid is not root
 *   bit 2  the effective gid is wheel (0)  bit 3  the real gid is not wheel
 *   bit 4  issetugid() says tainted
 */
#include <unistd.h>

int main(void)
{
	return (geteuid() == 0) | (getuid() != 0) << 1 | (getegid() == 0) << 2 | (getgid() != 0) << 3 |
	       (issetugid() == 1) << 4;
}
