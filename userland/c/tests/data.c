/*
 * data: initialised data, zero-fill and read-only constants side by side, as every real
 * program has them. The exit status (42) says every check passed, so a caller can tell.
 */
#include <stdio.h>

static const unsigned primes[8] = { 2, 3, 5, 7, 11, 13, 17, 19 }; /* .rodata */
static unsigned counters[4] = { 100, 200, 300, 400 };              /* .data */
static unsigned scratch[1024];                                     /* .bss */
static const char *greeting = "c-data: constants, data and bss agree"; /* .data pointer to .rodata */

int main(void)
{
	unsigned sum = 0;

	for (int i = 0; i < 8; i++)
		sum += primes[i];
	if (sum != 77) {
		puts("c-data: .rodata is wrong");
		return 1;
	}
	for (int i = 0; i < 4; i++)
		if (counters[i] != 100u * (unsigned)(i + 1)) {
			puts("c-data: .data is wrong");
			return 2;
		}
	for (int i = 0; i < 1024; i++)
		if (scratch[i] != 0) {
			puts("c-data: .bss is not zero");
			return 3;
		}
	for (int i = 0; i < 4; i++)
		counters[i] += primes[i];
	scratch[1023] = counters[3];
	if (scratch[1023] != 407) {
		puts("c-data: .data did not take a write");
		return 4;
	}
	puts(greeting);
	print_str("c-data: sum of primes ");
	print_dec(sum);
	print_str(", last counter ");
	print_dec(scratch[1023]);
	puts("");
	return 42;
}
