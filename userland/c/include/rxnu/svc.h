/*
 * rxnu/svc.h — the one place C code enters the kernel: `svc #0x80` with the call number in
 * x16 and arguments in x0..x5, as on XNU arm64. BSD calls (positive numbers) report failure
 * with the carry flag set and the errno in x0; these stubs fold that into one return value:
 * the result on success, minus the errno on failure (errnos are all below 4096, so no valid
 * result is mistaken for one). Mach traps (negative numbers) return a kern_return_t in x0
 * and never set the carry flag, so the same stub serves them unchanged.
 *
 * The numbers come from <rxnu/syscall.h>, generated from bsd/sys/syscalls.master.
 */
#ifndef RXNU_SVC_H
#define RXNU_SVC_H

#include <rxnu/syscall.h>

static inline long rxnu_svc6(long number, long a0, long a1, long a2, long a3, long a4, long a5)
{
	register long x0 __asm__("x0") = a0;
	register long x1 __asm__("x1") = a1;
	register long x2 __asm__("x2") = a2;
	register long x3 __asm__("x3") = a3;
	register long x4 __asm__("x4") = a4;
	register long x5 __asm__("x5") = a5;
	register long x16 __asm__("x16") = number;
	long failed;

	/* x1 is a second result for some calls (fork, pipe), so it is an output too. */
	__asm__ volatile("svc #0x80\n\tcset %[failed], cs"
			 : "+r"(x0), "+r"(x1), [failed] "=r"(failed)
			 : "r"(x2), "r"(x3), "r"(x4), "r"(x5), "r"(x16)
			 : "memory", "cc");
	return failed ? -x0 : x0;
}

/* A call with two results (fork, pipe): the first as rxnu_svc6 returns it, the second, x1,
 * stored in *second when the call succeeds. */
static inline long rxnu_svc_pair(long number, long a0, long *second)
{
	register long x0 __asm__("x0") = a0;
	register long x1 __asm__("x1") = 0;
	register long x16 __asm__("x16") = number;
	long failed;

	__asm__ volatile("svc #0x80\n\tcset %[failed], cs"
			 : "+r"(x0), "+r"(x1), [failed] "=r"(failed)
			 : "r"(x16)
			 : "memory", "cc");
	if (failed)
		return -x0;
	*second = x1;
	return x0;
}

#define rxnu_svc0(n) rxnu_svc6((n), 0, 0, 0, 0, 0, 0)
#define rxnu_svc1(n, a) rxnu_svc6((n), (long)(a), 0, 0, 0, 0, 0)
#define rxnu_svc2(n, a, b) rxnu_svc6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define rxnu_svc3(n, a, b, c) rxnu_svc6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define rxnu_svc4(n, a, b, c, d) rxnu_svc6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)

#endif
