/*
 * stdio.h — unbuffered output to standard output, enough for test programs: strings and
 * numbers. Each returns the bytes written, or -1 (errno set).
 */
#ifndef RXNU_STDIO_H
#define RXNU_STDIO_H

int puts(const char *s);
int print_str(const char *s);
int print_dec(long v);
int print_hex(unsigned long v);
int rename(const char *from, const char *to);

#endif
