/*
 * bss: a program whose writable segment is only .bss (GNU ld gives it p_filesz == 0 and a
 * p_offset past the end of the file). The array must start zeroed and be writable across
 * several pages.
 */
#include <stdio.h>

#define WORDS (3 * 4096 / sizeof(long) + 5)

static long zeroes[WORDS];

int main(void)
{
	for (unsigned long i = 0; i < WORDS; i++)
		if (zeroes[i] != 0) {
			puts("c-bss: .bss was not zero");
			return 1;
		}
	for (unsigned long i = 0; i < WORDS; i++)
		zeroes[i] = (long)(i * 3 + 1);
	long sum = 0;
	for (unsigned long i = 0; i < WORDS; i++)
		sum += zeroes[i];
	print_str("c-bss: ");
	print_dec((long)WORDS);
	print_str(" words zeroed, sum after writing ");
	print_dec(sum);
	puts("");
	return 0;
}
