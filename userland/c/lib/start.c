/*
 * start.c — from the kernel's initial stack to main(): find argc, argv, envp and the apple
 * strings, set up the main thread's thread-local storage, run main and exit with its value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "elf.h"

int main(int argc, char **argv, char **envp, char **apple);

char **environ;

/*
 * GNU ld and LLD define __ehdr_start when the ELF header is part of a loaded segment, as it
 * is in a static executable linked at a fixed address: through it the runtime reads its own
 * program headers, as a dynamic loader would be told them in AT_PHDR. (Not weak: a weak
 * reference would need a GOT entry, and the runtime should add nothing to a program's data.)
 */
extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));

/* AArch64 TLS is ELF "variant I": TPIDR_EL0 points at a two-word thread control block and
 * the TLS block follows it, aligned to the PT_TLS segment's alignment (AArch64 ELF ABI,
 * "Thread Local Storage"). */
#define TCB_SIZE 16

static uintptr_t align_up(uintptr_t v, uintptr_t align)
{
	return (v + align - 1) & ~(align - 1);
}

/* Copies the PT_TLS template (.tdata, then zeroed .tbss) into a fresh block and points
 * TPIDR_EL0 at it. No PT_TLS: nothing to do. Returns 0, or -1 if memory ran out. */
static int init_tls(void)
{
	const Elf64_Ehdr *eh = &__ehdr_start;
	const Elf64_Phdr *tls = 0;

	const Elf64_Phdr *ph = (const Elf64_Phdr *)((const char *)eh + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_TLS)
			tls = &ph[i];
	if (!tls)
		return 0;

	uintptr_t align = tls->p_align > TCB_SIZE ? tls->p_align : TCB_SIZE;
	uintptr_t offset = align_up(TCB_SIZE, align);
	size_t len = offset + tls->p_memsz + align;
	char *raw = mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANON, -1, 0);
	if (raw == MAP_FAILED)
		return -1;
	char *block = (char *)align_up((uintptr_t)raw + offset, align);
	/* mmap's pages are zero, so only .tdata needs copying. */
	memcpy(block, (const void *)tls->p_vaddr, tls->p_filesz);
	uintptr_t tp = (uintptr_t)block - offset;
	__asm__ volatile("msr tpidr_el0, %0" : : "r"(tp) : "memory");
	return 0;
}

__attribute__((noreturn, used)) void __rxnu_start(long *sp)
{
	int argc = (int)sp[0];
	char **argv = (char **)(sp + 1);
	char **envp = argv + argc + 1;
	char **apple = envp;

	while (*apple)
		apple++;
	apple++;
	environ = envp;
	if (init_tls() != 0)
		_exit(127);
	exit(main(argc, argv, envp, apple));
}
