/*
 * crt0.S — the entry point. The kernel starts a new image with SP at argc, followed by the
 * argv, envp and apple vectors (bsd/src/kern/exec_stack.rs). The frame pointer and link
 * register are zeroed so backtraces end here, and the rest is C (start.c).
 */
	.section .text._start, "ax"
	.global _start
	.type _start, %function
_start:
	mov	x29, #0
	mov	x30, #0
	mov	x0, sp
	bl	__rxnu_start
	/* __rxnu_start never returns; trap if it ever does. */
	brk	#1
	.size _start, . - _start
