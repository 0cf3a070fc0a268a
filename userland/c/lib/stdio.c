/* stdio.c — unbuffered writes of strings and numbers to standard output. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int print_str(const char *s)
{
	return (int)write(1, s, strlen(s));
}

int puts(const char *s)
{
	if (print_str(s) < 0)
		return -1;
	return (int)write(1, "\n", 1);
}

/* Digits are produced backwards into the end of a buffer large enough for any 64-bit value. */
static int print_unsigned(unsigned long v, unsigned base, int negative)
{
	char buf[24];
	char *p = buf + sizeof buf;

	do {
		*--p = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		*--p = '-';
	return (int)write(1, p, (size_t)(buf + sizeof buf - p));
}

int print_dec(long v)
{
	return v < 0 ? print_unsigned(-(unsigned long)v, 10, 1) : print_unsigned((unsigned long)v, 10, 0);
}

int print_hex(unsigned long v)
{
	return print_unsigned(v, 16, 0);
}
