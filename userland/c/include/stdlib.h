/* stdlib.h — process exit. */
#ifndef RXNU_STDLIB_H
#define RXNU_STDLIB_H

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

__attribute__((noreturn)) void exit(int status);

#endif
