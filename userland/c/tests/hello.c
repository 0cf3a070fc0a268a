/* hello: the smallest useful program — text, read-only strings, arguments, a system call. */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	print_str("c-hello: hello, world from ");
	print_str(argv[0]);
	print_str(" (pid ");
	print_dec(getpid());
	print_str(", argc ");
	print_dec(argc);
	puts(")");
	return 0;
}
