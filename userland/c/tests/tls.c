/*
 * tls: thread-local data (.tdata, initialised, and .tbss, zeroed). The runtime copies the
 * PT_TLS template into a block of its own: writes go there, never to the template.
 */
#include <stdio.h>

static __thread long tls_counter = 1234;     /* .tdata */
static __thread char tls_buffer[300];         /* .tbss */
static __thread int tls_words[4] = { 1, 2, 3, 4 };

int main(void)
{
	if (tls_counter != 1234 || tls_words[0] != 1 || tls_words[3] != 4) {
		puts("c-tls: .tdata was not copied");
		return 1;
	}
	for (unsigned i = 0; i < sizeof tls_buffer; i++)
		if (tls_buffer[i] != 0) {
			puts("c-tls: .tbss was not zero");
			return 2;
		}
	tls_counter += 1;
	tls_buffer[299] = 7;
	tls_words[2] = 30;
	unsigned long tp;
	__asm__("mrs %0, tpidr_el0" : "=r"(tp));
	if (tp == 0 || (unsigned long)&tls_counter < tp) {
		puts("c-tls: thread pointer not set");
		return 3;
	}
	print_str("c-tls: counter ");
	print_dec(tls_counter);
	print_str(", words sum ");
	print_dec(tls_words[0] + tls_words[1] + tls_words[2] + tls_words[3]);
	print_str(", buffer end ");
	print_dec(tls_buffer[299]);
	puts("");
	return 0;
}
